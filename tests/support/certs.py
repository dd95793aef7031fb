"""TLS material for the tests, made with the openssl CLI in a directory.

make(dirpath) -> Certs, whose attributes are file paths:

  ca, ca_key                 the test CA ("Tern Test CA")
  server, server_key         CN=localhost (SAN DNS:localhost, IP:127.0.0.1), signed by ca
  server2, server2_key       the same name with O=Reloaded: the "new" certificate for reload
  server_enc, server_enc_key the same name, its key encrypted with PASSWORD (AES-256)
  client, client_key         CN=certuser, O=Tern, signed by ca (SASL EXTERNAL's user)
  client_dn, client_dn_key   a subject with every kind of escaping RabbitMQ does (DN_SUBJECT)
  nobody, nobody_key         CN=nobody: a verified certificate of a user that does not exist
  rogue_ca                   a second CA, which the broker does not trust
  rogue, rogue_key           CN=certuser, signed by rogue_ca: must be refused

padding_passes(key, password, wrong, out) writes a copy of an encrypted key
that the wrong password decrypts without a padding error (see there).

Keys are RSA 2048 (quick to make, and every client takes them). Certificates
are valid from an hour ago for two days.
"""
import os
import subprocess

PASSWORD = "tern-secret"

# The DN test subject in openssl's -subj syntax (multi-valued RDN "OU=QA+UID=u1",
# a comma, a leading '#', a leading and a trailing space, ';', '~' and UTF-8), and
# the user name RabbitMQ 3.10.8 makes of it with ssl_cert_login_from =
# distinguished_name (the same string as peer_cert_subject; checked against the
# RabbitMQ node on 5671 with a certificate signed by its CA).
DN_SUBJECT = "/C=GB/O=Tern, Inc./OU=QA+UID=u1/CN=#1 caf\u00e9 ~x;y /emailAddress=a@b.c"
DN_NAME = "EMAILADDRESS=a@b.c,CN=\\#1 caf\\C3\\A9 \\7Ex\\;y\\ ,OU=QA+UID=u1,O=Tern\\, Inc.,C=GB"


class Certs:
    def __init__(self, d):
        self.dir = d
        for name in ("ca", "server", "server2", "server_enc", "client", "client_dn",
                     "nobody", "rogue_ca", "rogue"):
            setattr(self, name, os.path.join(d, name + ".pem"))
            setattr(self, name + "_key", os.path.join(d, name + ".key"))


def _openssl(*args, cwd):
    r = subprocess.run(("openssl",) + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))


def _ca(d, name, cn):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-subj", "/CN=" + cn, "-days", "2", "-out", name + ".pem", cwd=d)


def _signed(d, name, ca, subject, ext=None, key_args=("-nodes",), multivalue=False):
    args = ["req", "-new", "-newkey", "rsa:2048", "-keyout", name + ".key", "-utf8",
            "-subj", subject, "-out", name + ".csr"] + list(key_args)
    if multivalue:
        args.append("-multivalue-rdn")
    _openssl(*args, cwd=d)
    sign = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "2", "-out", name + ".pem"]
    if ext:
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        sign += ["-extfile", name + ".ext"]
    _openssl(*sign, cwd=d)


def make(d):
    """Makes every file in directory d (which must exist); returns Certs."""
    san = "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
    _ca(d, "ca", "Tern Test CA")
    _ca(d, "rogue_ca", "Rogue CA")
    _signed(d, "server", "ca", "/CN=localhost", san)
    _signed(d, "server2", "ca", "/O=Reloaded/CN=localhost", san)
    _signed(d, "server_enc", "ca", "/CN=localhost", san,
            key_args=("-passout", "pass:" + PASSWORD))
    _signed(d, "client", "ca", "/CN=certuser/O=Tern")
    _signed(d, "client_dn", "ca", DN_SUBJECT, multivalue=True)
    _signed(d, "nobody", "ca", "/CN=nobody")
    _signed(d, "rogue", "rogue_ca", "/CN=certuser")
    return Certs(d)


def padding_passes(key, password, wrong, out, tries=4000):
    """Re-encrypts key (PEM, encrypted with password) to out until reading
    it with the wrong password fails with something other than "bad
    decrypt": about 1 encryption in 130 decrypts to a valid CBC padding
    under a wrong password, and the garbage then fails as an ASN.1 error
    ("unsupported", "wrong tag"). A broker or client must still call that
    a key that does not decrypt. Returns OpenSSL's error for it.

    The search is random (it failed CI once by its time limit, on a busy
    machine), so each try is made cheap: the key is decrypted once, and
    each copy is encrypted with one PBKDF2 iteration; callers give it a
    generous time limit."""
    plain = out + ".plain"
    _openssl("pkey", "-in", key, "-passin", "pass:" + password, "-out", plain,
             cwd=os.path.dirname(out))
    for _ in range(tries):
        _openssl("pkcs8", "-topk8", "-in", plain, "-iter", "1", "-passout", "pass:" + password,
                 "-out", out, cwd=os.path.dirname(out))
        r = subprocess.run(("openssl", "pkey", "-in", out, "-passin", "pass:" + wrong, "-noout"),
                           capture_output=True, text=True)
        assert r.returncode != 0, r
        if "bad decrypt" not in r.stderr:
            return r.stderr
    raise RuntimeError("no encryption of %s passed the padding check in %d tries" % (key, tries))
