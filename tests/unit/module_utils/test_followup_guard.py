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
        "followup_app_listen",
        "followup_app_allowed_clients",
        "followup_app_peers",
        "followup_voice_address",
        "followup_fep_no_log",
        "mysql_no_log",
        "playbook_dir",
        "db_move_min_free_bytes",
        "db_move_max_lag_wait",
        "db_move_catchup_timeout",
        "db_move_retire_source",
        "db_move_clients",
        "server_move_min_free_bytes",
        "server_move_peer_settings",
        "server_move_stage_dir",
    ],
)
def test_names_the_gates_verify_or_only_the_inventory_sets_are_refused(name):
    assert guard.forbidden_extra_vars([name, "followup_release_version"]) == [name]


@pytest.mark.parametrize(
    "name",
    [
        "followup_release_version",
        "followup_seed_scale",
        "ansible_become_password",
        "x",
        "db_move_engine",
        "db_move_target",
        "db_move_source",
        "db_move_phase",
        "db_move_id",
        "server_move_component",
        "server_move_target",
        "server_move_phase",
    ],
)
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


def test_skipping_every_tagged_task_skips_the_gates_too_and_is_refused():
    # Ansible's special tag `tagged`: --skip-tags tagged skips every task that has a tag, the gates' included.
    assert guard.refusals(["tagged"], None, [])[0].startswith("--skip-tags tagged would skip the gates")
    assert guard.refusals(["untagged", "all"], None, []) == []  # the gates (tagged always) still run


def test_stepping_through_the_tasks_is_refused():
    reasons = guard.refusals([], None, [], step=True)
    assert len(reasons) == 1 and reasons[0].startswith("--step would let each gate task be answered 'no'")


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
    monkeypatch.setattr(
        context, "CLIARGS", ImmutableDict(skip_tags=("tagged",), start_at_task=None, extra_vars=(), step=True)
    )
    assert [r.split(" ", 1)[0] for r in guard.cli_refusals()] == ["--skip-tags", "--step"]
