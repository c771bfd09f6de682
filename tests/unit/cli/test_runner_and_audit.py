"""Progress events, the errors a failed run turns into, the run record and the audit line."""

import io
import json
from pathlib import Path

import pytest

from followup_ops import audit, runner
from followup_ops.errors import EXIT_ERROR, EXIT_REFUSED, GateRefused, OpsError


def event(kind, **data):
    return {"event": kind, "event_data": data}


def feed(events, watch=()):
    result = runner.RunResult(command="deploy", run_dir=Path("/tmp/run"))
    stream = io.StringIO()
    progress = runner.Progress(result, stream=stream, watch=watch)
    for e in events:
        assert progress(e) is True
    return result, stream.getvalue()


def test_a_gate_refusal_becomes_exit_2_with_the_module_message():
    result, out = feed(
        [
            event("playbook_on_play_start", play="Verify the release before any host is touched"),
            event(
                "runner_on_failed",
                host="app",
                task="Verify release 9.9.9",
                res={"msg": "release 9.9.9 is not in index.yml (available: 1.0.0)", "followup_gate": "release"},
            ),
            event("playbook_on_stats", failures={"app": 1}),
        ]
    )
    assert "== Verify the release" in out and "FAILED" in out
    with pytest.raises(GateRefused) as caught:
        runner.raise_for_result(result)
    assert caught.value.exit_code == EXIT_REFUSED
    assert "no host was changed: release 9.9.9 is not in index.yml" in str(caught.value)


def test_an_unreachable_host_names_the_host_and_the_fix():
    result, _ = feed(
        [
            event("runner_on_unreachable", host="mysql", task="Reach the host", res={"msg": "No route to host\nmore"}),
            event("playbook_on_stats", dark={"mysql": 1}),
        ]
    )
    with pytest.raises(OpsError) as caught:
        runner.raise_for_result(result)
    assert caught.value.exit_code == EXIT_ERROR
    assert str(caught.value).startswith("host mysql is unreachable over SSH (No route to host)")
    assert "\n" not in str(caught.value)


def test_a_failed_task_names_the_task_and_host():
    result, _ = feed([event("runner_on_failed", host="fep", task="Write nginx.conf", res={"msg": "nginx -t failed"})])
    with pytest.raises(OpsError, match=r"task 'Write nginx.conf' failed on fep: nginx -t failed"):
        runner.raise_for_result(result)


def test_ignored_errors_do_not_count_as_failures():
    result, out = feed([event("runner_on_failed", host="a", task="t", ignore_errors=True, res={"msg": "x"})])
    assert result.failures == [] and "FAILED" not in out


def test_stats_and_watched_results_are_collected():
    result, out = feed(
        [
            event("runner_on_ok", host="app", task="Report", task_action="followup_status", res={"status": {"v": 1}}),
            event("runner_on_ok", host="app", task="Copy", task_action="ansible.builtin.copy", res={"changed": True}),
            event("runner_on_skipped", host="app", task="Skipped"),
            event("playbook_on_stats", ok={"app": 5}, changed={"app": 1}),
        ],
        watch=("followup_status",),
    )
    assert result.results == [("app", "followup_status", {"status": {"v": 1}})]
    assert result.stats["app"].ok == 5 and result.stats["app"].changed == 1 and result.changed == 1
    assert "changed     app        Copy" in out and "Skipped" not in out


def test_the_run_record_keeps_only_explanatory_environment(tmp_path):
    record = tmp_path / "artifacts" / "run" / "command"
    record.parent.mkdir(parents=True)
    record.write_text(
        json.dumps(
            {
                "command": ["ansible-playbook"],
                "env": {"PATH": "/bin", "MYSQL_PWD": "s3cret", "ANSIBLE_CONFIG": "/x", "ANSIBLE_VAULT_PASSWORD": "v"},
            }
        )
    )
    runner._scrub_command_record(tmp_path)
    env = json.loads(record.read_text())["env"]
    assert env == {"PATH": "/bin", "ANSIBLE_CONFIG": "/x"}


def test_audit_line_has_who_what_where_result(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("SUDO_USER", "zhang.gong")
    result = runner.RunResult(command="deploy", run_dir=tmp_path / "r", rc=0, status="successful", duration=12.34)
    result.stats = {"app": runner.HostStats(ok=3, changed=2)}
    line = audit.record(
        command="deploy",
        argv=["followup-ops", "deploy", "--password=hunter2", "--vault-password-file", "/k"],
        inventory="inventories/lab",
        result=result,
        started_at=audit.now(),
    )
    stored = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert stored == line
    assert line["user"] == "zhang.gong" and line["result"] == "ok" and line["hosts"] == ["app"]
    assert line["changed"] == {"app": 2} and line["duration_s"] == 12.3
    assert "hunter2" not in json.dumps(line) and "--vault-password-file" in line["argv"]


def test_audit_labels_refusals():
    result = runner.RunResult(command="deploy", run_dir=Path("/r"), rc=2, status="failed")
    result.gate = ("release", "x")
    assert audit.result_label(result) == "refused"


def test_a_failed_loop_names_the_failed_item_not_the_loop():
    res = {
        "msg": "One or more items failed",
        "results": [
            {"failed": False, "msg": "ok"},
            {"failed": True, "msg": "migration V003__x.sql failed at statement 2"},
        ],
    }
    result, _ = feed([event("runner_on_failed", host="app", task="migrate | Apply", res=res)])
    with pytest.raises(OpsError, match=r"failed on app: migration V003__x\.sql failed at statement 2"):
        runner.raise_for_result(result)


def test_a_hidden_failure_says_why_it_is_hidden():
    result, _ = feed([event("runner_on_failed", host="app", task="Write settings", res={"censored": "hidden"})])
    with pytest.raises(OpsError, match=r"output is hidden because it handles secrets \(no_log\)"):
        runner.raise_for_result(result)


def test_a_run_that_failed_before_any_task_shows_ansibles_error(tmp_path):
    stdout = tmp_path / "artifacts" / "run" / "stdout"
    stdout.parent.mkdir(parents=True)
    stdout.write_text("[WARNING]: x\n[ERROR]: Decryption failed (no vault secrets were found that could decrypt)\n")
    result = runner.RunResult(command="deploy", run_dir=tmp_path, rc=1, status="failed")
    with pytest.raises(OpsError, match=r"Ansible stopped before any task: \[ERROR\]: Decryption failed"):
        runner.raise_for_result(result)
