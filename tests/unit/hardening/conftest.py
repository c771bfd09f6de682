"""The hardening roles' Python: role modules (roles/*/library) and filter plugins (filter_plugins/followup_firewall.py,
roles/*/filter_plugins), importable as plain modules; role templates rendered with Ansible's templating."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ROLES = ROOT / "roles"
HARDENING_ROLES = ["os_hardening", "ssh_hardening", "firewall", "mysql_hardening", "mongodb_hardening"]

for _library in (ROLES / "os_hardening" / "library",):
    if str(_library) not in sys.path:
        sys.path.insert(0, str(_library))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def firewall_filters():
    return load(ROOT / "filter_plugins" / "followup_firewall.py", "hd_followup_firewall")


@pytest.fixture(scope="session")
def role_filters():
    """role_filters('os_hardening') -> the role's filter plugin module."""

    def get(role):
        return load(ROLES / role / "filter_plugins" / f"{role}.py", f"hd_filters_{role}")

    return get


@pytest.fixture
def renderer():
    """renderer(role, vars_files=[...], **inputs): roles' templates rendered with their defaults and vars."""
    from ansible.plugins.loader import filter_loader

    role_renderer = load(ROOT / "tests" / "unit" / "roles" / "conftest.py", "hd_roles_renderer").RoleRenderer

    for role in HARDENING_ROLES:
        filter_loader.add_directory(str(ROLES / role / "filter_plugins"))

    def make(role, vars_files=(), **inputs):
        return role_renderer(role, list(vars_files), inputs)

    return make
