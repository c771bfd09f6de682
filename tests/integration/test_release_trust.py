"""Releases that cannot be forged or smuggled, on the lab: an unsigned or re-signed release index is refused with
exit 2 before any host is touched; an extra variable that names a forged tarball through plain ansible-playbook is
refused; once deployed, the services run the signed start command and listen only where they should."""

import hashlib
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from labkit import RELEASES, ROOT, VAULT_PASSWORD


def lab_copy(tmp_path, repository):
    """A copy of the lab inventory (its signers included) whose release repository is REPOSITORY."""
    inv = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab", inv)
    followup = inv / "group_vars" / "all" / "followup.yml"
    data = yaml.safe_load(followup.read_text())
    data["followup_release_repository"] = str(repository)
    followup.write_text(yaml.safe_dump(data))
    return inv


def on_host(host, command):
    return subprocess.run(
        ["docker", "exec", f"followup-lab-{host}", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_unsigned_release_index_is_refused_with_exit_2(ops, lab, tmp_path):
    repo = tmp_path / "releases"
    shutil.copytree(RELEASES, repo)
    (repo / "index.yml.sig").unlink()
    inv = lab_copy(tmp_path, repo)
    proc = ops("deploy", "-i", str(inv), "--release", "1.0.0", "--vault-password-file", str(VAULT_PASSWORD))
    assert proc.returncode == 2, proc.stderr
    assert "index.yml.sig is missing: the release index is not signed" in proc.stderr
    assert ops.audit()[-1]["result"] == "refused"


def test_a_changed_index_signed_again_by_another_key_is_refused_with_exit_2(ops, lab, tmp_path):
    repo = tmp_path / "releases"
    shutil.copytree(RELEASES, repo)
    key = tmp_path / "intruder"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    index = repo / "index.yml"
    index.write_text(index.read_text() + "# changed after the vendor signed it\n")
    (repo / "index.yml.sig").unlink()  # ssh-keygen -Y sign does not replace an existing signature
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", "followup-release", str(index)],
        check=True,
        capture_output=True,
    )
    inv = lab_copy(tmp_path, repo)
    proc = ops("deploy", "-i", str(inv), "--release", "1.0.0", "--vault-password-file", str(VAULT_PASSWORD))
    assert proc.returncode == 2, proc.stderr
    assert "is signed by a key that is not in followup_release_signers" in proc.stderr


def test_a_forged_release_passed_as_an_extra_variable_is_refused_by_plain_ansible_playbook(lab, tmp_path):
    forged = tmp_path / "followup-1.0.0.tar.gz"
    forged.write_bytes(b"not the vendor's release")
    digest = hashlib.sha256(forged.read_bytes()).hexdigest()
    release = {"version": "1.0.0", "path": str(forged), "sha256": digest, "components": {}, "migrations": {}}
    for extra in ({"followup_release": release}, {"followup_component_release": release}):
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                "inventories/lab",
                "playbooks/site.yml",
                "-e",
                "followup_release_version=1.0.0",
                "-e",
                json.dumps(extra),
                "--vault-password-file",
                str(VAULT_PASSWORD),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        assert "may not be passed on the command line" in out, out[-3000:]
    for host in ("app1", "fep1", "voice1"):
        held = on_host(host, "sha256sum /opt/followup/.releases/*.tar.gz 2>/dev/null || true").stdout
        assert digest not in held, host


def test_the_services_run_the_signed_start_command_and_listen_only_where_they_should(deployed):
    start = on_host("app1", "cat /etc/systemd/system/followup-app.service.d/start.conf").stdout
    assert start.endswith("ExecStart=\nExecStart=/usr/bin/python3 -m followup_app\n")
    assert "ExecStart" not in on_host("app1", "cat /etc/systemd/system/followup-app.service").stdout
    assert "10.89.50.12:8080" in on_host("app1", "ss -Htln 'sport = :8080'").stdout
    assert "127.0.0.1:8081" in on_host("fep1", "ss -Htln 'sport = :8081'").stdout
    assert on_host("fep1", "curl -fsS -m 5 -o /dev/null http://10.89.50.12:8080/health").returncode == 0
    for address, port in (("10.89.50.12", 8080), ("10.89.50.11", 8081)):
        with socket.socket() as probe:
            probe.settimeout(3)
            try:
                probe.connect((address, port))
            except OSError:
                continue
        raise AssertionError(f"the control node reached {address}:{port}")
    fact = json.loads(on_host("app1", "cat /etc/ansible/facts.d/followup_component_app.fact").stdout)
    assert fact["services"] == ["followup-app"] and fact["checks"][0]["host"] == "10.89.50.12"
