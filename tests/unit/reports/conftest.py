"""Fixtures of the report commands' tests: a run directory of their own and a playbook step that hands back a
canned report instead of running Ansible (unit tests fake the connection; the lab runs the real thing)."""

import pytest

from followup_ops import operation
from followup_ops import report as reportmod
from followup_ops.runner import RunResult


@pytest.fixture
def runs(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(path))
    return path


@pytest.fixture
def inventory(tmp_path):
    inv = tmp_path / "inventories" / "hospital"
    inv.mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    followup:\n      children:\n        fep:\n          hosts:\n            fep1:\n"
        "              ansible_host: 192.0.2.11\n        app:\n          hosts:\n            app1:\n"
        "              ansible_host: 192.0.2.12\n    databases:\n      children:\n        mysql:\n          hosts:\n"
        "            mysql1:\n              ansible_host: 192.0.2.21\n"
    )
    return inv


@pytest.fixture
def playbooks(monkeypatch):
    """Replace Operation.playbook: each call gets the next canned report; the calls are recorded."""
    calls = []
    canned = []

    def fake(self, name, playbook, *, extravars=None, partial=False, **kwargs):
        calls.append({"name": name, "playbook": playbook, "extravars": dict(extravars or {}), "partial": partial})
        step = self._new_step(name, "playbook", playbook)
        part = canned.pop(0) if canned else {}
        result = RunResult(playbook=playbook, run_dir=self.run_dir, status="successful", report=part)
        reportmod.merge(self.report, part)
        self._judge(step, result, partial)
        return result

    monkeypatch.setattr(operation.Operation, "playbook", fake)
    return canned, calls
