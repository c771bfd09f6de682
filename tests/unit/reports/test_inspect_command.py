"""`followup-ops inspect`: summary, files, exit codes; the PDF read back shows the injected problem as 异常 with its
host, and no patient datum reaches any file."""

import json

from ansible.module_utils.followup_inspect import evaluate
from inspectkit import INDEX, NOW, THRESHOLDS, GiB, evidence, healthy_results, mount
from pagekit import page_text
from renderkit import pdf_text

from followup_ops import cli
from followup_ops.commands import inspect as inspectcmd

MARKER_NAME = "测试患者甲"
MARKER_PHONE = "13800138000"


def canned(results, targets=("app1", "fep1", "mongo1", "mysql1"), ev=None, groups=None):
    return evaluate(list(targets), results, {}, ev or evidence(), INDEX, THRESHOLDS, now=NOW, groups=groups or {})


def test_an_injected_problem_is_abnormal_with_its_host_in_summary_json_and_pdf(
    runs, inventory, playbooks, capsys, tmp_path
):
    results = healthy_results()
    results["fep1"]["status"]["services"]["followup-fep"] = "failed"
    results["fep1"]["inspection"]["interface"]["backlog"] = 5000
    results["mysql1"]["inspection"]["system"]["mounts"] = [mount("/", 40 * GiB, 39 * GiB)]
    results["fep1"]["inspection"]["certificates"][0]["days_left"] = 2.5
    # a log line that quoted patient data arrives masked from the host; the report must not add any
    results["app1"]["inspection"]["logs"] = {
        "count": 1,
        "by_unit": {"followup-app.service": 1},
        "error": None,
        "lines": [
            {"unit": "followup-app.service", "at": None, "priority": 3, "message": "Duplicate entry '…' for key"}
        ],
        "cursor": "s=2",
        "since": {"cursor": "s=1"},
    }
    canned_reports, calls = playbooks
    canned_reports.append(canned(results))
    out = tmp_path / "out"
    code = cli.main(["inspect", "-i", str(inventory), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert calls[0]["playbook"] == "inspect.yml" and calls[0]["partial"] is True
    assert calls[0]["extravars"]["followup_inspection_runs_dir"] == str(runs.resolve()), "history from its own records"
    assert "异常" in captured.out and "fep1" in captured.out and "interface.backlog" in captured.out
    assert "followup-ops: error: 异常 abnormal" in captured.err and captured.err.count("\n") == 1
    data = json.loads((out / "inspection.json").read_text())
    assert data["findings"]["fep1/services"]["status"] == "fail"
    assert data["findings"]["mysql1/disk.space//"]["status"] == "fail"
    assert data["level"] == "fail" and "sample" not in data["hosts"]["app1"]
    text = "".join(pdf_text(out / "inspection.pdf"))
    assert "系统巡检报告" in text and "fep1" in text and "mysql1" in text and "异常" in text
    assert "接口积压" in text and "5000" in text and "证书有效期" in text
    seen = page_text(out / "inspection.pdf", tmp_path)
    assert "巡检" in seen and "异常" in seen, seen[:400]
    for path in [*out.iterdir(), *runs.rglob("*.json*")]:
        body = path.read_bytes().decode("utf-8", "replace")
        assert MARKER_NAME not in body and MARKER_PHONE not in body, path
    record = json.loads(next(runs.glob("*-inspect/operation.json")).read_text())
    assert record["outcome"] == "failed" and record["details"]["level"] == "fail"
    assert "fep1/services" in record["details"]["abnormal"]
    assert sorted(record["files"]) == sorted(str(out / f"inspection.{x}") for x in ("html", "json", "pdf"))


def test_only_attention_items_exit_4_and_all_normal_exit_0(runs, inventory, playbooks, capsys):
    canned_reports, _ = playbooks
    results = healthy_results()
    results["app1"]["inspection"]["system"]["mounts"] = [mount("/", 100 * GiB, 85 * GiB)]
    canned_reports.append(canned(results))
    assert cli.main(["inspect", "-i", str(inventory)]) == 4
    assert "注意 attention" in capsys.readouterr().err
    canned_reports.append(canned(healthy_results()))
    assert cli.main(["inspect", "-i", str(inventory), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["level"] == "pass" and printed["counts"]["fail"] == 0
    files = list(runs.glob("*-inspect*/inspection.pdf"))
    assert len(files) == 2, "without --out the report goes to the run's directory"


def test_an_unreachable_host_is_one_line_in_the_summary_and_abnormal(runs, inventory, playbooks, capsys):
    canned_reports, _ = playbooks
    results = healthy_results()
    del results["mysql1"]
    canned_reports.append(canned(results, groups={"mysql1": ["mysql"]}))
    assert cli.main(["inspect", "-i", str(inventory)]) == 1
    out = capsys.readouterr().out
    assert "mysql1 host.reach: 未应答 did not answer（其余" in out
    assert out.count("mysql1 ") == 2, "the host row and one folded line, not one line per item not checked"


def test_a_playbook_that_reports_no_inspection_is_an_error_naming_the_run(runs, inventory, playbooks, capsys):
    canned_reports, _ = playbooks
    canned_reports.append({})
    assert cli.main(["inspect", "-i", str(inventory)]) == 1
    assert "inspect.yml reported no inspection: see" in capsys.readouterr().err


def test_the_timer_units_run_the_same_inspection_daily(runs, inventory, tmp_path, monkeypatch, capsys):
    units = tmp_path / "systemd"
    units.mkdir()
    monkeypatch.setenv(inspectcmd.SYSTEMD_DIR_ENV, str(units))
    assert cli.main(["inspect", "-i", str(inventory), "--install-timer", "--on-calendar", "*-*-* 07:30:00"]) == 0
    service = (units / "followup-ops-inspect-hospital.service").read_text()
    timer = (units / "followup-ops-inspect-hospital.timer").read_text()
    assert f"inspect -i {inventory}" in service and "SuccessExitStatus=1 4" in service
    assert "OnCalendar=*-*-* 07:30:00" in timer and "Persistent=true" in timer
    assert cli.main(["inspect", "-i", str(inventory), "--remove-timer"]) == 0
    assert not list(units.iterdir())
    assert cli.main(["inspect", "-i", str(inventory), "--install-timer", "--on-calendar", "every tuesdayish"]) == 1
    assert "is not a systemd calendar spec" in capsys.readouterr().err
