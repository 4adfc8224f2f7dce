#!/usr/bin/python3
"""das-vendor-nas.py - an RFC 5176 Dynamic Authorization Server that keeps
one vendor's documented rules, for tests/integration/test_nas_vendors.sh:
one UDP socket on a loopback address, on the port that vendor listens on.

  das-vendor-nas.py --vendor V --listen 127.0.0.X --secret S --log F
                    --session ACCT|MAC|USER|FRAMED|FLAGS[|CLASS] ... [--ready F]
                    [--acct ADDR:PORT --acct-secret S] [--max-seconds N]

V is one of cisco, aruba, meraki, mikrotik, ruckus, unifi; the rules each
keeps are in VENDORS below, with where they come from (doc/nas-profiles.md
says which could not be verified against the vendor's hardware).  Every
vendor checks the Request Authenticator (RFC 5176 section 3.5) and the
Message-Authenticator when present (wrong: dropped without an answer, as
NASes do), and drops a request whose Event-Timestamp is more than 300 s
away.  Then, by the vendor's rules: attributes it does not accept (NAK 401
or ignored), identification it needs (NAK 402), NAS identification (NAK
403), the session (every identification attribute given must match: NAK 503
when none matches, or 407 for cisco, which says Invalid Attribute Value
when some match and some do not), and for a CoA-Request the change it
carries.  A session with FLAGS "noreauth" refuses a CoA re-authentication
(CoA-NAK 405), as a controller that cannot re-authenticate it does.

After a Disconnect-ACK the session is gone and, with --acct, the NAS sends
its Accounting-Request Stop (Acct-Terminate-Cause Admin-Reset, and the
session's Class, 0x-hex, from the Access-Accept) from the --listen
address, as an access point does.  One log line per request:
  <time> <vendor> <code> id=<n> dport=<port> attrs=<type=value;...> answered=<answer>[ cause=<n>] [why]
Bounded: exits after --max-seconds (default 600) and on SIGTERM.  Only
loopback addresses are accepted.  The socket, the serving loop and the
signing of answers are das-fault-nas.py's.
"""
import argparse
import hashlib
import hmac
import importlib.util
import os
import re
import socket
import struct
import time

# The socket, serving loop and answers of the fault NAS (das-fault-nas.py).
_SPEC = importlib.util.spec_from_file_location(
    "das_fault_nas", os.path.join(os.path.dirname(os.path.abspath(__file__)), "das-fault-nas.py"))
FAULT = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(FAULT)

USER_NAME, NAS_IP, FRAMED_IP, VSA, CALLING, NAS_ID, ACCT_ID = 1, 4, 8, 26, 31, 32, 44
EVENT_TS, MA, NAS_IPV6, ERROR_CAUSE = 55, 80, 95, 101
NAS_IDENT = {NAS_IP, NAS_ID, NAS_IPV6}
SECURITY = {EVENT_TS, MA}
CODES = {40: "Disconnect-Request", 43: "CoA-Request"}

# One row per vendor: port, identification attributes it matches sessions
# by, what it does with other attributes, whether Message-Authenticator and
# Event-Timestamp must be in a request, whether its answers are signed, the
# Calling-Station-Id spelling it matches (regular expression), and what a
# CoA-Request needs.
VENDORS = {
    # Cisco IOS/IOS-XE and WLC: port 1700; sessions by Calling-Station-Id
    # and Acct-Session-Id (all given must match, else 407); supported IETF
    # attributes State, Calling-Station-Id, Acct-Session-Id,
    # Message-Authenticator, Error-Cause (and NAS-IP-Address, Event-Timestamp
    # as ISE sends them); others 401; CoA with Cisco-AVPair
    # subscriber:command=reauthenticate.
    "cisco": dict(port=1700, ids={CALLING, ACCT_ID}, accept={NAS_IP, 24, VSA} | SECURITY,
                  unknown="nak401", need_ma=True, need_ts=False, signed=True, mac=None, partial=407,
                  coa="subscriber:command=reauthenticate"),
    # ArubaOS / Instant (aaa rfc-3576-server): sessions by User-Name,
    # Framed-IP-Address, Calling-Station-Id, Acct-Session-Id; other
    # attributes ignored; replay-protection with event-timestamp-required:
    # no Event-Timestamp, no answer.
    "aruba": dict(port=3799, ids={USER_NAME, FRAMED_IP, CALLING, ACCT_ID}, accept=set(), unknown="ignore",
                  need_ma=False, need_ts=True, signed=True, mac=None, coa=None),
    # Meraki MR: the client by Calling-Station-Id AA-BB-CC-DD-EE-FF (402
    # without it), User-Name.
    "meraki": dict(port=3799, ids={CALLING, USER_NAME}, accept=NAS_IDENT | SECURITY, unknown="nak401",
                   need_ma=False, need_ts=False, signed=True, mac=r"([0-9A-F]{2}-){5}[0-9A-F]{2}", need=CALLING,
                   coa=None),
    # MikroTik RouterOS /radius incoming: User-Name, Acct-Session-Id,
    # Framed-IP-Address, Calling-Station-Id (capital letters, colons).
    "mikrotik": dict(port=3799, ids={USER_NAME, ACCT_ID, FRAMED_IP, CALLING}, accept=NAS_IDENT | SECURITY,
                     unknown="nak401", need_ma=False, need_ts=False, signed=True,
                     mac=r"([0-9A-F]{2}:){5}[0-9A-F]{2}", coa=None),
    # Ruckus SmartZone: NAS-IP-Address must be the controller's (403);
    # User-Name, Calling-Station-Id, Acct-Session-Id.
    "ruckus": dict(port=3799, ids={USER_NAME, CALLING, ACCT_ID}, accept=NAS_IDENT | SECURITY, unknown="nak401",
                   need_ma=False, need_ts=False, signed=True, mac=None, own_nas_ip=True, coa=None),
    # UniFi: Calling-Station-Id (402 without it), User-Name; answers
    # without Message-Authenticator.
    "unifi": dict(port=3799, ids={CALLING, USER_NAME}, accept=NAS_IDENT | SECURITY, unknown="nak401",
                  need_ma=False, need_ts=False, signed=False, mac=None, need=CALLING, coa=None),
}


def attrs_of(req):
    """[(type, value bytes)] of a request, or None when malformed."""
    out, pos, end = [], 20, struct.unpack("!H", req[2:4])[0]
    if end > len(req) or end < 20:
        return None
    while pos < end:
        if end - pos < 2 or req[pos + 1] < 2 or pos + req[pos + 1] > end:
            return None
        out.append((req[pos], bytes(req[pos + 2:pos + req[pos + 1]])))
        pos += req[pos + 1]
    return out


def authentic(req, attrs, secret):
    """Request Authenticator and (when present) Message-Authenticator valid."""
    length = struct.unpack("!H", req[2:4])[0]
    body = bytearray(req[:length])
    if hashlib.md5(bytes(body[:4]) + bytes(16) + bytes(body[20:]) + secret).digest() != bytes(body[4:20]):
        return False
    if MA not in [t for t, _ in attrs]:
        return True
    pos = 20
    while body[pos] != MA:
        pos += body[pos + 1]
    got = bytes(body[pos + 2:pos + 18])
    body[pos + 2:pos + 18] = bytes(16)
    body[4:20] = bytes(16)
    return hmac.compare_digest(hmac.new(secret, bytes(body), hashlib.md5).digest(), got)


def session_value(s, t):
    return {USER_NAME: s["user"], ACCT_ID: s["acct"], CALLING: s["mac"], FRAMED_IP: s["framed"]}.get(t)


def value_text(t, v):
    if t in (NAS_IP, FRAMED_IP) and len(v) == 4:
        return socket.inet_ntoa(v)
    if t in (EVENT_TS, ERROR_CAUSE) and len(v) == 4:
        return str(struct.unpack("!I", v)[0])
    if t == MA:
        return "(16)"
    if t == VSA and len(v) >= 6:
        return "%d/%d:%s" % (struct.unpack("!I", v[:4])[0], v[4], v[6:].decode("ascii", "replace"))
    return v.decode("ascii", "replace")


def judge(rules, req, attrs, sessions, listen):
    """(answer code, Error-Cause, why, session or None) for an authentic request; code None: drop."""
    code, types = req[0], [t for t, _ in attrs]
    nak = code + 2
    if rules["need_ma"] and MA not in types:
        return None, 0, "no Message-Authenticator", None
    ts = [v for t, v in attrs if t == EVENT_TS]
    if rules["need_ts"] and not ts:
        return None, 0, "no Event-Timestamp (replay protection)", None
    if ts and abs(time.time() - struct.unpack("!I", ts[0])[0]) > 300:
        return None, 0, "stale Event-Timestamp", None
    known = rules["ids"] | rules["accept"] | NAS_IDENT | SECURITY if rules["unknown"] == "ignore" else \
        rules["ids"] | rules["accept"]
    if rules["unknown"] == "nak401":
        bad = sorted(set(t for t in types if t not in known))
        if bad:
            return nak, 401, "attribute(s) %s not accepted" % bad, None
    if rules.get("need") and rules["need"] not in types:
        return nak, 402, "attribute %d required" % rules["need"], None
    if rules.get("own_nas_ip"):
        ips = [v for t, v in attrs if t == NAS_IP]
        if not ips or socket.inet_ntoa(ips[0]) != listen:
            return nak, 403, "NAS-IP-Address is not %s" % listen, None
    given = [(t, value_text(t, v)) for t, v in attrs if t in rules["ids"]]
    if not given:
        return nak, 402, "no session identification", None
    if rules["mac"]:
        for t, v in given:
            if t == CALLING and not re.fullmatch(rules["mac"], v):
                return nak, 407, "Calling-Station-Id %s not in the vendor's format" % v, None
    some = None
    for s in sessions:
        hits = [session_value(s, t) == v for t, v in given]
        if all(hits):
            return coa_or_ack(rules, code, attrs, s)
        if any(hits):
            some = s
    if some is not None and rules.get("partial"):
        return nak, rules["partial"], "identification matches a session only in part", None
    return nak, 503, "no such session", None


def coa_or_ack(rules, code, attrs, s):
    if code == 40:
        return 41, 0, "", s
    want = rules["coa"]
    cmds = [v[6:].decode("ascii", "replace") for t, v in attrs
            if t == VSA and len(v) >= 6 and struct.unpack("!I", v[:4])[0] == 9 and v[4] == 1]
    if want is None:
        return 45, 405, "no CoA support here", None
    if want not in cmds:
        return 45, 402, "no %s" % want, None
    if "noreauth" in s["flags"]:
        return 45, 405, "cannot re-authenticate this session", None
    return 44, 0, "re-authenticate", s


def send_stop(s, listen, acct, secret):
    """The NAS's Accounting-Request Stop for s, from listen to acct (ADDR:PORT)."""
    addr, port = acct.rsplit(":", 1)
    attrs = b""
    for t, v in ((40, struct.pack("!I", 2)), (ACCT_ID, s["acct"].encode()), (USER_NAME, s["user"].encode()),
                 (NAS_IP, socket.inet_aton(listen)), (CALLING, s["mac"].encode()), (49, struct.pack("!I", 6)),
                 (25, s["class"])):
        if not v:
            continue
        attrs += bytes([t, 2 + len(v)]) + v
    hdr = struct.pack("!BBH", 4, int(time.time()) & 0xff, 20 + len(attrs))
    pkt = hdr + hashlib.md5(hdr + bytes(16) + attrs + secret).digest() + attrs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as so:
        so.bind((listen, 0))
        so.settimeout(3)
        for _ in range(3):
            so.sendto(pkt, (addr, int(port)))
            try:
                so.recvfrom(4096)
                return True
            except socket.timeout:
                continue
    return False


def parse_session(text):
    acct, mac, user, framed, flags, cls = (text.split("|") + [""] * 6)[:6]
    cls = bytes.fromhex(cls[2:]) if cls.startswith("0x") else b""
    return dict(acct=acct, mac=mac, user=user, framed=framed, flags=flags.split(","), **{"class": cls[:253]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vendor", required=True, choices=sorted(VENDORS))
    ap.add_argument("--listen", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--session", action="append", default=[])
    ap.add_argument("--ready")
    ap.add_argument("--acct")
    ap.add_argument("--acct-secret", default="testing123")
    ap.add_argument("--max-seconds", type=int, default=600)
    a = ap.parse_args()
    rules, secret = VENDORS[a.vendor], a.secret.encode()
    sessions = [parse_session(s) for s in a.session]
    sock = FAULT.open_das("das-vendor-nas", a.listen, rules["port"], a.ready)
    log = open(a.log, "a", buffering=1)

    def handle(req, peer):
        if req[0] not in CODES:
            return
        attrs = attrs_of(req)
        if attrs is None or not authentic(req, attrs, secret):
            code, cause, why, s = None, 0, "malformed or not authentic", None
        else:
            code, cause, why, s = judge(rules, req, attrs, sessions, a.listen)
        shown = ";".join("%d=%s" % (t, value_text(t, v)) for t, v in (attrs or []))
        # Logged before the answer goes out: a test that has its answer finds the line.
        log.write("%.3f %s %s id=%d dport=%d attrs=%s answered=%s%s %s\n" % (
            time.time(), a.vendor, CODES[req[0]], req[1], rules["port"], shown,
            {41: "Disconnect-ACK", 42: "Disconnect-NAK", 44: "CoA-ACK", 45: "CoA-NAK"}.get(code, "none"),
            " cause=%d" % cause if cause else "", why))
        if code is not None:
            sock.sendto(FAULT.answer(req, code, cause, secret, rules["signed"]), peer)
        if code == 41 and s is not None:
            sessions.remove(s)
            if a.acct:
                ok = send_stop(s, a.listen, a.acct, a.acct_secret.encode())
                log.write("%.3f %s Accounting-Request Stop session=%s %s\n"
                          % (time.time(), a.vendor, s["acct"], "answered" if ok else "unanswered"))
    FAULT.serve(sock, a.max_seconds, handle)

if __name__ == "__main__":
    main()
