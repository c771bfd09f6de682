#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: judge a database move's verification: findings per table, indexes, accounts and applications.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_db_report
short_description: Turn a database move's verification into findings
description:
  - Runs on the control node after a verify phase. From the comparison of the two servers
    (M(followup_table_checksum)), the accounts' differences (M(followup_migrate_db_gate)), the applications' checks and
    the new server's sessions, makes one finding per table or collection, one for the indexes, one for the accounts
    and, after the cutover, one per application (health with the database UP, one real request through the
    front-end server, connected to the new server), with the schema of docs/architecture.md ("findings").
  - Returns C(equal) (nothing failed) and C(refused), one line per failing finding.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: The engine of the move.
    type: str
    required: true
    choices: [mysql, mongodb]
  target:
    description: The target's inventory name (the findings' host).
    type: str
    required: true
  state:
    description: The migration's state (C(synced) before the cutover, C(cutover) after it).
    type: str
    required: true
  data:
    description: The comparison's result; omitted when the data was not compared.
    type: dict
  users_differ:
    description: Differences of the accounts, one line each.
    type: list
    elements: str
    default: []
  apps:
    description: Per client host, its check (component, health_status, health, request_status, request_items).
    type: dict
    default: {}
  sessions:
    description: The new server's sessions by account@address (MySQL).
    type: dict
  addresses:
    description: The client hosts' addresses by inventory name.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Computes only.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: followup_table_checksum
"""

EXAMPLES = r"""
- name: Judge the verification
  followup_migrate_db_report:
    engine: mysql
    target: mysql2
    state: cutover
    data: "{{ __db_move_verify }}"
    apps: {app1: {component: app, health_status: 200, health: {mysql: UP}}}
    sessions: {followup_app@10.89.50.12: 2}
    addresses: {app1: 10.89.50.12}
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: The findings by id (<target>/migrate/<part>).
  returned: always
  type: dict
equal:
  description: Whether no finding failed.
  returned: always
  type: bool
refused:
  description: One line per failing finding.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_dbmove import verify_findings

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            target=dict(type="str", required=True),
            state=dict(type="str", required=True),
            data=dict(type="dict"),
            users_differ=dict(type="list", elements="str", default=[]),
            apps=dict(type="dict", default={}),
            sessions=dict(type="dict"),
            addresses=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove.py is missing: run from the followup-ops repository")
    p = module.params
    findings, refused = verify_findings(
        p["engine"], p["target"], p["data"], p["users_differ"], p["apps"], p["sessions"], p["state"], p["addresses"]
    )
    module.exit_json(changed=False, findings=findings, equal=not refused, refused=refused)


if __name__ == "__main__":
    main()
