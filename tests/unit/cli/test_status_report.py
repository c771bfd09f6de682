"""`followup-ops status`: the table, the JSON rows and the exit code, from the status playbook's report."""

from datetime import date

from followup_status_report import FilterModule

from followup_ops.commands import status
from followup_ops.operation import Operation

report_filter = FilterModule().filters()["followup_status_report"]

INDEX = {
    "releases": [
        {"version": "1.0.0", "release_date": "2026-02-02"},
        {"version": "1.2.0", "release_date": "2026-09-07"},
    ],
    "newest": {"version": "1.2.0", "release_date": "2026-09-07"},
    "signer": "lab-release",
}


def host_status(version, state="active", ok=True):
    return {
        "__followup_status": {
            "status": {
                "components": {"app": {"version": version, "release_date": None, "root": "/opt/followup/app"}},
                "services": {"followup-app": state},
                "health": {"ok": ok, "detail": "app: HTTP 200", "checks": []},
            }
        }
    }


def op_with(hostvars, tmp_path, monkeypatch, today=date(2026, 12, 1)):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path))
    op = Operation("status", ["followup-ops", "status"])
    op.__enter__()
    op.report.update(report_filter(hostvars, sorted(hostvars), INDEX, today=today))
    return op


def test_the_table_speaks_chinese_first_and_flags_r_current(tmp_path, monkeypatch):
    op = op_with({"app1": host_status("1.0.0")}, tmp_path, monkeypatch)
    text = status.render_table(op.report)
    assert "主机 Host" in text and "app1" in text and "1.0.0" in text and "1.2.0 *" in text
    assert "不符合 fail" in text and "超期 212 天" in text
    assert status.judge(op) == 4 and op.outcome == "noncompliant" and "R-CURRENT: app1/app" in op.message


def test_a_down_service_is_exit_1_before_r_current(tmp_path, monkeypatch):
    op = op_with({"app1": host_status("1.0.0", state="failed")}, tmp_path, monkeypatch)
    assert status.judge(op) == 1 and "unhealthy or unreachable: app1" in op.message


def test_all_current_and_healthy_is_exit_0(tmp_path, monkeypatch):
    op = op_with({"app1": host_status("1.2.0")}, tmp_path, monkeypatch)
    assert status.judge(op) is None
    rows = status.rows(op.report["data"])
    assert rows[0]["component"] == "app" and rows[0]["currency"] == "pass" and rows[0]["age_days"] == 85


def test_an_unreachable_host_is_a_row_saying_so(tmp_path, monkeypatch):
    op = op_with({"voice1": {}}, tmp_path, monkeypatch)
    assert "不可达 UNREACHABLE" in status.render_table(op.report)
    assert status.judge(op) == 1
