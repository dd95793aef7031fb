#!/bin/sh
# run.sh — the page's browser test against a fresh ternd (make check-browser):
# starts $TERND on free ports with a temporary data dir, installs
# playwright-core from npm (package-lock.json; it never downloads a
# browser: Debian's /usr/bin/chromium is used), runs page.test.js with
# node's test runner against the broker's management listener, stops the
# broker, and fails on a sanitizer report in its log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ternd=${TERND:-$root/build/ternd}
case $ternd in /*) ;; *) ternd=$root/$ternd ;; esac
tmp=$(mktemp -d /tmp/tern-browser.XXXXXX)
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
amqp=$(port); http=$(port)
"$ternd" --bind 127.0.0.1 --port "$amqp" --management-port "$http" --prometheus-port 0 --data-dir "$tmp/data" \
	>"$tmp/ternd.log" 2>&1 &
pid=$!
i=0
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$http),0.2)" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
		echo "browser: ternd did not start"; cat "$tmp/ternd.log"; exit 1
	fi
	sleep 0.1
done
rc=0
if [ ! -d "$here/node_modules/playwright-core" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || rc=1
fi
if [ $rc = 0 ]; then
	(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 TERN_MGMT_URL="http://127.0.0.1:$http" \
		node --test page.test.js) || rc=1
fi
kill $pid 2>/dev/null
wait $pid 2>/dev/null
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$tmp/ternd.log"; then
	echo "browser: sanitizer report in the broker log ($tmp/ternd.log)"; rc=1
fi
[ $rc = 0 ] && rm -rf "$tmp"
exit $rc
