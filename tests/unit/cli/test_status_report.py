"""`followup-ops status`: rows per host and component, age, newest release, and the 90-day limit."""

from datetime import date
from pathlib import Path

from followup_ops.commands import status
from followup_ops.runner import RunResult


def result_with(rows, releases):
    result = RunResult(command="status", run_dir=Path("/tmp"))
    result.results.append(("app", "followup_release_check", {"releases": releases}))
    for host, st in rows:
        result.results.append((host, "followup_status", {"status": st}))
    return result


RELEASES = [
    {"version": "1.0.0", "release_date": "2026-02-02"},
    {"version": "1.1.0", "release_date": "2026-05-18"},
    {"version": "1.2.0", "release_date": "2026-09-07"},
]


def test_report_has_age_newest_and_behind_flags():
    result = result_with(
        [
            (
                "app",
                {
                    "component": "app",
                    "version": "1.0.0",
                    "services": {"followup-app": "active"},
                    "health": {"ok": True, "detail": "app: HTTP 200"},
                },
            ),
            ("voice", {"component": "voice", "version": "1.2.0", "release_date": "2026-09-07"}),
        ],
        RELEASES,
    )
    report = status.build_report(result, today=date(2026, 11, 29))
    app, voice = report["hosts"]
    assert app["release_date"] == "2026-02-02" and app["age_days"] == 300
    assert app["newest_version"] == "1.2.0" and app["days_newest_available"] == 83
    assert app["behind_limit_exceeded"] is False
    assert voice["days_newest_available"] is None and voice["age_days"] == 83


def test_behind_more_than_ninety_days_is_flagged_in_the_table():
    result = result_with([("app", {"component": "app", "version": "1.1.0"})], RELEASES)
    report = status.build_report(result, today=date(2026, 12, 7))
    row = report["hosts"][0]
    assert row["days_newest_available"] == 91 and row["behind_limit_exceeded"] is True
    table = status.render_table(report)
    assert "newest release out 91 days, limit 90" in table
    assert "1.2.0 *" in table


def test_database_hosts_have_no_release_columns():
    result = result_with([("mysql", {"component": None, "services": {"mariadb": "active"}})], RELEASES)
    row = status.build_report(result, today=date(2026, 11, 29))["hosts"][0]
    assert row["version"] is None and row["age_days"] is None and row["behind_limit_exceeded"] is False
    assert "mariadb:active" in status.render_table({"hosts": [row]})


def test_exit_code_is_1_when_something_is_down_and_4_when_too_far_behind():
    healthy = {"host": "app", "component": "app", "health": {"ok": True}, "services": {"followup-app": "active"}}
    assert status.exit_code({"hosts": [healthy]}) == 0
    assert status.exit_code({"hosts": [dict(healthy, behind_limit_exceeded=True)]}) == 4
    assert status.exit_code({"hosts": [dict(healthy, services={"followup-app": "failed"})]}) == 1
    assert status.exit_code({"hosts": [dict(healthy, health={"ok": False}, behind_limit_exceeded=True)]}) == 1
