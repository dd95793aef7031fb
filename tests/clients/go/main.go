// Command amqp091check drives Tern (or any AMQP 0-9-1 broker) with the
// unmodified github.com/rabbitmq/amqp091-go client, as an application would.
//
//	go run main.go amqp://guest:guest@127.0.0.1:5672/ [NAME-PREFIX]
//
// The queue and exchange it declares are NAME-PREFIX-q and NAME-PREFIX-x
// (default prefix tern-go-amqp091-RANDOM); it deletes them at the end.
// It prints one "step NAME: ok ..." line per step and exits 0, or prints
// "FAIL NAME: why" and exits 1 at the first mismatch (2 when the whole run
// takes longer than its 60 s watchdog). tests/integration/test_other_clients.py
// builds it in GOPATH mode against Debian's golang-github-rabbitmq-amqp091-go-dev
// and checks the step lines.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	wait     = 5 * time.Second // for any one thing the broker should send
	quiet    = 300 * time.Millisecond
	prefetch = 2
	nMsgs    = 5
	bigSize  = 1 << 20
)

var step = "start"

func ok(format string, a ...interface{}) {
	fmt.Printf("step %s: ok %s\n", step, fmt.Sprintf(format, a...))
}

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL %s: %s\n", step, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func publish(ch *amqp.Channel, exchange, key string, mandatory bool, body []byte, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := ch.PublishWithContext(ctx, exchange, key, mandatory, false, amqp.Publishing{
		ContentType: "application/octet-stream",
		MessageId:   id,
		Body:        body,
	})
	must(err, "publish "+id)
}

// waitConfirms reads n confirmations, which must be acks with the tags
// first..first+n-1 in order.
func waitConfirms(confirms chan amqp.Confirmation, first uint64, n int) {
	for i := 0; i < n; i++ {
		select {
		case c, open := <-confirms:
			if !open {
				fail("confirm channel closed after %d of %d confirms", i, n)
			}
			if want := first + uint64(i); c.DeliveryTag != want {
				fail("confirm %d has delivery tag %d, want %d", i, c.DeliveryTag, want)
			}
			if !c.Ack {
				fail("publish %d was nacked", c.DeliveryTag)
			}
		case <-time.After(wait):
			fail("only %d of %d publisher confirms within %v", i, n, wait)
		}
	}
}

func next(deliveries <-chan amqp.Delivery) amqp.Delivery {
	select {
	case d, open := <-deliveries:
		if !open {
			fail("consumer delivery channel closed")
		}
		return d
	case <-time.After(wait):
		fail("no delivery within %v", wait)
	}
	panic("unreachable")
}

func noMore(deliveries <-chan amqp.Delivery, why string) {
	select {
	case d := <-deliveries:
		fail("unexpected delivery %q (%s)", d.MessageId, why)
	case <-time.After(quiet):
	}
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: amqp091check AMQP-URL [NAME-PREFIX]")
		os.Exit(2)
	}
	url := os.Args[1]
	time.AfterFunc(60*time.Second, func() {
		fmt.Printf("FAIL %s: the whole run took longer than 60 s\n", step)
		os.Exit(2)
	})

	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	base := "tern-go-amqp091-" + hex.EncodeToString(tag)
	if len(os.Args) == 3 {
		base = os.Args[2]
	}
	qname, xname, key := base+"-q", base+"-x", "to-q"

	step = "connect"
	conn, err := amqp.DialConfig(url, amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": "tern amqp091-go check"},
	})
	must(err, "dial "+url)
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	product, _ := conn.Properties["product"].(string)
	version, _ := conn.Properties["version"].(string)
	ok("server %s %s, amqp %d-%d", product, version, conn.Major, conn.Minor)

	step = "channel"
	ch, err := conn.Channel()
	must(err, "channel.open")
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	ok("channel open")

	step = "declare"
	q, err := ch.QueueDeclare(qname, false, false, false, false, nil)
	must(err, "queue.declare")
	if q.Name != qname || q.Messages != 0 || q.Consumers != 0 {
		fail("queue.declare-ok %+v, want %s with 0 messages and 0 consumers", q, qname)
	}
	must(ch.ExchangeDeclare(xname, "direct", false, false, false, false, nil), "exchange.declare")
	must(ch.QueueBind(qname, key, xname, false, nil), "queue.bind")
	ok("queue %s, direct exchange %s, bound with key %s", qname, xname, key)

	step = "confirm-publish"
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 64))
	returns := ch.NotifyReturn(make(chan amqp.Return, 4))
	for i := 1; i <= nMsgs; i++ {
		publish(ch, xname, key, false, []byte(fmt.Sprintf("message %d", i)), fmt.Sprintf("m%d", i))
	}
	waitConfirms(confirms, 1, nMsgs)
	q, err = ch.QueueDeclarePassive(qname, false, false, false, false, nil)
	must(err, "passive queue.declare")
	if q.Messages != nMsgs {
		fail("queue holds %d messages after %d confirmed publishes", q.Messages, nMsgs)
	}
	ok("%d publishes acked (tags 1..%d), queue holds %d", nMsgs, nMsgs, q.Messages)

	step = "qos"
	must(ch.Qos(prefetch, 0, false), "basic.qos")
	ok("prefetch count %d", prefetch)

	step = "consume"
	deliveries, err := ch.Consume(qname, "go-consumer", false, false, false, false, nil)
	must(err, "basic.consume")
	first := []amqp.Delivery{next(deliveries), next(deliveries)}
	for i, d := range first {
		if want := fmt.Sprintf("m%d", i+1); d.MessageId != want || d.Redelivered ||
			string(d.Body) != fmt.Sprintf("message %d", i+1) ||
			d.ConsumerTag != "go-consumer" || d.Exchange != xname || d.RoutingKey != key {
			fail("delivery %d: id %q redelivered %v body %q consumer %q exchange %q key %q, want %s",
				i, d.MessageId, d.Redelivered, d.Body, d.ConsumerTag, d.Exchange, d.RoutingKey, want)
		}
	}
	noMore(deliveries, fmt.Sprintf("prefetch %d with %d unacked", prefetch, prefetch))
	ok("got m1 m2 (manual ack), no third delivery while %d are unacked", prefetch)

	step = "nack-requeue"
	must(first[0].Nack(false, true), "basic.nack requeue")
	must(first[1].Ack(false), "basic.ack")
	seen := map[string]amqp.Delivery{}
	for len(seen) < nMsgs-1 { // m1 again, m3, m4, m5
		d := next(deliveries)
		if _, dup := seen[d.MessageId]; dup || d.MessageId == "m2" {
			fail("delivery %q came twice", d.MessageId)
		}
		seen[d.MessageId] = d
		must(d.Ack(false), "basic.ack "+d.MessageId)
	}
	again, found := seen["m1"]
	if !found || !again.Redelivered || string(again.Body) != "message 1" {
		fail("nacked m1 not redelivered with Redelivered=true (got %v, %+v)", found, again.Redelivered)
	}
	for _, id := range []string{"m3", "m4", "m5"} {
		if d, found := seen[id]; !found || d.Redelivered {
			fail("%s missing or marked redelivered", id)
		}
	}
	noMore(deliveries, "all acked")
	ok("m1 nacked with requeue came back with Redelivered=true; m3..m5 acked")

	step = "mandatory-return"
	publish(ch, xname, "no-such-key", true, []byte("unroutable"), "r1")
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || r.ReplyText != "NO_ROUTE" || r.Exchange != xname ||
			r.RoutingKey != "no-such-key" || string(r.Body) != "unroutable" || r.MessageId != "r1" {
			fail("basic.return %d %q exchange %q key %q body %q id %q, want 312 NO_ROUTE",
				r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body, r.MessageId)
		}
	case <-time.After(wait):
		fail("no basic.return for a mandatory publish to an unroutable key")
	}
	waitConfirms(confirms, nMsgs+1, 1) // a returned message is still acked
	ok("basic.return 312 NO_ROUTE, then the publish acked")

	step = "large-message"
	big := make([]byte, bigSize)
	_, _ = rand.Read(big)
	publish(ch, xname, key, false, big, "big")
	waitConfirms(confirms, nMsgs+2, 1)
	d := next(deliveries)
	if d.MessageId != "big" || !bytes.Equal(d.Body, big) {
		fail("1 MiB message came back as %q with %d bytes (equal: %v)",
			d.MessageId, len(d.Body), bytes.Equal(d.Body, big))
	}
	must(d.Ack(false), "basic.ack big")
	ok("%d bytes round trip intact", len(d.Body))

	step = "passive-404"
	ch2, err := conn.Channel()
	must(err, "second channel.open")
	ch2Closed := ch2.NotifyClose(make(chan *amqp.Error, 1))
	_, err = ch2.QueueDeclarePassive(base+"-missing", false, false, false, false, nil)
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		fail("passive declare of a missing queue returned %v (%T), want *amqp.Error", err, err)
	}
	if aerr.Code != 404 || !aerr.Server {
		fail("passive declare error code %d server %v (%s), want 404 from the server",
			aerr.Code, aerr.Server, aerr.Reason)
	}
	if !ch2.IsClosed() {
		fail("channel still open after a 404")
	}
	select {
	case e := <-ch2Closed:
		if e == nil || e.Code != 404 {
			fail("NotifyClose gave %v, want the 404", e)
		}
	case <-time.After(wait):
		fail("NotifyClose not told of the channel close")
	}
	if _, err := ch.QueueDeclarePassive(qname, false, false, false, false, nil); err != nil {
		fail("first channel broken by the other channel's 404: %v", err)
	}
	ok("*amqp.Error 404 (%s), that channel closed, the other still works", aerr.Reason)

	step = "cleanup"
	must(ch.Cancel("go-consumer", false), "basic.cancel")
	if _, open := <-deliveries; open {
		fail("delivery after basic.cancel")
	}
	n, err := ch.QueueDelete(qname, false, false, false)
	must(err, "queue.delete")
	if n != 0 {
		fail("queue.delete-ok says %d messages left", n)
	}
	must(ch.ExchangeDelete(xname, false, false), "exchange.delete")
	must(ch.Close(), "channel.close")
	ok("consumer cancelled, queue (0 messages) and exchange deleted, channel closed")

	step = "close"
	must(conn.Close(), "connection.close")
	if !conn.IsClosed() {
		fail("connection not closed after Close")
	}
	ok("connection.close answered by close-ok")

	// amqp091-go documents that a graceful close sends no error to
	// NotifyClose. If the broker drops TCP right after close-ok, the
	// library's reader may see EOF before Close finishes and report
	// 501 "EOF" instead (RabbitMQ leaves the socket for the client to close).
	step = "close-notify"
	for i, c := range []chan *amqp.Error{connClosed, chClosed} {
		what := []string{"connection", "channel"}[i]
		select {
		case e, open := <-c:
			if open {
				fail("%s NotifyClose got an error after a graceful Close: %v", what, e)
			}
		case <-time.After(wait):
			fail("%s NotifyClose channel not closed", what)
		}
	}
	ok("connection and channel NotifyClose closed without an error")
	fmt.Println("all steps passed")
}
