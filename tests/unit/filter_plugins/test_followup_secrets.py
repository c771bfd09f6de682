"""filter_plugins/followup_secrets.py: the placeholder-secret check of every role's assert task."""

import followup_secrets
import pytest
from ansible.errors import AnsibleError

FILTERS = followup_secrets.FilterModule().filters()


def test_names_of_bad_secrets_as_plain_functions():
    secrets = {"mysql_app_password": "CHANGE-ME", "mysql_backup_password": "", "mysql_migrate_password": "set-1"}
    assert FILTERS["followup_bad_secrets"](secrets) == ["mysql_app_password", "mysql_backup_password"]
    assert FILTERS["followup_bad_secrets"]({"a": "set"}) == []


def test_refusal_is_one_line_with_names_only():
    line = FILTERS["followup_secrets_refusal"]({"mongodb_app_password": "CHANGE-ME", "mongodb_admin_password": "s3t"})
    assert line.startswith("mongodb_app_password is still the CHANGE-ME placeholder: put the real secret")
    assert "s3t" not in line
    assert FILTERS["followup_secrets_refusal"]({"a": "set"}) == ""


def test_an_undefined_input_counts_as_missing_in_a_play(jinja):
    """A role builds the mapping from its inputs; one that is not defined at all is named, not a templating error."""
    variables = {
        "mysql_app_password": "set-in-vault",
        "__mysql_secrets": {
            "mysql_app_password": "{{ mysql_app_password }}",
            "mysql_root_password": "{{ mysql_root_password }}",
            "mysql_backup_password": "{{ vault_mysql_backup_password }}",
        },
        "vault_mysql_backup_password": "CHANGE-ME",
    }
    assert jinja("__mysql_secrets | followup_bad_secrets", **variables) == [
        "mysql_backup_password",
        "mysql_root_password",
    ]
    line = jinja("__mysql_secrets | followup_secrets_refusal", **variables)
    assert line.startswith("mysql_root_password is missing; mysql_backup_password is still the CHANGE-ME placeholder")


def test_a_mapping_that_is_not_there_is_a_clear_error(jinja):
    with pytest.raises(AnsibleError, match=r"followup_bad_secrets takes a mapping .* got an undefined variable"):
        jinja("__nowhere | followup_bad_secrets")
    with pytest.raises(AnsibleError, match="got list"):
        jinja("['mysql_app_password'] | followup_bad_secrets")
