"""The secrets gate: placeholder or empty secrets refuse the run naming the variable, values never come back."""

import followup_secrets_check as module
import pytest
from modulekit import run_module


def test_real_secrets_pass_and_only_names_come_back():
    result = run_module(module, {"secrets": {"vault_a": "s3cret-one", "vault_b": "s3cret-two"}})
    assert not result.get("failed") and result["checked"] == ["vault_a", "vault_b"]
    assert "s3cret" not in repr(result)


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("CHANGE-ME", "still a placeholder"),
        ("x-CHANGE-ME-x", "still a placeholder"),
        ("", "empty"),
        ("  ", "empty"),
        (None, "empty"),
    ],
)
def test_placeholder_or_empty_is_refused_naming_the_variable(value, word):
    result = run_module(module, {"secrets": {"vault_ok": "fine", "vault_mysql_app_password": value}})
    assert result["failed"] and result["followup_gate"] == "secrets"
    assert result["msg"].startswith(f"vault_mysql_app_password is {word} in the inventory's vault")


def test_no_secrets_at_all_is_refused():
    result = run_module(module, {"secrets": {}})
    assert result["failed"] and result["followup_gate"] == "secrets"
