"""SIP messages and the UDP user agent client, against small fake proxies on loopback."""

import itertools
import socket
import threading
import time

import pytest
from followup_voice import sip


def test_build_request_counts_bytes_and_uses_crlf():
    data = sip.build_request("INVITE", "sip:199@proxy", [("Via", "SIP/2.0/UDP a:1;branch=z9hG4bKx")], "随访".encode())
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"INVITE sip:199@proxy SIP/2.0\r\n")
    assert b"Content-Length: 6" in head and body == "随访".encode()
    assert b"\n" not in head.replace(b"\r\n", b"")


def test_parse_response_with_compact_and_folded_headers():
    raw = (
        b"SIP/2.0 200 OK\r\n"
        b"v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070\r\n"
        b"f: <sip:followup@127.0.0.1>;tag=111\r\n"
        b"t: <sip:19900001231@proxy>;tag=222\r\n"
        b"i: call-1@127.0.0.1\r\n"
        b"CSeq: 1\r\n INVITE\r\n"
        b"Record-Route: <sip:10.0.0.1;lr>\r\n"
        b"l: 4\r\n\r\nbodyEXTRA"
    )
    message = sip.parse(raw)
    assert not message.is_request and message.status == 200 and message.reason == "OK"
    assert message.header("call-id") == "call-1@127.0.0.1"
    assert message.cseq() == (1, "INVITE")
    assert message.branch() == "z9hG4bKabc"
    assert sip.header_param(message.header("To"), "tag") == "222"
    assert sip.header_uri(message.header("Record-Route")) == "sip:10.0.0.1;lr"
    assert message.body == b"body"


def test_parse_request_and_round_trip():
    request = sip.parse(
        sip.build_request("OPTIONS", "sip:proxy:5060", [("CSeq", "7 OPTIONS"), ("Call-ID", "x"), ("To", "<sip:p>")])
    )
    assert request.is_request and request.method == "OPTIONS" and request.uri == "sip:proxy:5060"
    assert sip.parse(request.to_bytes()).headers == request.headers


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"HELLO\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
        b"SIP/2.0 200 OK\r\nbroken header\r\n\r\n",
        b"SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    ],
)
def test_parse_rejects_malformed_messages(raw):
    with pytest.raises(sip.SipParseError):
        sip.parse(raw)


def test_branch_tags_and_call_ids_are_fresh():
    branches = {sip.new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith("z9hG4bK") for b in branches)
    assert sip.new_call_id("10.0.0.1").endswith("@10.0.0.1")
    assert sip.new_tag() != sip.new_tag()


def test_header_param_ignores_uri_parameters():
    assert sip.header_param("<sip:a@b;tag=inner>;tag=outer", "tag") == "outer"
    assert sip.header_param("<sip:a@b;tag=inner>", "tag") is None


class FakeProxy:
    """Answers like the lab's kamailio: INVITE → 100 then the code for the number, ACK absorbed, BYE → 200."""

    def __init__(self, drop_invites=0, silent=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.drop_invites = drop_invites
        self.silent = silent
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                data, address = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            message = sip.parse(data)
            self.received.append((time.monotonic(), message))
            if self.silent or message.method == "ACK":
                continue
            if message.method == "INVITE":
                if self.drop_invites:
                    self.drop_invites -= 1
                    continue
                self.sock.sendto(sip.build_response(message, 100, "Trying"), address)
                number = message.uri.split(":")[1].split("@")[0]
                code = {"0": (486, "Busy Here"), "9": (480, "Temporarily Unavailable")}.get(number[-1], (200, "OK"))
                self.sock.sendto(sip.build_response(message, *code, to_tag="srv1"), address)
            else:
                self.sock.sendto(sip.build_response(message, 200, "OK", to_tag="srv2"), address)

    def methods(self, count=0):
        deadline = time.monotonic() + 1.0
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)  # the last message may still be on its way
        return [m.method for _, m in self.received]

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def proxy():
    fake = FakeProxy()
    yield fake
    fake.close()


def test_answered_call_sends_invite_ack_bye(proxy):
    uac = sip.SipUac("127.0.0.1", proxy.port)
    outcome = uac.call("19900001231")
    assert outcome.sip_code == 200 and outcome.bye_code == 200
    assert proxy.methods(3) == ["INVITE", "ACK", "BYE"]
    invite, ack, bye = (m for _, m in proxy.received)
    for header in ("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length"):
        assert invite.header(header), header
    assert invite.uri == "sip:19900001231@127.0.0.1"
    assert invite.branch().startswith("z9hG4bK")
    assert invite.header("Content-Type") == "application/sdp" and invite.body.startswith(b"v=0")
    assert ack.cseq() == (1, "ACK") and sip.header_param(ack.header("To"), "tag") == "srv1"
    assert ack.branch() != invite.branch()
    assert bye.cseq() == (2, "BYE") and sip.header_param(bye.header("To"), "tag") == "srv1"
    assert len({m.header("Call-ID") for m in (invite, ack, bye)}) == 1


@pytest.mark.parametrize(("number", "code"), [("19900001230", 486), ("19900001239", 480)])
def test_refused_call_is_acked_in_the_invite_transaction(proxy, number, code):
    outcome = sip.SipUac("127.0.0.1", proxy.port).call(number)
    assert outcome.sip_code == code and outcome.answered_at is None and outcome.duration == 0
    assert proxy.methods(2) == ["INVITE", "ACK"]
    invite, ack = (m for _, m in proxy.received)
    assert ack.branch() == invite.branch() and ack.cseq() == (1, "ACK")


def test_invite_is_retransmitted_on_timer_a():
    fake = FakeProxy(drop_invites=2)
    try:
        uac = sip.SipUac("127.0.0.1", fake.port, t1=0.05)
        outcome = uac.call("19900001231")
        assert outcome.sip_code == 200
        times = [t for t, m in fake.received if m.method == "INVITE"]
        assert len(times) == 3 and uac.retransmissions == 2
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert 0.04 <= gaps[0] < 0.09 and 0.09 <= gaps[1] < 0.18  # T1, then 2·T1
    finally:
        fake.close()


def test_no_answer_gives_up_after_timer_b():
    fake = FakeProxy(silent=True)
    try:
        uac = sip.SipUac("127.0.0.1", fake.port, t1=0.01)
        started = time.monotonic()
        outcome = uac.call("19900001231")
        assert outcome.sip_code is None and outcome.reason == "timeout"
        assert 0.6 <= time.monotonic() - started < 2.0  # 64·T1
        assert uac.retransmissions >= 5
    finally:
        fake.close()


def test_options(proxy):
    assert sip.SipUac("127.0.0.1", proxy.port).options() == (200, "OK")
    assert proxy.received[0][1].method == "OPTIONS"


def test_options_timeout_when_nobody_answers():
    fake = FakeProxy(silent=True)
    try:
        assert sip.SipUac("127.0.0.1", fake.port, t1=0.01).options(timeout=0.2) == (None, "timeout")
    finally:
        fake.close()
