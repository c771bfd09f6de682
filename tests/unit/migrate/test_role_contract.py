"""roles/db_move/tasks/component.yml restarts a program at the cutover with followup_component's steps: it must give
followup_component exactly the inputs the program's own role gives it (roles/followup_<c>/tasks/main.yml), or the
cutover would render other settings than a deploy, plus only the database server the move points it at."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPONENT_TASKS = {"app": "the application", "fep": "the interface service", "voice": "the voice program"}


def role_inputs(component):
    tasks = yaml.safe_load((ROOT / f"roles/followup_{component}/tasks/main.yml").read_text())
    found = [
        t["vars"] for t in tasks if (t.get("ansible.builtin.include_role") or {}).get("tasks_from") == "install.yml"
    ]
    assert len(found) == 1
    return found[0]


def move_inputs(component):
    tasks = yaml.safe_load((ROOT / "roles/db_move/tasks/component.yml").read_text())
    found = [t for t in tasks if t.get("when") == f"__db_move_component == '{component}'"]
    assert len(found) == 1, component
    return dict(found[0]["vars"])


@pytest.mark.parametrize("component", sorted(COMPONENT_TASKS))
def test_the_move_gives_followup_component_the_roles_own_inputs(component):
    ours = move_inputs(component)
    ours.pop("followup_mysql_host", None)
    ours.pop("followup_mongodb_host", None)
    theirs = role_inputs(component)
    # The release is the one the host runs now, not the role's input.
    assert ours.pop("followup_component_release_version") == "{{ __db_move_versions." + component + " }}"
    theirs.pop("followup_component_release_version")
    assert ours == theirs


@pytest.mark.parametrize("component", ["app", "voice"])
def test_only_the_database_servers_are_overridden(component):
    ours = move_inputs(component)
    assert "__db_move_overrides.followup_mysql_host" in ours["followup_mysql_host"]
    assert "__db_move_overrides.followup_mongodb_host" in ours["followup_mongodb_host"]
