"""The operation core on the real lab: one record per operation, leases between operations, Ctrl-C, and plain
ansible-playbook command lines that would get around the gates."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labkit import OPS, ROOT, VAULT_PASSWORD

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def ansible_playbook(*args, timeout=600):
    """Plain ansible-playbook from the repository, as AWX runs it."""
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventories/lab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}"},
    )


def host_marker(host):
    """The release current points at on HOST (and its inode, to see any change), read through Docker."""
    proc = subprocess.run(
        [
            "docker",
            "exec",
            f"followup-lab-{host}",
            "sh",
            "-c",
            "readlink /opt/followup/*/current; ls -i --full-time "
            "/etc/systemd/system/followup-*.service 2>/dev/null; ls -la /opt/followup/.releases 2>/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    return proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--skip-tags", "always"],
        ["--skip-tags", "followup_gate"],
        ["--start-at-task", "install | Install the component from the release 1.0.0"],
        ["-e", '{"followup_release": {"version": "1.0.0", "sha256": "' + "0" * 64 + '", "path": "/tmp/evil.tar.gz"}}'],
        ["-e", '{"followup_component_release": {"version": "6.6.6"}}'],
        ["-e", '{"__followup_component_manifest": {"start": "/bin/sh -c id", "port": 1}}'],
        ["-e", "followup_release_signers=[]"],
    ],
    ids=["skip-always", "skip-gate-tag", "start-at-task", "forged-release", "component-release", "internal", "signers"],
)
def test_plain_ansible_playbook_cannot_get_around_the_gates(deployed, args):
    before = {h: host_marker(h) for h in ("app1", "fep1", "voice1")}
    proc = ansible_playbook(
        "playbooks/site.yml",
        "-e",
        "followup_release_version=1.0.0",
        "--vault-password-file",
        str(VAULT_PASSWORD),
        *args,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "followup-ops refused the run before any host was touched" in out, out[-2000:]
    assert "PLAY [" not in proc.stdout, "no play may start"
    assert {h: host_marker(h) for h in ("app1", "fep1", "voice1")} == before


def test_a_tier_playbook_run_alone_still_needs_the_gates(deployed):
    proc = ansible_playbook("playbooks/application.yml", "--vault-password-file", str(VAULT_PASSWORD))
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "only after the gates of playbooks/preflight.yml passed in the same run" in out, out[-2000:]


def test_plain_ansible_against_the_lab_needs_no_extra_flag_and_prints_no_warning(lab):
    proc = subprocess.run(
        [str(BIN / "ansible"), "followup:databases", "-m", "ansible.builtin.ping"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == 5
    assert "WARNING" not in proc.stderr, proc.stderr
    inv = subprocess.run(
        [str(BIN / "ansible-inventory"), "--host", "app1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    assert inv.returncode == 0 and "followup_app_mysql_password" in inv.stdout, inv.stderr


def test_another_inventorys_vault_still_demands_its_own_password(lab, tmp_path):
    """The lab's password opens the lab's vault by configuration; a production vault encrypted with its own password
    is not opened by it: ansible asks for that password (here: fails without it, and works with it)."""
    import shutil

    from ansible.parsing.vault import VaultLib, VaultSecret

    inv = tmp_path / "production"
    shutil.copytree(ROOT / "inventories" / "production", inv)
    vault = inv / "group_vars" / "all" / "vault.yml"
    password = tmp_path / "production-vault-password"
    password.write_text("the-hospital's-own-password\n")
    secret = VaultSecret(b"the-hospital's-own-password")
    vault.write_bytes(VaultLib([("default", secret)]).encrypt(b"vault_mysql_app_password: the-real-one\n", secret))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    cmd = [str(BIN / "ansible-inventory"), "-i", str(inv), "--host", "fu-app-01"]
    without = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert without.returncode != 0 and "Decryption failed" in without.stderr, without.stderr
    given = subprocess.run(
        [*cmd, "--vault-password-file", str(password)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert given.returncode == 0, given.stderr


def test_two_deploys_at_once_the_second_is_refused_ctrl_c_is_interrupted_and_a_rerun_changes_nothing(ops, deployed):
    """On the converged lab: a second deploy while the first holds the hosts is refused (exit 2, one line); Ctrl-C
    ends the first as interrupted (exit 130) with its leases released; the same deploy run again completes and
    changes nothing on any host (the deploy is idempotent, and the interrupted one left nothing half-done)."""
    env = dict(os.environ, FOLLOWUP_OPS_RUNS_DIR=str(ops.runs_dir), PYTHONUNBUFFERED="1")
    first = subprocess.Popen(
        [*OPS, "deploy", "-i", "inventories/lab", "--release", "1.0.0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        locks = ops.runs_dir / "locks"
        deadline = time.monotonic() + 120
        while not list(locks.glob("host-*.json")):
            assert time.monotonic() < deadline, "the first deploy never took its leases"
            time.sleep(0.5)
        holder = json.loads(next(locks.glob("host-*.json")).read_text())
        second = ops("deploy", "-i", "inventories/lab", "--release", "1.0.0")
        assert second.returncode == 2, second.stderr
        assert "another operation holds the hosts" in second.stderr and holder["operation"] in second.stderr
        assert second.stderr.strip().count("\n") == 0
        refused = ops.audit()[-1]
        assert refused["outcome"] == "refused" and refused["refused"][0]["gate"] == "lock"
        # Let the first reach its plays, then interrupt it as an operator would.
        time.sleep(8)
        first.send_signal(signal.SIGINT)
        _out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGINT)
            try:
                first.wait(timeout=300)
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait()
    assert first.returncode == 130, err[-2000:]
    assert "interrupted" in err and "run the same deploy again" in err
    record = next(r for r in ops.audit() if r["id"] == holder["operation"])
    assert record["outcome"] == "interrupted" and record["exit_code"] == 130
    assert not list(locks.glob("host-*.json")), "the interrupted deploy released its leases"
    again = ops("deploy", "-i", "inventories/lab", "--release", "1.0.0", timeout=2400)
    assert again.returncode == 0, again.stderr
    rerun = ops.audit()[-1]
    assert rerun["command"] == "deploy" and rerun["outcome"] == "ok"
    assert set(rerun["changed"]) >= {"fep1", "app1", "voice1", "mysql1", "mongo1"}, rerun["changed"]
    assert rerun["changed"] == {h: 0 for h in rerun["changed"]}, rerun["changed"]


def test_one_audit_record_per_operation_with_its_steps(ops, deployed):
    proc = ops("status", "-i", "inventories/lab", "--json")
    assert proc.returncode in (0, 4), proc.stderr
    record = ops.audit()[-1]
    assert record["command"] == "status" and record["schema"] == 2
    assert [s["name"] for s in record["steps"]] == ["status"]
    run = Path(record["run_dir"])
    assert (run / "operation.json").is_file() and (run / "01-status" / "artifacts" / "run" / "job_events").is_dir()
    report = json.loads((run / "operation.json").read_text())["report"]
    assert {"app1/health", "fep1/health", "voice1/health", "mysql1/health", "mongo1/health"} <= set(report["findings"])
