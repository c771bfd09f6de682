"""The secrets gate: it never fails on a refusal, it returns `refused` (one line per secret at fault, naming it) and
`checked` (names only); values never come back."""

import followup_secrets_check as module
import pytest
from modulekit import run_module


def test_real_secrets_pass_and_only_names_come_back():
    result = run_module(module, {"secrets": {"vault_b": "s3cret-two", "vault_a": "s3cret-one"}})
    assert not result.get("failed") and result["changed"] is False
    assert result["refused"] == []
    assert result["checked"] == ["vault_a", "vault_b"]
    assert "s3cret" not in repr(result)


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("CHANGE-ME", "still the CHANGE-ME placeholder"),
        ("x-CHANGE-ME-x", "still the CHANGE-ME placeholder"),
        ("", "empty"),
        ("  ", "empty"),
        (None, "missing"),
    ],
)
def test_placeholder_or_empty_is_refused_naming_the_variable(value, word):
    result = run_module(module, {"secrets": {"vault_ok": "fine-secret", "vault_mysql_app_password": value}})
    assert not result.get("failed") and result["changed"] is False
    assert result["refused"] == [
        f"vault_mysql_app_password is {word}: put the real secret in the inventory's vault "
        "(ansible-vault edit group_vars/all/vault.yml), then retry"
    ]
    assert result["checked"] == ["vault_mysql_app_password", "vault_ok"]
    assert "fine-secret" not in repr(result)


def test_every_bad_secret_is_refused_not_only_the_first():
    result = run_module(module, {"secrets": {"vault_z": "CHANGE-ME", "vault_a": "", "vault_m": "set"}})
    assert [line.split(" ", 1)[0] for line in result["refused"]] == ["vault_a", "vault_z"]


def test_no_secrets_at_all_is_refused():
    result = run_module(module, {"secrets": {}})
    assert not result.get("failed")
    assert result["checked"] == []
    assert len(result["refused"]) == 1 and "holds no vault_* secrets" in result["refused"][0]


def test_same_result_in_check_mode():
    secrets = {"secrets": {"vault_a": "CHANGE-ME"}}
    assert run_module(module, secrets, check_mode=True)["refused"] == run_module(module, secrets)["refused"]


def test_a_secrets_option_that_is_not_a_mapping_is_bad_input():
    result = run_module(module, {"secrets": ["vault_a"]})
    assert result["failed"] and "secrets" in result["msg"]
