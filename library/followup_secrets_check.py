#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the secrets gate, run on the control node before any host is touched.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_secrets_check
short_description: Refuse a run whose vault still holds missing, empty or placeholder secrets
description:
  - Checks every given secret (normally every C(vault_*) variable of the inventory) with the rule every role's
    assert task uses (module_utils/followup_secrets.py, through the filter C(followup_bad_secrets)). A value that is
    missing, empty or white space, or holds the placeholder C(CHANGE-ME) anywhere, cannot be used.
  - A gate (docs/architecture.md, "Gates") that never fails on a refusal. It returns RV(refused), one line per secret
    at fault naming the variable and the fix (an empty list when every secret is set), so that the gate play can
    collect every gate's refusals and the command line exits 2 before any host is touched.
  - Values are never returned or logged; only names are.
  - Fails only on bad input.
version_added: "0.1.0"
author: followup-ops
options:
  secrets:
    description: Secrets to check, variable name to value.
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: followup_release_check
notes:
  - An empty O(secrets) is refused too (the vault could not be read, or holds no C(vault_*) variable).
"""

EXAMPLES = r"""
- name: Check the vault's secrets before any host is touched
  followup_secrets_check:
    secrets: "{{ dict(__names | zip(query('ansible.builtin.vars', *__names))) }}"
  vars:
    __names: "{{ query('ansible.builtin.varnames', '^vault_') }}"
  register: __followup_secrets_gate
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
checked:
  description: Names of the secrets checked, sorted (never their values).
  returned: always
  type: list
  elements: str
  sample: [vault_mongodb_app_password, vault_mysql_app_password]
refused:
  description: One line per secret that is missing, empty or the placeholder, naming it and the fix; empty when the
    gate passes.
  returned: always
  type: list
  elements: str
  sample:
    - "vault_mysql_app_password is still the CHANGE-ME placeholder: put the real secret in the inventory's vault
      (ansible-vault edit group_vars/all/vault.yml), then retry"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.followup_secrets import refusals

NO_SECRETS = (
    "the inventory's vault holds no vault_* secrets: check that group_vars/all/vault.yml exists, defines the vault_* "
    "variables and opens with the vault password given"
)


def check(secrets):
    """The gate's result for the mapping SECRETS (name -> value): names checked and refusals, never values."""
    names = sorted(str(name) for name in secrets)
    refused = refusals(secrets) if names else [NO_SECRETS]
    return {
        "changed": False,
        "checked": names,
        "refused": refused,
        "msg": "; ".join(refused) if refused else "%d secrets set" % len(names),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            secrets=dict(type="dict", required=True, no_log=True),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**check(module.params["secrets"]))


if __name__ == "__main__":
    main()
