"""followup_status on a real directory tree and a real local HTTP server: release, health, never a failure."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import followup_status as module
import pytest
from modulekit import run_module


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def install(root, version, port):
    release = root / "releases" / version
    release.mkdir(parents=True)
    record = {"version": version, "release_date": "2026-02-02", "port": port, "health": {"type": "http", "path": "/h"}}
    (release / ".release.json").write_text(json.dumps(record))
    os.symlink(f"releases/{version}", root / "current")


def test_reports_the_release_and_its_own_health_check(tmp_path, server):
    install(tmp_path / "app", "1.0.0", server.server_port)
    result = run_module(module, {"component": "app", "root": str(tmp_path / "app")})
    status = result["status"]
    assert result["changed"] is False
    assert status["version"] == "1.0.0" and status["release_date"] == "2026-02-02"
    assert status["installed_versions"] == ["1.0.0"]
    assert status["health"]["ok"] is True and "HTTP 200" in status["health"]["detail"]


def test_an_unhealthy_component_is_reported_not_failed(tmp_path, server):
    Health.status = 503
    try:
        install(tmp_path / "app", "1.0.0", server.server_port)
        result = run_module(module, {"component": "app", "root": str(tmp_path / "app")})
    finally:
        Health.status = 200
    assert not result.get("failed") and result["status"]["health"]["ok"] is False
    assert "HTTP 503" in result["status"]["health"]["detail"]


def test_a_closed_port_is_reported(tmp_path):
    result = run_module(module, {"health_checks": [{"name": "db", "type": "tcp", "port": 1}]})
    assert result["status"]["health"]["ok"] is False


def test_a_host_without_the_component_has_no_version(tmp_path):
    result = run_module(module, {"component": "voice", "root": str(tmp_path / "none")})
    assert result["status"]["version"] is None and result["status"]["installed_versions"] == []


def test_a_bad_health_check_is_refused(tmp_path):
    result = run_module(module, {"health_checks": [{"type": "ftp", "port": 21}]})
    assert result["failed"] and "http, sip or tcp" in result["msg"]
