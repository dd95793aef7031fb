#!/bin/sh
# deps.sh — finds (and, as root, installs) the Debian packages Tern needs.
#   deps.sh check    print the missing build packages; exit 1 if any
#   deps.sh install  apt-get install everything missing (build + test)
#   deps.sh auto     install when something is missing and we are root;
#                    otherwise name the packages and fail
# Build needs: a C compiler, make, pkg-config and the -dev packages below.
# Tests also need Check and the real clients used by tests/integration.
set -u

# pkg-config name : Debian package
BUILD_PC="libevent:libevent-dev libevent_openssl:libevent-dev openssl:libssl-dev
jansson:libjansson-dev sqlite3:libsqlite3-dev check:check"
# command : Debian package
BUILD_CMD="cc:gcc make:make pkg-config:pkg-config"
# Test tools: a file that shows the package is there : Debian package
TEST_FILES="/usr/bin/pytest-3:python3-pytest
/usr/lib/python3/dist-packages/pika:python3-pika
/usr/lib/python3/dist-packages/amqp:python3-amqp
/usr/lib/python3/dist-packages/kombu:python3-kombu
/usr/lib/python3/dist-packages/celery:python3-celery
/usr/bin/amqp-publish:amqp-tools
/usr/bin/clang:clang
/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml:amqp-specs"

missing_build() {
	for pair in $BUILD_CMD; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || echo "${pair#*:}"
	done
	if command -v pkg-config >/dev/null 2>&1; then
		for pair in $BUILD_PC; do
			pkg-config --exists "${pair%%:*}" 2>/dev/null || echo "${pair#*:}"
		done
	else
		for pair in $BUILD_PC; do echo "${pair#*:}"; done
	fi
}

missing_test() {
	for pair in $TEST_FILES; do
		[ -e "${pair%%:*}" ] || echo "${pair#*:}"
	done
}

install() {
	pkgs=$( (missing_build; missing_test) | sort -u | tr '\n' ' ')
	[ -z "$pkgs" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages: $pkgs" >&2
		echo "deps: run as root: apt-get install $pkgs" >&2
		return 1
	fi
	echo "deps: installing $pkgs"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs
}

case "${1:-check}" in
check)
	m=$(missing_build | sort -u | tr '\n' ' ')
	[ -z "$m" ] && exit 0
	echo "deps: missing Debian packages: $m (make deps installs them as root)" >&2
	exit 1 ;;
install) install ;;
auto)
	[ -z "$( (missing_build; missing_test) | head -1)" ] && exit 0
	install ;;
*) echo "usage: deps.sh check|install|auto" >&2; exit 2 ;;
esac
