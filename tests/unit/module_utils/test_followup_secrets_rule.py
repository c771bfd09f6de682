"""The one rule for unusable secrets: missing, empty (or white space) or holding the CHANGE-ME placeholder."""

import pytest
from ansible.module_utils.followup_secrets import SENTINEL, bad_secrets, problem, refusal, refusals


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("  \t\n", "empty"),
        ("CHANGE-ME", "placeholder"),
        ("mongodb://cdr_app:CHANGE-ME@10.0.0.1:27017/cdr", "placeholder"),
        ("s3cret", None),
        ("change-me", None),  # the sentinel is exact: a real password may hold the words in lower case
        (12345, None),  # YAML reads an unquoted number as an int: it is still a value
    ],
)
def test_what_counts_as_unusable(value, why):
    assert problem(value) == why


def test_the_sentinel_is_what_the_production_vault_holds():
    assert SENTINEL == "CHANGE-ME"


def test_bad_secrets_are_named_sorted_and_never_valued():
    secrets = {"b_password": "CHANGE-ME", "a_password": "", "ok_password": "s3cret-ok", "c_password": None}
    assert bad_secrets(secrets) == ["a_password", "b_password", "c_password"]


def test_refusals_name_each_secret_and_the_fix_without_values():
    lines = refusals({"vault_a": "x-CHANGE-ME", "vault_b": " ", "vault_c": "fine-value"})
    assert lines == [
        "vault_a is still the CHANGE-ME placeholder: put the real secret in the inventory's vault "
        "(ansible-vault edit group_vars/all/vault.yml), then retry",
        "vault_b is empty: put the real secret in the inventory's vault "
        "(ansible-vault edit group_vars/all/vault.yml), then retry",
    ]
    assert "fine-value" not in repr(lines)


def test_one_line_refusal_groups_names_by_reason():
    line = refusal({"mysql_b": "CHANGE-ME", "mysql_a": "CHANGE-ME", "mysql_c": "", "mysql_d": None, "mysql_e": "ok"})
    assert line == (
        "mysql_d is missing; mysql_c is empty; mysql_a, mysql_b are still the CHANGE-ME placeholder: "
        "put the real secret in the inventory's vault (ansible-vault edit group_vars/all/vault.yml), then retry"
    )
    assert "\n" not in line


def test_no_refusal_when_every_secret_is_set():
    assert refusal({"a": "one", "b": "two"}) == ""
    assert refusals({"a": "one"}) == []
