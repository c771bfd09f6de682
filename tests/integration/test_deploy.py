"""Deploy the stand-in follow-up system to the lab over SSH, end to end, and what must be refused."""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from labkit import RELEASES, ROOT, VAULT_PASSWORD

pytestmark = pytest.mark.integration


def step_dir(record, name):
    """The run directory of the playbook step NAME of an operation's audit record."""
    return Path(next(s["run_dir"] for s in record["steps"] if s["name"] == name))


def play_names(run_dir):
    names = []
    for path in sorted((run_dir / "artifacts" / "run" / "job_events").glob("*.json")):
        event = json.loads(path.read_text())
        if event.get("event") == "playbook_on_play_start":
            names.append(event["event_data"]["play"])
    return names


def hosts_with_results(run_dir):
    """Hosts that ran any task themselves (not delegated to the control node)."""
    hosts = set()
    for path in (run_dir / "artifacts" / "run" / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        delegated = (data.get("res") or {}).get("_ansible_delegated_vars") or {}
        finished = event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable")
        if finished and delegated.get("ansible_connection") != "local":
            hosts.add(data.get("host"))
    return hosts


def lab_copy(tmp_path, repository):
    """A copy of the lab inventory whose release repository is REPOSITORY."""
    inv = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab", inv)
    followup = inv / "group_vars" / "all" / "followup.yml"
    data = yaml.safe_load(followup.read_text())
    data["followup_release_repository"] = str(repository)
    followup.write_text(yaml.safe_dump(data))
    return inv


def test_a_release_missing_from_the_index_is_refused_with_exit_2(ops, lab):
    proc = ops("deploy", "-i", "inventories/lab", "--release", "9.9.9")
    assert proc.returncode == 2
    assert proc.stderr.startswith("followup-ops: refused, no host was changed: release: release 9.9.9 is not in")
    assert "available: 1.0.0, 1.1.0, 1.2.0" in proc.stderr
    line = ops.audit()[-1]
    assert line["outcome"] == "refused" and line["exit_code"] == 2 and line["refused"][0]["gate"] == "release"
    run_dir = step_dir(line, "deploy")
    assert play_names(run_dir) == ["Verify the release and the secrets before any host is touched"]
    assert hosts_with_results(run_dir) == set()


def test_a_tampered_tarball_is_refused_with_exit_2_naming_the_file(ops, lab, tmp_path):
    repo = tmp_path / "releases"
    shutil.copytree(RELEASES, repo)
    with open(repo / "followup-1.1.0.tar.gz", "ab") as handle:
        handle.write(b"\0")
    inv = lab_copy(tmp_path, repo)
    proc = ops("deploy", "-i", str(inv), "--release", "1.1.0", "--vault-password-file", str(VAULT_PASSWORD))
    assert proc.returncode == 2
    assert "followup-1.1.0.tar.gz: sha256" in proc.stderr and "differs from the index" in proc.stderr


def test_a_placeholder_secret_is_refused_with_exit_2_naming_it(ops, lab, tmp_path):
    from ansible.parsing.vault import VaultLib, VaultSecret

    inv = lab_copy(tmp_path, RELEASES)
    vault = inv / "group_vars" / "all" / "vault.yml"
    lib = VaultLib([("default", VaultSecret(VAULT_PASSWORD.read_text().strip().encode()))])
    values = yaml.safe_load(lib.decrypt(vault.read_bytes()))
    values["vault_mysql_app_password"] = "CHANGE-ME"
    vault.write_bytes(lib.encrypt(yaml.safe_dump(values).encode()))
    proc = ops("deploy", "-i", str(inv), "--release", "1.0.0", "--vault-password-file", str(VAULT_PASSWORD))
    assert proc.returncode == 2
    assert "refused, no host was changed: secrets: vault_mysql_app_password" in proc.stderr
    assert "placeholder" in proc.stderr
    assert hosts_with_results(step_dir(ops.audit()[-1], "deploy")) == set()


def test_deploy_converges_the_lab(deployed):
    """The session's deploy (conftest.py). That a second deploy changes nothing is proved by the deploy run again
    after an interrupted one (test_operations.py), which saves `make test` one more deploy of the whole lab."""
    assert deployed["outcome"] == "ok" and set(deployed["hosts"]) >= {"fep1", "app1", "voice1", "mysql1", "mongo1"}
    assert deployed["details"] == {"release": "1.0.0"}
    assert sum(deployed["changed"].values()) > 0, deployed["changed"]


def test_plain_ansible_playbook_in_check_mode_finds_nothing_to_change(deployed):
    """As AWX runs it: plain ansible-playbook from the repository, check mode, on the converged lab."""
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [
            str(bin_dir / "ansible-playbook"),
            "-i",
            "inventories/lab",
            "playbooks/site.yml",
            "--check",
            "-e",
            "followup_release_version=1.0.0",
            "--vault-password-file",
            str(VAULT_PASSWORD),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", proc.stdout, re.M)
    hosts = {host: int(changed) for host, changed in recap}
    assert {"fep1", "app1", "voice1", "mysql1", "mongo1"} <= set(hosts)
    assert all(count == 0 for count in hosts.values()), hosts


def test_status_shows_the_release_and_health_of_every_component(ops, deployed):
    proc = ops("status", "-i", "inventories/lab", "--json")
    # 1.0.0 (2026-02-02) runs while 1.2.0 is out: once 1.0.0 is more than 90 days old that is an R-CURRENT finding.
    behind = (datetime.now(UTC).date() - date(2026, 2, 2)).days > 90
    assert proc.returncode == (4 if behind else 0), proc.stderr
    report = json.loads(proc.stdout)
    rows = {(r["host"], r.get("component")): r for r in report["hosts"]}
    findings = {f["id"]: f for f in report["findings"]}
    for host, component in (("fep1", "fep"), ("app1", "app"), ("voice1", "voice")):
        row = rows[(host, component)]
        assert row["version"] == "1.0.0" and row["release_date"] == "2026-02-02"
        assert row["newest_version"] == "1.2.0"
        assert row["health"]["ok"], row["health"]
        assert all(state == "active" for state in row["services"].values()), row["services"]
        assert findings[f"{host}/{component}/currency"]["status"] == ("fail" if behind else "pass")
    assert rows[("mysql1", None)]["health"]["ok"] and rows[("mongo1", None)]["health"]["ok"]
    assert findings["mysql1/health"]["status"] == "pass" and findings["mongo1/health"]["status"] == "pass"
    assert report["releases"]["signer"], "the index was verified and its signer named"
    table = ops("status", "-i", "inventories/lab")
    assert table.returncode == proc.returncode and "主机 Host" in table.stdout and "1.0.0" in table.stdout


def test_one_request_through_the_fep_writes_a_task_to_mysql_and_a_call_to_mongodb(ops, deployed):
    proc = ops("lab", "smoke")
    assert proc.returncode == 0, proc.stderr
    assert "in MySQL cloud_followup.followup_tasks" in proc.stdout and "in MongoDB cdr.call_records" in proc.stdout


def test_no_secret_reaches_run_records_or_the_audit_log(ops, deployed, vault_values):
    assert len(vault_values) >= 8
    leaks = []
    for path in ops.runs_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            leaks += [f"{path}: {v[:4]}…" for v in vault_values if v in text]
    assert leaks == []


def test_no_secret_is_on_a_command_line_of_any_lab_host(deployed, vault_values):
    for host in ("app1", "fep1", "voice1", "mysql1", "mongo1"):
        ps = subprocess.run(
            ["docker", "exec", f"followup-lab-{host}", "ps", "-eo", "args"], capture_output=True, text=True, check=True
        )
        assert not [v for v in vault_values if v in ps.stdout], host
