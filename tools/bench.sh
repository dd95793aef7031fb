#!/bin/bash
# bench.sh — Tern's standard benchmark (`make bench`): runs scenarios S1-S9
# with ternperf against Tern (build/ternd, started here on a free port with
# a temporary data dir) and then, when something listens on 127.0.0.1:5672,
# against RabbitMQ; prints both side by side with their ratio and rewrites
# docs/benchmarks.md (machine, versions, exact command lines) down to its
# marker line, keeping the hand-written sections after it, and draws
# them as docs/benchmarks.svg (tools/bench_chart.py).
#
#   tools/bench.sh [--only tern|rabbitmq] [--rabbitmq-pid PID] [--seconds N]
#                  [--no-doc] [--no-pause] [--tls] [--rabbitmq-tls-port N]
#                  [--scenarios S1,S5,...] [--awake]
#   tools/bench.sh --chart [RESULTS.md]   only redraws docs/benchmarks.svg
#                  from a results file (default docs/benchmarks.md)
#   --awake adds S6-1k-awake: S6-1k while spinners at SCHED_IDLE (they run
#        only when nothing else wants a CPU) keep every vCPU from halting,
#        for both brokers: with S6-1k beside it, it shows how much of a
#        low-rate latency tail is the VM waking an idle vCPU
#        (docs/performance.md, "S6 at 1k msg/s").
#   env: TERND TERNPERF (binaries), RABBITMQ_URI, S7_MESSAGES, S8_CONNS,
#        S9_QUEUES, S10_CONNS, S11_QUEUES (the scenario sizes: 1M, 1000,
#        10k, 10k, 100k), S11_RABBITMQ_QUEUES (10k: RabbitMQ's S11 size),
#        BENCH_KEEP=1 keeps
#        the raw results in /tmp/tern-bench.*
#   TLS: --tls (or BENCH_TLS=1) adds S1-tls and S5-tls, S1 and S5 over
#        amqps://. Tern gets a TLS listener of its own (listeners.ssl.default
#        on a free port, or TERN_TLS_PORT) with TLS_CA/TLS_CERT/TLS_KEY, or
#        certificates made here with the openssl CLI; ternperf verifies it
#        (verify_peer). RabbitMQ is measured on --rabbitmq-tls-port N (or
#        RABBITMQ_TLS_PORT; default 5671) with RABBITMQ_TLS_CA to verify
#        its certificate (verify_none without), or RABBITMQ_TLS_URI as
#        given. Any of the ports or RABBITMQ_TLS_URI implies --tls.
#
# A broker that is missing or fails a scenario gets "n/a" there; the run
# goes on. The RabbitMQ pid (for its RSS) is found by port when not given.
# --scenarios runs only those named (default: all). --no-pause leaves
# RabbitMQ running while Tern is measured (a RabbitMQ that others use
# too); by default it is paused (see below).
set -u -f # no globbing: URIs carry '?'
cd "$(dirname "$0")/.." || exit 2

TERND=${TERND:-build/ternd}
TERNPERF=${TERNPERF:-build/ternperf}
RABBITMQ_URI=${RABBITMQ_URI:-amqp://guest:guest@127.0.0.1:5672/}
S8_CONNS=${S8_CONNS:-1000}
S7_MESSAGES=${S7_MESSAGES:-1000000}
S9_QUEUES=${S9_QUEUES:-10000}
S10_CONNS=${S10_CONNS:-10000}
S11_QUEUES=${S11_QUEUES:-100000}
# RabbitMQ declares some 170 queues/s here: 100k would take ten minutes
# and as long again to delete, so it runs S11 at this size (said in Notes).
S11_RABBITMQ_QUEUES=${S11_RABBITMQ_QUEUES:-10000}
tls=${BENCH_TLS:-0}
[ -n "${RABBITMQ_TLS_PORT:-}${RABBITMQ_TLS_URI:-}${TERN_TLS_PORT:-}" ] && tls=1
RABBITMQ_TLS_PORT=${RABBITMQ_TLS_PORT:-5671}
awake=0 secs=10 only="" rabbit_pid="" write_doc=1 pause=1 only_scen=${BENCH_SCENARIOS:-}
while [ $# -gt 0 ]; do
	case $1 in
	--only) only=$2; shift ;;
	--rabbitmq-pid) rabbit_pid=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--no-doc) write_doc=0 ;;
	--no-pause) pause=0 ;;
	--scenarios) only_scen=$2; shift ;;
	--tls) tls=1 ;;
	--awake) awake=1 ;;
	--rabbitmq-tls-port) RABBITMQ_TLS_PORT=$2 tls=1; shift ;;
	--chart) exec python3 tools/bench_chart.py "${2:-docs/benchmarks.md}" docs/benchmarks.svg ;;
	-h|--help) sed -n '2,36p' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ ! -x "$TERNPERF" ]; then
	echo "bench.sh: $TERNPERF missing; run make first" >&2
	exit 2
fi

out=$(mktemp -d /tmp/tern-bench.XXXXXX)
cut -d' ' -f1-3 /proc/loadavg > "$out/loadavg" # how busy the machine was already
tern_pid="" tern_dir=""
trap 'tern_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$out"' EXIT
trap 'exit 130' INT TERM

# name | what | ternperf arguments (@PID@ is the broker's pid). S8 runs
# before S7: a broker seldom hands the memory of 1M messages back to the
# system at once, which would hide what 1000 connections take.
T=$secs
scenarios="S1|1 -> 1, 16 B transient, manual acks|-x 1 -y 1 -s 16 -z $T -u ternperf-s1
S1a|as S1 with auto-ack|-x 1 -y 1 -s 16 -a -z $T -u ternperf-s1a
S2|as S1 with confirms (window 100)|-x 1 -y 1 -s 16 -c 100 -z $T -u ternperf-s2
S3|durable queue, persistent, confirms|-x 1 -y 1 -s 16 -f -c 100 --auto-delete false -z $T -u ternperf-s3
S3k|as S3 with no consumer (every message written)|-x 1 -y 0 -s 16 -f -c 100 --auto-delete false -z $T -u ternperf-s3k
S4|fanout to 4 queues, 4 consumers|-x 1 -y 4 -s 16 -e ternperf-s4 -t fanout --queues 4 -z $T -u ternperf-s4
S5|as S1 with 1 KiB bodies|-x 1 -y 1 -s 1024 -z $T -u ternperf-s5
S1-tls|S1 over TLS (amqps://)|-x 1 -y 1 -s 16 -z $T -u ternperf-s1-tls
S5-tls|S5 over TLS (amqps://)|-x 1 -y 1 -s 1024 -z $T -u ternperf-s5-tls
S6-1k|latency at 1k msg/s|-x 1 -y 1 -s 16 -r 1000 -z $T -u ternperf-s6
S6-1k-awake|S6-1k with idle spinners keeping the vCPUs awake|-x 1 -y 1 -s 16 -r 1000 -z $T -u ternperf-s6
S6-5k|latency at 5k msg/s|-x 1 -y 1 -s 16 -r 5000 -z $T -u ternperf-s6
S6-10k|latency at 10k msg/s|-x 1 -y 1 -s 16 -r 10000 -z $T -u ternperf-s6
S6-50k|latency at 50k msg/s|-x 1 -y 1 -s 16 -r 50000 -z $T -u ternperf-s6
S8|RSS with $S8_CONNS connections publishing 1 msg/s|--connections-only $S8_CONNS -r 1 -y 1 -z $T -u ternperf-s8 --broker-pid @PID@
S7|RSS with $S7_MESSAGES queued 16 B transient messages|-x 1 -y 0 -s 16 -C $S7_MESSAGES -c 1000 -u ternperf-s7 --broker-pid @PID@
S9|declare and bind $S9_QUEUES queues|--declare-only $S9_QUEUES
S10|$S10_CONNS connections, each publishing 1 msg/s to its own queue and consuming it|--duplex $S10_CONNS -r 1 -z $T -u ternperf-s10 --broker-pid @PID@
S11|$S11_QUEUES queues bound to a topic exchange by distinct patterns, each message routed to one|-x 1 -y 1 -s 16 -e ternperf-s11 -t topic --queues $S11_QUEUES --topic-patterns -z $T -u ternperf-s11 --broker-pid @PID@"
[ "$tls" = 1 ] || scenarios=$(grep -v -- '-tls|' <<< "$scenarios")
[ "$awake" = 1 ] || scenarios=$(grep -v -- '-awake|' <<< "$scenarios")
if [ -n "$only_scen" ]; then
	scenarios=$(grep -E "^(${only_scen//,/|})\|" <<< "$scenarios")
	[ -n "$scenarios" ] || { echo "bench.sh: no scenario named in --scenarios $only_scen" >&2; exit 2; }
fi

# The broker under test: its URI, its amqps:// URI (empty: the -tls
# scenarios are n/a, for the reason in no_tls), and its pid for RSS.
uri="" tls_uri="" no_tls="" pid=""
tls_ca="" tls_cert="" tls_key=""

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tern_stop() {
	[ -n "$tern_pid" ] && kill "$tern_pid" 2>/dev/null && wait "$tern_pid" 2>/dev/null
	[ -n "$tern_dir" ] && rm -rf "$tern_dir"
	tern_pid="" tern_dir=""
}

# The certificate of Tern's TLS listener: TLS_CERT/TLS_KEY/TLS_CA as
# given, or a CA and a server certificate for localhost and 127.0.0.1
# made here once (RSA 2048, as RabbitMQ's test certificates).
tls_files() {
	if [ -n "${TLS_CERT:-}" ]; then
		tls_ca=${TLS_CA:-} tls_cert=$TLS_CERT tls_key=${TLS_KEY:-$TLS_CERT}
		return 0
	fi
	[ -n "$tls_cert" ] && return 0
	local d=$out/tls
	mkdir -p "$d"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$d/san.ext"
	{ openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Tern bench CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" &&
	  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$d/server.key" -out "$d/server.csr" &&
	  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/server.pem"
	} > "$d/openssl.log" 2>&1 || return 1
	tls_ca=$d/ca.pem tls_cert=$d/server.pem tls_key=$d/server.key
}

# Starts a fresh ternd: a free port, an empty data dir, and with --tls a
# TLS listener (as RabbitMQ's here: verify_peer without requiring a client
# certificate). Fails if it does not listen within 5 s.
tern_start() {
	tern_stop
	local port tls_port="" conf=()
	port=$(free_port)
	tern_dir=$(mktemp -d /tmp/tern-bench-data.XXXXXX)
	tls_uri=""
	if [ "$tls" = 1 ] && [ -z "$no_tls" ]; then
		tls_port=${TERN_TLS_PORT:-$(free_port)}
		{
			echo "listeners.ssl.default = 127.0.0.1:$tls_port"
			echo "ssl_options.certfile = $tls_cert"
			echo "ssl_options.keyfile = $tls_key"
			if [ -n "$tls_ca" ]; then
				echo "ssl_options.cacertfile = $tls_ca"
				echo "ssl_options.verify = verify_peer"
			else
				echo "ssl_options.verify = verify_none"
			fi
			echo "ssl_options.fail_if_no_peer_cert = false"
		} > "$tern_dir/tls.conf"
		conf=(--config "$tern_dir/tls.conf")
	fi
	# The management listener on a free port of its own (RabbitMQ here has
	# 15672, and runs its management plugin too); Prometheus off.
	"$TERND" --bind 127.0.0.1 --port "$port" --data-dir "$tern_dir" --log-level warning \
		--management-port "$(free_port)" --prometheus-port 0 \
		"${conf[@]}" >> "$out/ternd.log" 2>&1 &
	tern_pid=$!
	for _ in $(seq 50); do
		port_open "$port" && { [ -z "$tls_port" ] || port_open "$tls_port"; } && break
		sleep 0.1
	done
	port_open "$port" || return 1
	uri="amqp://guest:guest@127.0.0.1:$port/" pid=$tern_pid
	if [ -n "$tls_port" ]; then
		if ! port_open "$tls_port"; then
			no_tls="ternd did not listen on its TLS port $tls_port (see ternd.log)"
		elif [ -n "$tls_ca" ]; then
			tls_uri="amqps://guest:guest@127.0.0.1:$tls_port/?cacertfile=$tls_ca"
		else
			tls_uri="amqps://guest:guest@127.0.0.1:$tls_port/?verify=verify_none"
		fi
	fi
}

# run_one BROKER NAME ARGS: one scenario; leaves $out/BROKER-NAME.json
# (ternperf's summary line), .cmd and .err. Returns ternperf's status.
run_one() {
	local broker=$1 name=$2 args=$3 cmd u=$uri
	args=${args//@PID@/${pid:-0}}
	[ -z "$pid" ] && args=${args// --broker-pid 0/}
	case $name in *-tls) u=$tls_uri ;; esac
	cmd="$TERNPERF --uri $u --json --cleanup --drain 5 $args"
	echo "$cmd" > "$out/$broker-$name.cmd"
	case $name in *-awake) spin_start ;; esac
	timeout $((secs * 6 + 120)) $cmd > "$out/$broker-$name.log" 2>> "$out/$broker-$name.err"
	local rc=$?
	spin_stop
	[ $rc = 0 ] || return 1
	tail -n 1 "$out/$broker-$name.log" > "$out/$broker-$name.json"
}

# --awake: one busy loop per CPU at SCHED_IDLE, so no vCPU halts.
spin_pids=""
spin_start() {
	for _ in $(seq "$(nproc)"); do
		chrt -i 0 sh -c 'while :; do :; done' &
		spin_pids="$spin_pids $!"
	done
}
spin_stop() {
	[ -n "$spin_pids" ] && kill $spin_pids 2>/dev/null
	spin_pids=""
}

# run_all BROKER: every scenario against one broker. Tern is restarted
# before the RSS scenarios, so memory kept from earlier ones does not hide
# what they allocate; RabbitMQ, not ours to restart, runs as it is.
run_all() {
	local broker=$1 name what args
	echo "== $broker"
	while IFS='|' read -r name what args; do
		printf '%-7s %-48s ' "$name" "$what"
		if [ "$broker" = tern ] && { [ -z "$uri" ] || [ "$name" = S7 ] || [ "$name" = S8 ] ||
			[ "$name" = S10 ] || [ "$name" = S11 ]; }; then
			if ! tern_start; then
				echo "FAILED: $TERND did not start: $(tail -n 1 "$out/ternd.log")"
				continue
			fi
		fi
		if [[ $name == *-tls ]] && [ -z "$tls_uri" ]; then
			echo "n/a: $no_tls" | tee "$out/$broker-$name.na"
			continue
		fi
		if [ "$broker" = rabbitmq ] && [ "$name" = S11 ]; then
			args=${args//--queues $S11_QUEUES/--queues $S11_RABBITMQ_QUEUES}
		fi
		if run_one "$broker" "$name" "$args"; then
			echo ok
		elif { [ "$name" = S8 ] || [ "$name" = S10 ]; } &&
			grep -q 'connections ready' "$out/$broker-$name.err"; then
			# The broker refused more connections (RabbitMQ's default file
			# descriptor limit allows ~830): measure at 800, say so.
			sleep 3
			a800=${args//--connections-only $S8_CONNS/--connections-only 800}
			if run_one "$broker" "$name" "${a800//--duplex $S10_CONNS/--duplex 800}"; then
				echo "ok at 800 connections"
			else
				echo "FAILED: $(tail -n 1 "$out/$broker-$name.err")"
			fi
		else
			echo "FAILED: $(tail -n 1 "$out/$broker-$name.err")"
		fi
		sleep 3 # let the broker settle; the cores are shared
	done <<< "$scenarios"
}

# Each broker is measured alone: an idle RabbitMQ still takes CPU on
# these 2 shared cores (its VM schedulers wake up constantly), which shows
# as latency spikes in Tern's low-rate runs. So RabbitMQ, when running, is
# paused (SIGSTOP) during Tern's scenarios and resumed after.
rabbit_beam=""
if port_open 5672; then
	rabbit_beam=${rabbit_pid:-$(ss -Htlnp 'sport = :5672' 2>/dev/null |
		grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)}
fi
rabbit_resume() { [ -n "$rabbit_beam" ] && kill -CONT "$rabbit_beam" 2>/dev/null; }
trap 'spin_stop; rabbit_resume; tern_stop; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$out"' EXIT

if [ "$only" != rabbitmq ]; then
	if [ -x "$TERND" ]; then
		[ -n "$rabbit_beam" ] && [ "$pause" = 1 ] && kill -STOP "$rabbit_beam" 2>/dev/null &&
			echo "(RabbitMQ paused while Tern runs)"
		if [ "$tls" = 1 ]; then
			if ! "$TERND" --help 2>&1 | grep -q 'listeners\.ssl'; then
				no_tls="this ternd has no TLS listener (listeners.ssl)"
			elif ! tls_files; then
				no_tls="openssl could not make certificates: $(tail -n 1 "$out/tls/openssl.log")"
			fi
		fi
		run_all tern
		rabbit_resume
		sleep 2
		git rev-parse --short HEAD > "$out/tern.version" 2>/dev/null
		tern_stop
	else
		echo "== tern: no $TERND; Tern column n/a"
	fi
fi

if [ "$only" != tern ]; then
	if port_open 5672; then
		uri=$RABBITMQ_URI pid=$rabbit_pid
		if [ -z "$pid" ]; then
			pid=$(ss -Htlnp 'sport = :5672' 2>/dev/null |
				grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
		fi
		[ -z "$pid" ] && echo "bench.sh: RabbitMQ's pid not found: no RSS figures"
		tls_uri="" no_tls="nothing listens on its TLS port $RABBITMQ_TLS_PORT"
		if [ "$tls" = 1 ] && port_open "$RABBITMQ_TLS_PORT"; then
			no_tls=""
			if [ -n "${RABBITMQ_TLS_URI:-}" ]; then
				tls_uri=$RABBITMQ_TLS_URI
			elif [ -n "${RABBITMQ_TLS_CA:-}" ]; then
				tls_uri="amqps://guest:guest@127.0.0.1:$RABBITMQ_TLS_PORT/?cacertfile=$RABBITMQ_TLS_CA"
			else
				tls_uri="amqps://guest:guest@127.0.0.1:$RABBITMQ_TLS_PORT/?verify=verify_none"
			fi
		fi
		run_all rabbitmq
	else
		echo "== rabbitmq: nothing listens on 5672; RabbitMQ column n/a"
	fi
fi

doc=/dev/null
[ "$write_doc" = 1 ] && doc=docs/benchmarks.md
echo "$scenarios" > "$out/scenarios"
# The tables: on the terminal, and as docs/benchmarks.md.
python3 - "$out" "$secs" "$doc" <<'PY'
import json, os, platform, re, subprocess, sys, time

out, secs, doc = sys.argv[1], sys.argv[2], sys.argv[3]
scen = [l.split("|", 2) for l in open(f"{out}/scenarios").read().splitlines() if l]
BROKERS = ("tern", "rabbitmq")

def load(b, name):
    try:
        return json.load(open(f"{out}/{b}-{name}.json"))
    except (OSError, ValueError):
        return None

def text(b, name, ext):
    try:
        return open(f"{out}/{b}-{name}.{ext}").read().strip()
    except OSError:
        return ""

def rss_mb(j, b, name):
    r = j.get("broker_rss_kb", -1)
    return r / 1024 if r >= 0 else None

def rss_per_msg(j, b, name):
    r, b0 = j.get("broker_rss_kb", -1), j.get("broker_rss_start_kb", -1)
    if r < 0 or b0 < 0 or not j.get("published"):
        return None
    return (r - b0) * 1024 / j["published"]

def rss_per_conn(j, b, name):
    r, b0 = j.get("broker_rss_kb", -1), j.get("broker_rss_start_kb", -1)
    if r < 0 or b0 < 0 or not j.get("producers"):
        return None
    return (r - b0) / j["producers"]

ms = lambda k, q: (lambda j, b, n: j[k][q] / 1000)
# Durations in ms to 3 significant digits, without exponents.
lat = lambda v: "%.0f" % v if v >= 100 else "%.3g" % v
field = lambda k: (lambda j, b, n: j[k])
PUB = ("published msg/s", "up", field("published_per_s"), "%.0f")
DEL = ("delivered msg/s", "up", field("delivered_per_s"), "%.0f")
CONF = ("confirmed msg/s", "up", field("confirmed_per_s"), "%.0f")
P50 = ("latency p50 ms", "down", ms("latency_us", "p50"), lat)
P99 = ("latency p99 ms", "down", ms("latency_us", "p99"), lat)
P999 = ("latency p99.9 ms", "down", ms("latency_us", "p999"), lat)
C50 = ("confirm latency p50 ms", "down", ms("confirm_latency_us", "p50"), lat)
METRICS = {
    "S1": [PUB, DEL, P50, P99], "S1a": [PUB, DEL, P50, P99],
    "S2": [CONF, DEL, C50, P99], "S3": [CONF, DEL, C50, P99], "S3k": [CONF, C50],
    "S4": [PUB, ("delivered msg/s, all queues", "up", field("delivered_per_s"), "%.0f"), P99],
    "S5": [PUB, DEL, P50, P99],
    "S1-tls": [PUB, DEL, P50, P99], "S5-tls": [PUB, DEL, P50, P99],
    "S6-1k": [DEL, P50, P99, P999], "S6-1k-awake": [DEL, P50, P99, P999],
    "S6-5k": [DEL, P50, P99, P999], "S6-10k": [DEL, P50, P99, P999],
    "S6-50k": [DEL, P50, P99, P999],
    "S7": [("broker RSS MB", "down", rss_mb, "%.0f"),
           ("RSS growth bytes/message", "down", rss_per_msg, "%.0f")],
    "S8": [("broker RSS MB", "down", rss_mb, "%.0f"),
           ("RSS growth kB/connection", "down", rss_per_conn, "%.1f")],
    "S9": [("queues declared+bound /s", "up", field("queues_per_s"), "%.0f")],
    "S10": [("connections", "up", field("producers"), "%.0f"),
            ("broker RSS MB", "down", rss_mb, "%.0f"), P50, P99,
            ("broker CPU % of one core", "down", field("broker_cpu_pct"), "%.1f")],
    "S11": [("queues declared+bound /s", "up", field("queues_per_s"), "%.0f"),
            ("RSS bytes/queue (with its binding)", "down", field("rss_per_queue_b"), "%.0f"),
            PUB, DEL],
}

rows = []
for name, what, _ in sorted(scen, key=lambda sc: list(METRICS).index(sc[0]) if sc[0] in METRICS else 99):
    for label, better, get, fmt in METRICS.get(name, []):
        vals = []
        for b in BROKERS:
            j = load(b, name)
            try:
                v = get(j, b, name) if j else None
            except (KeyError, TypeError):
                v = None
            vals.append(v)
        t, r = vals
        ratio = "%.2fx" % (t / r) if t is not None and r else "n/a"
        cell = lambda v: "n/a" if v is None else fmt(v) if callable(fmt) else fmt % v
        arrow = "higher is better" if better == "up" else "lower is better"
        rows.append((name, what, f"{label} ({arrow})", cell(t), cell(r), ratio))

def server(b):
    for name, _, _ in scen:
        j = load(b, name)
        if j and j.get("server"):
            return j["server"]
    return None

tern_ver = ""
try:
    tern_ver = open(f"{out}/tern.version").read().strip()
except OSError:
    pass
ts, rs = server("tern"), server("rabbitmq")

hdr = ("Scenario", "Metric", "Tern", "RabbitMQ", "Tern / RabbitMQ")
width = [max(len(str(x)) for x in col) for col in zip(hdr, *[(r[0], r[2], r[3], r[4], r[5]) for r in rows])]
line = lambda c: "  ".join(str(x).ljust(w) for x, w in zip(c, width))
print()
print(line(hdr))
for r in rows:
    print(line((r[0], r[2], r[3], r[4], r[5])))

if doc == "/dev/null":
    sys.exit(0)

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""

cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.processor()
osname = sh(". /etc/os-release && echo $PRETTY_NAME")
mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
md = []
md.append("# Benchmarks\n")
md.append("Written by `make bench` (tools/bench.sh) on %s. Each scenario is one run of "
          "ternperf (tools/ternperf, `--help` explains every flag) of %s s, first against "
          "Tern, then against RabbitMQ; the exact command lines are below. Rates are "
          "for the whole run; latency is publish-to-delivery of every message, measured "
          "from a CLOCK_MONOTONIC stamp in its body.\n"
          % (time.strftime("%Y-%m-%d %H:%M %Z"), secs))
md.append("![Tern against RabbitMQ per scenario: how many times better Tern's main "
          "figure is, log scale](benchmarks.svg)\n")
md.append("## Machine and versions\n")
md.append(f"- CPU: {os.cpu_count()} cores ({cpu}), {mem} RAM")
md.append(f"- OS: {osname}, kernel {platform.release()}")
md.append(f"- Tern: {ts or 'n/a (not measured in this run)'}" + (f", commit {tern_ver}" if ts and tern_ver else ""))
md.append(f"- RabbitMQ: {rs or 'n/a (not running)'}")
md.append("- Load average (1, 5, 15 min) when the run began: %s"
          % open(f"{out}/loadavg").read().strip())
md.append("- The broker under test, ternperf and anything else running (builds, other "
          "tests) share the same cores; figures are comparable with each other, not with "
          "bigger machines, and vary by some 10-20% from run to run. Each broker runs "
          "alone: RabbitMQ is paused (SIGSTOP) while Tern is measured, and Tern is stopped "
          "while RabbitMQ is.\n")
if not ts:
    md.append("This run measured the RabbitMQ side only; Tern's column is to come "
              "(`make bench` fills it in when build/ternd runs).\n")
md.append("## Results\n")
md.append("| Scenario | Metric | Tern | RabbitMQ | Tern / RabbitMQ |")
md.append("|---|---|--:|--:|--:|")
last = None
for name, what, label, t, r, ratio in rows:
    first = name != last
    last = name
    md.append(f"| {name + ': ' + what if first else ''} | {label} | {t} | {r} | {ratio} |")
md.append("")
md.append("## Command lines and ternperf's own CPU\n")
md.append("ternperf runs in one thread; its CPU use (share of one core, from getrusage) "
          "shows it was not the bottleneck. Steal is the share of the machine's CPU time "
          "that the hypervisor gave to other guests during the run (/proc/stat): while it "
          "is high, both brokers' latency tails are the host's as much as their own.\n")
md.append("| Scenario | Broker | ternperf CPU | Steal | Notes | Command |")
md.append("|---|---|--:|--:|---|---|")
for name, what, _ in scen:
    for b in BROKERS:
        cmd = text(b, name, "cmd")
        if not cmd:
            na = text(b, name, "na")
            if na:
                md.append(f"| {name} | {b} |  |  | {na.replace('|', '/')} | (not run) |")
            continue
        j = load(b, name)
        notes = []
        if j is None:
            notes.append("failed: " + (text(b, name, "err").splitlines() or ["?"])[-1])
        else:
            if j.get("drain_timed_out"):
                notes.append("backlog left at the end (drain timed out)")
            if j.get("lost"):
                notes.append("%d not delivered" % j["lost"])
            if j.get("duplicated"):
                notes.append("%d duplicated" % j["duplicated"])
            if j.get("blocked"):
                notes.append("publisher blocked %d times" % j["blocked"])
            err = text(b, name, "err")
            if name == "S11" and re.search(r"--queues (\d+)", cmd):
                notes.append("at %s queues" % re.search(r"--queues (\d+)", cmd).group(1))
            if name in ("S8", "S10") and "connections ready" in err:
                notes.append("at 800 connections: the first try stopped at "
                             + err.split("timed out connecting: ")[1].split(" (")[0])
        c = "%.0f%%" % j["cpu_pct"] if j and "cpu_pct" in j else ""
        st = "%.0f%%" % j["steal_pct"] if j and j.get("steal_pct", -1) >= 0 else ""
        notes = "; ".join(notes).replace("|", "/")
        md.append(f"| {name} | {b} | {c} | {st} | {notes} | `{cmd}` |")
md.append("")
md.append("## Reading the figures\n")
md.append("- Without confirms (S1, S1a, S5, S4) the publisher goes as fast as the broker "
          "reads its socket; a broker that takes messages faster than it delivers them "
          "builds a backlog, which shows as published > delivered and latency in seconds. "
          "ternperf then waits up to 5 s for the rest (drain) and counts what is left as not "
          "delivered; with -z that is a backlog, not a loss. With -C any loss fails the run.")
md.append("- S3's queue is durable and not auto-delete, and its messages persistent: a "
          "broker must write each one to disk before confirming it.")
md.append("- S6 publishes at a fixed rate with a token bucket; latency there is the "
          "figure to compare. A broker that cannot keep up shows it in delivered msg/s.")
md.append("- S7 and S8 read the broker's VmRSS from /proc/<pid>/status after all messages "
          "were confirmed (S7) or while all connections are open (S8); growth is over the "
          "reading just before the scenario.")
md.append("- S9 declares and binds one queue at a time, waiting for each reply, as a "
          "plain client does; the queues are deleted afterwards.")
if any(name.endswith("-tls") for name, _, _ in scen):
    md.append("")
    md.append("## TLS against plaintext\n")
    md.append("S1-tls and S5-tls are S1 and S5 over amqps://, in the same run. Target "
              "(issue 11): Tern's S1-tls at least 40% of its S1. The figures are delivered "
              "msg/s, the end-to-end rate: a broker whose TLS layer reads ahead of what it "
              "can route (RabbitMQ's does) shows a published rate far above it, which is "
              "buffering, not throughput.\n")
    md.append("| Broker | TLS | S1 | S1-tls | S1-tls / S1 | S5 | S5-tls | S5-tls / S5 |")
    md.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for b in BROKERS:
        cells, proto = [], ""
        for plain in ("S1", "S5"):
            p, t = load(b, plain), load(b, plain + "-tls")
            pv = p["delivered_per_s"] if p else None
            tv = t["delivered_per_s"] if t else None
            proto = proto or (t or {}).get("tls", "")
            cells += ["n/a" if pv is None else "%.0f" % pv,
                      "n/a" if tv is None else "%.0f" % tv,
                      "%.0f%%" % (100 * tv / pv) if pv and tv is not None else "n/a"]
        md.append(f"| {b} | {proto or 'n/a'} | " + " | ".join(cells) + " |")
# Hand-written sections follow the marker; they are kept as they are.
MARK = "<!-- make bench rewrites this file down to here and keeps what follows -->"
tail = ""
try:
    old = open(doc).read()
    if MARK in old:
        tail = old[old.index(MARK) + len(MARK):]
except OSError:
    pass
md.append("")
md.append(MARK)
open(doc, "w").write("\n".join(md) + (tail if tail else "\n"))
print(f"\nwrote {doc}")
PY
if [ "$write_doc" = 1 ]; then
	python3 tools/bench_chart.py docs/benchmarks.md docs/benchmarks.svg
fi
