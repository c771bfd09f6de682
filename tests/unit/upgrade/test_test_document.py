"""The rehearsal's measurement of unavailability (split by step) and the pre-upgrade test document (更新前测试文档):
rendered to HTML and PDF and read back (the PDF's text layer, and one page through OCR)."""

import datetime

import pytest
from renderkit import pdf_text, read_pdf

from followup_ops import render
from followup_ops.commands import rehearse
from followup_ops.errors import OpsError

T0 = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC).timestamp()


def iso(offset):
    return datetime.datetime.fromtimestamp(T0 + offset, datetime.UTC).isoformat().replace("+00:00", "Z")


STEPS = {"start": iso(0), "backup": iso(10), "migrate": iso(20), "switch_app": iso(30), "lift": iso(40)}


def samples(kinds):
    """One probe every 0.1 s from T0: KINDS maps (start, end) seconds to a kind; everything else is ok."""
    out = []
    for i in range(500):
        at = T0 + i * 0.1
        kind = next((k for (a, b), k in kinds.items() if a <= i * 0.1 < b), "ok")
        out.append((at, kind, 200 if kind == "ok" else 503, 5.0))
    return out


def test_failed_and_maintenance_seconds_are_split_by_step():
    measured = rehearse.unavailability(
        samples({(21, 25): "maintenance", (31, 31.5): "failed", (45, 45.3): "failed"}), STEPS, iso(50)
    )
    by_step = {r["step"]: r for r in measured["steps"]}
    assert by_step["migrate"]["maintenance_s"] == pytest.approx(4.0, abs=0.15)
    assert by_step["switch_app"]["failed_s"] == pytest.approx(0.5, abs=0.15)
    assert by_step["lift"]["failed_s"] == pytest.approx(0.3, abs=0.15)
    total = measured["total"]
    assert total["maintenance_s"] == pytest.approx(4.0, abs=0.15)
    assert total["outside_migrations_s"] == pytest.approx(0.8, abs=0.2)
    assert total["probes"] == 500 and total["failed"] == 8
    assert [r["step"] for r in measured["steps"]] == ["start", "backup", "migrate", "switch_app", "lift"]


def test_a_gap_in_probing_is_not_blamed_on_the_system():
    gap = [(T0, "failed", None, 1.0), (T0 + 30, "ok", 200, 1.0)]
    assert rehearse.unavailability(gap, STEPS)["total"]["failed_s"] == 1.0


def test_the_probe_only_asks_over_https():
    with pytest.raises(OpsError, match="HTTPS"):
        rehearse.Probe("http://10.89.50.11/")


CONTEXT = {
    "title": "更新前测试文档",
    "subtitle": "Pre-upgrade test document · 1.0.0 → 1.2.0",
    "meta": [("升级 Upgrade", "1.0.0 → 1.2.0"), ("结论 Result", "通过 pass")],
    "passed": True,
    "from_release": "1.0.0",
    "to_release": "1.2.0",
    "gates": {"approval": {"refused": []}, "precheck": {"refused": []}},
    "precheck": [
        {
            "host": "app1",
            "title": "可用内存 available memory",
            "status": "pass",
            "expected": ">= 256 MiB",
            "actual": "1.2 GiB",
        }
    ],
    "backups": [
        {"host": "mysql1", "engine": "mysql", "id": "mysql-mysql1-20261201T100010Z", "bytes": 123, "duration_s": 1.2}
    ],
    "migrations": [{"database": "cloud_followup", "script": "V002__add_task_status_code.sql", "ms": 341}],
    "steps": [{"label": "迁移 migrate", "started": "10:00:20", "seconds": 10.0, "failed_s": 0.0, "maintenance_s": 4.0}],
    "unavailability": {"probes": 500, "failed_s": 0.8, "maintenance_s": 4.0, "outside_migrations_s": 0.8},
    "freeze_s": 30.0,
    "total_s": 50.0,
    "rollback": {
        "rollback": {"reason": "health failed on fep1: rehearsal", "restored": []},
        "rolled_back": {
            "release": {"restored": "1.0.0"},
            "databases": {"restored": ["mysql-mysql1-x"], "verified": True, "reason": "restored from the backup"},
        },
        "rollback_health": {"version": "1.0.0"},
    },
    "health": {
        "version": "1.2.0",
        "read_status": 200,
        "call": {"call_id": "C1", "result": "answered", "sip_code": 200},
    },
    "signatures": ["测试人 Tester", "信息科审核 IT department"],
    "seal": False,
}


def test_the_test_document_says_what_was_tested_in_chinese_and_english(tmp_path):
    written = render.write("upgrade/test_document.html.j2", CONTEXT, tmp_path, "test-document")
    html = written["html"].read_text()
    for text in (
        "回滚测试",
        "The rollback tested",
        "V002__add_task_status_code.sql",
        "mysql-mysql1-20261201T100010Z",
        "C1 answered",
        "Writes were frozen for",
    ):
        assert text in html
    pages = "\n".join(pdf_text(written["pdf"]))
    assert "更新前测试文档" in pages and "1.0.0 → 1.2.0" in pages and "341" in pages
    assert len(written["pdf_sha256"]) == 64
    image, text = read_pdf(written["pdf"], tmp_path)[0]
    assert "测试" in text and image.exists()


def test_a_rehearsal_without_a_rollback_test_says_so(tmp_path):
    written = render.write("upgrade/test_document.html.j2", dict(CONTEXT, rollback=None), tmp_path, "t", pdf_too=False)
    assert "no rollback was tested" in written["html"].read_text()
