#!/usr/bin/python3
"""
smtp-sink.py - a small SMTP server that keeps what it is sent, for tests.

TEST FIXTURE, NOT PRODUCT CODE.  It owns nothing outside tests/smtp/ and the
directories it is given.  Python 3 standard library only (no smtpd, which
is deprecated and gone in 3.12).

It listens on 127.0.0.1 only and speaks RFC 5321 as a submission server
would: EHLO/HELO, STARTTLS (RFC 3207), AUTH PLAIN and AUTH LOGIN (RFC 4954,
with or without an initial response), MAIL FROM (with SIZE= and BODY=),
RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT; VRFY answers 252 and
anything else 500/502.  It does not advertise PIPELINING, so a client
must wait for each reply.

Each accepted message becomes two files in --outdir, written atomically
(temporary name, then rename) before the 250 reply is sent, so a client
that has its 250 finds them:
    NNNNNN-HEX.eml    the message as received, after dot-unstuffing
    NNNNNN-HEX.json   {"mail_from", "rcpt_to": [...], "helo", "auth_user",
                       "tls", "size", "eml": "NNNNNN-HEX.eml"}
The .json is renamed last: a reader that lists *.json sees whole messages.

Usage:
  smtp-sink.py --outdir DIR [--port N | --port 0 --port-file F] [--pid-file F]
               [--user U --password P [--auth-mechs PLAIN,LOGIN] [--require-auth]]
               [--reject-rcpt ADDR]... [--tempfail-rcpt ADDR]...
               [--tls-cert PEM --tls-key KEY (--starttls | --implicit-tls)]
               [--require-tls] [--max-size BYTES] [--max-conns N] [--log FILE]

Limits: command lines 512 octets (RFC 5321 4.5.3.1.4), text lines 1000
octets with CRLF (4.5.3.1.6: a longer line makes the message fail with 554
at the end of DATA), --max-size bytes per message (advertised as SIZE;
default 1 MiB; 552), 100 recipients (452), --max-conns simultaneous
connections (default 16; more get 421), 60 s of silence (421), 20 bad
commands in a connection (421).

SIGTERM or SIGINT: stop accepting, close, remove the pid and port files,
exit 0.  Passwords never reach the log.
"""

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

CMD_MAX = 512
TEXT_MAX = 1000
RCPT_MAX = 100
IDLE_TIMEOUT = 60.0
BAD_COMMANDS_MAX = 20
HOSTNAME = "sink.test"

ADDR_RE = re.compile(rb"^<([^<>\s]*)>(?:\s+(.*))?$")


class Closing(Exception):
    """The session is over (QUIT, error limit, idle, client gone)."""


class Config:
    pass


class LineReader:
    """Bounded line reading from a socket; the buffer is dropped on STARTTLS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self, limit):
        """A line with its terminator; (line, too_long).  Raises Closing at EOF."""
        too_long = False
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line, too_long or len(line) > limit
            if len(self.buf) > limit:
                # Keep only a little, to find the line's end, and remember it was too long.
                too_long = True
                self.buf = self.buf[-2:]
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Closing("idle")
            except (OSError, ssl.SSLError):
                raise Closing("recv failed")
            if not data:
                raise Closing("eof")
            self.buf += data


class Session:
    def __init__(self, server, sock, peer):
        self.srv = server
        self.cfg = server.cfg
        self.sock = sock
        self.peer = peer
        self.reader = LineReader(sock)
        self.tls = False
        self.helo = None
        self.esmtp = False
        self.auth_user = None
        self.bad = 0
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpt = []

    # I/O
    def log(self, text):
        self.srv.log("%s:%d %s" % (self.peer[0], self.peer[1], text))

    def reply(self, code, *lines):
        lines = lines or ("",)
        out = b""
        for i, text in enumerate(lines):
            sep = "-" if i < len(lines) - 1 else " "
            out += ("%d%s%s\r\n" % (code, sep, text)).encode("ascii")
        self.log("<<< " + " | ".join("%d %s" % (code, t) for t in lines))
        try:
            self.sock.sendall(out)
        except (OSError, ssl.SSLError):
            raise Closing("send failed")

    def error(self, code, text):
        self.bad += 1
        if self.bad > BAD_COMMANDS_MAX:
            self.reply(421, "4.7.0 Too many errors, closing connection")
            raise Closing("errors")
        self.reply(code, text)

    def run(self):
        if self.cfg.implicit_tls:
            try:
                self.start_tls()
            except (OSError, ssl.SSLError) as e:
                self.log("TLS handshake failed: %s" % e)
                return
        try:
            self.reply(220, "%s ESMTP smtp-sink ready" % HOSTNAME)
            while True:
                line, too_long = self.reader.readline(CMD_MAX)
                if too_long:
                    self.error(500, "5.5.2 Line too long")
                    continue
                self.command(line.rstrip(b"\r\n"))
        except Closing as e:
            self.log("closed: %s" % e)

    def start_tls(self):
        self.sock = self.cfg.tls_context.wrap_socket(self.sock, server_side=True)
        self.reader = LineReader(self.sock)    # RFC 3207 5: discard anything sent before TLS.
        self.tls = True

    # Commands
    def command(self, line):
        shown = line
        if line[:5].upper() == b"AUTH " and len(line.split()) > 2:
            shown = b" ".join(line.split()[:2]) + b" ***"
        self.log(">>> " + shown.decode("ascii", "replace"))
        verb, _, arg = line.partition(b" ")
        verb = verb.upper().decode("ascii", "replace")
        handler = getattr(self, "cmd_" + verb, None) if verb.isalpha() else None
        if handler is None:
            self.error(500, "5.5.1 Command unrecognized")
            return
        handler(arg.strip())

    def cmd_EHLO(self, arg):
        self.hello(arg, True)

    def cmd_HELO(self, arg):
        self.hello(arg, False)

    def hello(self, arg, esmtp):
        if not arg:
            self.error(501, "5.5.4 Syntax: %s hostname" % ("EHLO" if esmtp else "HELO"))
            return
        self.helo = arg.decode("ascii", "replace")
        self.esmtp = esmtp
        self.reset()
        if not esmtp:
            self.reply(250, HOSTNAME)
            return
        lines = [HOSTNAME, "SIZE %d" % self.cfg.max_size, "8BITMIME", "ENHANCEDSTATUSCODES"]
        if self.cfg.tls_context and not self.tls:
            lines.append("STARTTLS")
        if self.cfg.user is not None and (self.tls or not self.cfg.require_tls):
            lines.append("AUTH " + " ".join(self.cfg.auth_mechs))
        self.reply(250, *lines)

    def cmd_STARTTLS(self, arg):
        if arg:
            self.error(501, "5.5.4 Syntax: STARTTLS")
        elif not self.cfg.tls_context or self.tls:
            self.error(502, "5.5.1 STARTTLS not available")
        else:
            self.reply(220, "2.0.0 Ready to start TLS")
            try:
                self.start_tls()
            except (OSError, ssl.SSLError) as e:
                raise Closing("TLS handshake failed: %s" % e)
            self.helo = None    # The client must say EHLO again.
            self.auth_user = None
            self.reset()

    def need_tls(self):
        if self.cfg.require_tls and not self.tls:
            self.error(530, "5.7.0 Must issue a STARTTLS command first")
            return True
        return False

    def cmd_AUTH(self, arg):
        if self.need_tls():
            return
        if self.cfg.user is None or not self.esmtp:
            self.error(502, "5.5.1 AUTH not available")
            return
        if self.auth_user is not None:
            self.error(503, "5.5.1 Already authenticated")
            return
        if self.mail_from is not None:
            self.error(503, "5.5.1 AUTH not allowed during a mail transaction")
            return
        parts = arg.split()
        if not parts or len(parts) > 2:
            self.error(501, "5.5.4 Syntax: AUTH mechanism [initial-response]")
            return
        mech = parts[0].upper().decode("ascii", "replace")
        initial = parts[1] if len(parts) == 2 else None
        if mech not in self.cfg.auth_mechs:
            self.error(504, "5.5.4 Unrecognized authentication type")
            return
        try:
            if mech == "PLAIN":
                resp = initial if initial is not None else self.challenge(b"")
                if resp == b"=":
                    resp = b""
                fields = self.b64(resp).split(b"\0")
                if len(fields) != 3:
                    raise ValueError("PLAIN needs three fields")
                user, password = fields[1], fields[2]
            else:
                user = self.b64(initial if initial is not None else self.challenge(b"Username:"))
                password = self.b64(self.challenge(b"Password:"))
        except ValueError as e:
            self.error(501, "5.5.2 Cannot decode response (%s)" % e)
            return
        except Cancelled:
            self.error(501, "5.7.0 Authentication cancelled")
            return
        if user == self.cfg.user.encode() and password == self.cfg.password.encode():
            self.auth_user = user.decode("utf-8", "replace")
            self.reply(235, "2.7.0 Authentication successful")
        else:
            self.log("authentication failed for %r" % user.decode("utf-8", "replace"))
            self.error(535, "5.7.8 Authentication credentials invalid")

    def challenge(self, text):
        self.reply(334, base64.b64encode(text).decode("ascii"))
        line, too_long = self.reader.readline(CMD_MAX * 24)
        if too_long:
            raise ValueError("response too long")
        line = line.rstrip(b"\r\n")
        if line == b"*":
            raise Cancelled()
        return line

    @staticmethod
    def b64(data):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64")

    def cmd_MAIL(self, arg):
        if self.need_tls():
            return
        if self.helo is None:
            self.error(503, "5.5.1 Send EHLO or HELO first")
            return
        if self.cfg.require_auth and self.auth_user is None:
            self.error(530, "5.7.0 Authentication required")
            return
        if self.mail_from is not None:
            self.error(503, "5.5.1 Nested MAIL command")
            return
        addr, params = self.path(arg, b"FROM:")
        if addr is None:
            self.error(501, "5.5.4 Syntax: MAIL FROM:<address>")
            return
        for p in params:
            key, _, val = p.partition(b"=")
            key = key.upper()
            if key == b"SIZE" and val.isdigit():
                if int(val) > self.cfg.max_size:
                    self.error(552, "5.3.4 Message size exceeds fixed limit")
                    return
            elif key == b"BODY" and val.upper() in (b"7BIT", b"8BITMIME"):
                pass
            else:
                self.error(555, "5.5.4 Unsupported option: %s" % p.decode("ascii", "replace"))
                return
        self.mail_from = addr
        self.reply(250, "2.1.0 Ok")

    def cmd_RCPT(self, arg):
        if self.mail_from is None:
            self.error(503, "5.5.1 Need MAIL before RCPT")
            return
        addr, params = self.path(arg, b"TO:")
        if addr is None or params or not addr:
            self.error(501, "5.5.4 Syntax: RCPT TO:<address>")
            return
        if len(self.rcpt) >= RCPT_MAX:
            self.reply(452, "4.5.3 Too many recipients")
            return
        if addr.lower() in self.cfg.reject_rcpt:
            self.reply(550, "5.1.1 <%s>: Recipient address rejected: User unknown" % addr)
            return
        if addr.lower() in self.cfg.tempfail_rcpt:
            self.reply(450, "4.2.1 <%s>: Recipient address rejected: Mailbox busy, try later" % addr)
            return
        self.rcpt.append(addr)
        self.reply(250, "2.1.5 Ok")

    @staticmethod
    def path(arg, keyword):
        """"FROM:<a@b> X=Y" -> ("a@b", [b"X=Y"]); (None, []) when malformed."""
        if arg[:len(keyword)].upper() != keyword:
            return None, []
        m = ADDR_RE.match(arg[len(keyword):].strip())
        if not m:
            return None, []
        try:
            addr = m.group(1).decode("ascii")
        except UnicodeDecodeError:
            return None, []
        return addr, (m.group(2) or b"").split()

    def cmd_DATA(self, arg):
        if arg:
            self.error(501, "5.5.4 Syntax: DATA")
            return
        if self.mail_from is None:
            self.error(503, "5.5.1 Need MAIL command")
            return
        if not self.rcpt:
            self.error(554, "5.5.1 No valid recipients")
            return
        self.reply(354, "End data with <CR><LF>.<CR><LF>")
        data, size, too_big, long_line = [], 0, False, False
        while True:
            line, too_long = self.reader.readline(TEXT_MAX)
            long_line = long_line or too_long
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]             # RFC 5321 4.5.2
            size += len(line)
            if size > self.cfg.max_size:
                too_big = True
            elif not long_line:
                data.append(line)
        if too_big:
            self.reply(552, "5.3.4 Message size exceeds fixed limit")
        elif long_line:
            self.reply(554, "5.6.0 Line longer than %d octets" % TEXT_MAX)
        else:
            name = self.srv.store(b"".join(data), {
                "mail_from": self.mail_from, "rcpt_to": self.rcpt, "helo": self.helo,
                "auth_user": self.auth_user, "tls": self.tls, "size": size})
            self.reply(250, "2.0.0 Ok: queued as %s" % name)
        self.reset()

    def cmd_RSET(self, arg):
        self.reset()
        self.reply(250, "2.0.0 Ok")

    def cmd_NOOP(self, arg):
        self.reply(250, "2.0.0 Ok")

    def cmd_VRFY(self, arg):
        self.reply(252, "2.0.0 Cannot VRFY user")

    def cmd_QUIT(self, arg):
        self.reply(221, "2.0.0 Bye")
        raise Closing("quit")


class Cancelled(Exception):
    pass


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        with srv.lock:
            over = srv.active >= srv.cfg.max_conns
            if not over:
                srv.active += 1
        if over:
            try:
                self.request.sendall(b"421 4.7.0 Too many connections, try later\r\n")
            except OSError:
                pass
            return
        try:
            self.request.settimeout(IDLE_TIMEOUT)
            Session(srv, self.request, self.client_address).run()
        finally:
            with srv.lock:
                srv.active -= 1


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.active = 0
        self.seq = 0
        self.logf = open(cfg.log, "a", encoding="utf-8") if cfg.log else None
        super().__init__(("127.0.0.1", cfg.port), Handler)

    def log(self, text):
        if self.logf:
            with self.lock:
                self.logf.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))
                self.logf.flush()

    def store(self, raw, meta):
        with self.lock:
            self.seq += 1
            name = "%06d-%s" % (self.seq, secrets.token_hex(4))
        meta = dict(meta, eml=name + ".eml")
        self.write_atomic(name + ".eml", raw)
        self.write_atomic(name + ".json", json.dumps(meta, indent=1).encode("utf-8") + b"\n")
        return name

    def write_atomic(self, name, data):
        path = os.path.join(self.cfg.outdir, name)
        tmp = os.path.join(self.cfg.outdir, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def write_file_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="SMTP sink for tests (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--pid-file", help="write the process id here once listening")
    ap.add_argument("--outdir", required=True, help="directory for accepted messages")
    ap.add_argument("--user", help="accept AUTH with this user name (and --password)")
    ap.add_argument("--password", help="the password for --user")
    ap.add_argument("--auth-mechs", default="PLAIN,LOGIN", help="mechanisms to advertise (default PLAIN,LOGIN)")
    ap.add_argument("--require-auth", action="store_true", help="530 to MAIL before AUTH")
    ap.add_argument("--reject-rcpt", action="append", default=[], help="550 to RCPT TO this address")
    ap.add_argument("--tempfail-rcpt", action="append", default=[], help="450 to RCPT TO this address")
    ap.add_argument("--tls-cert", help="server certificate chain (PEM)")
    ap.add_argument("--tls-key", help="server private key (PEM)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--starttls", action="store_true", help="offer STARTTLS")
    mode.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (smtps)")
    ap.add_argument("--require-tls", action="store_true", help="530 to AUTH/MAIL before STARTTLS")
    ap.add_argument("--max-size", type=int, default=1024 * 1024, help="largest message, bytes")
    ap.add_argument("--max-conns", type=int, default=16, help="simultaneous connections")
    ap.add_argument("--log", help="append a transcript here (passwords masked)")
    args = ap.parse_args(argv)
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")
    if (args.starttls or args.implicit_tls or args.require_tls) and not (args.tls_cert and args.tls_key):
        ap.error("--starttls, --implicit-tls and --require-tls need --tls-cert and --tls-key")
    if args.require_tls and not args.starttls:
        ap.error("--require-tls needs --starttls")
    if not os.path.isdir(args.outdir):
        ap.error("--outdir %s is not a directory" % args.outdir)
    if args.max_size < 1 or args.max_conns < 1 or not 0 <= args.port <= 65535:
        ap.error("--max-size, --max-conns and --port must be positive")
    return args


def main(argv):
    args = parse_args(argv)
    cfg = Config()
    for k, v in vars(args).items():
        setattr(cfg, k, v)
    cfg.auth_mechs = [m.strip().upper() for m in args.auth_mechs.split(",") if m.strip()]
    if any(m not in ("PLAIN", "LOGIN") for m in cfg.auth_mechs):
        sys.exit("smtp-sink.py: --auth-mechs: only PLAIN and LOGIN are implemented")
    cfg.reject_rcpt = {a.lower() for a in args.reject_rcpt}
    cfg.tempfail_rcpt = {a.lower() for a in args.tempfail_rcpt}
    cfg.tls_context = None
    if args.starttls or args.implicit_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        cfg.tls_context = ctx

    server = Server(cfg)
    port = server.server_address[1]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.pid_file:
        write_file_atomic(args.pid_file, "%d\n" % os.getpid())
    if args.port_file:
        write_file_atomic(args.port_file, "%d\n" % port)
    server.log("listening on 127.0.0.1:%d" % port)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    server.log("stopped")
    for path in (args.pid_file, args.port_file):
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
