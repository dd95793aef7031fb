package main

import (
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// batchConn lets a publisher hand the socket many messages in one write.
// amqp091-go flushes after every frame, three writes per message; that
// caps what one publisher drives (about 23k msg/s here, the client's
// limit, not the broker's). While batching is on, writes gather until
// flush (the publisher calls it before it waits for a confirm) or 64 KiB.
// Off (the default, and for S6's latency), every write goes straight out.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	on  bool
	buf []byte
	err error
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return b.Conn.Write(p)
	}
	if b.err != nil {
		return 0, b.err
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= 64<<10 {
		b.flushLocked()
	}
	return len(p), nil
}

func (b *batchConn) flushLocked() {
	if len(b.buf) > 0 && b.err == nil {
		_, b.err = b.Conn.Write(b.buf)
	}
	b.buf = b.buf[:0]
}

func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.err
}

func (b *batchConn) batching(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.on = on
}

// dialBatch is dial with the connection's socket behind a batchConn.
func dialBatch() (*amqp.Connection, *batchConn) {
	var bc *batchConn
	cfg := amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 30*time.Second)
			if err != nil {
				return nil, err
			}
			bc = &batchConn{Conn: c}
			return bc, nil
		}}
	c, err := amqp.DialConfig(*uri, cfg)
	if err != nil {
		fail("connect %s: %v", *uri, err)
	}
	return c, bc
}
