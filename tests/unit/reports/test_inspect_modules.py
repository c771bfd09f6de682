"""The inspection's three modules run in-process: history (the control node's records), facts (a faked host),
report (the judgement handed to set_stats)."""

import json

import followup_inspect_facts
import followup_inspect_history
import followup_inspect_report
from inspectkit import INDEX, NOW, ROOT, THRESHOLDS, healthy_results
from modulekit import run_module

THRESHOLDS_FILE = str(ROOT / "inspection" / "thresholds.yml")


def write_runs(runs, inventory, lines, operations=None):
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / "audit.jsonl", "w") as handle:
        for line in lines:
            handle.write(json.dumps(dict({"inventory": inventory}, **line)) + "\n")
    for rid, report in (operations or {}).items():
        (runs / rid).mkdir()
        (runs / rid / "operation.json").write_text(json.dumps({"id": rid, "report": report}))


def test_history_reads_thresholds_previous_samples_cursor_and_the_evidence(tmp_path):
    inv = "/srv/followup-ops/inventories/production"
    sample = {"at": "2026-11-30T23:40:00Z", "journal_cursor": "s=1;i=9", "mounts": {"/": {"used": 1, "avail": 2}}}
    write_runs(
        tmp_path / "runs",
        inv,
        [
            {
                "schema": 2,
                "id": "20261130T234000Z-inspect",
                "command": "inspect",
                "ts": "2026-11-30T23:40:00Z",
                "outcome": "noncompliant",
            },
            {
                "schema": 2,
                "id": "20261201T180000Z-backup",
                "command": "backup",
                "ts": "2026-12-01T18:00:00Z",
                "ended": "2026-12-01T18:05:00Z",
                "outcome": "ok",
                "details": {"backup_id": "B20261201T180000Z", "bytes": 1048576, "mb_per_s": 41.5},
            },
            {
                "schema": 2,
                "id": "20261201T190000Z-backup",
                "command": "backup",
                "ts": "2026-12-01T19:00:00Z",
                "outcome": "failed",
                "details": {},
            },
            {
                "schema": 2,
                "id": "x-compliance",
                "command": "compliance",
                "ts": "2026-11-29T01:00:00Z",
                "outcome": "noncompliant",
                "details": {"score": 88.5},
            },
            {
                "schema": 2,
                "id": "y-backup",
                "command": "backup",
                "ts": "2026-12-01T20:00:00Z",
                "outcome": "ok",
                "inventory": "/srv/other/inventories/lab",
                "details": {"backup_id": "LAB"},
            },
        ],
        {"20261130T234000Z-inspect": {"data": {"inspection": {"hosts": {"app1": {"sample": sample}}}}}},
    )
    result = run_module(
        followup_inspect_history,
        {"runs_dir": str(tmp_path / "runs"), "inventory": inv, "thresholds_file": THRESHOLDS_FILE},
    )
    assert not result.get("failed"), result
    assert result["thresholds"]["items"]["disk.space"]["warn"] == 80
    assert result["history"] == {"app1": [sample]}
    assert result["journal"] == {"app1": {"cursor": "s=1;i=9", "since": "2026-11-30T23:40:00Z"}}
    ev = result["evidence"]
    assert ev["records"] is True and ev["backup"]["id"] == "B20261201T180000Z" and ev["backup"]["mb_per_s"] == 41.5
    assert ev["backup"]["at"] == "2026-12-01T18:05:00Z", "the failed backup and the other inventory's do not count"
    assert ev["compliance"]["score"] == 88.5 and ev["drill"] is None and ev["faults"] == {"open": []}


def test_history_without_run_records_says_so_and_a_broken_thresholds_file_is_one_line(tmp_path):
    result = run_module(
        followup_inspect_history,
        {"runs_dir": str(tmp_path / "none"), "inventory": "lab", "thresholds_file": THRESHOLDS_FILE},
    )
    assert result["evidence"]["records"] is False and result["history"] == {}
    bad = tmp_path / "t.yml"
    bad.write_text(
        "schema: 1\ntimezone: '+08:00'\nitems:\n  disk.space: {warn: 95, crit: 90, direction: above, "
        "title_zh: x, title_en: x, scope: system}\n"
    )
    result = run_module(
        followup_inspect_history, {"runs_dir": str(tmp_path), "inventory": "lab", "thresholds_file": str(bad)}
    )
    assert result["failed"] and "warn 95 must be at most crit 90" in result["msg"] and str(bad) in result["msg"]


def test_report_module_judges_and_marks_a_host_without_a_result_unreachable():
    results = healthy_results()
    del results["mysql1"]
    args = {
        "targets": ["app1", "fep1", "mongo1", "mysql1"],
        "results": [*results.values(), {"host": "ghost", "unreachable": True}],
        "evidence": {"records": False},
        "index": INDEX,
        "thresholds": THRESHOLDS,
        "inventory_groups": {"mysql": ["mysql1"], "databases": ["mysql1", "mongo1"]},
        "now": NOW,
    }
    result = run_module(followup_inspect_report, args)
    findings = result["report"]["findings"]
    assert findings["mysql1/host.reach"]["status"] == "fail"
    assert findings["mysql1/mysql.connections"]["status"] == "error", "its group's items are due, not checked"
    assert result["level"] == "fail" and result["changed"] is False
    assert result["report"]["data"]["inspection"]["hosts"]["app1"]["level"] == "pass"


def test_facts_module_reads_the_host_and_merges_the_hosts_overrides(tmp_path, monkeypatch):
    facts = tmp_path / "facts.d"
    facts.mkdir()
    (facts / "followup_fep.fact").write_text(json.dumps({"services": ["nginx"], "tls_certificate": "/etc/x.crt"}))
    (facts / "followup_component_fep.fact").write_text(json.dumps({"component": "fep", "listen": "127.0.0.1:8081"}))
    (facts / "broken.fact").write_text("{not json")
    hostmod = followup_inspect_facts.hostmod
    monkeypatch.setattr(hostmod, "cpu_percent", lambda seconds: 7.5)
    monkeypatch.setattr(hostmod, "mounts", lambda: [])
    seen = {}

    def journal(**kwargs):
        seen["journal"] = kwargs
        return {"count": 0, "by_unit": {}, "lines": [], "cursor": kwargs["cursor"], "since": {}, "error": None}

    monkeypatch.setattr(hostmod, "journal_errors", journal)
    monkeypatch.setattr(hostmod, "certificate", lambda path: {"path": path, "days_left": 100.0, "error": None})
    monkeypatch.setattr(hostmod, "timesync", lambda: {"synchronized": True, "offset_ms": 1.0})
    monkeypatch.setattr(
        hostmod, "interface_state", lambda listen, path, timeout: {"backlog": 5, "listen": listen, "path": path}
    )
    result = run_module(
        followup_inspect_facts,
        {
            "host": "fep1",
            "facts_dir": str(facts),
            "journal": {"fep1": {"cursor": "s=7", "since": "2026-11-30T23:40:00Z"}, "app1": {"cursor": "s=other"}},
            "thresholds": THRESHOLDS,
            "overrides": {
                "interface.last_exchange": {"stats_path": "/api/v2/stats"},
                "cert.expiry": {"paths": ["/etc/y.crt"]},
            },
            "cpu_sample_seconds": 0,
        },
    )
    assert not result.get("failed"), result
    inspection = result["inspection"]
    assert seen["journal"]["cursor"] == "s=7" and seen["journal"]["since_epoch"] == 1796082000
    assert inspection["system"]["cpu_percent"] == 7.5
    assert inspection["interface"] == {"backlog": 5, "listen": "127.0.0.1:8081", "path": "/api/v2/stats"}
    assert [(c["path"], c["source"]) for c in inspection["certificates"]] == [
        ("/etc/x.crt", "followup_fep"),
        ("/etc/y.crt", "thresholds cert.expiry.paths"),
    ]
    assert inspection["thresholds"]["items"]["interface.last_exchange"]["stats_path"] == "/api/v2/stats"
    assert inspection["problems"] and "broken.fact" in inspection["problems"][0]
    assert inspection["mysql"] is None and inspection["mongodb"] is None and result["changed"] is False


def test_facts_module_refuses_a_bad_override_in_one_line(tmp_path):
    result = run_module(
        followup_inspect_facts,
        {
            "host": "fep1",
            "facts_dir": str(tmp_path),
            "thresholds": THRESHOLDS,
            "overrides": {"disk.spaces": {"warn": 1}},
        },
    )
    assert result["failed"] and result["msg"].startswith("followup_inspection_thresholds of fep1: disk.spaces")


def test_facts_module_does_not_ask_mongodb_without_the_read_only_account(tmp_path, monkeypatch):
    facts = tmp_path / "facts.d"
    facts.mkdir()
    (facts / "mongodb.fact").write_text(
        json.dumps({"engine": "ferretdb", "port": 27017, "users": {"backup": "cdr_backup"}})
    )
    hostmod = followup_inspect_facts.hostmod
    monkeypatch.setattr(hostmod, "cpu_percent", lambda seconds: 1.0)
    monkeypatch.setattr(hostmod, "journal_errors", lambda **kw: {"count": 0, "error": None})
    monkeypatch.setattr(hostmod, "timesync", lambda: {})
    result = run_module(followup_inspect_facts, {"host": "mongo1", "facts_dir": str(facts), "cpu_sample_seconds": 0})
    assert "no read-only MongoDB account" in result["inspection"]["mongodb"]["error"]
