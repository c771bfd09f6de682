"""A host that does not answer stops the run before any host changes, with one line naming it (exit 1).
Runs on the deployed lab (the `deployed` fixture, whatever the file order); the host is started again afterwards."""

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def voice_down(deployed, ops):
    subprocess.run(["docker", "stop", "followup-lab-voice1"], check=True, capture_output=True)
    yield
    proc = ops("lab", "up")
    assert proc.returncode == 0, proc.stderr


def test_an_unreachable_host_is_one_line_exit_1_and_nothing_changes(ops, voice_down):
    proc = ops("deploy", "-i", "inventories/lab", "--release", "1.0.0")
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("followup-ops: error: host voice1 is unreachable over SSH")
    assert "lab status" in error
    line = ops.audit()[-1]
    assert line["outcome"] == "failed" and line["exit_code"] == 1 and line["failed_hosts"] == ["voice1"]
    changed = []
    run_dir = Path(next(s["run_dir"] for s in line["steps"] if s["name"] == "deploy"))
    for path in (run_dir / "artifacts" / "run" / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        res = event.get("event_data", {}).get("res") or {}
        if event.get("event") == "runner_on_ok" and res.get("changed"):
            changed.append(event["event_data"].get("host"))
    assert changed == []
