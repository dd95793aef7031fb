package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const drain = 5 * time.Second // how long the consumer may take for the rest

// declare makes a fresh queue (deleting one left by an earlier run).
func declare(ch *amqp.Channel, name string, durable bool) {
	ch.QueueDelete(name, false, false, false)
	if _, err := ch.QueueDeclare(name, durable, false, false, false, nil); err != nil {
		fail("queue.declare %s: %v", name, err)
	}
}

// publisher sends bodies to queue with confirms, at most window
// unconfirmed; it records each confirm's latency.
type publisher struct {
	ch       *amqp.Channel
	bc       *batchConn // nil: every frame written as the client does
	confirms chan amqp.Confirmation
	sent     []int64 // send time by delivery tag - 1
	lat      []int64
	window   int
	pending  int
	acked    int
	nacked   int
}

func newPublisher(c *amqp.Connection, bc *batchConn, window int) *publisher {
	p := &publisher{ch: channel(c), bc: bc, window: window}
	if err := p.ch.Confirm(false); err != nil {
		fail("confirm.select: %v", err)
	}
	p.confirms = p.ch.NotifyPublish(make(chan amqp.Confirmation, window))
	return p
}

func (p *publisher) publish(queue string, body []byte, persistent bool) {
	mode := amqp.Transient
	if persistent {
		mode = amqp.Persistent
	}
	p.sent = append(p.sent, nowNs())
	err := p.ch.Publish("", queue, false, false, amqp.Publishing{DeliveryMode: mode, Body: body})
	if err != nil {
		fail("publish: %v", err)
	}
	p.pending++
}

// await takes one confirm, waiting at most d; false when none came.
func (p *publisher) await(d time.Duration) bool {
	if p.bc != nil {
		if err := p.bc.flush(); err != nil {
			fail("write: %v", err)
		}
	}
	var c amqp.Confirmation
	var ok bool
	select {
	case c, ok = <-p.confirms: // most often one is there: no timer
	default:
		select {
		case c, ok = <-p.confirms:
		case <-time.After(d):
			return false
		}
	}
	if !ok {
		fail("channel closed while waiting for confirms")
	}
	p.lat = append(p.lat, nowNs()-p.sent[c.DeliveryTag-1])
	if c.Ack {
		p.acked++
	} else {
		p.nacked++
	}
	p.pending--
	return true
}

// run publishes until stop says so, keeping the window full, then waits
// for the confirms still out.
func (p *publisher) run(queue string, persistent bool, stop func(n int) bool) {
	body := make([]byte, 16)
	if p.bc != nil {
		p.bc.batching(true)
		defer p.bc.batching(false)
	}
	for n := 0; !stop(n); n++ {
		if p.pending >= p.window {
			if !p.await(30 * time.Second) {
				fail("no confirm for 30 s")
			}
			// Take the rest that came with it, so the window refills
			// by many and goes out in one write.
			for p.pending > 0 && len(p.confirms) > 0 {
				p.await(0)
			}
		}
		p.publish(queue, body, persistent)
	}
	for p.pending > 0 && p.await(30*time.Second) {
	}
}

// consumer acks what it gets on its own connection: every `every`
// messages with multiple, or each when every is 1. onBody sees each body
// as it arrives.
type consumer struct {
	conn      *amqp.Connection
	delivered int64
	done      chan struct{}
}

func newConsumer(queue string, prefetch, every int, onBody func([]byte)) *consumer {
	k := &consumer{conn: dial(), done: make(chan struct{})}
	ch := channel(k.conn)
	if err := ch.Qos(prefetch, 0, false); err != nil {
		fail("basic.qos: %v", err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		fail("basic.consume: %v", err)
	}
	go func() {
		defer close(k.done)
		n := 0
		for d := range ds {
			if onBody != nil {
				onBody(d.Body)
			}
			atomic.AddInt64(&k.delivered, 1)
			if n++; n == every {
				d.Ack(every > 1)
				n = 0
			}
		}
	}()
	return k
}

// wait gives the consumer up to `drain` to reach want messages, then
// closes its connection.
func (k *consumer) wait(want int64) int64 {
	until := time.Now().Add(drain)
	for atomic.LoadInt64(&k.delivered) < want && time.Now().Before(until) {
		time.Sleep(10 * time.Millisecond)
	}
	k.conn.Close()
	<-k.done
	return atomic.LoadInt64(&k.delivered)
}

// confirmed is S3 (with a consumer) and S3k (without): a durable queue,
// persistent 16 B bodies, confirms with a window of 100; and S2, S3 on a
// transient queue with transient messages (what the client alone can
// drive with that window, for reading S3 against).
func confirmed(name string, withConsumer, durable bool) result {
	queue := "loadgen-" + name
	c, bc := dialPublisher()
	defer c.Close()
	admin := channel(c)
	declare(admin, queue, durable)
	var k *consumer
	if withConsumer {
		k = newConsumer(queue, 1000, 100, nil)
	}
	p := newPublisher(c, bc, 100)
	t0 := time.Now()
	d := time.Duration(*seconds * float64(time.Second))
	p.run(queue, durable, func(int) bool { return time.Since(t0) >= d })
	el := time.Since(t0).Seconds()
	r := result{"scenario": name, "server": server(c), "seconds": el, "batch": *batch,
		"published": len(p.sent), "confirmed": p.acked, "nacked": p.nacked,
		"confirmed_per_s":    float64(p.acked) / el,
		"confirm_latency_ms": quantiles(p.lat)}
	if k != nil {
		got := k.wait(int64(len(p.sent)))
		r["delivered"] = got
		r["delivered_per_s"] = float64(got) / el
	}
	admin.QueueDelete(queue, false, false, false)
	return r
}

// latency is S6: 16 B bodies at a fixed rate, each carrying its send time
// (ns since start) and sequence number; the consumer acks each.
func latency() result {
	queue := "loadgen-S6"
	c := dial()
	defer c.Close()
	admin := channel(c)
	declare(admin, queue, false)
	n := int(*seconds * float64(*rate))
	lat := make([]int64, n)
	sentAt := make([]int64, n)
	k := newConsumer(queue, 1000, 1, func(b []byte) {
		if len(b) < 16 {
			return
		}
		now := nowNs()
		seq := binary.LittleEndian.Uint64(b[8:])
		if seq < uint64(n) {
			lat[seq] = now - int64(binary.LittleEndian.Uint64(b))
		}
	})
	pub := channel(c)
	interval := time.Second / time.Duration(*rate)
	t0 := time.Now()
	body := make([]byte, 16)
	for i := 0; i < n; i++ {
		// A schedule, not a sleep per message: a late wake-up sends at
		// once, so the rate holds; the stamp is taken when it is sent.
		if w := time.Until(t0.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		sentAt[i] = nowNs()
		binary.LittleEndian.PutUint64(body, uint64(sentAt[i]))
		binary.LittleEndian.PutUint64(body[8:], uint64(i))
		if err := pub.Publish("", queue, false, false, amqp.Publishing{Body: body}); err != nil {
			fail("publish: %v", err)
		}
	}
	el := time.Since(t0).Seconds()
	got := k.wait(int64(n))
	admin.QueueDelete(queue, false, false, false)
	if *trace != "" {
		writeTrace(sentAt, lat)
	}
	var seen []int64
	for _, v := range lat {
		if v > 0 {
			seen = append(seen, v)
		}
	}
	return result{"scenario": "S6", "server": server(c), "rate": *rate, "seconds": el,
		"published": n, "delivered": got, "delivered_per_s": float64(got) / el,
		"latency_ms": quantiles(seen)}
}

func writeTrace(sentAt, lat []int64) {
	f, err := os.Create(*trace)
	if err != nil {
		fail("%v", err)
	}
	w := bufio.NewWriter(f)
	for i := range sentAt {
		fmt.Fprintf(w, "%.3f %.1f\n", float64(sentAt[i])/1e6, float64(lat[i])/1e3)
	}
	w.Flush()
	f.Close()
}

// queued is S7: N transient 16 B messages published with confirms
// (window 1000) to a queue nobody consumes, then the broker's RSS.
func queued() result {
	queue := "loadgen-S7"
	pid := brokerPid()
	c, bc := dialPublisher()
	defer c.Close()
	admin := channel(c)
	declare(admin, queue, false)
	rss0 := rssKB(pid)
	p := newPublisher(c, bc, 1000)
	t0 := time.Now()
	p.run(queue, false, func(n int) bool { return n >= *messages })
	el := time.Since(t0).Seconds()
	time.Sleep(time.Second) // let the broker settle
	rss := rssKB(pid)
	r := result{"scenario": "S7", "server": server(c), "seconds": el,
		"published": len(p.sent), "confirmed": p.acked, "nacked": p.nacked,
		"broker_pid": pid, "broker_rss_start_kb": rss0, "broker_rss_kb": rss}
	if q, err := admin.QueueInspect(queue); err == nil {
		r["queued"] = q.Messages
	}
	if rss > 0 && rss0 > 0 {
		r["broker_rss_mb"] = float64(rss) / 1024
		r["rss_growth_bytes_per_message"] = float64(rss-rss0) * 1024 / float64(*messages)
	}
	admin.QueueDelete(queue, false, false, false)
	return r
}
