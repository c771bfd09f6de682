#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the gate of a server program's move: every reason a phase may not run, and the plan.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_server_gate
short_description: Decide whether a phase of a server program's move may run, and plan the move
description:
  - Runs on the control node with the probes (M(followup_migrate_server_probe)) of the source and the target.
    Returns every reason the phase may not run as one-line refusals (a target not in the inventory or in use, a
    source that is not in the component's group or does not run it, another operating system, too little disk, a
    phase out of order, finish without a verify that passed since the cutover), and the plan (the release, the
    sizes of what is copied, both hosts' systems and the target's free disk).
  - Never fails on a refusal (the gate contract of docs/architecture.md); the playbook reports C(refused) through
    set_stats and then refuses with all of them.
version_added: "0.1.0"
author: followup-ops
options:
  phase:
    description: The phase about to run.
    type: str
    required: true
    choices: [plan, prepare, cutover, verify, rollback, finish]
  component:
    description: The component moved.
    type: str
    required: true
    choices: [app, fep, voice]
  source_name:
    description: Inventory name of the source.
    type: str
    required: true
  target_name:
    description: Inventory name of the target.
    type: str
    required: true
  in_inventory:
    description: Whether the target is a host of the inventory.
    type: bool
    default: true
  source_in_group:
    description: Whether the source is a host of the component's group in the inventory (before this run).
    type: bool
    default: true
  target_groups:
    description: The target's inventory groups, without those the playbook added it to.
    type: list
    elements: str
    default: []
  source:
    description: The source's probe.
    type: dict
    default: {}
  target:
    description: The target's probe.
    type: dict
    default: {}
  id:
    description: The migration's id.
    type: str
    default: ""
  state:
    description: The migration's state from the target's local fact (empty before prepare).
    type: str
    default: ""
  last_verify:
    description: The last verify's result from the target's local fact (C(at), C(passed), C(state)).
    type: dict
    default: {}
  min_free_bytes:
    description: Bytes the target must keep free after the copy.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    details: Computes only.
"""

EXAMPLES = r"""
- name: Decide whether the cutover may run
  followup_migrate_server_gate:
    phase: cutover
    component: app
    source_name: app1
    target_name: app2
    source: "{{ hostvars['app1']['__server_move_probe'] }}"
    target: "{{ hostvars['app2']['__server_move_probe'] }}"
    id: server-app-app1-app2-20261202T070000Z
    state: prepared
  delegate_to: localhost
"""

RETURN = r"""
refused:
  description: One line per reason the phase may not run; empty when it may.
  returned: always
  type: list
  elements: str
plan:
  description: The release, the sizes of what is copied (bytes), the systems and the target's free disk.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.followup_srvmove import gate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            phase=dict(
                type="str", required=True, choices=["plan", "prepare", "cutover", "verify", "rollback", "finish"]
            ),
            component=dict(type="str", required=True, choices=["app", "fep", "voice"]),
            source_name=dict(type="str", required=True),
            target_name=dict(type="str", required=True),
            in_inventory=dict(type="bool", default=True),
            source_in_group=dict(type="bool", default=True),
            target_groups=dict(type="list", elements="str", default=[]),
            source=dict(type="dict", default={}),
            target=dict(type="dict", default={}),
            id=dict(type="str", default=""),
            state=dict(type="str", default=""),
            last_verify=dict(type="dict", default={}),
            min_free_bytes=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    refused, plan = gate(p["phase"], p["component"], p["source"], p["target"], p)
    module.exit_json(changed=False, refused=refused, plan=plan)


if __name__ == "__main__":
    main()
