"""The fault register: open, update, close, list; ids under a lock; times in the hospital's zone; the count against
5 a contract year and response times against 60 minutes / 2 hours; every change an audit record; no patient data."""

import json
import multiprocessing
import time

import pytest
from ansible.module_utils import followup_inspect_records as records

from followup_ops import cli

LEVELS = {
    "contract_year_start": "12-06",
    "faults_per_year": 5,
    "response_minutes": {"fault": 60, "issue": 120},
    "remote_fix_minutes": 60,
    "onsite_hours": 24,
}


def fault(inventory, *words):
    return cli.main(
        ["fault", *words[:1], "-i", str(inventory), *words[1:]] if words[0] in ("open", "list") else ["fault", *words]
    )


def open_fault(inventory, at="2026-03-01 09:00", **extra):
    words = [
        "open",
        "--host",
        "fep1",
        "--component",
        "interface",
        "--symptom",
        "接口服务无响应 no answer",
        "--impact",
        "HIS 数据未同步 HIS records wait",
        "--at",
        at,
    ]
    for key, value in extra.items():
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, value]
    return fault(inventory, *words)


def events(runs):
    return [json.loads(line) for line in (runs / "faults.jsonl").read_text().splitlines()]


def test_a_fault_goes_from_open_to_closed_with_local_times_stored_in_utc(runs, inventory, capsys):
    assert open_fault(inventory, service_down=True, severity="critical") == 0
    assert "F2026-001 opened" in capsys.readouterr().out
    assert fault(inventory, "update", "F2026-001", "--responded-at", "2026-03-01 09:45") == 0
    assert (
        fault(
            inventory,
            "close",
            "F2026-001",
            "--at",
            "2026-03-01T10:30:00+08:00",
            "--cause",
            "连接池耗尽 pool",
            "--fix",
            "重启 restarted",
        )
        == 0
    )
    log = events(runs)
    assert [e["event"] for e in log] == ["open", "update", "close"]
    assert log[0]["fields"]["opened_at"] == "2026-03-01T01:00:00Z", "09:00 in +08:00"
    assert log[1]["fields"] == {"responded_at": "2026-03-01T01:45:00Z"}
    state = records.fold_faults(log)["F2026-001"]
    assert state["state"] == "closed" and state["cause"] == "连接池耗尽 pool" and state["service_down"] is True
    metrics = records.fault_metrics(state, LEVELS)
    assert metrics == {
        "response_min": 45.0,
        "target_min": 60,
        "on_target": True,
        "duration_min": 90.0,
        "needs_onsite": True,
        "onsite_ok": False,
    }
    audit = [json.loads(line) for line in (runs / "audit.jsonl").read_text().splitlines()]
    assert [a["command"] for a in audit] == ["fault-open", "fault-update", "fault-close"]
    assert audit[0]["details"]["fault"] == "F2026-001" and audit[2]["details"]["event"] == "close"
    assert audit[0]["inventory"] == str(inventory)


def test_the_list_counts_faults_against_the_limit_and_responses_against_the_targets(runs, inventory, capsys):
    for i, at in enumerate(("2026-01-05 08:00", "2026-02-05 08:00", "2026-03-05 08:00")):
        assert open_fault(inventory, at=at, responded_at=at.replace("08:00", "08:30" if i else "10:00")) == 0
    assert open_fault(inventory, at="2026-03-06 08:00", kind="issue", responded_at="2026-03-06 09:59") == 0
    assert open_fault(inventory, at="2025-11-30 08:00", responded_at="2025-11-30 08:10") == 0  # the year before
    capsys.readouterr()
    assert fault(inventory, "list", "--year", "2025") == 0
    out = capsys.readouterr().out
    assert "合同年度 contract year 2025-12-06 – 2026-12-05: 故障 faults 3 / 5" in out
    assert "日常问题 issues 1" in out and "响应 response: 3 / 4 达标 on target" in out
    assert "120 min / 60 ✗ 超时" in out and "F2025-001" not in out
    assert fault(inventory, "list", "--year", "2025", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counted"] == 3 and data["limit"] == 5 and data["open"] == 4 and data["on_target"] == 3
    assert fault(inventory, "list", "--all", "--json") == 0
    assert json.loads(capsys.readouterr().out)["counted"] == 4


def test_six_faults_in_a_contract_year_are_over_the_limit(runs, inventory, capsys):
    for month in range(1, 7):
        assert open_fault(inventory, at=f"2026-{month:02d}-10 08:00") == 0
    capsys.readouterr()
    assert fault(inventory, "list", "--year", "2025") == 0
    out = capsys.readouterr().out
    assert "故障 faults 6 / 5" in out and "OVER THE LIMIT" in out and "6 件未记录响应时间" in out


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ["open", "--host", "app9", "--component", "app", "--symptom", "x", "--impact", "y"],
            "host 'app9' is not in inventory hospital: give one of app1, fep1, mysql1 or control-node",
        ),
        (
            ["open", "--host", "app1", "--component", "app", "--symptom", "13800138000 cannot log in", "--impact", "y"],
            "--symptom holds a run of 7 or more digits",
        ),
        (
            ["open", "--host", "app1", "--component", "app", "--symptom", "x", "--impact", "y", "--at", "yesterday"],
            "--at 'yesterday' is not a time: write YYYY-MM-DD HH:MM (the hospital's time, +08:00)",
        ),
        (
            [
                "open",
                "--host",
                "app1",
                "--component",
                "app",
                "--symptom",
                "x",
                "--impact",
                "y",
                "--at",
                "2999-01-01 00:00",
            ],
            "is in the future",
        ),
        (
            [
                "open",
                "--host",
                "app1",
                "--component",
                "app",
                "--symptom",
                "x",
                "--impact",
                "y",
                "--at",
                "2026-03-01 09:00",
                "--responded-at",
                "2026-03-01 08:00",
            ],
            "is before the fault was opened",
        ),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_registered(runs, inventory, capsys, words, message):
    assert fault(inventory, *words) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (runs / "faults.jsonl").exists() or not events(runs)


def test_closing_needs_cause_fix_and_a_response_and_a_closed_fault_stays_closed(runs, inventory, capsys):
    assert open_fault(inventory) == 0
    capsys.readouterr()
    assert fault(inventory, "close", "F2026-001", "--at", "2026-03-01 10:00") == 1
    assert "cannot be closed without --cause, --fix, --responded-at" in capsys.readouterr().err
    assert (
        fault(
            inventory,
            "close",
            "F2026-001",
            "--at",
            "2026-03-01 10:00",
            "--cause",
            "c",
            "--fix",
            "f",
            "--responded-at",
            "2026-03-01 09:10",
        )
        == 0
    )
    assert fault(inventory, "close", "F2026-001", "--cause", "c", "--fix", "f") == 1
    assert "already closed" in capsys.readouterr().err
    assert fault(inventory, "update", "F2026-001", "--note", "复盘完成 review done") == 0
    assert fault(inventory, "update", "F2026-009", "--note", "x") == 1
    assert fault(inventory, "update", "bogus", "--note", "x") == 1
    assert "is not a fault id" in capsys.readouterr().err
    assert fault(inventory, "update", "F2026-001") == 1
    assert "nothing to record" in capsys.readouterr().err


def _open_many(args):
    runs, inventory, n = args
    import os

    os.environ["FOLLOWUP_OPS_RUNS_DIR"] = runs
    codes = []
    for _ in range(n):
        codes.append(open_fault(inventory))
    return codes


def test_two_engineers_opening_at_once_never_get_the_same_id(runs, inventory):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        codes = pool.map(_open_many, [(str(runs), str(inventory), 5)] * 2)
    assert codes == [[0] * 5, [0] * 5]
    ids = [e["fault"] for e in events(runs) if e["event"] == "open"]
    assert sorted(ids) == [f"F2026-{i:03d}" for i in range(1, 11)]


def test_contract_years_and_a_damaged_line_in_the_register(runs, inventory, capsys):
    start, end, label = records.contract_year(records.parse_time("2026-12-05T15:59:00Z"), "12-06", "+08:00")
    assert label == "2025-12-06 – 2026-12-05" and records.iso(start) == "2025-12-05T16:00:00Z"
    assert records.contract_year(end, "12-06", "+08:00")[2] == "2026-12-06 – 2027-12-05"
    assert open_fault(inventory) == 0
    with open(runs / "faults.jsonl", "a") as handle:
        handle.write('{"fault": "F2026-0\n')
    assert open_fault(inventory) == 0
    capsys.readouterr()
    assert fault(inventory, "list", "--year", "2025") == 0
    captured = capsys.readouterr()
    assert "1 damaged line(s)" in captured.err and "F2026-002" in captured.out


def test_the_register_is_kept_per_inventory(runs, inventory, tmp_path, capsys):
    other = tmp_path / "inventories" / "lab"
    other.mkdir(parents=True)
    (other / "hosts.yml").write_text((inventory / "hosts.yml").read_text())
    assert open_fault(inventory) == 0 and open_fault(other) == 0
    capsys.readouterr()
    assert fault(inventory, "list", "--all", "--json") == 0
    assert [f["id"] for f in json.loads(capsys.readouterr().out)["faults"]] == ["F2026-001"]


def test_the_inventorys_service_levels_override_the_defaults(runs, inventory, capsys):
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "group_vars" / "all" / "inspection.yml").write_text(
        "followup_inspection_thresholds:\n  service_levels:\n"
        "    faults_per_year: 3\n    response_minutes: {fault: 30}\n"
    )
    assert open_fault(inventory, responded_at="2026-03-01 09:45") == 0
    capsys.readouterr()
    assert fault(inventory, "list", "--year", "2025") == 0
    out = capsys.readouterr().out
    assert "故障 faults 1 / 3" in out and "45 min / 30 ✗" in out
    (inventory / "group_vars" / "all" / "inspection.yml").write_text(
        "followup_inspection_thresholds:\n  service_levels:\n    faults_per_day: 3\n"
    )
    assert fault(inventory, "list") == 1
    assert "faults_per_day is not a setting" in capsys.readouterr().err


def test_time_of_a_fault_id_is_the_hospitals_year():
    assert records.next_fault_id([{"fault": "F2026-007"}, {"fault": "F2025-010"}], 2026) == "F2026-008"
    assert records.next_fault_id([], 2027) == "F2027-001"
    assert time.strftime("%Y", time.gmtime(records.local_midnight(2027, 1, 1, "+08:00"))) == "2026"
