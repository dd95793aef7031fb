# Makefile — builds Tern: the broker (build/ternd), its tests and tools.
# Hand-written and non-recursive; works from a fresh checkout. Targets:
#   make            build the broker and tools
#   make run        build and start the broker in the foreground
#   make check      build and run every test (SANITIZE=1: under ASan+UBSan,
#                   and a 60 s chaos soak)
#   make soak       the chaos soak (SOAK_SECONDS, SOAK_KILL_EVERY; docs/soak.md)
#   make fuzz       build the libFuzzer targets with clang
#   make bench      ternperf scenarios, Tern vs RabbitMQ (docs/benchmarks.md)
#   make bench-codec  codec micro-benchmark
#   make loadgen / loadgen-c  the independent load generators (Go / C)
#   make deps       install missing Debian packages (as root)
#   make install    install ternd and etc/tern.conf under PREFIX
# `make run` and `make check` install missing packages themselves when root.
# config.mk, written by ./configure, is read when present.
-include config.mk

PREFIX   ?= /usr/local
CC       ?= cc
SANITIZE ?= 0
WERROR   ?= 0
PYTHON   ?= /usr/bin/python3

BUILD := build
ifeq ($(SANITIZE),1)
BUILD := build/san
endif

PKGS := libevent libevent_openssl openssl jansson sqlite3 libpcre2-8 raft libuv
# Asked of pkg-config once, on first use: by then `deps` has run.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
CHECK_LIBS = $(eval CHECK_LIBS := $(shell pkg-config --libs check))$(CHECK_LIBS)

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN   += -Werror
endif
OPT    ?= -O2 -g
SAN    :=
ifeq ($(SANITIZE),1)
SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT    := -O1 -g
endif
# Any sanitizer report stops the process with a non-zero status, so a test
# (or the broker under test) fails; set either variable to override.
export ASAN_OPTIONS ?= halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -I. $(WARN) $(OPT) $(SAN) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

# Everything but main() goes into one library that ternd, tools and tests link.
LIB_SRC   := $(wildcard util/*.c protocol/*.c exchanges/*.c store/*.c plugins/*.c \
               plugins/management/*.c) \
             $(filter-out broker/core/main.c,$(wildcard broker/*/*.c))
# The management page, compiled in: www/ files -> $(BUILD)/gen/www.c.
WWW_SRC   := $(sort $(filter-out %.md,$(wildcard plugins/management/www/*)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/www.o
LIB       := $(BUILD)/libtern.a
TERND     := $(BUILD)/ternd
UNIT_SRC  := $(wildcard tests/unit/check_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC  := $(wildcard tools/*/main.c)
TOOL_BIN  := $(patsubst tools/%/main.c,$(BUILD)/%,$(TOOL_SRC))
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
# The codec and what it uses of util/ (not PCRE2-backed regex.c).
PROTO_SRC := $(filter-out util/regex.c,$(wildcard protocol/*.c util/*.c))

.PHONY: loadgen loadgen-c all run check check-unit check-raw check-integration check-api check-browser check-cluster check-fuzz deps \
        fuzz bench bench-codec install gen clean format soak
all: $(TERND) $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/embed_www: tools/embed_www.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $<

$(BUILD)/gen/www.c: $(BUILD)/embed_www $(WWW_SRC)
	@mkdir -p $(dir $@)
	$(BUILD)/embed_www $@ $(WWW_SRC)

$(BUILD)/obj/gen/www.o: $(BUILD)/gen/www.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TERND): $(BUILD)/obj/broker/core/main.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(PKG_LIBS) -lm

$(BUILD)/%: $(BUILD)/obj/tools/%/main.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PKG_LIBS) -lm

# ternperf is several files: the others in its folder link in beside main.o.
TERNPERF_SRC := $(filter-out tools/ternperf/main.c,$(wildcard tools/ternperf/*.c))
$(BUILD)/ternperf: $(TERNPERF_SRC:%.c=$(BUILD)/obj/%.o)
# ternctl too (tools/ternctl/: the HTTP client, the API layer, the commands).
TERNCTL_SRC := $(filter-out tools/ternctl/main.c,$(wildcard tools/ternctl/*.c))
$(BUILD)/ternctl: $(TERNCTL_SRC:%.c=$(BUILD)/obj/%.o)

deps:
	@tools/deps.sh install

# The two commands of the README: each first makes sure the packages are in.
run:
	@tools/deps.sh auto build
	@$(MAKE) --no-print-directory $(TERND)
	$(TERND) $(ARGS)

check:
	@tools/deps.sh auto
	@$(MAKE) --no-print-directory check-unit check-raw check-integration check-api check-browser \
		check-cluster check-fuzz $(if $(filter 1,$(SANITIZE)),soak)

# Each program prints Check's summary ("100%: Checks: 12, Failures: 0, ...");
# it fails on a non-zero exit or a summary with failures or errors.
CK_TIMEOUT_MULTIPLIER ?= $(if $(filter 1,$(SANITIZE)),4,1)
check-unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; rm -f $$t.rc; \
		{ CK_FORK=yes CK_VERBOSITY=$${CK_VERBOSITY:-normal} \
		  CK_TIMEOUT_MULTIPLIER=$(CK_TIMEOUT_MULTIPLIER) $$t 2>&1; echo $$? >$$t.rc; } | tee $$t.log; \
		if [ "$$(cat $$t.rc)" != 0 ] || grep -Eq '(Failures|Errors): [1-9]' $$t.log; then \
			echo "FAIL $$t (exit $$(cat $$t.rc))"; fail=1; fi; \
	done; exit $$fail

check-raw: $(TERND)
	@if [ -d tests/raw ] && ls tests/raw/test_*.py >/dev/null 2>&1; then \
		TERND=$(TERND) $(PYTHON) -m pytest -q tests/raw; fi

# The management API against RabbitMQ's shapes (BROKER_URL and MGMT_URL
# point the same suite at a running RabbitMQ).
check-api: $(TERND)
	@TERND=$(TERND) $(PYTHON) -m pytest -q tests/api

# Three ternd forming a cluster per test (tests/cluster; CLUSTER_ROUNDS=20
# for the failover test's long form).
check-cluster: $(TERND) $(BUILD)/ternctl
	@cd tests/cluster && TERND=$(abspath $(TERND)) TERNCTL=$(abspath $(BUILD)/ternctl) $(PYTHON) -m pytest -q .

# The page in headless Chromium (Debian's), driven by Playwright from npm.
check-browser: $(TERND)
	@if [ -f tests/browser/run.sh ]; then TERND=$(TERND) sh tests/browser/run.sh; \
	else echo "== browser: no tests/browser/run.sh"; fi

check-integration: $(TERND) $(TOOL_BIN)
	@if ls tests/integration/test_*.py >/dev/null 2>&1; then \
		TERND=$(TERND) TERNPERF=$(BUILD)/ternperf TERNCTL=$(BUILD)/ternctl \
		$(PYTHON) -m pytest -q tests/integration; fi

# The chaos soak (tools/soak/soak.py, docs/soak.md): clients of every kind
# against one ternd that is killed with -9 and restarted every
# SOAK_KILL_EVERY seconds; fails on a lost confirmed message, a delivery
# never published, unbounded RSS or WAL growth, or a sanitizer report.
# `make check` runs it for 60 s under SANITIZE=1. SOAK_ARGS: more options
# (--seed N repeats a run's random choices; --help lists them).
SOAK_SECONDS    ?= 60
SOAK_KILL_EVERY ?= 20
soak: $(TERND)
	$(PYTHON) tools/soak/soak.py --duration $(SOAK_SECONDS) --kill-every $(SOAK_KILL_EVERY) \
		$(SOAK_ARGS) $(TERND)

# A smoke run of each fuzz target over its seed corpus (no time budget).
check-fuzz:
	@if [ -z "$(FUZZ_SRC)" ]; then echo "== fuzz: no targets in tests/fuzz"; \
	elif ! command -v clang >/dev/null 2>&1; then echo "== fuzz: skipped, clang not installed"; \
	else \
		$(MAKE) --no-print-directory fuzz && \
		for f in $(FUZZ_BIN); do n=$$(basename $$f); c=tests/data/$$n; \
			[ -d $$c ] || { echo "== $$f: no seed corpus $$c, empty input only"; c=; }; \
			echo "== $$f over $${c:-(empty input)}"; \
			$$f -runs=0 -artifact_prefix=build/fuzz/ $$c >$$f.log 2>&1 || { tail -n 40 $$f.log; echo "FAIL $$f"; exit 1; }; \
			echo "ok"; \
		done; fi

fuzz: $(FUZZ_BIN)
build/fuzz/%: tests/fuzz/%.c $(PROTO_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $< $(PROTO_SRC)

# fuzz_conn drives a whole broker: the library is built again with clang,
# libFuzzer's coverage (fuzzer-no-link) and ASan+UBSan, into build/fuzz/.
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE -I. -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/www.o
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(WARN) $(PKG_CFLAGS) -MMD -MP -c $< -o $@
build/fuzz/obj/gen/www.o: $(BUILD)/gen/www.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -c $< -o $@
build/fuzz/libtern.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c build/fuzz/libtern.a
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer $(WARN) $(PKG_CFLAGS) -o $@ $< build/fuzz/libtern.a \
		$(PKG_LIBS) -lm

# Scenarios S1-S9 with ternperf against Tern and, when running on 5672,
# RabbitMQ; rewrites docs/benchmarks.md. Still runs when ternd does not build.
# ARGS go to tools/bench.sh (--tls adds S1 and S5 over TLS; --help).
bench: $(BUILD)/ternperf
	@$(MAKE) --no-print-directory $(TERND) || echo "bench: ternd does not build"
	TERND=$(TERND) TERNPERF=$(BUILD)/ternperf tools/bench.sh $(ARGS)

bench-codec: $(BUILD)/bench_codec
	$(BUILD)/bench_codec

# The independent load generator (tools/loadgen, Go with amqp091-go; not
# part of `make check`). GOPATH mode against Debian's
# golang-github-rabbitmq-amqp091-go-dev: no module proxy, no network.
loadgen:
	cd tools/loadgen && env -u GOFLAGS GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local \
		CGO_ENABLED=0 GOPATH=/usr/share/gocode:$(CURDIR)/$(BUILD)/loadgen/gopath \
		GOCACHE=$(CURDIR)/$(BUILD)/loadgen/cache go build -o $(CURDIR)/$(BUILD)/loadgen/loadgen .

# The second independent load generator (tools/loadgen_c, C with Debian's
# rabbitmq-c; not part of `make`, `make run` or `make check`): librabbitmq-dev
# is an optional benchmark package, installed here when missing and root.
LOADGEN_C := $(BUILD)/loadgen_c/loadgen-c
loadgen-c:
	@tools/deps.sh auto bench
	@$(MAKE) --no-print-directory $(LOADGEN_C)
$(LOADGEN_C): tools/loadgen_c/loadgen_c.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) $(SAN) $(CFLAGS) $$(pkg-config --cflags librabbitmq) \
		-o $@ $< $(LDFLAGS_ALL) $$(pkg-config --libs librabbitmq) -pthread
$(BUILD)/bench_codec: $(BUILD)/obj/tests/bench/bench_codec.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) -lm

install: $(TERND)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/etc/tern
	install -m 755 $(TERND) $(DESTDIR)$(PREFIX)/bin/ternd
	install -m 644 etc/tern.conf $(DESTDIR)$(PREFIX)/etc/tern/tern.conf

# Regenerates the committed method tables from Debian's amqp-specs.
SPEC := /usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml
gen:
	$(PYTHON) tools/gen_methods.py $(SPEC) protocol

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v _gen)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
