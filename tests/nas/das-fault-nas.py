#!/usr/bin/python3
"""das-fault-nas.py - a faulty RFC 5176 Dynamic Authorization Server for the
fault tests: one UDP socket on a loopback address that behaves as a broken
or switched-off access point would.

  das-fault-nas.py --mode MODE --listen 127.0.0.X --port-file F --log F
                   --secret S [--max-seconds N]

MODE:
  silent    reads every request and never answers (an AP switched off, or
            a firewall dropping the DAS port);
  nak503    answers every Disconnect-Request with a Disconnect-NAK carrying
            Error-Cause 503 (Session Context Not Found), correctly signed;
  nak506    the same with Error-Cause 506 (Resources Unavailable);
  ack       a healthy NAS: answers every Disconnect-Request with a
            correctly signed Disconnect-ACK;
  badauth   answers with a Disconnect-ACK whose Response Authenticator is
            computed with the wrong secret (a forged or misconfigured answer).

Answers carry Message-Authenticator (HMAC-MD5 over the answer with the
Request Authenticator in place, RFC 3579 section 3.2) and the Response
Authenticator MD5(Code+Identifier+Length+Request Authenticator+Attributes+
Secret) (RFC 5176 section 2.3).  Requests are not checked: the sender's
side is what is under test.  One log line per request received:
  <unix time> <code> id=<n> from=<port> session=<Acct-Session-Id> answered=<answer or none>
Bounded: it exits after --max-seconds (default 600), and on SIGTERM.
Only loopback addresses are accepted.  answer(), open_das() and serve() are
shared with tests/nas/das-vendor-nas.py.
"""
import argparse
import hashlib
import hmac
import ipaddress
import os
import select
import signal
import socket
import struct
import sys
import time

ERROR_CAUSE = 101
MESSAGE_AUTHENTICATOR = 80
EVENT_TIMESTAMP = 55
ACCT_SESSION_ID = 44


def answer(req, code, cause, secret, signed=True):
    """A signed answer to req (bytes): code, with Error-Cause cause when non-zero;
    without Message-Authenticator when not signed (the Response Authenticator always)."""
    ident, req_auth = req[1], req[4:20]
    attrs = struct.pack("!BBI", EVENT_TIMESTAMP, 6, int(time.time()))
    if cause:
        attrs += struct.pack("!BBI", ERROR_CAUSE, 6, cause)
    ma_off = 20 + len(attrs)
    if signed:
        attrs += bytes([MESSAGE_AUTHENTICATOR, 18]) + bytes(16)
    length = 20 + len(attrs)
    pkt = bytearray(struct.pack("!BBH", code, ident, length) + req_auth + attrs)
    if signed:
        pkt[ma_off + 2:ma_off + 18] = hmac.new(secret, bytes(pkt), hashlib.md5).digest()
    pkt[4:20] = hashlib.md5(bytes(pkt) + secret).digest()
    return bytes(pkt)


def open_das(name, listen, port, port_file):
    """The DAS socket on loopback address listen, port (0: any); its port
    written to port_file (atomically, when given); SIGTERM ends the process."""
    if not ipaddress.ip_address(listen).is_loopback:
        sys.exit("%s: --listen must be a loopback address" % name)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen, port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % sock.getsockname()[1])
        os.rename(port_file + ".tmp", port_file)
    return sock


def serve(sock, max_seconds, handle):
    """handle(request, peer) for every datagram of at least a RADIUS header,
    for at most max_seconds (and an hour)."""
    end = time.monotonic() + min(max_seconds, 3600)
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.5)
        if not r:
            continue
        req, peer = sock.recvfrom(4096)
        if len(req) >= 20:
            handle(req, peer)


def session_id(req):
    """The Acct-Session-Id of a request, printable, or "-"."""
    pos, end = 20, min(len(req), struct.unpack("!H", req[2:4])[0])
    while pos + 2 <= end and req[pos + 1] >= 2:
        if req[pos] == ACCT_SESSION_ID:
            return "".join(chr(c) if 0x21 <= c < 0x7f else "?" for c in req[pos + 2:pos + req[pos + 1]])
        pos += req[pos + 1]
    return "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=["silent", "ack", "nak503", "nak506", "badauth"])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--max-seconds", type=int, default=600)
    a = ap.parse_args()
    secret = a.secret.encode()
    sock = open_das("das-fault-nas", a.listen, a.port, a.port_file)
    log = open(a.log, "a", buffering=1)

    def handle(req, peer):
        out, name = None, "none"
        if a.mode in ("nak503", "nak506") and req[0] == 40:
            out, name = answer(req, 42, 503 if a.mode == "nak503" else 506, secret), "Disconnect-NAK"
        elif a.mode == "ack" and req[0] == 40:
            out, name = answer(req, 41, 0, secret), "Disconnect-ACK"
        elif a.mode == "badauth" and req[0] == 40:
            out, name = answer(req, 41, 0, secret + b"-wrong"), "Disconnect-ACK(bad-authenticator)"
        # Logged before the answer goes out: a test that has its answer finds the line.
        log.write("%.6f %d id=%d from=%d session=%s answered=%s\n"
                  % (time.time(), req[0], req[1], peer[1], session_id(req), name))
        if out:
            sock.sendto(out, peer)
    serve(sock, a.max_seconds, handle)

if __name__ == "__main__":
    main()
