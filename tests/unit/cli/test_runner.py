"""Progress events of a playbook run: what the run's result keeps, and the run record's environment."""

import io
import json
from pathlib import Path

from followup_ops import runner


def event(kind, pid=4242, **data):
    return {"event": kind, "pid": pid, "event_data": data}


def feed(events):
    result = runner.RunResult(playbook="site.yml", run_dir=Path("/tmp/run"))
    stream = io.StringIO()
    progress = runner.Progress(result, stream=stream)
    for e in events:
        assert progress(e) is True
    return result, stream.getvalue(), progress


def test_the_report_comes_from_the_stats_event_not_from_task_results():
    result, _, _ = feed(
        [
            event(
                "runner_on_failed", host="fep1", task="Refuse", res={"msg": "refused: x", "followup_gate": "release"}
            ),
            event(
                "playbook_on_stats",
                failures={"fep1": 1},
                artifact_data={"followup": {"gates": {"release": {"refused": ["release 9.9.9 is not in index.yml"]}}}},
            ),
        ]
    )
    assert result.stats_seen and result.stats["fep1"].failed == 1
    assert result.report == {"gates": {"release": {"refused": ["release 9.9.9 is not in index.yml"]}}}


def test_a_run_cut_short_has_no_report_and_says_so():
    result, _, _ = feed([event("runner_on_ok", host="app1", task="Copy", res={"changed": True})])
    assert not result.stats_seen and result.report == {} and result.hosts == ["app1"]
    assert result.last_task == {"app1": "Copy"}


def test_stats_are_counted_and_skips_not_printed():
    result, out, progress = feed(
        [
            event("playbook_on_play_start", play="Deploy the application server"),
            event("runner_on_ok", host="app1", task="Copy", res={"changed": True}),
            event("runner_on_skipped", host="app1", task="Skipped"),
            event("playbook_on_stats", ok={"app1": 5}, changed={"app1": 1}, skipped={"app1": 1}),
        ]
    )
    assert result.stats["app1"].ok == 5 and result.changed == 1 and result.stats["app1"].skipped == 1
    assert "== Deploy the application server" in out
    assert "changed     app1       Copy" in out and "Skipped" not in out
    assert progress.ansible_pid == 4242


def test_failures_and_unreachable_hosts_are_named_for_the_message():
    result, out, _ = feed(
        [
            event("runner_on_unreachable", host="mysql1", task="Reach", res={"msg": "No route to host\nmore"}),
            event("runner_on_failed", host="fep1", task="Write nginx.conf", res={"msg": "nginx -t failed\nline 2"}),
            event("runner_on_failed", host="app1", task="t", ignore_errors=True, res={"msg": "ignored"}),
        ]
    )
    assert result.unreachable == [("mysql1", "No route to host")]
    assert result.failures == [("fep1", "Write nginx.conf", "nginx -t failed")]
    assert "UNREACHABLE" in out and out.count("FAILED") == 1


def test_a_failed_loop_names_the_failed_item_and_a_hidden_failure_says_why():
    res = {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "V003 failed"}]}
    result, _, _ = feed(
        [
            event("runner_on_failed", host="app1", task="migrate", res=res),
            event("runner_on_failed", host="app1", task="env", res={"censored": "hidden"}),
        ]
    )
    assert result.failures[0][2] == "V003 failed"
    assert "hidden because it handles secrets (no_log)" in result.failures[1][2]


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
    assert json.loads(record.read_text())["env"] == {"PATH": "/bin", "ANSIBLE_CONFIG": "/x"}


def test_ansibles_own_error_is_found_when_no_task_ran(tmp_path):
    stdout = tmp_path / "artifacts" / "run" / "stdout"
    stdout.parent.mkdir(parents=True)
    stdout.write_text("[WARNING]: x\n[ERROR]: Decryption failed (no vault secrets were found that could decrypt)\n")
    assert runner.last_error_line(tmp_path).startswith("[ERROR]: Decryption failed")
    assert runner.last_error_line(tmp_path / "nowhere") is None
