#!/usr/bin/env python3
"""Make a NATS operator-mode trust chain for tests, without nsc.

Debian 12 ships neither nsc nor an nkeys tool, so this does what they do
for a test: ed25519 keys and signatures from the openssl command-line tool
(already a test dependency), encoded as NATS nkeys (a prefix byte, the raw
key, a CRC-16/XMODEM, base32) and JWTs (header "ed25519-nkey", claims signed
by the issuer's nkey).

    make_creds.py DIR

writes into DIR:
  server.conf     operator, system account and a MEMORY resolver with the
                  accounts preloaded (include it in a nats-server config)
  daq.creds       a user of account DAQ, signed by that account: admitted
  stranger.creds  a user signed by an account the operator never signed
  forged.creds    daq's JWT with another user's seed (a stolen JWT)
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import time

# nkeys prefix bytes (github.com/nats-io/nkeys, strkey.go).
PREFIX_SEED = 18 << 3
PREFIX_OPERATOR = 14 << 3
PREFIX_ACCOUNT = 0
PREFIX_USER = 20 << 3


def crc16(data):
    """CRC-16/XMODEM (polynomial 0x1021, initial 0), as nkeys uses."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def encode(prefix_bytes, raw):
    body = bytes(prefix_bytes) + raw
    return b32(body + crc16(body).to_bytes(2, "little"))


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Key:
    """An ed25519 key pair made by openssl, kept as a PEM file in workdir."""

    def __init__(self, workdir, name, prefix):
        self.pem = os.path.join(workdir, name + ".key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                        self.pem], check=True, capture_output=True)
        # PKCS#8 and SubjectPublicKeyInfo DER of ed25519 end with the raw
        # 32-byte seed and public key.
        der = subprocess.run(["openssl", "pkey", "-in", self.pem, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        pub = subprocess.run(["openssl", "pkey", "-in", self.pem, "-pubout",
                              "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.seed_raw, self.pub_raw = der[-32:], pub[-32:]
        self.public = encode([prefix], self.pub_raw)
        self.seed = encode([PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3],
                           self.seed_raw)

    def sign(self, data):
        # pkeyutl signs ed25519 in one shot, so it wants a file, not a pipe.
        path = self.pem + ".msg"
        with open(path, "wb") as f:
            f.write(data)
        sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", self.pem,
                              "-rawin", "-in", path], check=True,
                             capture_output=True).stdout
        os.unlink(path)
        return sig


def jwt(issuer, subject_public, name, nats):
    claims = {"iat": int(time.time()), "iss": issuer.public, "name": name,
              "sub": subject_public, "nats": dict(nats, version=2)}
    # The claims' id: a hash of the claims without it, as nsc makes it.
    digest = hashlib.new("sha512_256", json.dumps(claims, sort_keys=True).encode())
    claims["jti"] = b32(digest.digest())
    head = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    signed = (head + "." + body).encode()
    return head + "." + body + "." + b64url(issuer.sign(signed))


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1}
# JetStream for an account: without these limits it has none. The system
# account must have none (nats-server refuses to start otherwise).
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def account_jwt(operator, account, name, jetstream):
    limits = dict(UNLIMITED, **JETSTREAM) if jetstream else UNLIMITED
    return jwt(operator, account.public, name, {"type": "account", "limits": limits})


def user_jwt(account, user, name):
    return jwt(account, user.public, name,
               {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1,
                "payload": -1})


def creds(path, user_token, seed):
    with open(path, "w") as f:
        f.write("-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
                "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n"
                % (user_token, seed))
    os.chmod(path, 0o600)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_creds.py DIR")
    d = sys.argv[1]
    op = Key(d, "operator", PREFIX_OPERATOR)
    sys_acct = Key(d, "sys", PREFIX_ACCOUNT)
    daq = Key(d, "daq", PREFIX_ACCOUNT)
    rogue = Key(d, "rogue", PREFIX_ACCOUNT)  # never signed by the operator
    alice, mallory, eve = (Key(d, n, PREFIX_USER) for n in ("alice", "mallory", "eve"))

    with open(os.path.join(d, "operator.jwt"), "w") as f:
        f.write(jwt(op, op.public, "ipm-test-operator", {"type": "operator"}))
    with open(os.path.join(d, "server.conf"), "w") as f:
        f.write('operator: "%s"\nsystem_account: %s\nresolver: MEMORY\n'
                'resolver_preload: {\n  %s: "%s"\n  %s: "%s"\n}\n'
                % (os.path.join(d, "operator.jwt"), sys_acct.public, sys_acct.public,
                   account_jwt(op, sys_acct, "SYS", False), daq.public,
                   account_jwt(op, daq, "DAQ", True)))
    creds(os.path.join(d, "daq.creds"), user_jwt(daq, alice, "alice"), alice.seed)
    creds(os.path.join(d, "stranger.creds"), user_jwt(rogue, mallory, "mallory"),
          mallory.seed)
    creds(os.path.join(d, "forged.creds"), user_jwt(daq, alice, "alice"), eve.seed)


if __name__ == "__main__":
    main()
