"""SIP 信令（UDP） A small SIP user agent client over UDP (RFC 3261): build and parse messages, OPTIONS, and a call.

A call is INVITE → (100 Trying) → final answer. On 2xx: ACK, then BYE and wait for its 200. On 3xx-6xx: ACK
in the INVITE transaction, and the call ended with that code. Requests are retransmitted on UDP per timer A
(INVITE: T1, 2·T1, 4·T1, ...) and timer E (non-INVITE: doubling up to T2), and given up after timer B/F (64·T1).
"""

import socket
import time
import uuid

T1 = 0.5
T2 = 4.0
CRLF = "\r\n"
COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
}
CANONICAL = {name.lower(): name for name in COMPACT.values()}
CANONICAL.update({"cseq": "CSeq", "max-forwards": "Max-Forwards", "www-authenticate": "WWW-Authenticate"})


class SipParseError(ValueError):
    pass


def canonical_name(name):
    name = name.strip()
    lower = name.lower()
    if lower in COMPACT:
        return COMPACT[lower]
    if lower in CANONICAL:
        return CANONICAL[lower]
    return "-".join(part.capitalize() for part in lower.split("-"))


class SipMessage:
    """A request (method, uri) or a response (status, reason) with ordered headers and a body."""

    def __init__(self, method=None, uri=None, status=None, reason=None, headers=None, body=b""):
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self.headers = list(headers or [])
        self.body = body

    @property
    def is_request(self):
        return self.method is not None

    def header(self, name):
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name):
        wanted = canonical_name(name)
        return [value for key, value in self.headers if canonical_name(key) == wanted]

    def cseq(self):
        value = self.header("CSeq")
        if not value:
            raise SipParseError("no CSeq header")
        number, _, method = value.strip().partition(" ")
        if not number.isdigit() or not method.strip():
            raise SipParseError(f"bad CSeq: {value}")
        return int(number), method.strip().upper()

    def branch(self):
        via = self.header("Via")
        return header_param(via, "branch") if via else None

    def to_bytes(self):
        return encode(self.start_line(), self.headers, self.body)

    def start_line(self):
        if self.is_request:
            return f"{self.method} {self.uri} SIP/2.0"
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self):
        return f"<SipMessage {self.start_line()}>"


def encode(start_line, headers, body=b""):
    """Serialise; Content-Length is always (re)computed from the body."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = [start_line]
    lines += [f"{canonical_name(name)}: {value}" for name, value in headers if canonical_name(name) != "Content-Length"]
    lines.append(f"Content-Length: {len(body)}")
    return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + body


def build_request(method, uri, headers, body=b""):
    return encode(f"{method} {uri} SIP/2.0", headers, body)


def build_response(request, status, reason, to_tag=None, extra_headers=()):
    """A response to ``request`` (for tests and for answering requests the proxy sends us)."""
    headers = [("Via", via) for via in request.header_all("Via")]
    to = request.header("To") or ""
    if to_tag and header_param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    headers += [("From", request.header("From")), ("To", to), ("Call-ID", request.header("Call-ID"))]
    headers += [("CSeq", request.header("CSeq"))]
    headers += list(extra_headers)
    return encode(f"SIP/2.0 {status} {reason}", headers)


def parse(data):
    """Parse one SIP message from a UDP datagram."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = data[:sep], data[sep + 4 :]
    else:
        sep = data.find(b"\n\n")
        if sep < 0:
            head, body = data, b""
        else:
            head, body = data[:sep], data[sep + 2 :]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("header section is not UTF-8") from None
    raw_lines = text.replace("\r\n", "\n").split("\n")
    while raw_lines and not raw_lines[0].strip():
        raw_lines.pop(0)  # keep-alive CRLFs before the message
    if not raw_lines:
        raise SipParseError("empty message")
    lines = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()  # header folding
        elif line.strip():
            lines.append(line)
    start = raw_lines[0].strip()
    message = SipMessage()
    if start.startswith("SIP/2.0 "):
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipParseError(f"bad status line: {start}")
        message.status = int(parts[1])
        message.reason = parts[2] if len(parts) > 2 else ""
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha():
            raise SipParseError(f"bad request line: {start}")
        message.method, message.uri = parts[0].upper(), parts[1]
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"bad header line: {line}")
        message.headers.append((canonical_name(name), value.strip()))
    length = message.header("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            raise SipParseError("bad Content-Length")
        length = int(length)
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    message.body = body
    return message


def header_param(value, name):
    """A ``;name=value`` parameter of a header value (outside <...>), or None."""
    if value is None:
        return None
    close = value.rfind(">")
    params = value[close + 1 :] if close >= 0 else value
    for part in params.split(";")[1:]:
        key, _, found = part.partition("=")
        if key.strip().lower() == name.lower():
            return found.strip()
    return None


def header_uri(value):
    """The URI of a name-addr (``"x" <sip:a@b>;tag=1`` → ``sip:a@b``) or addr-spec header value."""
    if value is None:
        return None
    start, end = value.find("<"), value.find(">")
    if 0 <= start < end:
        return value[start + 1 : end]
    return value.split(";")[0].strip()


def new_branch():
    return "z9hG4bK" + uuid.uuid4().hex


def new_tag():
    return uuid.uuid4().hex[:12]


def new_call_id(host):
    return f"{uuid.uuid4().hex}@{host}"


def sdp_offer(host, port=40000):
    session = int(time.time())
    return (
        "v=0\r\n"
        f"o=followup {session} {session} IN IP4 {host}\r\n"
        "s=followup call\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 8 0 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    ).encode("ascii")


class CallOutcome:
    def __init__(self, call_id):
        self.sip_call_id = call_id
        self.sip_code = None
        self.reason = "timeout"
        self.started_at = time.time()
        self.answered_at = None
        self.ended_at = None
        self.bye_code = None

    @property
    def duration(self):
        if self.answered_at is None or self.ended_at is None:
            return 0
        return max(0, round(self.ended_at - self.answered_at))


class SipUac:
    """One user agent client towards one proxy. Every call or OPTIONS uses its own UDP socket."""

    def __init__(self, proxy_host, proxy_port=5060, user="followup", user_agent="followup-voice", t1=T1, t2=T2):
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.user = user
        self.user_agent = user_agent
        self.t1 = t1
        self.t2 = t2
        self.max_wait = 64 * t1  # timers B and F
        self.ring_timeout = 40.0  # how long a call may ring after a provisional answer
        self.retransmissions = 0

    def _open(self):
        family, kind, proto, _, address = socket.getaddrinfo(self.proxy_host, self.proxy_port, type=socket.SOCK_DGRAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        sock.connect(address)
        local_host, local_port = sock.getsockname()[:2]
        return sock, local_host, local_port

    @staticmethod
    def _hostport(host, port):
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _proxy_host_uri(self):
        return f"[{self.proxy_host}]" if ":" in self.proxy_host else self.proxy_host

    def _via(self, local, branch):
        return f"SIP/2.0/UDP {local};branch={branch};rport"

    def _transaction(self, sock, data, branch, method, timeout=None, on_other=None):
        """Send a request, retransmitting on timer A/E, until its final response; (None, ...) on timeout.

        Returns (final response or None, list of provisional responses).
        """
        invite = method == "INVITE"
        start = time.monotonic()
        deadline = start + (timeout if timeout is not None else self.max_wait)
        interval = self.t1
        next_send = start
        sent = 0
        retransmitting = True
        provisional = []
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None, provisional
            if retransmitting and now >= next_send:
                sock.send(data)
                if sent:
                    self.retransmissions += 1
                sent += 1
                next_send = now + interval
                interval = interval * 2 if invite else min(interval * 2, self.t2)
            wake = min(deadline, next_send) if retransmitting else deadline
            sock.settimeout(max(0.001, wake - time.monotonic()))
            try:
                packet = sock.recv(65535)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                continue  # ICMP port unreachable: keep trying until the timer gives up
            try:
                message = parse(packet)
                cseq_method = message.cseq()[1]
            except SipParseError:
                continue
            if message.is_request or message.branch() != branch or cseq_method != method:
                if on_other:
                    on_other(message)
                continue
            if message.status >= 200:
                return message, provisional
            provisional.append(message)
            if invite:
                retransmitting = False  # timer A stops in the Proceeding state
                deadline = max(deadline, start + self.ring_timeout)
            else:
                interval = self.t2  # timer E continues at T2 in the Proceeding state

    def options(self, timeout=2.0):
        """Send OPTIONS to the proxy; returns (status, reason) or (None, "timeout")."""
        sock, host, port = self._open()
        try:
            local = self._hostport(host, port)
            branch = new_branch()
            target = f"sip:{self._proxy_host_uri()}:{self.proxy_port}"
            request = build_request(
                "OPTIONS",
                target,
                [
                    ("Via", self._via(local, branch)),
                    ("Max-Forwards", "70"),
                    ("From", f"<sip:{self.user}@{self._hostport(host, port)}>;tag={new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", new_call_id(host)),
                    ("CSeq", "1 OPTIONS"),
                    ("Contact", f"<sip:{self.user}@{local};transport=udp>"),
                    ("Accept", "application/sdp"),
                    ("User-Agent", self.user_agent),
                ],
            )
            final, _ = self._transaction(sock, request, branch, "OPTIONS", timeout=timeout)
            if final is None:
                return None, "timeout"
            return final.status, final.reason
        finally:
            sock.close()

    def call(self, number, hold=0.0):
        """Place a call to ``number`` through the proxy; returns a CallOutcome."""
        sock, host, port = self._open()
        try:
            return self._call(sock, host, port, number, hold)
        finally:
            sock.close()

    def _call(self, sock, host, port, number, hold):
        local = self._hostport(host, port)
        call_id = new_call_id(host)
        outcome = CallOutcome(call_id)
        from_header = f'"Followup" <sip:{self.user}@{local}>;tag={new_tag()}'
        request_uri = f"sip:{number}@{self._proxy_host_uri()}"
        to_header = f"<{request_uri}>"
        branch = new_branch()
        invite_via = self._via(local, branch)
        body = sdp_offer(host if ":" not in host else "0.0.0.0")  # noqa: S104 - SDP placeholder for IPv6
        invite = build_request(
            "INVITE",
            request_uri,
            [
                ("Via", invite_via),
                ("Max-Forwards", "70"),
                ("From", from_header),
                ("To", to_header),
                ("Call-ID", call_id),
                ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:{self.user}@{local};transport=udp>"),
                ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
                ("User-Agent", self.user_agent),
                ("Content-Type", "application/sdp"),
            ],
            body,
        )
        final, _ = self._transaction(sock, invite, branch, "INVITE")
        if final is None:
            outcome.ended_at = time.time()
            return outcome
        outcome.sip_code, outcome.reason = final.status, final.reason
        to_with_tag = final.header("To") or to_header
        if final.status >= 300:
            # ACK for a non-2xx answer belongs to the INVITE transaction: same branch, same CSeq number.
            sock.send(
                build_request(
                    "ACK",
                    request_uri,
                    [
                        ("Via", invite_via),
                        ("Max-Forwards", "70"),
                        ("From", from_header),
                        ("To", to_with_tag),
                        ("Call-ID", call_id),
                        ("CSeq", "1 ACK"),
                    ],
                )
            )
            outcome.ended_at = time.time()
            return outcome
        outcome.answered_at = time.time()
        remote_target = header_uri(final.header("Contact")) or request_uri
        routes = [("Route", value) for value in reversed(final.header_all("Record-Route"))]
        ack = build_request(
            "ACK",
            remote_target,
            [
                ("Via", self._via(local, new_branch())),
                ("Max-Forwards", "70"),
                *routes,
                ("From", from_header),
                ("To", to_with_tag),
                ("Call-ID", call_id),
                ("CSeq", "1 ACK"),
            ],
        )
        sock.send(ack)
        if hold > 0:
            time.sleep(hold)
        bye_branch = new_branch()
        bye = build_request(
            "BYE",
            remote_target,
            [
                ("Via", self._via(local, bye_branch)),
                ("Max-Forwards", "70"),
                *routes,
                ("From", from_header),
                ("To", to_with_tag),
                ("Call-ID", call_id),
                ("CSeq", "2 BYE"),
                ("User-Agent", self.user_agent),
            ],
        )

        def on_other(message):
            # A retransmitted 2xx to our INVITE means the ACK was lost: send it again.
            if not message.is_request and message.status and 200 <= message.status < 300:
                try:
                    if message.cseq()[1] == "INVITE":
                        sock.send(ack)
                except SipParseError:
                    pass

        bye_final, _ = self._transaction(sock, bye, bye_branch, "BYE", on_other=on_other)
        outcome.bye_code = bye_final.status if bye_final is not None else None
        outcome.ended_at = time.time()
        return outcome
