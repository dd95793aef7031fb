#!/usr/bin/python3
"""confirm_one_bench.py PORT [N] [ACK_DELAY] — a publisher that waits for
each confirm (pika's BlockingChannel.confirm_delivery, one publish at a
time: the way many applications publish), N persistent 16 B messages to a
durable queue, while a consumer on its own connection (prefetch 10000)
acks each message ACK_DELAY seconds after it arrives (-1: never). Prints
the publisher's rate. A measurement, not a test (docs/performance.md,
"Ripening backs off when acks come late"); run it against Tern and
RabbitMQ on the same machine, with Debian's /usr/bin/python3."""
import sys
import threading
import time

import pika


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    ack_delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    params = pika.ConnectionParameters("127.0.0.1", port)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.queue_declare("confirm-one-bench", durable=True)
    ch.queue_purge("confirm-one-bench")
    stop = threading.Event()

    def consume():
        cc = pika.BlockingConnection(params)
        cch = cc.channel()
        cch.basic_qos(prefetch_count=10000)
        got = []
        cch.basic_consume("confirm-one-bench", lambda c, m, p, b: got.append((time.time(), m)))
        while not stop.is_set():
            cc.process_data_events(0.001)
            while got and 0 <= ack_delay <= time.time() - got[0][0]:
                cch.basic_ack(got.pop(0)[1].delivery_tag)
        cc.close()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    ch.confirm_delivery()
    t0 = time.time()
    for _ in range(n):
        ch.basic_publish("", "confirm-one-bench", b"x" * 16, pika.BasicProperties(delivery_mode=2))
    el = time.time() - t0
    print("publisher waiting for each confirm, consumer acking after %s s: %.0f msg/s "
          "(%.3f ms a confirm)" % (ack_delay, n / el, el / n * 1e3))
    stop.set()
    t.join()
    ch.queue_delete("confirm-one-bench")
    conn.close()


if __name__ == "__main__":
    main()
