"""library/followup_upgrade_host.py on a scratch state directory and layout: the host lease, the record of the
approval used here, the steps reached, and the approval written into .release.json."""

import json
import time

import followup_upgrade_host as module
import pytest
from modulekit import run_module

HOLDER = {"command": "upgrade", "user": "zhangwei", "control_node": "cn1"}
APPROVAL = {"change_id": "CHG-1", "from_release": "1.0.0", "to_release": "1.2.0"}


@pytest.fixture
def host(tmp_path):
    base = tmp_path / "opt"
    for version in ("1.0.0", "1.2.0"):
        release = base / "app" / "releases" / version
        release.mkdir(parents=True)
        (release / ".release.json").write_text(json.dumps({"version": version, "sha256": "0" * 64}))
    (base / "app" / "current").symlink_to("releases/1.0.0")
    state = tmp_path / "state"

    def run(action, check_mode=False, **args):
        args = dict(action=action, state_dir=str(state), base_dir=str(base), **args)
        return run_module(module, args, check_mode=check_mode)

    return run, state, base


def begin(run, operation="op1", **over):
    args = dict(change_id="CHG-1", operation=operation, holder=HOLDER, approval=APPROVAL)
    args.update(over)
    return run("begin", **args)


def test_read_reports_what_runs_and_changes_nothing(host):
    run, state, _ = host
    result = run("read", change_id="CHG-1")
    assert result["components"]["app"]["current"] == "1.0.0"
    assert result["components"]["app"]["installed"] == ["1.0.0", "1.2.0"]
    assert result["lease"] is None and result["record"] is None and result["records"] == {}
    assert not result["changed"] and not state.exists()


def test_begin_takes_the_lease_and_records_the_approval_in_use(host):
    run, state, _ = host
    result = begin(run)
    assert result["changed"] and result["lease"]["operation"] == "op1"
    record = json.loads((state / "approvals" / "CHG-1.json").read_text())
    assert record["state"] == "in_progress" and record["control_node"] == "cn1"
    lease = json.loads((state / "lease.json").read_text())
    assert lease["expires_at"] > time.time() + 1700
    assert run("read")["records"]["CHG-1"]["operation"] == "op1"


def test_check_mode_writes_nothing(host):
    run, state, _ = host
    result = run("begin", check_mode=True, change_id="CHG-1", operation="op1", holder=HOLDER, approval=APPROVAL)
    assert result["changed"] and not state.exists()


def test_a_live_lease_of_another_operation_refuses_begin_unless_the_gate_judged_it_gone(host):
    run, _, _ = host
    begin(run, "op1")
    result = begin(run, "op2", change_id="CHG-2")
    assert result["failed"] and "another operation holds this host" in result["msg"]
    assert not begin(run, "op2", change_id="CHG-2", takeover=["op1"]).get("failed")


def test_an_approval_used_here_is_refused_and_a_resume_takes_over_its_record(host):
    run, _, _ = host
    begin(run, "op1")
    run("step", operation="op1", step="migrate", data={"migrate_started": True})
    result = begin(run, "op2", takeover=["op1"])
    assert result["failed"] and "already used here" in result["msg"]
    result = begin(run, "op2", takeover=["op1"], resume=True)
    assert not result.get("failed")
    assert result["record"]["resumes"] == "op1"
    assert result["upgrade"]["resumed_from"] == "op1" and "migrate" in result["upgrade"]["steps"]
    assert result["upgrade"]["data"]["migrate_started"] is True


def test_steps_renew_the_lease_and_finish_releases_it(host):
    run, state, _ = host
    begin(run, "op1")
    before = json.loads((state / "lease.json").read_text())["renewed_at"]
    time.sleep(0.01)
    run("step", operation="op1", step="backup", data={"backups": {"mysql1": {"mysql": "b1"}}})
    assert json.loads((state / "lease.json").read_text())["renewed_at"] > before
    result = run("finish", change_id="CHG-1", operation="op1", outcome="completed", data={"outcome": "completed"})
    assert result["record"]["state"] == "completed" and not (state / "lease.json").exists()
    assert json.loads((state / "upgrade.json").read_text())["data"]["backups"] == {"mysql1": {"mysql": "b1"}}


def test_a_step_without_the_lease_stops_the_upgrade(host):
    run, _, _ = host
    begin(run, "op1")
    result = run("step", operation="op2", step="backup")
    assert result["failed"] and "does not hold this host's lease" in result["msg"]


def test_the_approval_goes_into_the_installed_release_record(host):
    run, _, base = host
    approval = {"change_id": "CHG-1", "operation": "op1"}
    result = run("mark_release", operation="op1", version="1.2.0", approval=approval)
    assert result["marked"] == ["app"] and result["changed"]
    record = json.loads((base / "app" / "releases" / "1.2.0" / ".release.json").read_text())
    assert record["approval"] == approval and record["sha256"] == "0" * 64
    assert not run("mark_release", operation="op1", version="1.2.0", approval=approval)["changed"]


def test_bad_input_is_one_line(host):
    run, _, _ = host
    assert "change_id" in run("read", change_id="../x")["msg"]
    assert "step" in run("step", operation="op1", step="teleport")["msg"]
