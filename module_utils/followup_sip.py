# -*- coding: utf-8 -*-
# A minimal SIP client for health checks: one OPTIONS request over UDP (RFC 3261), with retransmission.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import socket
import time


class SipError(Exception):
    """No usable answer from the SIP server; the message says what happened."""


def build_options(target_host, target_port, local_host, local_port, call_id, branch, tag, user_agent="followup-ops"):
    uri = "sip:%s:%d" % (target_host, target_port)
    lines = [
        "OPTIONS %s SIP/2.0" % uri,
        "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (local_host, local_port, branch),
        "Max-Forwards: 70",
        "From: <sip:health@%s>;tag=%s" % (local_host, tag),
        "To: <%s>" % uri,
        "Call-ID: %s" % call_id,
        "CSeq: 1 OPTIONS",
        "Contact: <sip:health@%s:%d>" % (local_host, local_port),
        "Accept: application/sdp",
        "User-Agent: %s" % user_agent,
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def parse_response(data):
    """Return (status code, reason, headers dict with lower-case names) of a SIP response."""
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/2.0") or not parts[1].isdigit():
        raise SipError("not a SIP response: %r" % lines[0][:80])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def options_ping(host, port=5060, timeout=5.0):
    """Send OPTIONS to host:port over UDP; return (code, reason, headers, round-trip ms) of the final answer.

    Retransmits with RFC 3261 timer A (500 ms doubling) until TIMEOUT seconds have passed.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect((host, port))
        local_host, local_port = sock.getsockname()[:2]
        rnd = random.SystemRandom()
        call_id = "%016x@followup-ops" % rnd.getrandbits(64)
        branch = "z9hG4bK%012x" % rnd.getrandbits(48)
        tag = "%08x" % rnd.getrandbits(32)
        request = build_options(host, port, local_host, local_port, call_id, branch, tag)
        started = time.monotonic()
        deadline = started + timeout
        interval = 0.5
        next_send = started
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise SipError("no SIP answer from %s:%d within %.0fs" % (host, port, timeout))
            if now >= next_send:
                sock.send(request)
                next_send = now + interval
                interval = min(interval * 2, 4.0)
            sock.settimeout(max(0.05, min(next_send, deadline) - time.monotonic()))
            try:
                data = sock.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                raise SipError("%s:%d refused the SIP request (nothing listens on UDP %d)" % (host, port, port))
            code, reason, headers = parse_response(data)
            if headers.get("call-id") != call_id:
                continue
            if code < 200:
                continue
            return code, reason, headers, int((time.monotonic() - started) * 1000)
    finally:
        sock.close()
