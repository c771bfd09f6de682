"""followup_status on a real directory tree, real local facts and a real local HTTP server: never a failure."""

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


def install(root, version, **record):
    release = root / "releases" / version
    release.mkdir(parents=True)
    (release / ".release.json").write_text(
        json.dumps(dict({"version": version, "release_date": "2026-02-02"}, **record))
    )
    if not (root / "current").is_symlink():
        os.symlink(f"releases/{version}", root / "current")


def fact(facts, name, data):
    facts.mkdir(exist_ok=True)
    (facts / f"{name}.fact").write_text(json.dumps(data))


def args(tmp_path, **extra):
    return dict({"facts_dir": str(tmp_path / "facts"), "base_dir": str(tmp_path / "opt")}, **extra)


def test_components_services_and_checks_come_from_the_roles_local_facts(tmp_path, server):
    install(tmp_path / "opt" / "app", "1.0.0", installed_at="2026-11-29T15:40:00Z")
    install(tmp_path / "opt" / "app", "1.1.0")
    check = {"name": "app", "type": "http", "host": "127.0.0.1", "port": server.server_port, "path": "/health"}
    fact(tmp_path / "facts", "followup_component_app", {"component": "app", "services": [], "checks": [check]})
    fact(tmp_path / "facts", "other", {"services": [], "checks": [check]})  # the same check twice runs once
    result = run_module(module, args(tmp_path))
    status = result["status"]
    assert result["changed"] is False
    app = status["components"]["app"]
    assert app["version"] == "1.0.0" and app["release_date"] == "2026-02-02"
    assert app["installed_at"] == "2026-11-29T15:40:00Z" and app["installed_versions"] == ["1.0.0", "1.1.0"]
    assert app["unit"] == "followup-app" and status["facts"] == ["followup_component_app", "other"]
    assert status["health"]["ok"] is True and status["health"]["detail"] == "app: HTTP 200"


def test_an_unhealthy_component_is_reported_not_failed(tmp_path, server):
    Health.status = 503
    try:
        check = {"name": "app", "type": "http", "port": server.server_port}
        fact(tmp_path / "facts", "a", {"checks": [check]})
        result = run_module(module, args(tmp_path))
    finally:
        Health.status = 200
    assert not result.get("failed") and result["status"]["health"]["ok"] is False
    assert "HTTP 503" in result["status"]["health"]["detail"]


def test_a_unit_named_by_a_fact_is_asked_of_systemd(tmp_path, monkeypatch):
    fact(tmp_path / "facts", "mysql", {"flavour": "mysql", "services": ["mysqld"], "checks": []})
    asked = []

    def run_command(self, argv, **kw):
        asked.append(argv)
        return 0, "inactive\n", ""

    monkeypatch.setattr(module.AnsibleModule, "run_command", run_command)
    result = run_module(module, args(tmp_path))
    assert result["status"]["services"] == {"mysqld": "inactive"}
    assert asked == [["systemctl", "show", "--property=ActiveState", "--value", "mysqld"]]


def test_a_broken_fact_and_a_damaged_release_are_reported(tmp_path):
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "broken.fact").write_text("{not json")
    root = tmp_path / "opt" / "fep"
    (root / "releases" / "1.0.0").mkdir(parents=True)
    os.symlink("releases/1.0.0", root / "current")
    fact(tmp_path / "facts", "followup_component_fep", {"component": "fep"})
    status = run_module(module, args(tmp_path))["status"]
    assert status["components"]["fep"]["release_damaged"] is True
    assert len(status["problems"]) == 1 and "broken.fact is not readable JSON" in status["problems"][0]


def test_a_closed_port_is_reported(tmp_path):
    result = run_module(module, args(tmp_path, health_checks=[{"name": "db", "type": "tcp", "port": 1}]))
    assert result["status"]["health"]["ok"] is False


def test_a_host_with_no_facts_reports_nothing_installed(tmp_path):
    status = run_module(module, args(tmp_path))["status"]
    assert status["components"] == {} and status["services"] == {} and "health" not in status


def test_a_current_link_pointing_outside_releases_is_not_a_version(tmp_path):
    root = tmp_path / "opt" / "app"
    root.mkdir(parents=True)
    os.symlink("/etc", root / "current")
    fact(tmp_path / "facts", "followup_component_app", {"component": "app"})
    assert run_module(module, args(tmp_path))["status"]["components"]["app"]["version"] is None


def test_a_bad_health_check_is_refused(tmp_path):
    result = run_module(module, args(tmp_path, health_checks=[{"type": "ftp", "port": 21}]))
    assert result["failed"] and "http, sip or tcp" in result["msg"]
