"""The 等保 compliance check on the deployed lab: every host reported with the controls of its targets, the reports
written and readable, no secret of the vault anywhere in them, nothing changed on any host, the same result in check
mode, and a stopped host reported as 检查错误 for every one of its controls (never 符合)."""

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration

LAB_HOSTS = {"fep1", "app1", "voice1", "mysql1", "mongo1"}
# What the lab cannot know: the lab image keeps no apt package lists (LNX-PAT-01 says so, as 检查错误).
EXPECTED_ERRORS = {"LNX-PAT-01"}


def scan(ops, out, *extra):
    return ops(
        "compliance",
        "-i",
        "inventories/lab",
        "--out",
        str(out),
        "--waivers",
        "controls/waivers/lab.yml",
        *extra,
        timeout=900,
    )


@pytest.fixture(scope="module")
def report(deployed, ops, tmp_path_factory):
    out = tmp_path_factory.mktemp("compliance")
    proc = scan(ops, out)
    assert proc.returncode in (0, 4), proc.stderr
    return out, proc, ops.audit()[-1]


def test_every_lab_host_is_reported_with_the_controls_of_its_targets(report):
    out, proc, _line = report
    doc = json.loads((out / "report.json").read_text())
    hosts = {f["host"] for f in doc["findings"]}
    assert hosts >= LAB_HOSTS and doc["unreachable"] == []
    targets = {h: {f["target"] for f in doc["findings"] if f["host"] == h} for h in hosts}
    assert "nginx" in targets["fep1"] and "app" in targets["app1"] and "app" in targets["voice1"]
    assert "mysql" in targets["mysql1"] and "mongodb" in targets["mongo1"]
    assert all({"linux", "ssh"} <= targets[h] for h in LAB_HOSTS)
    errors = {(f["host"], f["control"]) for f in doc["findings"] if f["status"] == "error"}
    assert {c for _h, c in errors} <= EXPECTED_ERRORS, sorted(errors)
    # the databases are read for real: accounts, plugins and FerretDB's roles
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["mysql1/MYS-AC-01"]["status"] == "pass" and by_id["mongo1/MGO-AC-02"]["status"] == "pass"
    assert by_id["mongo1/MGO-AU-01"]["waived"] and by_id["fep1/LNX-ACC-09"]["waived"]
    assert proc.returncode == (0 if doc["summary"]["compliant"] else 4)


def test_the_reports_are_written_readable_and_consistent(report):
    out, _proc, line = report
    doc = json.loads((out / "report.json").read_text())
    root = ET.fromstring((out / "junit.xml").read_text())  # noqa: S314 - XML the command wrote
    assert len(root.findall(".//testcase")) == len(doc["findings"])
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "等保 2.0 第三级 合规检查报告" in (out / "report.html").read_text()
    assert {p.stem for p in (out / "evidence").glob("*.json")} >= LAB_HOSTS
    assert line["command"] == "compliance" and line["details"]["compliance"]["score"] == doc["summary"]["score"]
    assert line["outcome"] in ("ok", "noncompliant")


def test_no_secret_of_the_vault_reaches_any_report_or_record(report, vault_values):
    out, _proc, line = report
    texts = [
        p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".xml", ".html")
    ]
    with open(f"{line['run_dir']}/operation.json", encoding="utf-8") as handle:
        operation = json.load(handle)
    texts.append(json.dumps(operation))
    for secret in vault_values:
        if len(secret) >= 8:
            assert not any(secret in t for t in texts), "a vault secret reached a report"


def test_the_scan_changes_no_host_and_check_mode_gives_the_same_result(report, ops, tmp_path):
    out, _proc, line = report
    scan_step = next(s for s in line["steps"] if s["name"] == "scan")
    managed = {h: c for h, c in scan_step["changed"].items() if h != "localhost"}
    assert set(managed) >= LAB_HOSTS and set(managed.values()) == {0}
    proc = scan(ops, tmp_path, "--check", "--no-pdf")
    assert proc.returncode in (0, 4), proc.stderr
    first = {f["id"]: f["status"] for f in json.loads((out / "report.json").read_text())["findings"]}
    second = {f["id"]: f["status"] for f in json.loads((tmp_path / "report.json").read_text())["findings"]}
    assert first == second
    check_step = next(s for s in ops.audit()[-1]["steps"] if s["name"] == "scan")
    assert all(c == 0 for h, c in check_step["changed"].items() if h != "localhost")


@pytest.fixture
def voice_down(deployed, ops):
    subprocess.run(["docker", "stop", "followup-lab-voice1"], check=True, capture_output=True)
    yield
    proc = ops("lab", "up")
    assert proc.returncode == 0, proc.stderr


def test_a_stopped_host_has_every_control_in_check_error_and_the_scan_exits_4(ops, voice_down, tmp_path):
    proc = scan(ops, tmp_path, "--no-pdf")
    assert proc.returncode == 4, proc.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    voice = [f for f in doc["findings"] if f["host"] == "voice1"]
    assert voice and {f["status"] for f in voice if not f["waived"]} == {"error"}
    assert doc["unreachable"] == ["voice1"] and doc["hosts"]["voice1"]["reachable"] is False
    assert {f["host"] for f in doc["findings"]} >= LAB_HOSTS
    assert "unreachable: voice1" in proc.stderr


def test_an_unknown_control_is_one_line_exit_1_before_anything_runs(ops, tmp_path):
    before = len(ops.audit())
    proc = ops("compliance", "-i", "inventories/lab", "--out", str(tmp_path), "--controls", "LNX-NOPE-01")
    assert proc.returncode == 1 and "unknown control id LNX-NOPE-01" in proc.stderr
    assert proc.stderr.count("\n") == 1 and len(ops.audit()) == before
