"""The hardening roles and the control catalogue (controls/djbh-l3.yml) say the same thing.

- Every role default that implements a catalogue parameter equals that parameter's default (for a list of accepted
  values, its first), through the very mapping playbooks/hardening.yml hands to the roles.
- Every control id a hardening task names exists in the catalogue, and every control the catalogue says one of these
  roles remediates is named by at least one of its tasks.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ["os_hardening", "ssh_hardening", "firewall", "mysql_hardening", "mongodb_hardening"]
CATALOGUE = yaml.safe_load((ROOT / "controls" / "djbh-l3.yml").read_text())
PARAMETERS = CATALOGUE["parameters"]
CONTROL_IDS = {c["id"] for c in CATALOGUE["controls"]}
MAPPING_RE = re.compile(r"^\{\{ __followup_hardening_effective\.(?P<param>[a-z0-9_]+)(?P<first> \| first)? \}\}$")
ID_RE = re.compile(r"\b([A-Z]{3}-[A-Z]{2,4}-)(\d{2}(?:/\d{2})*)\b")


def mapping():
    plays = yaml.safe_load((ROOT / "playbooks" / "hardening.yml").read_text())
    pairs = {}
    for name, value in plays[0]["vars"].items():
        match = MAPPING_RE.match(str(value))
        if match:
            pairs[name] = (match.group("param"), bool(match.group("first")))
    return pairs


def defaults(role):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def role_of(variable):
    return next(role for role in ROLES if variable.startswith(role + "_"))


def test_the_playbook_maps_thresholds_of_every_database_and_host_role():
    roles = {role_of(name) for name in mapping()}
    assert roles == {"os_hardening", "ssh_hardening", "mysql_hardening", "mongodb_hardening"}
    assert len(mapping()) >= 45


@pytest.mark.parametrize(("variable", "target"), sorted(mapping().items()))
def test_role_default_equals_the_catalogue_parameter(variable, target):
    param, first = target
    assert param in PARAMETERS, f"{variable} names {param}, which controls/djbh-l3.yml does not define"
    expected = PARAMETERS[param]["default"]
    if first:
        expected = expected[0]
    role_defaults = defaults(role_of(variable))
    assert variable in role_defaults, f"{variable} is not a default of roles/{role_of(variable)}"
    assert role_defaults[variable] == expected, (
        f"{variable} defaults to {role_defaults[variable]!r}, the catalogue's {param} to {expected!r}"
    )


def named_ids(role):
    ids = set()
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        for prefix, numbers in ID_RE.findall(path.read_text()):
            ids.update(prefix + n for n in numbers.split("/"))
    return ids


@pytest.mark.parametrize("role", ROLES)
def test_every_control_a_task_names_is_in_the_catalogue(role):
    unknown = named_ids(role) - CONTROL_IDS
    assert not unknown, f"roles/{role} names controls the catalogue does not have: {sorted(unknown)}"


@pytest.mark.parametrize("role", ROLES)
def test_every_control_the_catalogue_gives_the_role_is_named_by_one_of_its_tasks(role):
    # firewall's catalogue family is nftables; the others use the role names of the remediation.
    wanted = {
        c["id"]
        for c in CATALOGUE["controls"]
        if (c.get("remediation") or {}).get("role") == role and c.get("mode") != "manual"
    }
    missing = wanted - named_ids(role)
    assert not missing, f"the catalogue has roles/{role} remediate {sorted(missing)}, which no task names"
