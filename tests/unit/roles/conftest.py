"""Render the roles' templates and computed variables with Ansible's own templating, without any host.

The decisions of the roles live in filter plugins (filter_plugins/, tested in tests/unit/filter_plugins/); the tests
here check that templates and vars/ call them with the right inputs. A role's variables are layered as a play sees
them: defaults/main.yml, then the test's inputs (as an inventory would give them), then vars/main.yml and the OS
(and flavour) file (role vars and include_vars beat the inventory, so a test may not set those names), then
registered results and set_facts the test gives (which beat role vars). Strings read from the role's files are
marked trusted, as Ansible marks the files it loads itself, so that the lazy "{{ ... }}" values resolve.
"""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

ROLES = Path(__file__).resolve().parents[3] / "roles"
# The repository's filters, found as a play finds them (ansible.cfg: filter_plugins).
filter_loader.add_directory(str(ROLES.parent / "filter_plugins"))

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
        if (role_dir / "filter_plugins").is_dir():  # a role's own filters, which Ansible loads with the role
            filter_loader.add_directory(str(role_dir / "filter_plugins"))
        role_vars = {}
        for name in ["main.yml", *vars_files]:
            path = role_dir / "vars" / name
            if path.exists():
                role_vars.update(_load(path))
        shadowed = sorted(set(overrides) & set(role_vars))
        if shadowed:
            raise ValueError(
                f"{', '.join(shadowed)}: set in roles/{role}/vars/, which beats any input; test the filter"
            )
        variables = {
            "ansible_managed": "Ansible managed",
            "ansible_facts": FACTS,
            "ansible_check_mode": False,
            "inventory_hostname": "molecule",
            "groups": {"all": ["molecule"]},
            "hostvars": {},
        }
        variables.update(_load(role_dir / "defaults" / "main.yml"))
        variables.update(_trusted(overrides))
        variables.update(role_vars)
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
