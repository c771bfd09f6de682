"""The operation core: one run directory, one audit record, outcomes and exit codes, leases, interrupts.

Playbook runs are replaced by results built here (the mechanics of ansible-runner are tested in test_runner.py and,
for real, by the integration tests); everything else — leases, records, the audit log — is real.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from followup_ops import audit, lock, operation, runner
from followup_ops.errors import OpsError
from followup_ops.operation import Operation, Refused

HOSTS = [("app1", "10.89.50.12"), ("fep1", "10.89.50.11")]


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(operation, "inventory_hosts", lambda inventory: HOSTS)
    return tmp_path / "runs"


def result(run_dir, *, status="successful", rc=0, report=None, stats=None, failures=(), unreachable=(), **kw):
    res = runner.RunResult(playbook="x.yml", run_dir=run_dir, rc=rc, status=status, report=report or {}, **kw)
    res.stats = stats or {"app1": runner.HostStats(ok=3, changed=1)}
    res.stats_seen = True
    res.failures = list(failures)
    res.unreachable = list(unreachable)
    return res


@pytest.fixture
def playbooks(monkeypatch):
    """Queue the results the next playbook runs return; record what was asked."""
    queue, calls = [], []

    def fake(run_dir, playbook, inventory, **kwargs):
        calls.append((playbook, kwargs))
        make = queue.pop(0)
        return make(run_dir)

    monkeypatch.setattr(runner, "run_playbook", fake)
    return queue, calls


def audit_lines(runs):
    return [json.loads(x) for x in (runs / "audit.jsonl").read_text().splitlines()]


def op(**kw):
    kw.setdefault("inventory", "inventories/lab")
    return Operation("deploy", ["followup-ops", "deploy", "--release", "1.0.0"], **kw)


def test_two_playbooks_make_one_operation_one_record_and_one_audit_line(playbooks, runs):
    queue, calls = playbooks
    queue += [lambda d: result(d), lambda d: result(d, stats={"fep1": runner.HostStats(changed=2)})]
    with op(changes_hosts=True, details={"release": "1.0.0"}) as o:
        o.playbook("deploy", "site.yml", extravars={"followup_release_version": "1.0.0"})
        o.playbook("verify", "status.yml")
    assert o.exit_code == 0 and o.outcome == "ok"
    lines = audit_lines(runs)
    assert len(lines) == 1
    line = lines[0]
    assert line["outcome"] == "ok" and line["exit_code"] == 0 and line["details"] == {"release": "1.0.0"}
    assert [s["name"] for s in line["steps"]] == ["lock", "deploy", "verify"]
    assert line["changed"] == {"app1": 1, "fep1": 2} and line["hosts"] == ["app1", "fep1"]
    assert calls[0][1]["extravars"] == {"followup_release_version": "1.0.0", "followup_operation_id": o.id}
    record = json.loads((o.run_dir / "operation.json").read_text())
    assert record["state"] == "finished" and record["id"] == o.id
    assert [s.get("run_dir") for s in line["steps"]] == [
        None,
        str(o.run_dir / "02-deploy"),
        str(o.run_dir / "03-verify"),
    ]
    assert not list((runs / "locks").glob("host-*.json")), "leases are released"


def test_a_gate_refusal_is_exit_2_listing_every_reason(playbooks, runs):
    queue, _ = playbooks
    report = {
        "gates": {
            "release": {"refused": ["release 9.9.9 is not in index.yml (available: 1.0.0)"]},
            "secrets": {"refused": ["vault_mysql_app_password is still a placeholder", ""]},
        }
    }
    queue.append(lambda d: result(d, status="failed", rc=2, report=report))
    with pytest.raises(Refused) as caught, op(changes_hosts=True) as o:
        o.playbook("deploy", "site.yml")
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert message.startswith("refused, no host was changed, for these reasons:")
    assert "release: release 9.9.9 is not in index.yml" in message and "secrets: vault_mysql_app_password" in message
    line = audit_lines(runs)[-1]
    assert line["outcome"] == "refused" and line["exit_code"] == 2
    assert [r["gate"] for r in line["refused"]] == ["release", "secrets"]


def test_a_failed_task_is_exit_1_naming_task_and_host(playbooks, runs):
    queue, _ = playbooks
    queue.append(lambda d: result(d, status="failed", rc=2, failures=[("fep1", "Write nginx.conf", "nginx -t")]))
    with pytest.raises(OpsError) as caught, op(changes_hosts=True) as o:
        o.playbook("deploy", "site.yml")
    assert caught.value.exit_code == 1
    assert "task 'Write nginx.conf' failed on fep1: nginx -t" in str(caught.value)
    line = audit_lines(runs)[-1]
    assert line["outcome"] == "failed" and line["failed_hosts"] == ["fep1"]


def test_an_unreachable_host_names_the_host_and_the_fix(playbooks, runs):
    queue, _ = playbooks
    queue.append(lambda d: result(d, status="failed", rc=4, unreachable=[("voice1", "No route to host")]))
    match = r"host voice1 is unreachable over SSH \(No route to host\).*lab status"
    with pytest.raises(OpsError, match=match), op(changes_hosts=True) as o:
        o.playbook("deploy", "site.yml")


def test_a_rollback_reported_by_the_playbook_is_exit_3(playbooks, runs):
    queue, _ = playbooks
    report = {"rolled_back": {"release": {"restored": "1.0.0", "reason": "health check failed"}}}
    queue.append(lambda d: result(d, status="failed", rc=2, report=report, failures=[("app1", "Health", "503")]))
    with pytest.raises(operation.RolledBack) as caught, op(changes_hosts=True) as o:
        o.playbook("upgrade", "upgrade.yml")
    assert caught.value.exit_code == 3 and "failed and rolled back (release)" in str(caught.value)
    line = audit_lines(runs)[-1]
    assert line["outcome"] == "rolled_back" and line["rolled_back"]["release"]["restored"] == "1.0.0"


def test_partial_read_only_steps_keep_failed_hosts_as_findings(playbooks):
    queue, _ = playbooks
    queue.append(lambda d: result(d, status="failed", rc=4, unreachable=[("voice1", "down")]))
    with op() as o:
        o.playbook("status", "status.yml", partial=True)
    assert o.exit_code == 0 and o.failed_hosts == {"voice1"} and o.steps[0].status == "partial"


def test_an_interrupted_playbook_is_recorded_as_interrupted_with_the_state_of_the_hosts(playbooks, runs):
    queue, _ = playbooks
    queue.append(lambda d: result(d, status="canceled", rc=254, interrupted=True, last_task={"app1": "Switch current"}))
    with pytest.raises(operation.Interrupted) as caught, op(changes_hosts=True, interrupt_hint="run it again") as o:
        o.playbook("deploy", "site.yml")
    message = str(caught.value)
    assert caught.value.exit_code == 130
    assert "interrupted during step 'deploy'" in message and "may be partly changed" in message
    assert "app1: 'Switch current'" in message and "run it again" in message
    line = audit_lines(runs)[-1]
    assert line["outcome"] == "interrupted" and line["exit_code"] == 130
    assert line["steps"][-1]["status"] == "interrupted"


def test_ctrl_c_outside_a_playbook_is_interrupted_too(runs):
    with pytest.raises(operation.Interrupted) as caught, op() as o, o.local("render"):
        raise KeyboardInterrupt
    assert "nothing was changed: this operation only reads" in str(caught.value)
    assert audit_lines(runs)[-1]["outcome"] == "interrupted"


def test_a_report_outside_the_schema_is_an_error_naming_the_key(playbooks):
    queue, _ = playbooks
    queue.append(lambda d: result(d, report={"verdict": {"x": 1}}))
    with pytest.raises(OpsError, match=r"followup\.verdict is not one of gates, findings"), op() as o:
        o.playbook("status", "status.yml")


def test_an_audit_log_that_cannot_be_written_keeps_the_real_outcome(playbooks, runs, capsys):
    queue, _ = playbooks
    queue.append(lambda d: result(d, status="failed", rc=2, failures=[("fep1", "t", "boom")]))
    runs.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/full", runs / "audit.jsonl")  # every write fails with ENOSPC, like a full disk
    with pytest.raises(OpsError) as caught, op(changes_hosts=True) as o:
        o.playbook("deploy", "site.yml")
    assert caught.value.exit_code == 1 and "task 't' failed on fep1: boom" in str(caught.value)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "audit log" in warning[0] and "No space left on device" in warning[0]
    assert "outcome below is unchanged" in warning[0]


def test_a_second_operation_on_the_same_hosts_is_refused_naming_the_holder(runs):
    with op(changes_hosts=True) as first, pytest.raises(Refused) as caught, op(changes_hosts=True):
        pass
    message = str(caught.value)
    assert caught.value.exit_code == 2 and f"deploy ({first.id})" in message and f"pid {os.getpid()}" in message
    lines = audit_lines(runs)
    assert [x["outcome"] for x in lines] == ["refused", "ok"]


def test_read_only_and_check_runs_take_no_lease(runs):
    with op(changes_hosts=True) as first, op() as reader, op(changes_hosts=True, check=True) as dry:
        pass
    assert first.exit_code == reader.exit_code == dry.exit_code == 0


def test_a_lease_whose_holder_died_is_taken_over_and_the_dead_operation_recorded(runs):
    code = (
        "import os, sys; sys.path.insert(0, 'src');"
        "from followup_ops import lock;"
        "l = lock.Leases(sys.argv[1], ['10.89.50.12'], {'operation': 'DEAD-OP', 'command': 'deploy',"
        " 'user': 'li', 'control_node': __import__('socket').gethostname()}); l.acquire(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(runs / "locks")], check=True, cwd=os.getcwd())
    (runs / "DEAD-OP").mkdir(parents=True)
    (runs / "DEAD-OP" / "operation.json").write_text(json.dumps({"id": "DEAD-OP", "state": "running"}))
    with op(changes_hosts=True) as o:
        pass
    outcomes = [(x["id"], x["outcome"]) for x in audit_lines(runs)]
    assert outcomes == [("DEAD-OP", "abandoned"), (o.id, "ok")]
    assert "found by " + o.id in audit_lines(runs)[0]["message"]


def test_an_expired_lease_of_another_control_node_is_taken_over(runs, monkeypatch):
    leases = lock.Leases(runs / "locks", ["10.89.50.11"], {"operation": "OTHER", "control_node": "elsewhere"})
    leases.acquire()
    leases._stop.set()
    with pytest.raises(Refused, match="elsewhere"), op(changes_hosts=True):
        pass
    monkeypatch.setattr(time, "time", lambda: 10**10)
    with op(changes_hosts=True) as o:
        pass
    assert o.exit_code == 0


def test_run_directories_started_in_the_same_second_are_distinct(runs):
    paths = {operation.new_operation_dir("deploy") for _ in range(5)}
    assert len(paths) == 5 and all(p.is_dir() for p in paths)


def test_sigterm_ends_an_operation_as_an_interrupt(runs):
    with pytest.raises(operation.Interrupted), op() as o:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    assert o.outcome == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_audit_record_hides_secret_arguments(runs):
    with Operation("x", ["followup-ops", "x", "--password=hunter2", "--token", "t0k", "--vault-password-file", "/k"]):
        pass
    line = audit_lines(runs)[-1]
    assert "hunter2" not in json.dumps(line) and "t0k" not in json.dumps(line)
    assert "--vault-password-file" in line["argv"] and "/k" in line["argv"]
    assert line["user"] == audit.operator()


def test_a_lease_lives_while_the_ansible_process_it_started_lives(runs):
    """followup-ops killed, its ansible-playbook (own session) still changing hosts: the hosts stay taken."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        code = (
            "import os, sys; sys.path.insert(0, 'src');"
            "from followup_ops import lock;"
            "l = lock.Leases(sys.argv[1], ['10.89.50.12'], {'operation': 'KILLED', 'command': 'deploy',"
            " 'user': 'li', 'control_node': __import__('socket').gethostname()}); l.acquire();"
            " l.add_child(int(sys.argv[2])); os._exit(0)"
        )
        subprocess.run([sys.executable, "-c", code, str(runs / "locks"), str(child.pid)], check=True)
        with pytest.raises(Refused, match="KILLED"), op(changes_hosts=True):
            pass
    finally:
        child.kill()
        child.wait()
    with op(changes_hosts=True) as o:
        pass
    assert o.exit_code == 0


def test_a_holder_that_exited_but_was_not_reaped_is_dead(runs):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited; not waited for: a zombie
    assert lock._process_state(zombie.pid) == "Z"
    assert not lock._running(zombie.pid, None)
    zombie.wait()


def test_the_refusal_for_held_hosts_is_recorded_as_the_lock_gate(runs):
    with op(changes_hosts=True), pytest.raises(Refused), op(changes_hosts=True):
        pass
    refused = next(x for x in audit_lines(runs) if x["outcome"] == "refused")
    assert (
        refused["refused"][0]["gate"] == "lock"
        and "another operation holds the hosts" in refused["refused"][0]["reason"]
    )
