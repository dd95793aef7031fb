#!/usr/bin/python3
"""delayed_bench.py - measures Tern's delayed delivery (x-delayed-message):

  rss      N messages scheduled over the next hour; prints the broker's RSS
           before and after (the time index stays on disk, so it should
           stay flat).
  lateness N messages due within one minute; a consumer records when each
           arrives against when it was due; prints p50/p99/max lateness.

Usage: delayed_bench.py rss|lateness --port P --pid PID [-n N]
A measurement tool, not a test: it asserts nothing. Run it against a
broker started for it (make run, or build/ternd --port P --data-dir DIR).
"""
import argparse
import random
import struct
import time

import pika


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def channel(port):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    ch.exchange_declare("bench-delayed", "x-delayed-message",
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare("bench-delayed-q")
    ch.queue_bind("bench-delayed-q", "bench-delayed", "k")
    return conn, ch


def publish(ch, n, delay_of):
    """Publishes n messages; the body carries the wall-clock due time."""
    for i in range(n):
        delay = delay_of(i)
        due = time.time() + delay / 1000.0
        ch.basic_publish("bench-delayed", "k", struct.pack(">d", due),
                         pika.BasicProperties(headers={"x-delay": delay}))


def rss(args):
    conn, ch = channel(args.port)
    before = rss_kb(args.pid)
    t0 = time.monotonic()
    publish(ch, args.n, lambda i: random.randint(60_000, 3_600_000))
    ch.queue_declare("bench-delayed-q", passive=True)  # a round trip: all in
    took = time.monotonic() - t0
    time.sleep(1)
    after = rss_kb(args.pid)
    print("scheduled %d messages over the next hour in %.1f s (%.0f msg/s)" %
          (args.n, took, args.n / took))
    print("broker RSS before %d kB, after %d kB (+%d kB, %.1f bytes/message)" %
          (before, after, after - before, (after - before) * 1024.0 / args.n))
    ch.exchange_delete("bench-delayed")
    ch.queue_delete("bench-delayed-q")
    conn.close()


def lateness(args):
    conn, ch = channel(args.port)
    ch.queue_purge("bench-delayed-q")
    # With confirms each publish reaches the broker when it is stamped, so
    # the lateness measured is the broker's, not a client-side backlog's.
    ch.confirm_delivery()
    # all due within one minute, starting once publishing is surely done
    start = 10_000 + args.n // 2
    publish(ch, args.n, lambda i: start + random.randint(0, 60_000))
    late = []

    def on_message(c, method, props, body):
        late.append(time.time() - struct.unpack(">d", body)[0])
        if len(late) == args.n:
            c.stop_consuming()

    ch.basic_consume("bench-delayed-q", on_message, auto_ack=True)
    conn.call_later(start / 1000.0 + 90, ch.stop_consuming)
    ch.start_consuming()
    late.sort()
    if not late:
        print("nothing arrived")
        return
    pick = lambda q: late[min(len(late) - 1, int(q * len(late)))] * 1000
    print("%d of %d arrived; lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms, min %.1f ms" %
          (len(late), args.n, pick(0.5), pick(0.99), late[-1] * 1000, late[0] * 1000))
    ch.exchange_delete("bench-delayed")
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["rss", "lateness"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("-n", type=int, default=0)
    args = ap.parse_args()
    if args.what == "rss":
        args.n = args.n or 1_000_000
        rss(args)
    else:
        args.n = args.n or 100_000
        lateness(args)


if __name__ == "__main__":
    main()
