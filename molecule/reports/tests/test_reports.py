"""The reports on real hosts: the followup-ops commands run from the control node against the scenario's two
containers (inventory/), and their reports are read back. Injected problems must be 异常 with their host; the
marker patient's name and phone must appear in no report; the scratch build must leave nothing behind."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

testinfra_hosts = ["docker://molecule-reports-db"]

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])
INVENTORY = Path(__file__).resolve().parents[1] / "inventory"
OPS = ROOT / ".venv" / "bin" / "followup-ops"
MARKERS = ("测试患者甲", "13800138000")
FEP, DB = "molecule-reports-fep", "molecule-reports-db"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def ops(runs, *words):
    env = dict(
        os.environ,
        FOLLOWUP_OPS_RUNS_DIR=str(runs),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        MOLECULE_PROJECT_DIRECTORY=str(ROOT),
    )
    return subprocess.run(
        [str(OPS), *words, "-i", str(INVENTORY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def assert_no_patient_data(directory):
    for path in Path(directory).rglob("*"):
        if path.is_file():
            body = path.read_bytes().decode("utf-8", "replace")
            if path.suffix == ".pdf":
                body = pdf_text(path)
            for marker in MARKERS:
                assert marker not in body, f"{marker} in {path}"


def test_the_inspection_finds_every_injected_problem_as_abnormal_with_its_host(runs, tmp_path):
    started = time.monotonic()
    proc = ops(runs, "inspect", "--out", str(tmp_path))
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "inspection.json").read_text())
    f = report["findings"]
    assert f[f"{FEP}/services"]["status"] == "fail" and "followup-dummy" in f[f"{FEP}/services"]["actual"]
    assert f[f"{FEP}/disk.space//srv/full"]["status"] == "fail"
    assert f[f"{FEP}/cert.expiry//etc/ssl/certs/reports-test.crt"]["status"] == "fail"
    assert f[f"{FEP}/interface.backlog"]["status"] == "fail" and f[f"{FEP}/interface.backlog"]["value"] == 5000
    assert f[f"{FEP}/interface.last_exchange"]["status"] == "pass"
    assert f[f"{FEP}/logs.errors"]["status"] in ("warn", "fail")
    assert any("followup-fep" in line["unit"] for line in f[f"{FEP}/logs.errors"]["lines"])
    assert f[f"{DB}/host.reach"]["status"] == "pass" and f[f"{DB}/services"]["status"] == "pass"
    assert f[f"{DB}/mysql.connections"]["status"] == "pass"
    assert f[f"{DB}/time.sync"]["status"] == "na"
    assert f[f"{DB}/mysql.tables"]["entries"], "the largest tables are listed"
    assert "异常" in proc.stdout and FEP in proc.stdout
    text = pdf_text(tmp_path / "inspection.pdf")
    assert "系统巡检报告" in text and FEP in text and "异常" in text
    assert_no_patient_data(tmp_path)
    assert took < 60, f"the inspection took {took:.0f} s"


def test_a_second_inspection_reads_the_journal_after_the_first(runs, tmp_path):
    proc = ops(runs, "inspect", "--out", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    finding = json.loads((tmp_path / "inspection.json").read_text())["findings"][f"{FEP}/logs.errors"]
    assert "after the cursor of the last inspection" in finding["evidence"]
    assert not any("patient" in (line["message"] or "") for line in finding["lines"]), "the old error is not read again"


def test_the_live_table_structure_document(runs, tmp_path):
    proc = ops(runs, "schema", "doc", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(next(tmp_path.glob("schema-*.json")).read_text())
    tables = doc["engines"]["mysql"]["schema"]["databases"]["cloud_followup"]["tables"]
    assert tables["patients"]["comment"] == "患者 Patients"
    assert [c["comment"] for c in tables["patients"]["columns"]] == ["", "姓名", "电话"]
    assert tables["followup_tasks"]["foreign_keys"][0]["references"] == "patients"
    text = pdf_text(next(tmp_path.glob("schema-*.pdf")))
    assert "数据库表结构文档" in text and "fk_tasks_patient" in text
    assert_no_patient_data(tmp_path)


def test_a_release_document_is_built_in_a_scratch_server_that_leaves_nothing(runs, tmp_path, host):
    before = host.check_output(
        "mariadb -N -e 'SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        'WHERE TABLE_SCHEMA IN ("cloud_followup", "interface_data") ORDER BY 1, 2\''
    )
    proc = ops(runs, "schema", "doc", "--release", "1.1.0", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "schema-release-1.1.0.json").read_text())
    mysql = doc["engines"]["mysql"]
    assert "followup_tasks" in mysql["schema"]["databases"]["cloud_followup"]["tables"]
    assert [s["script"] for s in mysql["steps"]["interface_data"]] == [
        "V001__create_exchange_tables.sql",
        "V002__add_inbound_retry.sql",
    ]
    text = pdf_text(tmp_path / "schema-release-1.1.0.pdf")
    assert "每个迁移的变更" in text and "retry_count" in text
    assert host.check_output("ls /var/tmp | grep -c followup || true") == "0", "no scratch directory or tarball stays"
    assert host.check_output("pgrep -c -f 'mariadb[d].*skip-grant-tables' || true") == "0"
    after = host.check_output(
        "mariadb -N -e 'SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        'WHERE TABLE_SCHEMA IN ("cloud_followup", "interface_data") ORDER BY 1, 2\''
    )
    assert after == before, "the live databases are untouched"
    unknown = ops(runs, "schema", "doc", "--release", "9.9.9")
    assert unknown.returncode == 1 and "unknown release 9.9.9" in unknown.stderr


def test_optimisation_rebuilds_the_fragmented_table_inside_the_window_and_only_proposes_indexes(runs, tmp_path, host):
    local = time.gmtime(time.time() + 8 * 3600)
    start = (local.tm_hour * 60 + local.tm_min - 30) % 1440
    end = (start + 120) % 1440
    window = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    outside = f"{end // 60:02d}:{end % 60:02d}-{(end + 60) % 1440 // 60:02d}:{(end + 60) % 60:02d}"
    proc = ops(runs, "db", "optimize", "--window", outside, "--out", str(tmp_path / "outside"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "outside" / "optimize.json").read_text())[0]["optimize"]
    assert result["actions"] == [] and result["skipped"][0]["skipped"] == "outside the maintenance window"
    proc = ops(runs, "db", "optimize", "--window", window, "--out", str(tmp_path / "inside"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "inside" / "optimize.json").read_text())[0]["optimize"]
    done = {(a["table"], a["action"]) for a in result["actions"] if a["done"]}
    assert ("cloud_followup.followup_tasks", "rebuild") in done, result
    before = {t["name"]: t for t in result["before"]}
    after = {t["name"]: t for t in result["after"]}
    assert after["cloud_followup.followup_tasks"]["free"] < before["cloud_followup.followup_tasks"]["free"]
    redundant = {r["index"] for r in result["proposals"]["redundant"]}
    assert redundant & {"ix_patient", "ix_patient_again"}, result["proposals"]
    indexes = host.check_output("mariadb -N -e 'SHOW INDEX FROM cloud_followup.followup_tasks' | cut -f3 | sort -u")
    assert "ix_patient_again" in indexes, "index changes are proposed, never applied"
    assert_no_patient_data(tmp_path)


def test_the_scenario_hosts_are_reachable_by_testinfra():
    fep = testinfra.get_host("docker://molecule-reports-fep")
    assert fep.service("followup-fep").is_running and not fep.service("followup-dummy").is_running
