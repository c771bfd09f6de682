"""The SIP OPTIONS health check against a real UDP peer on loopback (a tiny responder in a thread)."""

import socket
import threading

import pytest
from ansible.module_utils.followup_sip import SipError, build_options, options_ping, parse_response


class Responder(threading.Thread):
    """Answers every request with CODE, after ignoring the first DROP requests (to exercise retransmission)."""

    def __init__(self, code=200, drop=0, wrong_call_id=False):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.code, self.drop, self.wrong_call_id = code, drop, wrong_call_id
        self.received = []

    def run(self):
        self.sock.settimeout(5)
        try:
            while True:
                data, peer = self.sock.recvfrom(65535)
                self.received.append(data.decode())
                if len(self.received) <= self.drop:
                    continue
                headers = dict(line.split(": ", 1) for line in data.decode().split("\r\n")[1:] if ": " in line)
                call_id = "someone-else" if self.wrong_call_id else headers["Call-ID"]
                reply = (
                    f"SIP/2.0 {self.code} Answer\r\nVia: {headers['Via']}\r\nCall-ID: {call_id}\r\n"
                    f"CSeq: 1 OPTIONS\r\nServer: test-responder\r\nContent-Length: 0\r\n\r\n"
                )
                self.sock.sendto(b"SIP/2.0 100 Trying\r\nCall-ID: " + headers["Call-ID"].encode() + b"\r\n\r\n", peer)
                self.sock.sendto(reply.encode(), peer)
        except OSError:
            return


def test_a_200_answer_is_returned_with_the_server_header():
    responder = Responder()
    responder.start()
    code, reason, headers, ms = options_ping("127.0.0.1", responder.port, timeout=3)
    assert (code, reason, headers["server"]) == (200, "Answer", "test-responder")
    request = responder.received[0]
    assert request.startswith(f"OPTIONS sip:127.0.0.1:{responder.port} SIP/2.0\r\n")
    assert ";branch=z9hG4bK" in request and "Max-Forwards: 70" in request and ms >= 0


def test_a_lost_request_is_retransmitted():
    responder = Responder(drop=1)
    responder.start()
    code, *_ = options_ping("127.0.0.1", responder.port, timeout=4)
    assert code == 200 and len(responder.received) >= 2


def test_answers_to_other_calls_are_ignored_until_the_timeout():
    responder = Responder(wrong_call_id=True)
    responder.start()
    with pytest.raises(SipError, match="no SIP answer"):
        options_ping("127.0.0.1", responder.port, timeout=1.2)


def test_nothing_listening_is_reported():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(SipError, match=r"refused|no SIP answer"):
        options_ping("127.0.0.1", port, timeout=1.5)


def test_parse_response_rejects_non_sip():
    with pytest.raises(SipError, match="not a SIP response"):
        parse_response(b"HTTP/1.1 200 OK\r\n\r\n")
    assert parse_response(b"SIP/2.0 486 Busy Here\r\nCall-ID: x\r\n\r\n")[:2] == (486, "Busy Here")


def test_the_request_is_well_formed():
    text = build_options("10.0.0.1", 5060, "10.0.0.2", 40000, "cid@x", "z9hG4bKabc", "t1").decode()
    lines = text.split("\r\n")
    assert lines[0] == "OPTIONS sip:10.0.0.1:5060 SIP/2.0" and text.endswith("\r\n\r\n")
    assert "Call-ID: cid@x" in lines and "CSeq: 1 OPTIONS" in lines and "Content-Length: 0" in lines
