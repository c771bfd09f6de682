"""`followup-ops migrate server`: refusals from the inventory (exit 2, no playbook run), the lock, phase order, the
migration's record with every phase, and the inventory diff with its notes. Playbook runs are replaced by results
built here; the inventory is the lab's."""

import json
from pathlib import Path

import pytest

from followup_ops import cli, operation, runner

HOSTS = [("app1", "10.89.50.12"), ("fep1", "10.89.50.11"), ("app2", "10.89.50.14")]


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path / "runs"))
    vault = tmp_path / "vault-password"
    vault.write_text("not used: the playbooks are faked\n")
    monkeypatch.setenv("FOLLOWUP_OPS_VAULT_PASSWORD_FILE", str(vault))
    monkeypatch.setattr(operation, "inventory_hosts", lambda inventory: HOSTS)
    return tmp_path / "runs"


def reported(phase, state_after=None, refused=(), **data):
    migration = {
        "id": "server-app-app1-app2-T",
        "kind": "server",
        "component": "app",
        "source_address": "10.89.50.12",
        "target_address": "10.89.50.14",
        "phases": {phase: data},
    }
    if state_after:
        migration["state_after"] = state_after
    return {"gates": {"migrate": {"refused": list(refused)}}, "data": {"migration": migration}}


@pytest.fixture
def playbooks(monkeypatch):
    queue, calls = [], []

    def fake(run_dir, playbook, inventory, **kwargs):
        calls.append((playbook, kwargs["extravars"]))
        report = queue.pop(0)
        failed = report.pop("failed", None)  # (host, task, message): the playbook failed there
        res = runner.RunResult(
            playbook=playbook,
            run_dir=run_dir,
            rc=2 if failed else 0,
            status="failed" if failed else "successful",
            report=report,
        )
        res.stats = {"app2": runner.HostStats(ok=3, changed=1, failed=1 if failed else 0)}
        res.stats_seen = True
        res.failures, res.unreachable = ([failed] if failed else []), []
        return res

    monkeypatch.setattr(runner, "run_playbook", fake)
    return queue, calls


def move(*words):
    return cli.main(["migrate", "server", "-i", "inventories/lab", "--component", "app", *words])


@pytest.mark.parametrize(
    "words, expected",
    [
        (["--to", "app9"], "the target app9 is not a host of the inventory lab: add it (in group spare)"),
        (["--to", "voice1"], "the target voice1 is in use: it is in inventory groups followup, voice"),
        (["--to", "app2", "--from", "mysql1"], "the source mysql1 is not in group app of the inventory lab"),
        (["--to", "app1", "--from", "app1"], "the target app1 is the source itself"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_runs_no_playbook(words, expected, playbooks, capsys, runs):
    code = move(*words)
    err = capsys.readouterr().err
    assert code == 2 and expected in err and playbooks[1] == []
    audit = [json.loads(x) for x in (runs / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["outcome"] == "refused"


def test_another_operation_holding_the_hosts_refuses_with_exit_2(playbooks, capsys):
    with operation.Operation("deploy", ["followup-ops", "deploy"], inventory="inventories/lab", changes_hosts=True):
        code = move("--to", "app2", "--phase", "prepare")
    err = capsys.readouterr().err
    assert code == 2 and "another operation holds the hosts" in err and playbooks[1] == []


def test_all_runs_plan_prepare_cutover_verify_in_order_and_records_every_phase(playbooks, capsys, runs):
    queue, calls = playbooks
    queue += [
        reported("plan", plan={"release": "1.0.0", "release_bytes": 1000, "data_bytes": 10}),
        reported("prepare", "prepared", release="1.0.0", copied_bytes=2048, checksum_equal=True, sha256="ab"),
        reported(
            "cutover",
            "cutover",
            downtime_s=0.0,
            requests=120,
            failures=0,
            failures_outside_switch=0,
            switch_s=3.2,
            serving="app2",
        ),
        reported("verify", None, passed=True, state="cutover", checks=[{"check": "health app2", "ok": True}]),
    ]
    assert move("--to", "app2", "--phase", "all") == 0
    assert [c[1]["server_move_phase"] for c in calls] == ["plan", "prepare", "cutover", "verify"]
    assert {c[0] for c in calls} == {"migrate_server.yml"}
    assert calls[0][1]["server_move_component"] == "app" and calls[0][1]["server_move_source"] == "app1"
    out = capsys.readouterr().out
    assert "downtime 0.0s (0 of 120 probe requests failed, 0 outside the 3.2s switch)" in out
    records = list((runs / "migrations").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["kind"] == "server" and record["what"] == "app" and record["state"] == "cutover"
    assert [p["phase"] for p in record["phases"]] == ["plan", "prepare", "cutover", "verify"]
    assert record["phases"][2]["data"]["downtime_s"] == 0.0
    audit = [json.loads(x) for x in (runs / "audit.jsonl").read_text().splitlines()][-1]
    assert audit["details"]["downtime_s"] == 0.0 and audit["details"]["verified"] is True


def test_the_cutover_writes_the_inventory_diff_with_the_notes_and_never_applies_it(playbooks, capsys, runs):
    queue, _ = playbooks
    hosts = Path("inventories/lab/hosts.yml")
    before = hosts.read_text()
    queue += [reported("plan", plan={}), reported("prepare", "prepared"), reported("cutover", "cutover", downtime_s=0)]
    assert move("--to", "app2", "--phase", "plan,prepare,cutover") == 0
    diff = next((runs / "migrations").glob("*.inventory.diff")).read_text()
    assert diff.startswith("# also outside the inventory:\n# the front-end servers (group fep)")
    assert "-        app2:\n" in diff and "+            app2:\n" in diff
    assert "+        app1:\n" in diff or "+            app1:\n" in diff
    assert hosts.read_text() == before
    assert "库存变更" in capsys.readouterr().out


def test_the_next_run_continues_the_open_migration(playbooks, runs):
    queue, calls = playbooks
    queue += [reported("plan", plan={}), reported("prepare", "prepared")]
    assert move("--to", "app2", "--phase", "plan,prepare") == 0
    queue += [reported("cutover", "cutover", downtime_s=0.1)]
    assert move("--to", "app2", "--phase", "cutover") == 0
    assert calls[0][1]["server_move_id"] == calls[2][1]["server_move_id"]
    record = json.loads(next((runs / "migrations").glob("*.json")).read_text())
    assert [p["phase"] for p in record["phases"]] == ["plan", "prepare", "cutover"]


def test_a_refusal_of_the_playbooks_gate_is_exit_2_and_recorded(playbooks, capsys, runs):
    queue, _ = playbooks
    queue += [reported("plan", refused=["the target app2 lacks disk: 1 KiB free under /opt"])]
    assert move("--to", "app2") == 2
    assert "lacks disk" in capsys.readouterr().err
    record = json.loads(next((runs / "migrations").glob("*.json")).read_text())
    assert record["phases"][0]["outcome"] == "refused"


def test_a_server_move_does_not_accept_a_databases_phase(capsys):
    assert move("--to", "app2", "--phase", "sync") == 1
    assert "unknown phase 'sync'" in capsys.readouterr().err


def failing(phase, message):
    report = reported(phase)
    report["failed"] = ("fep1", "switch | Reload nginx", message)
    return report


def test_a_cutover_that_fails_while_switching_is_rolled_back_at_once_exit_3(playbooks, capsys, runs):
    queue, calls = playbooks
    queue += [reported("plan", plan={}), reported("prepare", "prepared")]
    assert move("--to", "app2", "--phase", "plan,prepare") == 0
    queue += [failing("cutover", "nginx -t failed"), reported("rollback", "prepared", downtime_s=0.2)]
    assert move("--to", "app2", "--phase", "cutover") == 3
    err = capsys.readouterr()
    assert "rolling back to app1" in err.out and "rolled back: app1 serves again, app2 is stopped" in err.err
    assert [c[1]["server_move_phase"] for c in calls[2:]] == ["cutover", "rollback"]
    record = json.loads(next((runs / "migrations").glob("*.json")).read_text())
    assert [(p["phase"], p["outcome"]) for p in record["phases"][2:]] == [("cutover", "failed"), ("rollback", "ok")]
    assert record["phases"][-1]["undoes"] == "cutover" and record["state"] == "prepared"
    audit = [json.loads(x) for x in (runs / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["outcome"] == "rolled_back"


def test_a_cutover_that_failed_before_switching_says_the_source_still_serves(playbooks, capsys, runs):
    queue, calls = playbooks
    queue += [reported("prepare", "prepared")]
    assert move("--to", "app2", "--phase", "prepare") == 0
    queue += [
        failing("cutover", "app2 unhealthy"),
        reported("rollback", refused=["phase rollback cannot run while the migration is prepared"]),
    ]
    assert move("--to", "app2", "--phase", "cutover") == 1
    err = capsys.readouterr().err
    assert "cutover failed before it switched anything" in err and "app1 still serves" in err
    assert [c[1]["server_move_phase"] for c in calls[1:]] == ["cutover", "rollback"]


def test_a_rollback_failing_after_a_failed_cutover_names_the_split_and_the_command(playbooks, capsys, runs):
    queue, _ = playbooks
    queue += [reported("prepare", "prepared")]
    assert move("--to", "app2", "--phase", "prepare") == 0
    queue += [failing("cutover", "nginx -t failed"), failing("rollback", "app1 unreachable")]
    assert move("--to", "app2", "--phase", "cutover") == 1
    err = capsys.readouterr().err
    assert "the traffic may be split between app1 and app2" in err
    assert "followup-ops migrate server --component app --to app2 --phase rollback" in err
