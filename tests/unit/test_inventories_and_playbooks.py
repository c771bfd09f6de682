"""Inventories and playbooks, checked without connecting to anything: the production inventory is only ever read
(`ansible-inventory --graph`, `--syntax-check`); its placeholder addresses are never contacted."""

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").rglob("*.yml"))
GROUPS = {"followup", "databases", "fep", "app", "voice", "mysql", "mongo"}


def vault_args(inventory):
    if inventory == "production":
        return ["--vault-password-file", str(ROOT / "inventories/production/vault-password.placeholder.txt")]
    lab_password = ROOT / ".lab" / "vault-password"
    return ["--vault-password-file", str(lab_password)] if lab_password.exists() else []


def run(*args):
    return subprocess.run(
        [*args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())},
    )


@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_inventory_graph_has_the_groups_named_for_their_role(inventory):
    proc = run(str(BIN / "ansible-inventory"), "-i", f"inventories/{inventory}", "--graph", *vault_args(inventory))
    assert proc.returncode == 0, proc.stderr
    for group in GROUPS:
        assert f"@{group}:" in proc.stdout, group


def test_production_addresses_are_placeholders_from_test_net_1():
    hosts = yaml.safe_load((ROOT / "inventories/production/hosts.yml").read_text())
    found = []

    def walk(group):
        for vars_ in (group.get("hosts") or {}).values():
            found.append(ipaddress.ip_address(vars_["ansible_host"]))
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(hosts["all"])
    # fep, app, voice, mysql, mongodb and the backup host, each once.
    assert len(found) == 6 and len(set(found)) == 6
    assert all(a in ipaddress.ip_network("192.0.2.0/24") for a in found)


def test_production_vault_holds_only_placeholders():
    from ansible.parsing.vault import VaultLib, VaultSecret

    password = (ROOT / "inventories/production/vault-password.placeholder.txt").read_text().strip().encode()
    data = VaultLib([("default", VaultSecret(password))]).decrypt(
        (ROOT / "inventories/production/group_vars/all/vault.yml").read_bytes()
    )
    values = yaml.safe_load(data)
    assert values and all(k.startswith("vault_") and v == "CHANGE-ME" for k, v in values.items())


@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_every_playbook_passes_the_syntax_check(inventory):
    proc = run(
        str(BIN / "ansible-playbook"),
        "-i",
        f"inventories/{inventory}",
        "--syntax-check",
        *vault_args(inventory),
        *PLAYBOOKS,
    )
    assert proc.returncode == 0, proc.stderr


def test_plain_group_vars_hold_no_secret_values():
    """Secrets live in vault.yml; every other group_vars file refers to them by name."""
    for path in (ROOT / "inventories").rglob("group_vars/**/*.yml"):
        if path.name == "vault.yml":
            continue
        for line in path.read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if any(word in key for word in ("password", "secret", "_key_content")) and ":" in line:
                value = line.split(":", 1)[1].strip()
                assert value.startswith('"{{ vault_') or value == "", f"{path}: {line}"
