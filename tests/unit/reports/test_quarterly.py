"""The quarterly operations report built from a hand-written fixture of recorded runs (fixtures/quarterly: audit log
with schema-1 and schema-2 lines of every command kind, run records, the fault register) reproduces its figures
exactly, in the data and in the PDF read back; a quarter without records says so and still renders."""

import json
import re
import shutil
from pathlib import Path

import pytest
from pagekit import flat_text, page_text
from renderkit import pdf_text

from followup_ops import cli
from followup_ops.commands import fault as faultcmd
from followup_ops.commands import report as reportcmd
from followup_ops.errors import OpsError

FIXTURE = Path(__file__).parent / "fixtures" / "quarterly"
NOW = 1799020800.0  # 2027-01-04T00:00:00Z: the quarter is over


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs)
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(runs))
    inv = tmp_path / "srv" / "inventories" / "production"
    inv.mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    app1:\n      ansible_host: 192.0.2.12\n")
    return runs, inv


def figures(runs, inv, quarter="2026Q4", now=NOW, plan=None):
    return reportcmd.build_quarterly(runs, inv, quarter, faultcmd.thresholds(inv), now=now, plan=plan)


def test_the_quarter_reproduces_every_figure_of_the_fixture(recorded):
    runs, inv = recorded
    d = figures(runs, inv)
    assert d["period"] == {
        "start": "2026-09-30T16:00:00Z",
        "end": "2026-12-31T16:00:00Z",
        "from": "2026-10-01",
        "to": "2026-12-31",
        "complete": True,
        "as_of": "2027-01-01 00:00",
    }
    assert d["records"] == {
        "total": 30,
        "by_command": {
            "backup": 5,
            "backup-drill": 3,
            "compliance": 5,
            "db-optimize": 1,
            "deploy": 2,
            "fault-open": 3,
            "inspect": 4,
            "migrate": 1,
            "restore": 1,
            "schema-doc": 1,
            "status": 2,
            "upgrade": 2,
        },
        "schema1": 3,
        "damaged_lines": 1,
        "any": True,
    }
    assert d["months"] == ["2026-10", "2026-11", "2026-12"]
    # availability: F2026-003 was down 01:00-03:00 (120 min) of 92 days; 3 of 5 readable samples all up
    assert d["availability"] == {
        "samples": 5,
        "samples_ok": 3,
        "sampled_percent": 60.0,
        "down_hosts": {"fep1": 1, "mysql1": 1},
        "unreadable": 1,
        "downtime_min": 120.0,
        "period_min": 132480.0,
        "percent": 99.909,
        "down_faults": ["F2026-003"],
    }
    versions = d["versions"]
    assert versions["as_of"] == "20261215T000000Z-inspect" and versions["samples"] == 3 and versions["breaches"] == 2
    assert [(c["host"], c["component"], c["version"], c["status"]) for c in versions["components"]] == [
        ("app1", "app", "1.2.0", "pass"),
        ("fep1", "fep", "1.2.0", "pass"),
    ]
    changes = d["changes"]
    assert (
        changes["upgrades"],
        changes["upgrades_ok"],
        changes["upgrades_approved"],
        changes["deploys"],
        changes["rolled_back"],
    ) == (2, 1, 2, 2, 1)
    assert [(r["command"], r["release"], r["approval"], r["outcome"]) for r in changes["rows"]] == [
        ("deploy", "1.0.0", None, "ok"),
        ("deploy", "1.1.0", None, "refused"),
        ("upgrade", "1.2.0", "APR-2026-006", "rolled_back"),
        ("upgrade", "1.2.0", "APR-2026-007", "ok"),
    ]
    assert changes["rows"][3]["approved_by"] == "it-dept-wang" and changes["rows"][3]["from"] == "1.0.0"
    b = d["backups"]
    assert (b["count"], b["ok"], b["failed"], b["bytes"], b["mb_per_s"]) == (4, 3, 1, 377487360, 41.7)
    assert b["newest"]["id"] == "B20261204-01" and b["per_month"] == [1, 1, 1]
    assert [(x["result"], x["backup_id"], x["duration_s"]) for x in b["drills"]] == [
        ("pass", "B20261003-01", 300.5),
        ("fail", "B20261103-01", 280.0),
    ]
    assert (b["drills_pass"], b["drills_fail"]) == (1, 1)
    assert [(r["backup_id"], r["outcome"]) for r in b["restores"]] == [("B20261103-01", "ok")]
    c = d["compliance"]
    assert [r["score"] for r in c["runs"]] == [85.0, 91.5, 95.0] and c["fixes"] == 1
    assert [(t["quarter"], t["score"]) for t in c["trend"]] == [
        ("2026Q1", None),
        ("2026Q2", 72.5),
        ("2026Q3", 80.0),
        ("2026Q4", 95.0),
    ]
    assert c["latest"]["score"] == 95.0 and c["change"] == 15.0
    f = d["faults"]
    assert [x["id"] for x in f["faults"]] == ["F2026-003", "F2026-004", "F2026-005"]
    assert (f["counted"], f["issues"], f["open"], f["responded"], f["on_target"]) == (2, 1, 1, 3, 2)
    assert [(x["response_min"], x["on_target"], x["duration_min"]) for x in f["faults"]] == [
        (40.0, True, 120.0),
        (90.0, False, 180.0),
        (60.0, True, None),
    ]
    assert f["faults"][0]["needs_onsite"] is True and f["faults"][0]["onsite_ok"] is True
    assert f["years"] == [
        {"label": "2025-12-06 – 2026-12-05", "counted": 4, "limit": 5, "over": False, "to_date": False},
        {"label": "2026-12-06 – 2027-12-05", "counted": 0, "limit": 5, "over": False, "to_date": True},
    ]
    assert f["open_at_end"] == ["F2026-005"] and f["per_month"] == [1, 1, 0] and f["downtime_min"] == 120.0
    i = d["inspections"]
    assert (i["count"], i["with_abnormal"], i["abnormal_items"], i["per_month"]) == (4, 2, 5, [1, 1, 2])
    assert i["top"] == [
        {"item": "services", "count": 2},
        {"item": "disk.space", "count": 1},
        {"item": "host.reach", "count": 1},
        {"item": "interface.backlog", "count": 1},
    ]
    assert i["newest_abnormal"] == []
    assert [(m["what"], m["source"], m["target"], m["outcome"]) for m in d["migrations"]["rows"]] == [
        ("mysql", "mysql1", "mysql2", "ok")
    ]
    assert d["risks"] == [
        "未关闭故障 1 件 open faults: F2026-005",
        "响应超时 1 件 responses later than the target",
        "备份失败 1 次 failed backups",
        "最近一次恢复演练未通过 the newest restore drill failed",
    ]
    assert len(d["plan"]) == 2
    assert d["maintenance"]["optimize"] == [
        {
            "id": "20261213T180500Z-db-optimize",
            "when": "2026-12-14 02:05",
            "window": "02:00-04:00",
            "done": 2,
            "proposals": 3,
            "outcome": "ok",
            "analyse_only": False,
        }
    ]
    assert [(x["kind"], x["release"]) for x in d["maintenance"]["schema_docs"]] == [("live", "1.2.0")]


def test_the_pdf_says_the_same_figures_with_a_cover_and_room_for_the_seal(recorded, tmp_path, capsys, monkeypatch):
    runs, inv = recorded
    monkeypatch.setattr(reportcmd.time, "time", lambda: NOW)
    plan = tmp_path / "plan.yml"
    plan.write_text("- 升级 MariaDB 到 10.11.20\n- {item: 接口文档更新 interface documentation, due: 2027-02-15}\n")
    out = tmp_path / "out"
    code = cli.main(
        [
            "report",
            "quarterly",
            "--quarter",
            "2026Q4",
            "-i",
            str(inv),
            "--out",
            str(out),
            "--plan",
            str(plan),
            "--company",
            "某某信息技术有限公司",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "quarterly report 2026Q4 (2026-10-01 – 2026-12-31): 30 records" in captured.out
    assert "availability 99.909%" in captured.out
    pages = pdf_text(out / "quarterly-2026Q4.pdf")
    text = flat_text(out / "quarterly-2026Q4.pdf")  # table cells wrap: compare without white space
    assert (
        "2026年第四季度运维报告" in pages[0].replace(" ", "")
        and "公司公章" in pages[0]
        and "某某信息技术有限公司" in pages[0]
    )
    for figure in (
        "99.909%",
        "3 / 5",
        "合同年度 2025-12-06 – 2026-12-05",
        "4 / 5",
        "APR-2026-007",
        "it-dept-wang",
        "F2026-003",
        "F2026-004",
        "F2026-005",
        "95.0%",
        "+15.0",
        "72.5%",
        "B20261204-01",
        "360.0 MiB",
        "41.7 MB/s",
        "mysql1 → mysql2",
        "升级 MariaDB 到 10.11.20",
        "计划 due 2027-02-15",
        "最近一次恢复演练未通过",
        "签字确认",
        "审核 Reviewed by",
        "数据库维护",
        "2026-12-14 02:05",
    ):
        assert re.sub(r"\s+", "", figure) in text, figure
    assert "实验室故障" not in text and "LAB-1" not in text, "another inventory's records stay out"
    seen = page_text(out / "quarterly-2026Q4.pdf", tmp_path, 1, 2)
    assert "运维报告" in seen and "季度" in seen, seen[:300]
    data = json.loads((out / "quarterly-2026Q4.json").read_text())
    assert data["availability"]["percent"] == 99.909
    record = json.loads(next(runs.glob("*-report-quarterly/operation.json")).read_text())
    assert record["details"]["quarter"] == "2026Q4" and record["details"]["availability"] == 99.909
    assert record["details"]["faults"] == 2 and record["details"]["compliance"] == 95.0


def test_a_quarter_without_records_says_so_plainly_and_still_renders(recorded, tmp_path, capsys, monkeypatch):
    runs, inv = recorded
    monkeypatch.setattr(reportcmd.time, "time", lambda: NOW)
    d = figures(runs, inv, "2025Q2")
    assert d["records"]["any"] is False and d["backups"]["count"] == 0 and d["availability"]["samples"] == 0
    assert d["availability"]["percent"] == 100.0
    assert "本季度没有成功备份的记录 no successful backup recorded this quarter" in d["risks"]
    out = tmp_path / "empty"
    assert cli.main(["report", "quarterly", "--quarter", "2025Q2", "-i", str(inv), "--out", str(out)]) == 0
    assert "no operation was recorded for this inventory in this quarter" in capsys.readouterr().out
    text = "".join(pdf_text(out / "quarterly-2025Q2.pdf"))
    for words in (
        "本季度没有任何运行记录",
        "本季度没有备份记录",
        "本季度没有恢复演练记录",
        "本季度没有升级记录",
        "本季度没有等保合规检查记录",
        "本季度没有巡检记录",
        "本季度没有迁移记录",
        "故障登记中没有记录",
        "本季度没有数据库优化记录",
        "本季度没有生成数据库表结构文档",
    ):
        assert words in text, words


def test_the_current_quarter_is_reported_as_of_now(recorded):
    runs, inv = recorded
    d = figures(runs, inv, "2026Q4", now=1795996800.0)  # 2026-11-30T00:00:00Z
    assert d["period"]["complete"] is False and d["period"]["as_of"] == "2026-11-30 08:00"
    assert d["availability"]["period_min"] == 86880.0  # 60 days and 8 hours: 2026-10-01 00:00 to 11-30 08:00
    with pytest.raises(OpsError, match="has not begun yet"):
        figures(runs, inv, "2027Q2", now=1795996800.0)


@pytest.mark.parametrize("quarter", ["2026Q5", "2026-Q4", "Q4", "", "2026q0"])
def test_a_bad_quarter_is_one_line_exit_1(recorded, capsys, quarter):
    _runs, inv = recorded
    assert cli.main(["report", "quarterly", "--quarter", quarter, "-i", str(inv)]) == 1
    err = capsys.readouterr().err
    assert "is not a quarter: write it like 2026Q4" in err and err.count("\n") == 1


def test_a_bad_plan_file_is_one_line(recorded, tmp_path, capsys):
    _runs, inv = recorded
    plan = tmp_path / "plan.yml"
    plan.write_text("item: not a list\n")
    assert cli.main(["report", "quarterly", "--quarter", "2026Q4", "-i", str(inv), "--plan", str(plan)]) == 1
    assert "must be a YAML list of work items" in capsys.readouterr().err


def test_no_patient_datum_of_the_records_reaches_the_report(recorded, tmp_path, monkeypatch):
    runs, inv = recorded
    monkeypatch.setattr(reportcmd.time, "time", lambda: NOW)
    # an operation's failure message may quote what a database said; the report never prints messages
    with open(runs / "audit.jsonl", "a") as handle:
        handle.write(
            json.dumps(
                {
                    "schema": 2,
                    "id": "20261230T000000Z-deploy",
                    "command": "deploy",
                    "ts": "2026-12-30T00:00:00Z",
                    "inventory": str(inv),
                    "outcome": "failed",
                    "message": "task failed: Duplicate entry '测试患者甲 13800138000'",
                    "details": {"release": "1.2.0"},
                }
            )
            + "\n"
        )
    out = tmp_path / "out"
    assert cli.main(["report", "quarterly", "--quarter", "2026Q4", "-i", str(inv), "--out", str(out)]) == 0
    for path in out.iterdir():
        body = path.read_bytes().decode("utf-8", "replace")
        assert "测试患者甲" not in body and "13800138000" not in body, path
    assert "测试患者甲" not in "".join(pdf_text(out / "quarterly-2026Q4.pdf"))
