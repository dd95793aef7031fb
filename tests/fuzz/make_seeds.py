#!/usr/bin/python3
"""make_seeds.py - writes the small seed corpora of the fuzz targets,
tests/data/fuzz_{frame,method,table,props}/, from the golden streams in
tests/data/golden/ plus a few hand-built inputs covering what the golden
clients never send (queue.declare arguments, every table type, every
basic property). Run from the repository root; the output is committed.
"""
import os
import struct

GOLDEN = "tests/data/golden"
OUT = "tests/data"


def frames(name):
    """The (type, channel, payload, raw) frames of a golden stream."""
    b = open(os.path.join(GOLDEN, name), "rb").read()
    off = 8 if b[:4] == b"AMQP" else 0
    while off < len(b):
        t, ch, size = struct.unpack(">BHI", b[off:off + 7])
        yield t, ch, b[off + 7:off + 7 + size], b[off:off + 8 + size]
        off += 8 + size


def shortstr(s):
    return bytes([len(s)]) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


def all_types_table():
    pairs = [
        (b"t", b"t\x01"), (b"b", b"b\xfb"), (b"B", b"B\xfa"), (b"s", b"s\xfe\xd4"),
        (b"u", b"u\xfd\xe8"), (b"I", b"I" + struct.pack(">i", -70000)),
        (b"i", b"i" + struct.pack(">I", 4000000000)), (b"l", b"l" + struct.pack(">q", -5)),
        (b"L", b"L" + struct.pack(">Q", 2**64 - 1)), (b"f", b"f" + struct.pack(">f", 1.5)),
        (b"d", b"d" + struct.pack(">d", -2.25)), (b"D", b"D\x02" + struct.pack(">I", 12345)),
        (b"S", b"S" + longstr(b"hello")), (b"x", b"x" + longstr(b"\x00\xff")),
        (b"T", b"T" + struct.pack(">Q", 1700000000)),
        (b"F", b"F" + longstr(shortstr(b"k") + b"I\x00\x00\x00\x07")),
        (b"A", b"A" + longstr(b"I\x00\x00\x00\x01" + b"S" + longstr(b"two") + b"V")),
        (b"V", b"V"),
    ]
    return b"".join(shortstr(k) + v for k, v in pairs)


def method(cls, mid, args):
    return struct.pack(">HH", cls, mid) + args


def extra_methods():
    args = all_types_table()
    return {
        "queue_declare_args": method(50, 10, b"\x00\x00" + shortstr(b"q") + b"\x15" +
                                     longstr(shortstr(b"x-max-length") + b"l" +
                                             struct.pack(">q", 10))),
        "exchange_declare": method(40, 10, b"\x00\x00" + shortstr(b"x") + shortstr(b"topic") +
                                   b"\x16" + longstr(args)),
        "basic_consume": method(60, 20, b"\x00\x00" + shortstr(b"q") + shortstr(b"ctag") +
                                b"\x0a" + longstr(b"")),
        "basic_deliver": method(60, 60, shortstr(b"ctag") + struct.pack(">Q", 7) + b"\x01" +
                                shortstr(b"amq.direct") + shortstr(b"rk")),
        "basic_nack": method(60, 120, struct.pack(">Q", 2**64 - 1) + b"\x03"),
        "basic_qos": method(60, 10, struct.pack(">IH", 0, 100) + b"\x01"),
        "queue_bind": method(50, 20, b"\x00\x00" + shortstr(b"q") + shortstr(b"amq.headers") +
                             shortstr(b"") + b"\x00" + longstr(args)),
        "confirm_select": method(85, 10, b"\x00"),
        "tx_commit": method(90, 20, b""),
    }


def all_props_header():
    props = (shortstr(b"text/plain") + shortstr(b"gzip") + longstr(all_types_table()) +
             b"\x02\x09" + shortstr(b"corr") + shortstr(b"reply") + shortstr(b"60000") +
             shortstr(b"id") + struct.pack(">Q", 1700000000) + shortstr(b"type") +
             shortstr(b"guest") + shortstr(b"app") + shortstr(b""))
    return struct.pack(">HHQH", 60, 0, 1234, 0xFFFC) + props


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    methods, headers, tables = {}, {}, {}
    for stream in ("pika.client.bin", "pika.server.bin", "amqp_publish.client.bin"):
        tag = stream.split(".")[0] + "_" + stream.split(".")[1]
        fs = list(frames(stream))
        # Selector octet first: 0x02 picks frame_max 131072, 0x00 none.
        write("fuzz_frame", tag, (b"\x02" if "pika" in tag else b"\x00") +
              b"".join(f[3] for f in fs))
        for t, ch, payload, raw in fs:
            if t == 1:
                cls, mid = struct.unpack(">HH", payload[:4])
                methods[f"{tag}_{cls}_{mid}"] = payload
                if (cls, mid) in ((10, 10), (10, 11)):
                    # server/client properties: the first argument after
                    # version octets (start) or first (start-ok)
                    at = 6 if mid == 10 else 4
                    n = struct.unpack(">I", payload[at:at + 4])[0]
                    tables[f"{tag}_properties"] = payload[at + 4:at + 4 + n]
            elif t == 2:
                headers[tag] = payload
    publish = [f[3] for f in frames("pika.client.bin") if f[1] == 1][1:4]
    write("fuzz_frame", "publish_content", b"\x03" + b"".join(publish))
    write("fuzz_frame", "heartbeat", b"\x01" + bytes([8, 0, 0, 0, 0, 0, 0, 0xCE]))
    write("fuzz_frame", "huge_size", b"\x02" + bytes([3, 0, 1, 0xFF, 0xFF, 0xFF, 0xF8]))
    methods.update(extra_methods())
    seen = set()
    for k, v in methods.items():
        if v not in seen:  # both clients send some methods identically
            seen.add(v)
            write("fuzz_method", k, v)
    tables["all_types"] = all_types_table()
    hdr = headers["pika_client"]
    flags_at = 12
    tables["pika_headers"] = hdr[flags_at + 2 + 1 + 10 + 4:][:struct.unpack(
        ">I", hdr[flags_at + 2 + 11:flags_at + 2 + 15])[0]]
    for k, v in tables.items():
        write("fuzz_table", k, v)
    headers["all_props"] = all_props_header()
    for k, v in headers.items():
        write("fuzz_props", k, v)


if __name__ == "__main__":
    main()
