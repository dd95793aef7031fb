// Command loadgen is a load generator independent of ternperf: Go, with
// the stock github.com/rabbitmq/amqp091-go client, as an application
// would use it. It runs issue 13's check scenarios against any AMQP 0-9-1
// broker and prints one JSON object per scenario on stdout:
//
//	S3   durable queue, persistent 16 B messages, confirms (window 100),
//	     one consumer acking (prefetch 1000, a multiple ack every 100)
//	S3k  the same with no consumer: every message must be written
//	S2   S3 with a transient queue and messages (not run by default: what
//	     this client drives with a window of 100, to read S3 against)
//	S6   16 B at a fixed rate (default 1000 msg/s), one consumer acking
//	     each message; latency publish-to-delivery from a monotonic stamp
//	     in the body (p50/p99/p99.9)
//	S7   N (default 1M) transient 16 B messages queued with confirms
//	     (window 1000), then the broker's VmRSS from /proc/PID/status
//
//	loadgen -uri amqp://guest:guest@127.0.0.1:5672/ [-scenarios S3,S3k,S6,S7]
//	        [-seconds 10] [-rate 1000] [-messages 1000000] [-pid PID]
//	        [-trace FILE] [-batch=false] [-cpuprofile FILE]
//
// The broker's pid (for S7) is found from the URI's port with `ss` when
// -pid is not given. -trace writes S6's messages as "send_ms latency_us"
// lines, to see when the slow ones were sent. -cpuprofile writes the
// generator's own CPU profile (go tool pprof -top loadgen FILE), to see
// when the client is the limit rather than the broker. Queues are named loadgen-*
// and deleted at the end. Built by `make loadgen` (GOPATH mode against
// Debian's golang-github-rabbitmq-amqp091-go-dev, no module proxy).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	uri      = flag.String("uri", "amqp://guest:guest@127.0.0.1:5672/", "broker URI")
	scenList = flag.String("scenarios", "S3,S3k,S6,S7", "scenarios to run, in order")
	seconds  = flag.Float64("seconds", 10, "length of S3, S3k and S6")
	rate     = flag.Int("rate", 1000, "S6's publish rate, msg/s")
	messages = flag.Int("messages", 1000000, "S7's queued messages")
	pidFlag  = flag.Int("pid", 0, "the broker's pid for S7 (default: found by port)")
	trace    = flag.String("trace", "", "S6: write each message's send time and latency here")
	cpuProf  = flag.String("cpuprofile", "", "write the load generator's own CPU profile here (go tool pprof)")
	batch    = flag.Bool("batch", true, "S2, S3, S3k, S7: write what the confirm window allows in one write (see batch.go); false: one write per frame, as amqp091-go does")
)

// start is the reference of the stamps in S6's bodies: publisher and
// consumer are in this process, so a monotonic offset from it is exact.
var start = time.Now()

func nowNs() int64 { return int64(time.Since(start)) }

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", a...)
	os.Exit(1)
}

func dial() *amqp.Connection {
	c, err := amqp.Dial(*uri)
	if err != nil {
		fail("connect %s: %v", *uri, err)
	}
	return c
}

// dialPublisher is the publisher's connection: behind a batchConn
// with -batch (nil otherwise).
func dialPublisher() (*amqp.Connection, *batchConn) {
	if *batch {
		return dialBatch()
	}
	return dial(), nil
}

func channel(c *amqp.Connection) *amqp.Channel {
	ch, err := c.Channel()
	if err != nil {
		fail("channel: %v", err)
	}
	return ch
}

// server names the broker as its connection.start does ("RabbitMQ 3.10.8").
func server(c *amqp.Connection) string {
	p, _ := c.Properties["product"].(string)
	v, _ := c.Properties["version"].(string)
	return strings.TrimSpace(p + " " + v)
}

// quantiles of sorted nanosecond values, in ms.
func quantiles(v []int64) map[string]float64 {
	if len(v) == 0 {
		return nil
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	q := func(f float64) float64 {
		i := int(f * float64(len(v)))
		if i >= len(v) {
			i = len(v) - 1
		}
		return float64(v[i]) / 1e6
	}
	return map[string]float64{"p50": q(0.5), "p99": q(0.99), "p999": q(0.999),
		"max": float64(v[len(v)-1]) / 1e6}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

type result map[string]interface{}

func emit(r result, cpu0 float64, t0 time.Time) {
	wall := time.Since(t0).Seconds()
	r["loadgen_cpu_pct"] = 100 * (cpuSeconds() - cpu0) / wall
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func main() {
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fail("cpuprofile: %v", err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*scenList, ",") {
		cpu0, t0 := cpuSeconds(), time.Now()
		var r result
		switch strings.TrimSpace(s) {
		case "S2":
			r = confirmed("S2", true, false)
		case "S3":
			r = confirmed("S3", true, true)
		case "S3k":
			r = confirmed("S3k", false, true)
		case "S6":
			r = latency()
		case "S7":
			r = queued()
		default:
			fail("unknown scenario %q (S2, S3, S3k, S6, S7)", s)
		}
		emit(r, cpu0, t0)
	}
}

// brokerPid is -pid, or the process listening on the URI's port.
func brokerPid() int {
	if *pidFlag != 0 {
		return *pidFlag
	}
	u, err := url.Parse(*uri)
	if err != nil {
		return 0
	}
	port := u.Port()
	if port == "" {
		port = "5672"
	}
	out, err := exec.Command("ss", "-Htlnp", "sport = :"+port).Output()
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`pid=(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// rssKB reads VmRSS from /proc/PID/status; -1 when it cannot.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}
