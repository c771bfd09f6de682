"""`followup-ops compliance`: bad input is one line and exit 1 before anything runs; a scan writes report.json,
junit.xml and report.html, records its score in the audit log and keeps a history the next run's trend reads; exit 4
when a counted control fails, 0 when every one passes. The playbook run is replaced by the report the real filters
make from evidence built here (the playbook itself runs in the Molecule scenario and the integration tests)."""

import json

import pytest
from evidencekit import accounts, evidence, user
from followup_djbh import FilterModule

from followup_ops import cli, operation, runner
from followup_ops.commands import compliance

F = FilterModule().filters()


@pytest.fixture
def inv(tmp_path, monkeypatch):
    path = tmp_path / "inv"
    path.mkdir()
    (path / "hosts.yml").write_text(
        "all:\n  children:\n    app:\n      hosts:\n        app1: {ansible_host: 10.0.0.12}\n"
    )
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(operation, "inventory_hosts", lambda inventory: [("app1", "10.0.0.12")])
    return path


def report_of(controls, postgres_shell="/bin/bash"):
    plan = F["followup_djbh_plan"](controls)
    params = F["followup_djbh_parameters"]({})
    data = evidence(
        {"/etc/login.defs": "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n"},
        accounts=accounts(user("root", 0, "/bin/bash"), user("postgres", 105, postgres_shell)),
    )
    findings = F["followup_djbh_evaluate"]({"evidence": data}, "app1", ["linux"], params, plan)
    hostvars = {"app1": {"__followup_djbh_findings": findings, "__followup_djbh_evidence": {"evidence": data}}}
    return F["followup_djbh_report"](hostvars, ["app1"], plan)


@pytest.fixture
def playbooks(monkeypatch):
    queue, calls = [], []

    def fake(run_dir, playbook, inventory, **kwargs):
        calls.append((playbook, kwargs))
        res = runner.RunResult(
            playbook=playbook, run_dir=run_dir, rc=0, status="successful", report=queue.pop(0) if queue else {}
        )
        res.stats = {"app1": runner.HostStats(ok=4)}
        res.stats_seen = True
        return res

    monkeypatch.setattr(runner, "run_playbook", fake)
    return queue, calls


def audit(tmp_path):
    return [json.loads(x) for x in (tmp_path / "runs" / "audit.jsonl").read_text().splitlines()]


def test_a_failing_scan_writes_the_reports_and_exits_4(inv, tmp_path, playbooks, capsys):
    queue, calls = playbooks
    queue.append(report_of("LNX-ACC-01,LNX-ACC-03,LNX-PWD-02"))
    out = tmp_path / "out"
    code = cli.main(
        ["compliance", "-i", str(inv), "--out", str(out), "--no-pdf", "--controls", "LNX-ACC-01,LNX-ACC-03,LNX-PWD-02"]
    )
    assert code == 4
    assert calls[0][0] == "compliance.yml"
    extravars = calls[0][1]["extravars"]
    assert extravars["followup_djbh_controls"] == "LNX-ACC-01,LNX-ACC-03,LNX-PWD-02"
    assert extravars["followup_djbh_evidence_dir"] == str(out / "evidence")
    doc = json.loads((out / "report.json").read_text())
    assert doc["summary"]["failing"] == 1 and doc["summary"]["score"] == 66.7
    assert {f["id"] for f in doc["findings"]} == {"app1/LNX-ACC-01", "app1/LNX-ACC-03", "app1/LNX-PWD-02"}
    assert set(doc["files"]) == {"junit.xml", "report.html"} and len(doc["files"]["junit.xml"]["sha256"]) == 64
    assert "<testcase" in (out / "junit.xml").read_text() and "等保" in (out / "report.html").read_text()
    record = audit(tmp_path)[-1]
    assert record["outcome"] == "noncompliant" and record["exit_code"] == 4
    assert record["details"]["compliance"]["score"] == 66.7 and record["details"]["controls"].startswith("LNX-ACC-01")
    assert str(out / "report.json") in record["files"]
    err = capsys.readouterr()
    assert "LNX-ACC-03" in err.out and "non-compliant: score 66.7%" in err.err
    history = list((out / "history").glob("*.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["statuses"]["app1/LNX-ACC-03"] == "fail"


def test_a_second_run_reads_the_first_as_its_trend_and_a_clean_scan_exits_0(inv, tmp_path, playbooks):
    queue, _calls = playbooks
    out = tmp_path / "out"
    queue.append(report_of("LNX-ACC-03"))
    assert cli.main(["compliance", "-i", str(inv), "--out", str(out), "--no-pdf", "--controls", "LNX-ACC-03"]) == 4
    queue.append(report_of("LNX-ACC-03", postgres_shell="/usr/sbin/nologin"))
    assert cli.main(["compliance", "-i", str(inv), "--out", str(out), "--no-pdf", "--controls", "LNX-ACC-03"]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["summary"]["compliant"] and doc["trend"]["fixed"] == ["app1/LNX-ACC-03"]
    assert [r["score"] for r in doc["trend"]["runs"]] == [0.0, 100.0]
    assert audit(tmp_path)[-1]["outcome"] == "ok"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--controls", "LNX-NOPE-01", "--out", "OUT"], "unknown control id LNX-NOPE-01"),
        (["--out", "OUT", "--waivers", "WAIVERS"], "expiry 'someday' is not a date YYYY-MM-DD"),
        (["--out", "FILE"], "is a file: give a directory"),
        ([], "compliance needs --out DIR"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_nothing_runs(inv, tmp_path, playbooks, capsys, argv, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "w.yml").write_text(
        "waivers:\n  - {control: LNX-ACC-09, host: '*', justification: j, approver: a, expiry: someday}\n"
    )
    argv = [
        {"OUT": str(tmp_path / "out"), "FILE": str(tmp_path / "file"), "WAIVERS": str(tmp_path / "w.yml")}.get(a, a)
        for a in argv
    ]
    assert cli.main(["compliance", "-i", str(inv), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert playbooks[1] == [] and not (tmp_path / "runs").exists()


def test_no_inventory_is_one_line(capsys):
    assert cli.main(["compliance", "--out", "/tmp/x"]) == 1
    assert "compliance needs -i INVENTORY" in capsys.readouterr().err


def test_a_playbook_that_reports_no_compliance_data_is_an_error(inv, tmp_path, playbooks, capsys):
    assert cli.main(["compliance", "-i", str(inv), "--out", str(tmp_path / "o"), "--no-pdf"]) == 1
    assert "reported no compliance data" in capsys.readouterr().err


def test_fix_runs_the_hardening_playbook_first_with_leases_then_rescans(inv, tmp_path, playbooks, monkeypatch):
    queue, calls = playbooks
    fake_root = tmp_path / "repo"
    (fake_root / "playbooks").mkdir(parents=True)
    monkeypatch.setattr(compliance, "repo_root", lambda: fake_root)
    assert cli.main(["compliance", "-i", str(inv), "--out", str(tmp_path / "o"), "--fix"]) == 1  # no hardening.yml
    assert calls == []
    (fake_root / "playbooks" / "hardening.yml").write_text("[]\n")
    queue.extend([{}, report_of("LNX-ACC-01")])
    code = cli.main(
        ["compliance", "-i", str(inv), "--out", str(tmp_path / "o"), "--no-pdf", "--fix", "--controls", "LNX-ACC-01"]
    )
    assert code == 0 and [c[0] for c in calls] == ["hardening.yml", "compliance.yml"]
    assert calls[0][1]["extravars"] == {
        "followup_djbh_controls": "LNX-ACC-01",
        "followup_operation_id": calls[0][1]["extravars"]["followup_operation_id"],
    }
    assert audit(tmp_path)[-1]["details"]["fix"] is True


def test_schedule_writes_a_timer_and_a_oneshot_service(inv, tmp_path, capsys):
    units = tmp_path / "units"
    code = cli.main(
        [
            "compliance",
            "schedule",
            "--install",
            "-i",
            str(inv),
            "--out",
            str(tmp_path / "reports"),
            "--on-calendar",
            "Mon *-*-* 03:00:00",
            "--unit-dir",
            str(units),
            "--no-enable",
        ]
    )
    assert code == 0
    service = (units / "followup-compliance.service").read_text()
    timer = (units / "followup-compliance.timer").read_text()
    assert "Type=oneshot" in service and "SuccessExitStatus=4" in service
    assert f"compliance -i {inv} --out {tmp_path / 'reports'}" in service
    assert "OnCalendar=Mon *-*-* 03:00:00" in timer and "Persistent=true" in timer
    assert oct((units / "followup-compliance.timer").stat().st_mode & 0o777) == "0o644"
    assert cli.main(["compliance", "schedule", "--remove", "--unit-dir", str(units), "--no-enable"]) == 0
    assert not list(units.iterdir())


def test_schedule_refuses_a_bad_calendar_and_show_writes_nothing(inv, tmp_path, capsys):
    assert (
        cli.main(
            [
                "compliance",
                "schedule",
                "--show",
                "-i",
                str(inv),
                "--out",
                str(tmp_path / "r"),
                "--on-calendar",
                "every tuesday-ish",
            ]
        )
        == 1
    )
    assert "--on-calendar 'every tuesday-ish'" in capsys.readouterr().err
    assert cli.main(["compliance", "schedule", "--show", "-i", str(inv), "--out", str(tmp_path / "r")]) == 0
    assert "[Timer]" in capsys.readouterr().out and not (tmp_path / "r").exists()


def test_validate_names_the_host_with_a_bad_parameter(inv, capsys):
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "app1.yml").write_text("followup_djbh_host_parameters: {lockout_deny: 50}\n")
    assert cli.main(["compliance", "validate", "-i", str(inv)]) == 1
    err = capsys.readouterr().err
    assert "inv/app1: followup_djbh_host_parameters: parameter lockout_deny = 50 is above its maximum 10" in err
    (inv / "host_vars" / "app1.yml").write_text("followup_djbh_host_parameters: {lockout_deny: 3}\n")
    assert cli.main(["compliance", "validate", "-i", str(inv)]) == 0
    assert "parameters of 1 hosts valid" in capsys.readouterr().out
