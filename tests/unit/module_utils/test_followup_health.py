"""One health check, as status and the upgrade's pre-checks ask it."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible.module_utils.followup_health import run_check


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_200_on_the_health_path_is_healthy(server):
    assert run_check({"type": "http", "port": server}, 2) == (True, "HTTP 200")


def test_another_status_is_unhealthy_and_named(server):
    assert run_check({"type": "http", "port": server, "path": "/other"}, 2) == (False, "HTTP 503")


def test_tcp_open_and_closed(server):
    assert run_check({"type": "tcp", "port": server}, 2) == (True, f"TCP 127.0.0.1:{server} open")
    ok, detail = run_check({"type": "tcp", "port": closed_port()}, 2)
    assert ok is False and "refused" in detail.lower()


@pytest.mark.parametrize("check", [{"type": "tcp", "port": "x"}, {"type": "http"}, {"type": "tcp", "port": None}])
def test_a_malformed_check_is_unhealthy_not_an_exception(check):
    ok, detail = run_check(check, 1)
    assert ok is False and detail
