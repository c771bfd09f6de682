"""The server move's modules: the probe reads a host without changing it, the gate returns refusals (never fails on
them), the watch counts failed requests and stops on its file."""

import http.server
import json
import threading

import followup_migrate_server_gate as gate_module
import followup_migrate_server_probe as probe_module
import followup_migrate_server_watch as watch_module
import pytest
from modulekit import run_module


def test_the_probe_reads_release_sizes_disk_and_the_move_fact(tmp_path, monkeypatch):
    base = tmp_path / "opt"
    release = base / "app" / "releases" / "1.2.3"
    release.mkdir(parents=True)
    (release / "app.bin").write_bytes(b"x" * 1000)
    (base / "app" / "current").symlink_to(release)
    data = base / "app" / "shared" / "data"
    data.mkdir(parents=True)
    (data / "state.json").write_bytes(b"y" * 300)
    fact = tmp_path / "followup_srvmove.fact"
    fact.write_text(
        json.dumps(
            {
                "moves": {
                    "m1": {"role": "target", "state": "prepared", "updated_at": "1"},
                    "m0": {"role": "target", "state": "finished", "updated_at": "2"},
                }
            }
        )
    )
    monkeypatch.setattr(probe_module, "unit_state", lambda module, unit: {"exists": True, "active": unit == "a"})
    result = run_module(
        probe_module,
        {
            "component": "app",
            "base_dir": str(base),
            "units": ["a", "b"],
            "paths": [str(data), str(tmp_path / "none")],
            "fact_path": str(fact),
        },
    )
    assert result["changed"] is False
    assert result["release"] == "1.2.3" and result["release_bytes"] == 1000
    assert result["data_bytes"] == 300 and result["data"][str(tmp_path / "none")]["exists"] is False
    assert result["units"]["a"]["active"] and not result["units"]["b"]["active"]
    assert result["move"]["id"] == "m1" and result["free_bytes"] > 0


def test_the_probe_of_an_empty_host_reports_no_release_and_no_move(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_module, "unit_state", lambda module, unit: {"exists": False, "active": False})
    result = run_module(
        probe_module,
        {
            "component": "fep",
            "base_dir": str(tmp_path / "missing" / "opt"),
            "units": ["followup-fep"],
            "fact_path": str(tmp_path / "no.fact"),
        },
    )
    assert result["release"] is None and result["move"] == {} and result["free_path"] == str(tmp_path)


def test_the_gate_returns_refusals_and_never_fails_on_them():
    result = run_module(
        gate_module,
        {"phase": "plan", "component": "app", "source_name": "app1", "target_name": "app9", "in_inventory": False},
    )
    assert not result.get("failed") and result["changed"] is False
    assert len(result["refused"]) == 1 and "not a host of the inventory" in result["refused"][0]


class Flaky(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):
        Flaky.calls += 1
        self.send_response(503 if Flaky.calls in (3, 4) else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def test_the_watch_counts_failures_and_stops_on_its_file(server, tmp_path):
    stop = tmp_path / "stop"
    Flaky.calls = 0
    timer = threading.Timer(0.8, stop.touch)
    timer.start()
    result = run_module(
        watch_module,
        {"url": f"http://127.0.0.1:{server.server_port}/x", "interval": 0.05, "stop_file": str(stop), "timeout": 10},
    )
    timer.cancel()
    assert result["requests"] >= 6 and result["failures"] == 2 and len(result["failed_at"]) == 2
    assert 0 < result["downtime_s"] < 1 and result["ended_at"] - result["started_at"] < 5


def test_the_probe_names_another_open_move_when_its_own_is_not_there(tmp_path, monkeypatch):
    fact = tmp_path / "f.fact"
    fact.write_text(json.dumps({"moves": {"other": {"role": "target", "state": "cutover", "updated_at": "1"}}}))
    monkeypatch.setattr(probe_module, "unit_state", lambda module, unit: {"exists": False, "active": False})
    result = run_module(
        probe_module,
        {"component": "app", "base_dir": str(tmp_path), "units": ["u"], "id": "mine", "fact_path": str(fact)},
    )
    assert result["move"]["id"] == "other"
