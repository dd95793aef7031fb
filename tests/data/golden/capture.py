#!/usr/bin/python3
"""capture.py - records the bytes of real AMQP clients talking to a real
broker, for the codec's golden tests. Relays one connection at a time from
127.0.0.1:LISTEN to the broker at 127.0.0.1:5672 and writes what each side
sent to <name>.client.bin and <name>.server.bin in this directory.

Usage (RabbitMQ running on 5672, guest/guest): /usr/bin/python3 capture.py
It drives pika and rabbitmq-c's amqp-publish itself."""
import os
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
BROKER = ("127.0.0.1", 5672)


def pump(src, dst, log):
    while True:
        try:
            data = src.recv(65536)
        except ConnectionResetError:
            break  # the peer closed first; what was sent is logged
        if not data:
            break
        log.append(data)
        dst.sendall(data)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay_once(lsock, name):
    cli, _ = lsock.accept()
    srv = socket.create_connection(BROKER)
    up, down = [], []
    t1 = threading.Thread(target=pump, args=(cli, srv, up))
    t2 = threading.Thread(target=pump, args=(srv, cli, down))
    t1.start(); t2.start(); t1.join(); t2.join()
    cli.close(); srv.close()
    for suffix, chunks in (("client", up), ("server", down)):
        with open(os.path.join(HERE, f"{name}.{suffix}.bin"), "wb") as f:
            f.write(b"".join(chunks))


def run_pika(port):
    import pika
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    props = pika.BasicProperties(content_type="text/plain", delivery_mode=2,
                                 priority=3, message_id="m-1",
                                 headers={"x-trace": "abc", "n": 42})
    ch.basic_publish(exchange="amq.direct", routing_key="golden.key",
                     body=b"hello, golden world", properties=props)
    conn.close()


def run_amqp_publish(port):
    subprocess.run(["amqp-publish", "--url", f"amqp://guest:guest@127.0.0.1:{port}",
                    "-e", "amq.topic", "-r", "golden.topic", "-p", "-C",
                    "application/json", "-b", '{"k":1}'], check=True)


def main():
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    for name, client in (("pika", run_pika), ("amqp_publish", run_amqp_publish)):
        t = threading.Thread(target=relay_once, args=(lsock, name))
        t.start()
        client(port)
        t.join()
    print("captured into", HERE, file=sys.stderr)


if __name__ == "__main__":
    main()
