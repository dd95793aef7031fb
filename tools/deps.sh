#!/bin/sh
# deps.sh — finds (and, as root, installs) the Debian packages Tern needs.
#   deps.sh check    print the missing build packages; exit 1 if any
#   deps.sh install  apt-get install everything missing (build + test)
#   deps.sh auto [build|bench]
#                    install when something is missing and we are root;
#                    otherwise name the packages and fail. With `build`
#                    (make run) only the build packages count; with `bench`
#                    only the optional benchmark ones (make loadgen-c),
#                    which neither `make`, `make run` nor `make check` need.
# Build needs: a C compiler and libc headers, make, pkg-config and the -dev
# packages below. Tests also need Check, clang with its sanitizer/libFuzzer
# runtime (make fuzz) and the real clients used by tests/integration:
# besides the Python ones, Go's amqp091-go (built in GOPATH mode from
# Debian's source package, no module proxy) and Node's amqplib (npm ci from
# tests/clients/node/package-lock.json, so nodejs and npm), Ruby's Bunny
# (ruby-bunny, which brings ruby), PHP's php-amqp extension (php-amqp, with
# php-cli to run it) and Python's aio-pika (python3-aio-pika), all used as
# Debian ships them. A machine whose node and npm come from elsewhere
# (/usr/bin/node and /usr/bin/npm present) gets neither Debian package.
# The management tests drive Tern with RabbitMQ's own CLI (rabbitmqadmin,
# in Debian's rabbitmq-server; its server is not started), a headless
# Chromium (Playwright from npm drives Debian's browser, never its own
# download) and Prometheus's promtool.
# Packages go in with --no-install-recommends, so list what a Recommends
# would have brought (gcc only recommends libc6-dev; libclang-common-14-dev
# only recommends libclang-rt-14-dev, which holds libFuzzer).
set -u

# pkg-config name : Debian package
BUILD_PC="libevent:libevent-dev libevent_openssl:libevent-dev openssl:libssl-dev
jansson:libjansson-dev sqlite3:libsqlite3-dev libpcre2-8:libpcre2-dev check:check
raft:libraft-dev libuv:libuv1-dev"
# command : Debian package
BUILD_CMD="cc:gcc make:make pkg-config:pkg-config"
# file : Debian package
BUILD_FILES="/usr/include/stdio.h:libc6-dev"
# Test tools: a file (glob) that shows the package is there : Debian package
TEST_FILES="/usr/bin/pytest-3:python3-pytest
/usr/lib/python3/dist-packages/pika:python3-pika
/usr/lib/python3/dist-packages/amqp:python3-amqp
/usr/lib/python3/dist-packages/kombu:python3-kombu
/usr/lib/python3/dist-packages/celery:python3-celery
/usr/bin/amqp-publish:amqp-tools
/usr/bin/clang:clang
/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a:libclang-rt-dev
/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml:amqp-specs
/usr/bin/go:golang-go
/usr/share/gocode/src/github.com/rabbitmq/amqp091-go/channel.go:golang-github-rabbitmq-amqp091-go-dev
/usr/bin/node:nodejs
/usr/bin/npm:npm
/usr/bin/ruby:ruby
/usr/share/rubygems-integration/all/gems/bunny-*/lib/bunny.rb:ruby-bunny
/usr/bin/php:php-cli
/usr/lib/php/*/amqp.so:php-amqp
/usr/lib/python3/dist-packages/aio_pika/patterns/rpc.py:python3-aio-pika
/usr/bin/rabbitmqadmin:rabbitmq-server
/usr/bin/chromium:chromium
/usr/bin/promtool:prometheus"
# Optional benchmark tools, only for the targets that build them: a file
# that shows the package is there : Debian package. rabbitmq-c's headers
# for tools/loadgen_c (make loadgen-c; Debian 12 puts them in /usr/include).
BENCH_FILES="/usr/include/amqp_tcp_socket.h:librabbitmq-dev"

# have_file GLOB: true when GLOB (unquoted on purpose) names a file.
have_file() {
	for f in $1; do
		[ -e "$f" ] && return 0
	done
	return 1
}

missing_build() {
	for pair in $BUILD_CMD; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || echo "${pair#*:}"
	done
	for pair in $BUILD_FILES; do
		have_file "${pair%%:*}" || echo "${pair#*:}"
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
		have_file "${pair%%:*}" || echo "${pair#*:}"
	done
}

missing_bench() {
	for pair in $BENCH_FILES; do
		have_file "${pair%%:*}" || echo "${pair#*:}"
	done
}

# missing [build|bench]: the missing packages, one line, sorted.
missing() {
	case "${1:-all}" in
	build) missing_build ;;
	bench) missing_bench ;;
	*) missing_build; missing_test ;;
	esac | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# install [build|bench]: apt-get update once, then install what is missing,
# non-interactively; apt's chatter goes to a log shown only on failure.
install() {
	pkgs=$(missing "${1:-all}")
	[ -z "$pkgs" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages: $pkgs" >&2
		echo "deps: run as root: apt-get install $pkgs" >&2
		return 1
	fi
	echo "deps: installing $pkgs"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp /tmp/tern-deps.XXXXXX)
	apt="-y -qq -o Dpkg::Use-Pty=0 -o APT::Color=0"
	# shellcheck disable=SC2086 # $apt and $pkgs are word lists
	if apt-get update $apt >"$log" 2>&1 &&
	   apt-get install $apt --no-install-recommends $pkgs >>"$log" 2>&1; then
		rm -f "$log"
	else
		tail -n 40 "$log" >&2
		echo "deps: apt-get failed (full log: $log)" >&2
		return 1
	fi
	left=$(missing "${1:-all}")
	if [ -n "$left" ]; then
		echo "deps: still missing after install: $left" >&2
		return 1
	fi
	echo "deps: done"
}

case "${1:-check}" in
check)
	m=$(missing_build | sort -u | tr '\n' ' ')
	[ -z "$m" ] && exit 0
	echo "deps: missing Debian packages: $m (make deps installs them as root)" >&2
	exit 1 ;;
install) install ;;
auto)
	[ -z "$(missing "${2:-all}")" ] && exit 0
	install "${2:-all}" ;;
*) echo "usage: deps.sh check|install|auto [build|bench]" >&2; exit 2 ;;
esac
