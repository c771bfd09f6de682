"""Hardening of the deployed lab, end to end (issue 9, items 4 and 5): on fresh lab hosts a scan finds failures;
`compliance --fix` remediates; the rescan passes every control the lab can prove; a second --fix changes nothing; and
the follow-up system still works: the fep request (playbooks/lab/smoke.yml) and the database connections (status).

The lab inventory opts in to every risky family the lab can prove (inventories/lab/group_vars/*/<role>.yml). What
the lab cannot prove is listed below with the reason; anything else that does not pass after --fix fails the test.
It changes the lab's hosts for good, so it runs last in a session (conftest.py LAST); about 5 minutes after the
session's deploy (6 min 50 s alone with its own lab up and deploy, 2026-12-02).
"""

import json
import os
import subprocess

import pytest
import yaml
from labkit import ROOT

pytestmark = pytest.mark.integration

CATALOGUE = yaml.safe_load((ROOT / "controls" / "djbh-l3.yml").read_text())
LAB_PROVABLE = {c["id"] for c in CATALOGUE["controls"] if c.get("lab_provable")}
HARDENING_ROLES = {"os_hardening", "ssh_hardening", "firewall", "mysql_hardening", "mongodb_hardening", "followup_fep"}
REMEDIATED_HERE = {
    c["id"] for c in CATALOGUE["controls"] if (c.get("remediation") or {}).get("role") in HARDENING_ROLES
}

# Lab-provable controls that the lab's inventory cannot reach yet, each with what would close the gap.
KNOWN_LAB_GAPS = {
    # The stand-in applications connect to MySQL and FerretDB without TLS (no CA variable in the app roles yet), so
    # the lab keeps TLS-only off (inventories/lab/group_vars/{mysql,mongo}/*_hardening.yml).
    "MYS-TLS-02": "app roles need a CA variable (FOLLOWUP_MYSQL_SSL_CA) before TLS-only can be on",
    "MGO-TLS-01": "app and voice URIs need tls=true&tlsCAFile before TLS-only can be on",
    # nginx admits everyone until the lab inventory lists its clients (followup_fep_allowed_clients: [10.89.50.1]).
    "NGX-ACL-01": "inventories/lab/group_vars/fep/followup_fep.yml needs followup_fep_allowed_clients",
    # Separation of duties needs named people's accounts, which the lab does not have (semi-automated).
    "LNX-ACC-07": "no named administrator accounts in the lab",
    # Two authentication factors would need a password for ops as well as its key (semi-automated).
    "SSH-AUTH-05": "the lab logs in with a key only",
    # FerretDB 1.x authenticates with PLAIN over its PostgreSQL backend; SCRAM-SHA-256 needs a real mongod.
    "MGO-IA-03": "FerretDB 1.x offers PLAIN only",
    # root@localhost by the unix socket only is what the lab opts in to (the mysql role administers through it);
    # a full pass needs a named DBA account first and root renamed or locked, which is opt-in and hospital-specific.
    "MYS-AC-04": "root is kept, by socket only (partial by design until a named DBA account exists)",
}


def compliance(ops, out, *extra, timeout=2400):
    proc = ops("compliance", "-i", "inventories/lab", "--out", str(out), "--no-pdf", *extra, timeout=timeout)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return proc, report


def not_passing(report, controls):
    return sorted(
        f"{f['host']}/{f['control']} {f['status']}: {f.get('actual')}"
        for f in report["findings"]
        if f["control"] in controls and f["status"] not in ("pass", "na") and not f.get("waived")
    )


@pytest.fixture(scope="module")
def scans(ops, deployed, tmp_path_factory):
    """Scan, --fix (which rescans), and a second --fix, in that order, once for the module."""
    base = tmp_path_factory.mktemp("hardening")
    before = compliance(ops, base / "before")
    fixed = compliance(ops, base / "fixed", "--fix")
    fixed_audit = ops.audit()[-1]
    again = compliance(ops, base / "again", "--fix")
    again_audit = ops.audit()[-1]
    return {"before": before, "fixed": fixed, "fixed_audit": fixed_audit, "again": again, "again_audit": again_audit}


def test_a_scan_of_the_freshly_deployed_lab_finds_failures_the_hardening_remediates(scans):
    proc, report = scans["before"]
    assert proc.returncode == 4, proc.stderr
    failing = not_passing(report, REMEDIATED_HERE & LAB_PROVABLE)
    assert len(failing) >= 10, failing


def test_the_fix_remediates_and_the_rescan_passes_every_control_the_lab_can_prove(scans):
    proc, report = scans["fixed"]
    assert proc.returncode in (0, 4), proc.stderr
    assert [s["name"] for s in scans["fixed_audit"]["steps"] if s["kind"] == "playbook"][:2] == ["fix", "scan"]
    assert not report["unreachable"]
    # The controls the hardening roles remediate (release currency and approvals are the upgrade's, passwordless sudo
    # is what the lab's Ansible account needs, FerretDB has no audit log: none of them is --fix's to pass).
    remaining = not_passing(report, (LAB_PROVABLE & REMEDIATED_HERE) - set(KNOWN_LAB_GAPS))
    assert remaining == [], "\n".join(remaining)


def test_a_second_fix_changes_nothing(scans):
    proc, _report = scans["again"]
    assert proc.returncode in (0, 4), proc.stderr
    fix = next(s for s in scans["again_audit"]["steps"] if s["name"] == "fix")
    assert fix["status"] == "ok"
    assert fix["changed"] and all(count == 0 for count in fix["changed"].values()), fix["changed"]


def test_the_fep_request_and_the_database_connections_still_work(ops, scans):
    smoke = ops("lab", "smoke", timeout=900)
    assert smoke.returncode == 0, smoke.stderr
    # status exits 1 when a service or a health check (the app's MySQL and MongoDB checks among them) is down; 4 only
    # for R-CURRENT, a release more than 90 days behind.
    status = ops("status", "-i", "inventories/lab", "--json", timeout=900)
    assert status.returncode in (0, 4), status.stderr
    rows = json.loads(status.stdout)["hosts"]
    assert rows and all(row["reachable"] for row in rows), rows


def lab_ssh(user, address, *command):
    key = ROOT / ".lab" / "ssh" / "id_ed25519"
    known = ROOT / ".lab" / "known_hosts"
    argv = [
        "ssh", "-o", "BatchMode=yes", "-o", "ControlPath=none", "-o", "ConnectTimeout=5",
        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-i", str(key),
        f"{user}@{address}", *command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=dict(os.environ))


@pytest.mark.parametrize("address", ["10.89.50.11", "10.89.50.12", "10.89.50.13", "10.89.50.21", "10.89.50.22"])
def test_after_the_fix_ops_logs_in_with_its_key_and_root_and_passwords_are_refused(scans, address):
    assert lab_ssh("ops", address, "sudo", "-n", "true").returncode == 0
    root = lab_ssh("root", address, "true")
    assert root.returncode == 255 and "Permission denied" in root.stderr
    password = subprocess.run(
        [
            "ssh", "-o", "BatchMode=yes", "-o", "ControlPath=none", "-o", "PubkeyAuthentication=no",
            "-o", f"UserKnownHostsFile={ROOT / '.lab' / 'known_hosts'}", f"ops@{address}", "true",
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "Permission denied (publickey)" in password.stderr
