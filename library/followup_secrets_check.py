#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the secrets gate, run on the control node before any host is touched.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_secrets_check
short_description: Refuse a run whose vault still holds placeholder or empty secrets
description:
  - Checks every given secret (normally every C(vault_*) variable of the inventory) and refuses, with
    RV(followup_gate=secrets) and a message naming the first variable at fault, when one is empty or still holds
    the placeholder, so the command line exits 2 before any host is touched.
  - Values are never returned or logged.
version_added: "0.1.0"
author: followup-ops
options:
  secrets:
    description: Secrets to check, variable name to value.
    type: dict
    required: true
  placeholder:
    description: Text that marks a value nobody has set yet.
    type: str
    default: CHANGE-ME
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Refuse placeholder secrets before any host is touched
  followup_secrets_check:
    secrets: "{{ dict(__names | zip(query('ansible.builtin.vars', *__names))) }}"
  vars:
    __names: "{{ query('ansible.builtin.varnames', '^vault_') }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
checked:
  description: Names of the secrets checked (never their values).
  returned: always
  type: list
  elements: str
  sample: [vault_mysql_app_password, vault_mongodb_app_password]
followup_gate:
  description: C(secrets) when the gate refused; the command line exits 2 on it.
  returned: on refusal
  type: str
  sample: secrets
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            secrets=dict(type="dict", required=True, no_log=True),
            placeholder=dict(type="str", default="CHANGE-ME"),
        ),
        supports_check_mode=True,
    )
    secrets = module.params["secrets"]
    placeholder = module.params["placeholder"]
    names = sorted(secrets)
    if not names:
        module.fail_json(
            msg="the inventory's vault holds no vault_* secrets: check group_vars/all/vault.yml and its password",
            followup_gate="secrets",
            checked=[],
        )
    for name in names:
        value = "" if secrets[name] is None else str(secrets[name])
        if not value.strip() or placeholder in value:
            module.fail_json(
                msg="%s is %s in the inventory's vault: put the real secret there (ansible-vault edit "
                "group_vars/all/vault.yml), then retry"
                % (name, "empty" if not value.strip() else "still a placeholder"),
                followup_gate="secrets",
                checked=names,
            )
    module.exit_json(changed=False, checked=names, msg="%d secrets set" % len(names))


if __name__ == "__main__":
    main()
