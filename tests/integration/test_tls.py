"""TLS: AMQPS listeners (listeners.ssl.N, ssl_options.*), SASL EXTERNAL
(auth_mechanisms.N, ssl_cert_login_from), the TLS fields of
/api/connections, HTTPS management (management.ssl.*), certificate reload
on SIGHUP, and the handshake's failure modes.

Each test starts its own ternd (support/broker.py) with certificates that
support/certs.py makes with the openssl CLI in a temporary directory.

Checked against RabbitMQ 3.10.8 (its node on 127.0.0.1:5671: verify_peer,
fail_if_no_peer_cert = false, auth_mechanisms PLAIN AMQPLAIN EXTERNAL,
ssl_cert_login_from = common_name; client certificates signed by its CA):
- connection.start offers "PLAIN AMQPLAIN EXTERNAL" over TLS and
  "PLAIN AMQPLAIN" on the plaintext port;
- /api/connections: ssl true, ssl_protocol "tlsv1.3"/"tlsv1.2", ssl_cipher
  "aes_256_gcm", ssl_key_exchange "any" (TLS 1.3) / "ecdhe_rsa" (TLS 1.2),
  ssl_hash "aead"; peer_cert_subject "O=Tern,CN=certuser", peer_cert_issuer,
  peer_cert_validity "START - END" in ISO 8601; what is absent (no client
  certificate, plaintext) is null in the list and "" for one connection;
  auth_mechanism "EXTERNAL";
- the RFC 4514 subject and distinguished_name user name, escaping included
  (certs.DN_NAME);
- EXTERNAL without a client certificate: 403 "ACCESS_REFUSED - Login was
  refused using authentication mechanism EXTERNAL. For details see the
  broker logfile.";
- a client certificate from another CA: the handshake fails with the
  unknown_ca alert (TLS 1.3 clients see it at their first read);
- /api/overview lists "amqp/ssl" and "https" listeners.
And on a second RabbitMQ 3.10.8 node (verify_peer, fail_if_no_peer_cert =
true, ssl_cert_login_from = distinguished_name, auth_mechanisms PLAIN,
EXTERNAL), with the certificates of support/certs.py:
- no client certificate: the handshake fails (certificate_required alert in
  TLS 1.3, handshake_failure in 1.2); one from the rogue CA: unknown_ca;
- EXTERNAL with client_dn logs in the user named certs.DN_NAME; with the
  CN=certuser certificate (user "O=Tern,CN=certuser" absent) it is refused
  with 403.
RabbitMQ offers the mechanisms in its registry's order ("EXTERNAL PLAIN"
there), not the file's; Tern offers them in the file's order.
Tern's own (RabbitMQ differs or was not configured so): fail_if_no_peer_cert
= true, listeners.tcp = none, SIGHUP reload, ssl_handshake_timeout, the
start-up errors' texts, and an unknown or not offered mechanism answered
with connection.close 503 and RabbitMQ's text (RabbitMQ drops the socket).
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

import pika
import pytest

from support import certs as certs_mod
from support.amqpraw import (BASIC_PUBLISH, CONNECTION_START,
                             CONNECTION_START_OK, PROTOCOL_HEADER, QUEUE_DECLARE,
                             QUEUE_DECLARE_OK, RawConnection, basic_publish_args, body_frame,
                             header_frame, longstr, method_frame, queue_declare_args,
                             read_longstr, read_table, shortstr, table)
from support.broker import Broker, BrokerError, free_port

pytestmark = pytest.mark.tern_only

LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism %s. "
                 "For details see the broker logfile.")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return certs_mod.make(str(tmp_path_factory.mktemp("certs")))


def server_lines(c, *more, verify="verify_peer", fail=False):
    return ["ssl_options.cacertfile = " + c.ca, "ssl_options.certfile = " + c.server,
            "ssl_options.keyfile = " + c.server_key, "ssl_options.verify = " + verify,
            "ssl_options.fail_if_no_peer_cert = " + ("true" if fail else "false"),
            "loopback_users = none"] + list(more)


@pytest.fixture
def tls_broker():
    """tls_broker(lines) -> a started ternd whose listeners.ssl.default is
    b.tls_port; stopped after the test, failing it on a sanitizer report."""
    made = []

    def start(lines, ready_tls=False):
        b = Broker()
        b.tls_port = free_port()
        while b.tls_port in (b.port, b.mgmt_port):
            b.tls_port = free_port()
        if ready_tls:
            b.ready_port = b.tls_port
        made.append(b)
        b.start(config_lines=["listeners.ssl.default = %d" % b.tls_port] + list(lines))
        return b
    yield start
    for b in made:
        b.stop()
        b.check_log()
        b.cleanup()


def client_ctx(c, cert=None, key=None, tls12=False):
    ctx = ssl.create_default_context(cafile=c.ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def connect(b, ctx, creds=None, name=None):
    kw = dict(port=b.tls_port, ssl_options=pika.SSLOptions(ctx, "localhost"))
    if creds is not None:
        kw["credentials"] = creds
    if name:
        kw["client_properties"] = {"connection_name": name}
    return b.connect(**kw)


def round_trip(conn, bodies):
    """Publishes bodies to a fresh queue and reads them back in order."""
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for body in bodies:
        ch.basic_publish("", q, body)
    got = []
    for _ in bodies:
        m = None
        deadline = time.monotonic() + 10
        while m is None and time.monotonic() < deadline:
            m, _, body = ch.basic_get(q, auto_ack=True)
            if m is None:
                conn.process_data_events(0.05)
        assert m is not None, "message %d never arrived" % len(got)
        got.append(body)
    assert got == list(bodies)
    ch.close()


def api(b, path, method="GET", body=None, user="guest:guest", base=None, ctx=None):
    req = urllib.request.Request((base or b.mgmt_url) + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        text = r.read()
        return json.loads(text) if text else None


def add_user(b, name):
    """A user without a password (EXTERNAL's), with all rights on /."""
    u = urllib.parse.quote(name, safe="")
    api(b, "/api/users/" + u, "PUT", {"password_hash": "", "tags": ""})
    api(b, "/api/permissions/%2F/" + u, "PUT", {"configure": ".*", "write": ".*", "read": ".*"})


def conn_json(b, name):
    """(the list's entry, the single object) of the connection named so."""
    for x in api(b, "/api/connections"):
        if x.get("user_provided_name") == name:
            one = api(b, "/api/connections/" + urllib.parse.quote(x["name"], safe=""))
            return x, one
    raise AssertionError("no connection %r in /api/connections" % name)


def wait_log(b, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in b.log_text():
            return
        time.sleep(0.05)
    raise AssertionError("%r not in the broker log:\n%s" % (text, b.log_tail()))


def tls_raw(b, ctx):
    """A RawConnection (support/amqpraw.py) over TLS to the AMQPS port."""
    r = RawConnection(b.host, b.tls_port)
    r.sock = ctx.wrap_socket(r.sock, server_hostname="localhost")
    return r


def start_mechanisms(r):
    """Sends the protocol header; returns connection.start's mechanisms."""
    r.send(PROTOCOL_HEADER)
    start = r.read_method(CONNECTION_START, channel=0)
    _, off = read_table(start.payload, 6)
    mechs, _ = read_longstr(start.payload, off)
    return mechs.decode()


def start_ok(r, mechanism, response=b"\0guest\0guest"):
    caps = {"product": "tern-tls-tests", "capabilities": {"authentication_failure_close": True}}
    r.send_method(0, CONNECTION_START_OK, table(caps) + shortstr(mechanism) + longstr(response) +
                  shortstr("en_US"))


# ---------------------------------------------------------------- AMQPS

def test_publish_consume_without_client_cert(certs, tls_broker):
    b = tls_broker(server_lines(certs))
    with connect(b, client_ctx(certs), name="nocert") as conn:
        # small frames, a body of many records, and bodies cut at frame_max
        round_trip(conn, [b"x" * n for n in (0, 1, 16, 4000, 16384, 70000)] +
                   [os.urandom(1 << 20), b"tail"])
        entry, one = conn_json(b, "nocert")
    assert entry["ssl"] is True and entry["ssl_protocol"] == "tlsv1.3"
    assert entry["ssl_cipher"] == "aes_256_gcm" and entry["ssl_hash"] == "aead"
    assert entry["ssl_key_exchange"] == "any"
    assert entry["auth_mechanism"] == "PLAIN"
    for k in ("peer_cert_subject", "peer_cert_issuer", "peer_cert_validity"):
        assert entry[k] is None and one[k] == ""
    # the plaintext listener still works beside it, and says so
    with b.connect(client_properties={"connection_name": "plain"}) as plain:
        round_trip(plain, [b"plain"])
        entry, one = conn_json(b, "plain")
    assert entry["ssl"] is False and entry["ssl_protocol"] is None and one["ssl_protocol"] == ""


def test_octet_counts_are_the_sockets(certs, tls_broker):
    """recv_oct and send_oct count the socket's octets, as RabbitMQ's do
    (rabbit_net:getstat reads the TCP socket's statistics under TLS): the
    same AMQP traffic over TLS counts its handshake (a ClientHello alone is
    over 200 octets, the server's certificate about 1 KB) and every
    record's header and tag besides."""
    b = tls_broker(server_lines(certs))
    with connect(b, client_ctx(certs), name="oct-tls") as conn, \
            b.connect(client_properties={"connection_name": "oct-tcp"}) as plain:
        for c in (conn, plain):
            round_trip(c, [b"x" * 100] * 20)
        tls, _ = conn_json(b, "oct-tls")
        tcp, _ = conn_json(b, "oct-tcp")
    assert tls["recv_oct"] > tcp["recv_oct"] + 200, (tls["recv_oct"], tcp["recv_oct"])
    assert tls["send_oct"] > tcp["send_oct"] + 500, (tls["send_oct"], tcp["send_oct"])


def test_tls12_and_client_cert_fields(certs, tls_broker):
    b = tls_broker(server_lines(certs))
    ctx = client_ctx(certs, certs.client, certs.client_key, tls12=True)
    with connect(b, ctx, name="tls12") as conn:
        round_trip(conn, [b"one", b"two"])
        entry, one = conn_json(b, "tls12")
    assert entry["ssl_protocol"] == "tlsv1.2"
    assert entry["ssl_key_exchange"] == "ecdhe_rsa"
    assert entry["ssl_cipher"] == "aes_256_gcm" and entry["ssl_hash"] == "aead"
    assert entry["peer_cert_subject"] == one["peer_cert_subject"] == "O=Tern,CN=certuser"
    assert entry["peer_cert_issuer"] == "CN=Tern Test CA"
    v = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(v + " - " + v, entry["peer_cert_validity"]), entry["peer_cert_validity"]


def test_sustained_traffic_both_ways(certs, tls_broker):
    """A publisher and a consumer on TLS connections, many small messages:
    records carry many frames each way, and nothing is lost or reordered."""
    b = tls_broker(server_lines(certs))
    with connect(b, client_ctx(certs)) as pub, connect(b, client_ctx(certs)) as sub:
        q = pub.channel().queue_declare("", exclusive=False, auto_delete=True).method.queue
        sch = sub.channel()
        sch.basic_qos(prefetch_count=500)
        got = []
        sch.basic_consume(q, lambda ch, m, p, body: (got.append(body),
                                                   ch.basic_ack(m.delivery_tag)))
        pch = pub.channel()
        n = 5000
        for i in range(n):
            pch.basic_publish("", q, b"%d" % i)
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            sub.process_data_events(0.1)
        assert got == [b"%d" % i for i in range(n)]


def test_mechanisms_offered(certs, tls_broker):
    b = tls_broker(server_lines(certs, "auth_mechanisms.1 = PLAIN", "auth_mechanisms.2 = AMQPLAIN",
                                "auth_mechanisms.3 = EXTERNAL"))
    with tls_raw(b, client_ctx(certs)) as r:
        assert start_mechanisms(r) == "PLAIN AMQPLAIN EXTERNAL"
    with b.raw() as r:
        assert start_mechanisms(r) == "PLAIN AMQPLAIN"  # EXTERNAL needs TLS
        start_ok(r, "EXTERNAL")
        code, text, _, _ = r.expect_close(503)
        assert text == "COMMAND_INVALID - invalid authentication mechanism 'EXTERNAL'"
    with tls_raw(b, client_ctx(certs)) as r:
        start_mechanisms(r)
        start_ok(r, "FOO")
        code, text, _, _ = r.expect_close(503)
        assert text == "COMMAND_INVALID - unknown authentication mechanism 'FOO'"


def test_mechanisms_in_configured_order(certs, tls_broker):
    b = tls_broker(server_lines(certs, "auth_mechanisms.1 = EXTERNAL",
                                "auth_mechanisms.2 = AMQPLAIN"))
    with tls_raw(b, client_ctx(certs)) as r:
        assert start_mechanisms(r) == "EXTERNAL AMQPLAIN"
        start_ok(r, "PLAIN")  # not offered
        code, text, _, _ = r.expect_close(503)
        assert text == "COMMAND_INVALID - invalid authentication mechanism 'PLAIN'"
    nodes = api(b, "/api/nodes")
    enabled = {m["name"]: m["enabled"] for m in nodes[0]["auth_mechanisms"]}
    assert enabled == {"PLAIN": False, "AMQPLAIN": True, "EXTERNAL": True}
    # the default: PLAIN and AMQPLAIN, also over TLS
    d = tls_broker(server_lines(certs))
    with tls_raw(d, client_ctx(certs)) as r:
        assert start_mechanisms(r) == "PLAIN AMQPLAIN"


# ---------------------------------------------------------------- EXTERNAL

EXTERNAL_LINES = ("auth_mechanisms.1 = PLAIN", "auth_mechanisms.2 = AMQPLAIN",
                  "auth_mechanisms.3 = EXTERNAL")


def test_external_login_common_name(certs, tls_broker):
    b = tls_broker(server_lines(certs, *EXTERNAL_LINES, "ssl_cert_login_from = common_name"))
    add_user(b, "certuser")
    ctx = client_ctx(certs, certs.client, certs.client_key)
    with connect(b, ctx, pika.credentials.ExternalCredentials(), name="ext") as conn:
        round_trip(conn, [b"by certificate"])
        entry, _ = conn_json(b, "ext")
    assert entry["user"] == "certuser" and entry["auth_mechanism"] == "EXTERNAL"
    assert entry["peer_cert_subject"] == "O=Tern,CN=certuser"
    # no certificate: refused as RabbitMQ refuses it
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as e:
        connect(b, client_ctx(certs), pika.credentials.ExternalCredentials())
    assert LOGIN_REFUSED % "EXTERNAL" in str(e.value)
    wait_log(b, "EXTERNAL login refused: connection peer presented no TLS (x.509) certificate")
    # a verified certificate of nobody Tern knows
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as e:
        connect(b, client_ctx(certs, certs.nobody, certs.nobody_key),
                pika.credentials.ExternalCredentials())
    assert LOGIN_REFUSED % "EXTERNAL" in str(e.value)
    wait_log(b, "EXTERNAL login refused: user 'nobody'")
    # the certificate names the user; a password login still works beside it
    with connect(b, ctx, pika.PlainCredentials("guest", "guest")) as conn:
        round_trip(conn, [b"by password"])


def test_external_login_distinguished_name(certs, tls_broker):
    b = tls_broker(server_lines(certs, *EXTERNAL_LINES,
                                "ssl_cert_login_from = distinguished_name"))
    add_user(b, certs_mod.DN_NAME)
    ctx = client_ctx(certs, certs.client_dn, certs.client_dn_key)
    with connect(b, ctx, pika.credentials.ExternalCredentials(), name="dn") as conn:
        round_trip(conn, [b"dn"])
        entry, _ = conn_json(b, "dn")
    assert entry["user"] == certs_mod.DN_NAME
    assert entry["peer_cert_subject"] == certs_mod.DN_NAME
    # the CN alone is not that user
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(b, client_ctx(certs, certs.client, certs.client_key),
                pika.credentials.ExternalCredentials())


def test_external_needs_verify_peer(certs, tls_broker):
    """With verify_none no certificate is asked for, so EXTERNAL has none."""
    b = tls_broker(server_lines(certs, *EXTERNAL_LINES, verify="verify_none"))
    add_user(b, "certuser")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as e:
        connect(b, client_ctx(certs, certs.client, certs.client_key),
                pika.credentials.ExternalCredentials())
    assert LOGIN_REFUSED % "EXTERNAL" in str(e.value)


# ---------------------------------------------------------------- peer verification

def handshake_refused(b, ctx):
    """The AMQPS handshake with ctx fails (at the latest at the first read:
    TLS 1.3 clients finish before the server has checked their certificate)."""
    try:
        with tls_raw(b, ctx) as r:
            r.send(PROTOCOL_HEADER)
            r.read_frame()
    except AssertionError:
        raise
    except Exception:  # an SSL alert, a reset, or the socket closed
        return
    raise AssertionError("the handshake was accepted")


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
def test_untrusted_and_missing_client_certs(certs, tls_broker, tls12):
    b = tls_broker(server_lines(certs, fail=True))
    handshake_refused(b, client_ctx(certs, certs.rogue, certs.rogue_key, tls12))
    wait_log(b, "TLS handshake failed: certificate verify failed")
    handshake_refused(b, client_ctx(certs, tls12=tls12))
    wait_log(b, "TLS handshake failed: peer did not return a certificate")
    with connect(b, client_ctx(certs, certs.client, certs.client_key, tls12)) as conn:
        round_trip(conn, [b"trusted"])


def test_untrusted_cert_refused_without_fail_if_no_peer_cert(certs, tls_broker):
    """verify_peer alone: no certificate is fine, a bad one is not."""
    b = tls_broker(server_lines(certs))
    handshake_refused(b, client_ctx(certs, certs.rogue, certs.rogue_key))
    with connect(b, client_ctx(certs)) as conn:
        round_trip(conn, [b"no cert"])


@pytest.mark.time_limit(60)
def test_stalled_and_garbage_handshakes_dropped(certs, tls_broker):
    b = tls_broker(server_lines(certs, "ssl_handshake_timeout = 1000"))
    stalled = socket.create_connection((b.host, b.tls_port))
    garbage = socket.create_connection((b.host, b.tls_port))
    try:
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert closed_by_server(garbage, 10), "garbage was not dropped"
        wait_log(b, "127.0.0.1:%d: TLS handshake failed" % garbage.getsockname()[1])
        # the loop is not blocked by the stalled one
        with connect(b, client_ctx(certs)) as conn:
            round_trip(conn, [b"meanwhile"])
        assert closed_by_server(stalled, 15), "stalled handshake was not dropped"
        wait_log(b, "127.0.0.1:%d: TLS handshake timed out after 1000 ms"
                 % stalled.getsockname()[1])
    finally:
        stalled.close()
        garbage.close()


def closed_by_server(s, timeout):
    """True when the server closes s within timeout (what it sends, an
    alert, is read and dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not s.recv(4096):
                return True
        except socket.timeout:
            return False
        except ConnectionError:
            return True
    return False


# ---------------------------------------------------------------- files and start-up

def bad_start(lines):
    b = Broker()
    try:
        with pytest.raises(BrokerError) as e:
            b.start(config_lines=["listeners.ssl.default = %d" % free_port()] + lines)
        return str(e.value)
    finally:
        b.stop()
        b.cleanup()


def test_bad_files_refused_at_start(certs, tmp_path):
    missing = str(tmp_path / "missing.pem")
    base = ["ssl_options.cacertfile = " + certs.ca]
    cases = [
        (["ssl_options.certfile = " + missing, "ssl_options.keyfile = " + certs.server_key],
         "ssl_options.certfile: %s: No such file or directory" % missing),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + missing],
         "ssl_options.keyfile: %s: No such file or directory" % missing),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.ca],
         "ssl_options.keyfile: %s: no private key could be read" % certs.ca),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.client_key],
         "ssl_options.keyfile: %s: the key does not match ssl_options.certfile" % certs.client_key),
        (["ssl_options.certfile = " + certs.server_key, "ssl_options.keyfile = " + certs.server_key],
         "ssl_options.certfile: %s: no certificate could be read" % certs.server_key),
        (["ssl_options.certfile = " + certs.server_enc,
          "ssl_options.keyfile = " + certs.server_enc_key],
         "ssl_options.keyfile: %s: the key does not decrypt" % certs.server_enc_key),
        (["ssl_options.certfile = " + certs.server_enc,
          "ssl_options.keyfile = " + certs.server_enc_key, "ssl_options.password = wrong"],
         "check ssl_options.password"),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.server_key,
          "ssl_options.ciphers.1 = NO-SUCH-CIPHER"],
         "ssl_options.ciphers.1: 'NO-SUCH-CIPHER' is not a cipher suite OpenSSL knows"),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.server_key,
          "ssl_options.versions.1 = tlsv1.1"],
         "ssl_options.versions.1: 'tlsv1.1' is not one of tlsv1.2|tlsv1.3"),
        (["ssl_options.keyfile = " + certs.server_key], "ssl_options.certfile is not set"),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.server_key,
          "ssl_options.verify = verify_none", "ssl_options.fail_if_no_peer_cert = true"],
         "ssl_options.fail_if_no_peer_cert = true needs ssl_options.verify = verify_peer"),
        (["ssl_options.certfile = " + certs.server, "ssl_options.keyfile = " + certs.server_key,
          "management.ssl.port = %d" % free_port(), "management.ssl.certfile = " + certs.server,
          "management.ssl.keyfile = " + missing],
         "management.ssl.keyfile: %s: No such file or directory" % missing),
    ]
    for lines, expect in cases:
        text = bad_start(base + lines)
        assert "exited with status" in text and "status 0" not in text, text
        assert expect in text, "expected %r in:\n%s" % (expect, text)


@pytest.mark.time_limit(180)  # padding_passes searches at random
def test_wrong_password_that_passes_the_padding_check(certs, tmp_path):
    """A wrong password usually fails as "bad decrypt"; about 1 time in 130
    the decrypted padding is valid and OpenSSL reports an ASN.1 error
    instead. It is still a key that does not decrypt (CI met one)."""
    key = str(tmp_path / "odd.key")
    why = certs_mod.padding_passes(certs.server_enc_key, certs_mod.PASSWORD, "wrong", key)
    assert "bad decrypt" not in why
    text = bad_start(["ssl_options.cacertfile = " + certs.ca,
                      "ssl_options.certfile = " + certs.server_enc,
                      "ssl_options.keyfile = " + key, "ssl_options.password = wrong"])
    assert "ssl_options.keyfile: %s: the key does not decrypt" % key in text, text
    assert "check ssl_options.password" in text, text


def test_encrypted_key_with_password(certs, tls_broker):
    b = tls_broker(["ssl_options.certfile = " + certs.server_enc,
                    "ssl_options.keyfile = " + certs.server_enc_key,
                    "ssl_options.password = " + certs_mod.PASSWORD])
    with connect(b, client_ctx(certs)) as conn:
        round_trip(conn, [b"decrypted"])


def test_versions_and_ciphers(certs, tls_broker):
    b = tls_broker(server_lines(certs, "ssl_options.versions.1 = tlsv1.2",
                                "ssl_options.ciphers.1 = ECDHE-RSA-AES128-GCM-SHA256",
                                "ssl_options.honor_cipher_order = true"))
    ctx = client_ctx(certs)
    with connect(b, ctx, name="v12"):
        entry, _ = conn_json(b, "v12")
        assert entry["ssl_protocol"] == "tlsv1.2"
        assert entry["ssl_cipher"] == "aes_128_gcm" and entry["ssl_key_exchange"] == "ecdhe_rsa"
    only13 = client_ctx(certs)
    only13.minimum_version = ssl.TLSVersion.TLSv1_3
    handshake_refused(b, only13)


def test_sighup_reloads_certificate(certs, tls_broker, tmp_path):
    live, live_key = str(tmp_path / "live.pem"), str(tmp_path / "live.key")
    shutil.copy(certs.server, live)
    shutil.copy(certs.server_key, live_key)
    b = tls_broker(["ssl_options.certfile = " + live, "ssl_options.keyfile = " + live_key])

    def served_subject():
        with socket.create_connection((b.host, b.tls_port)) as s:
            with client_ctx(certs).wrap_socket(s, server_hostname="localhost") as t:
                return dict(x[0] for x in t.getpeercert()["subject"])

    assert served_subject() == {"commonName": "localhost"}
    with connect(b, client_ctx(certs)) as old:
        round_trip(old, [b"before"])
        shutil.copy(certs.server2, live)
        shutil.copy(certs.server2_key, live_key)
        b.proc.send_signal(signal.SIGHUP)
        wait_log(b, "ssl_options: certificate and key re-read")
        round_trip(old, [b"after"])  # the old session goes on
        assert served_subject() == {"organizationName": "Reloaded", "commonName": "localhost"}
        # a bad file: logged, and the certificate in use stays
        with open(live, "w") as f:
            f.write("not a certificate\n")
        b.proc.send_signal(signal.SIGHUP)
        wait_log(b, "the certificate in use stays")
        assert served_subject()["organizationName"] == "Reloaded"
        round_trip(old, [b"still"])


def test_listeners_tcp_none(certs, tls_broker):
    """AMQPS only, on two listeners: listeners.ssl.default (a bare port, on
    the bind address) and listeners.ssl.second = HOST:PORT."""
    second = free_port()
    b = tls_broker(server_lines(certs, "listeners.tcp = none",
                                "listeners.ssl.second = 127.0.0.1:%d" % second), ready_tls=True)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((b.host, b.port), timeout=2).close()
    with connect(b, client_ctx(certs)) as conn:
        round_trip(conn, [b"tls only"])
    with b.connect(port=second, ssl_options=pika.SSLOptions(client_ctx(certs), "localhost")) as conn:
        round_trip(conn, [b"second listener"])
    listeners = api(b, "/api/overview")["listeners"]
    amqp = [(l["protocol"], l["ip_address"], l["port"]) for l in listeners
            if l["protocol"].startswith("amqp")]
    assert amqp == [("amqp/ssl", "127.0.0.1", b.tls_port), ("amqp/ssl", "127.0.0.1", second)]


# ---------------------------------------------------------------- HTTPS management

def test_https_management(certs, tls_broker):
    port = free_port()
    b = tls_broker(server_lines(certs, "management.ssl.port = %d" % port,
                                "management.ssl.cacertfile = " + certs.ca,
                                "management.ssl.certfile = " + certs.server,
                                "management.ssl.keyfile = " + certs.server_key))
    base = "https://localhost:%d" % port
    o = api(b, "/api/overview", base=base, ctx=client_ctx(certs))
    protos = {(l["protocol"], l["port"]) for l in o["listeners"]}
    assert ("https", port) in protos and ("amqp/ssl", b.tls_port) in protos
    assert ("amqp", b.port) in protos and ("http", b.mgmt_port) in protos
    assert any(c.get("ssl") == "true" and c["port"] == port for c in o["contexts"])
    with pytest.raises(urllib.error.HTTPError) as e:
        api(b, "/api/overview", base=base, ctx=client_ctx(certs), user="guest:wrong")
    assert e.value.code == 401
    # plain HTTP on the TLS port is refused, not answered
    with pytest.raises(Exception):
        urllib.request.urlopen("http://127.0.0.1:%d/api/overview" % port, timeout=5).read()
    # the HTTP listener is still there
    assert api(b, "/api/overview")["listeners"] == o["listeners"]


def test_https_management_client_certs(certs, tls_broker):
    port = free_port()
    b = tls_broker(server_lines(certs, "management.ssl.port = %d" % port,
                                "management.ssl.cacertfile = " + certs.ca,
                                "management.ssl.certfile = " + certs.server,
                                "management.ssl.keyfile = " + certs.server_key,
                                "management.ssl.verify = verify_peer",
                                "management.ssl.fail_if_no_peer_cert = true"))
    base = "https://localhost:%d" % port
    ok = api(b, "/api/whoami", base=base, ctx=client_ctx(certs, certs.client, certs.client_key))
    assert ok["name"] == "guest"
    for ctx in (client_ctx(certs), client_ctx(certs, certs.rogue, certs.rogue_key)):
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            api(b, "/api/whoami", base=base, ctx=ctx)


# ---------------------------------------------------------------- flow control and buffered input

class MemTLS:
    """A socket-like TLS client whose records are made in memory, so that
    sendall() puts a whole burst of records on the wire in one send()."""

    def __init__(self, sock, ctx):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.inc.write_eof()
        self.inc.write(data)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def sendall(self, data):
        view = memoryview(data)
        while view:
            view = view[self.obj.write(view):]
        self._flush()

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                self._fill()
            except ssl.SSLZeroReturnError:
                return b""

    def close(self):
        self.sock.close()


def publishes(q, n, size):
    one = (method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
           header_frame(1, size) + body_frame(1, b"b" * size))
    return one * n


def test_burst_past_the_first_read(certs, tls_broker):
    """One burst of records bigger than the connection's first read: what
    OpenSSL read ahead is handled without the socket waking the loop."""
    b = tls_broker(server_lines(certs))
    r = RawConnection(b.host, b.tls_port)
    r.sock = MemTLS(r.sock, client_ctx(certs))
    r.handshake()
    r.open_channel()
    r.send_method(1, QUEUE_DECLARE, queue_declare_args("burst"))
    r.read_method(QUEUE_DECLARE_OK, channel=1)
    r.send(publishes("burst", 300, 100) +
           method_frame(1, QUEUE_DECLARE, queue_declare_args("burst", passive=True)))
    assert declare_ok_count(r.read_method(QUEUE_DECLARE_OK, channel=1, timeout=10)) == 300
    r.close()


@pytest.mark.time_limit(90)
def test_resumed_connection_reads_buffered_records(certs, tls_broker):
    """Flow control stops reading a TLS publisher while OpenSSL already
    holds its next records (one burst, read ahead past the connection's
    buffer); when reading resumes those must be handled, though the socket
    itself has nothing more to say."""
    b = tls_broker(server_lines(certs))
    q = "flow-buffered"
    with b.raw() as filler:
        filler.handshake()
        filler.open_channel()
        filler.send_method(1, QUEUE_DECLARE, queue_declare_args(q))
        filler.read_method(QUEUE_DECLARE_OK, channel=1)
        filler.send(publishes(q, 19950, 1))  # just under flow's 20000
        filler.send_method(1, QUEUE_DECLARE, queue_declare_args(q, passive=True))
        ok = filler.read_method(QUEUE_DECLARE_OK, channel=1, timeout=30)
        assert declare_ok_count(ok) == 19950
    with b.connect() as consumer:
        ch = consumer.channel()
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(q, lambda *a: None)  # takes one and holds it
        consumer.process_data_events(0.5)
        r = RawConnection(b.host, b.tls_port)
        r.sock = MemTLS(r.sock, client_ctx(certs))
        r.handshake()
        r.open_channel()
        n = 300  # ~50 KiB: past the 16 KiB first read, within one read-ahead
        r.send(publishes(q, n, 100) +
               method_frame(1, QUEUE_DECLARE, queue_declare_args(q, passive=True)))
        with pytest.raises(socket.timeout):  # flow control holds the publisher
            r.read_method(timeout=1.5)
        consumer.channel().queue_purge(q)  # the queue drains: reading resumes
        ok = r.read_method(QUEUE_DECLARE_OK, channel=1, timeout=10)
        after = declare_ok_count(ok)
        assert 0 < after < n, after  # the publishes read after the purge
        r.close()


def declare_ok_count(f):
    off = 4
    ln = f.payload[off]
    (count,) = struct.unpack_from(">I", f.payload, off + 1 + ln)
    return count
