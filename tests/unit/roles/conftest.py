"""Render the roles' templates and computed variables with Ansible's own templating, without any host.

A role's variables are layered as Ansible does for a play: defaults/main.yml, then vars/main.yml and the
OS (and flavour) file from vars/, then the test's overrides. Strings read from the role's files are marked
trusted, as Ansible marks the files it loads itself, so that the lazy "{{ ... }}" defaults resolve.
"""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLES = Path(__file__).resolve().parents[3] / "roles"

FACTS = {
    "os_family": "Debian",
    "distribution_major_version": "12",
    "hostname": "molecule",
}


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def _load(path):
    return _trusted(yaml.safe_load(path.read_text()) or {})


class RoleRenderer:
    def __init__(self, role, vars_files, overrides):
        role_dir = ROLES / role
        variables = {}
        variables.update(_load(role_dir / "defaults" / "main.yml"))
        for name in ["main.yml", *vars_files]:
            path = role_dir / "vars" / name
            if path.exists():
                variables.update(_load(path))
        variables.update(
            {
                "ansible_managed": "Ansible managed",
                "ansible_facts": FACTS,
                "ansible_check_mode": False,
                "inventory_hostname": "molecule",
                "groups": {"all": ["molecule"]},
                "hostvars": {},
            }
        )
        variables.update(_trusted(overrides))
        self.role_dir = role_dir
        self.templar = Templar(loader=DataLoader(), variables=variables)

    def template(self, name):
        """Render roles/<role>/templates/<name> and return the text."""
        text = (self.role_dir / "templates" / name).read_text()
        return self.templar.template(trust_as_template(text))

    def var(self, name):
        """Resolve one variable as a task would see it."""
        return self.templar.template(trust_as_template("{{ " + name + " }}"))


@pytest.fixture
def render():
    """render(role, vars_files=[...], **overrides) -> RoleRenderer"""

    def make(role, vars_files=(), **overrides):
        return RoleRenderer(role, list(vars_files), overrides)

    return make
