"""The audit log when something went wrong before or while it is written.

A record cut short (the control node lost power, or the process was killed, in the middle of a write) must not take
the next operation's record with it; a log whose lock cannot be taken (ENOLCK on a network file system) is reported
in one line and never replaces the operation's outcome.
"""

import errno
import json

import pytest

from followup_ops import audit, operation
from followup_ops.errors import OpsError
from followup_ops.operation import Operation

HOSTS = [("app1", "10.89.50.12")]


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(operation, "inventory_hosts", lambda inventory: HOSTS)
    return tmp_path / "runs"


def test_a_record_cut_short_does_not_swallow_the_next_one(runs):
    runs.mkdir(parents=True)
    (runs / "audit.jsonl").write_text(json.dumps({"id": "A", "outcome": "ok"}) + "\n" + '{"id": "CUT", "outc')
    with Operation("deploy", ["followup-ops", "deploy"], inventory="inventories/lab") as op:
        pass
    assert [r["id"] for r in audit.read()] == ["A", op.id]
    assert (runs / "audit.jsonl").read_text().endswith("\n")


def test_appending_to_an_empty_log_writes_just_the_line(runs):
    audit.append({"id": "first"})
    assert (runs / "audit.jsonl").read_text() == '{"id": "first"}\n'


def test_a_log_that_cannot_be_locked_keeps_the_real_outcome(runs, monkeypatch, capsys):
    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(audit.fcntl, "flock", no_locks)
    with pytest.raises(OpsError) as caught, Operation("deploy", ["followup-ops", "deploy"]) as op:
        raise OpsError("task 't' failed on app1: boom")
    assert caught.value.exit_code == 1 and op.outcome == "failed"
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "audit log" in warning[0] and "No locks available" in warning[0]
