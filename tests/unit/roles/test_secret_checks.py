"""Every role's assert task checks its secrets with the one shared rule (filter_plugins/followup_secrets.py): run the
task's own `that` and `fail_msg` from tasks/assert.yml against the role's defaults and vars with placeholder inputs."""

import re
from pathlib import Path

import pytest
import yaml
from ansible.template import trust_as_template

ROLES = Path(__file__).resolve().parents[3] / "roles"

SET = "unit-test-only-value"
CASES = {
    "mysql": (
        {
            "mysql_app_password": "CHANGE-ME",
            "mysql_interface_password": "",
            "mysql_migrate_password": SET,
            "mysql_backup_password": SET,
        },
        ["mysql_app_password", "mysql_interface_password"],
    ),
    "mongodb": (
        {"mongodb_admin_password": SET, "mongodb_app_password": "x-CHANGE-ME", "mongodb_backup_password": " "},
        ["mongodb_app_password", "mongodb_backup_password"],
    ),
    "followup_app": (
        {
            "followup_app_mysql_password": "CHANGE-ME",
            "followup_app_mongodb_uri": f"mongodb://cdr_app:{SET}@10.0.0.1:27017/cdr",
            "followup_app_migrate": True,
            "followup_app_migrate_mysql_password": "",
        },
        ["followup_app_migrate_mysql_password", "followup_app_mysql_password"],
    ),
    "followup_fep": ({"followup_fep_mysql_password": "CHANGE-ME"}, ["followup_fep_mysql_password"]),
    "followup_voice": (
        {"followup_voice_mongodb_uri": "mongodb://cdr_app:CHANGE-ME@10.0.0.1:27017/cdr"},
        ["followup_voice_mongodb_uri"],
    ),
}


def secrets_task(role):
    tasks = yaml.safe_load((ROLES / role / "tasks" / "assert.yml").read_text())
    found = [t for t in tasks if "followup_bad_secrets" in str(t.get("ansible.builtin.assert", {}).get("that"))]
    assert len(found) == 1, f"roles/{role}/tasks/assert.yml: one task checks the secrets with followup_bad_secrets"
    return found[0]


@pytest.mark.parametrize("role", sorted(CASES))
def test_placeholder_secrets_are_refused_by_name(render, role):
    inputs, bad = CASES[role]
    task = secrets_task(role)
    renderer = render(role, **inputs, **(task.get("vars") or {}))
    (that,) = task["ansible.builtin.assert"]["that"]
    assert renderer.var(that) is False
    message = renderer.templar.template(trust_as_template(task["ansible.builtin.assert"]["fail_msg"]))
    assert message.endswith(
        "put the real secret in the inventory's vault (ansible-vault edit group_vars/all/vault.yml), then retry"
    )
    assert sorted(set(re.findall(r"\w+", message)) & set(inputs)) == bad
    assert SET not in message
    assert "no_log" not in task  # the message holds names only, and no_log would hide it


@pytest.mark.parametrize("role", sorted(CASES))
def test_real_secrets_pass(render, role):
    inputs, _bad = CASES[role]
    task = secrets_task(role)
    good = {name: SET if isinstance(value, str) else value for name, value in inputs.items()}
    (that,) = task["ansible.builtin.assert"]["that"]
    assert render(role, **good, **(task.get("vars") or {})).var(that) is True
