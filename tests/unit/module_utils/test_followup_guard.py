"""What a command line may not do to a playbook that changes hosts."""

import pytest
from ansible.module_utils import followup_guard as guard


@pytest.mark.parametrize(
    "name",
    [
        "followup_release",
        "followup_release_repository",
        "followup_release_signers",
        "followup_approval_signers",
        "followup_component_release",
        "followup_component_name",
        "followup_app_release",
        "followup_app_release_version",
        "followup_voice_release",
        "__followup_component_manifest",
        "_anything",
        "inventory_dir",
        "playbook_dir",
    ],
)
def test_names_the_gates_verify_or_only_the_inventory_sets_are_refused(name):
    assert guard.forbidden_extra_vars([name, "followup_release_version"]) == [name]


@pytest.mark.parametrize("name", ["followup_release_version", "followup_seed_scale", "ansible_become_password", "x"])
def test_requests_and_unrelated_names_pass(name):
    assert guard.forbidden_extra_vars([name]) == []


def test_every_reason_is_given_at_once():
    reasons = guard.refusals(["always", "other"], "Switch current", ["followup_release", "__x"])
    assert len(reasons) == 3
    assert reasons[0].startswith("--skip-tags always would skip the gates")
    assert reasons[1].startswith("--start-at-task would skip the gates")
    assert "extra variables __x, followup_release may not be passed" in reasons[2]


def test_skipping_other_tags_is_fine():
    assert guard.refusals(["role::followup_fep", "mysql_accounts"], None, []) == []
    assert guard.refusals(["followup_gate"], None, [])[0].startswith("--skip-tags followup_gate")


def test_the_command_line_of_the_running_ansible_is_read(monkeypatch):
    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.utils import vars as ansible_vars

    # ansible-playbook reads its extra variables once and keeps them on the function; start each case afresh.
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)

    monkeypatch.setattr(
        context,
        "CLIARGS",
        ImmutableDict(skip_tags=("always",), start_at_task=None, extra_vars=("followup_release={}", "a=1")),
    )
    reasons = guard.cli_refusals()
    assert len(reasons) == 2 and "followup_release may not be passed" in reasons[1]
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", None)
    monkeypatch.setattr(
        context, "CLIARGS", ImmutableDict(skip_tags=(), start_at_task=None, extra_vars=("@/nonexistent",))
    )
    assert "could not be read" in guard.cli_refusals()[0]
