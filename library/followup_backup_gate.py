#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the gate of backup, restore and drill (docs/backup.md, "Gates"; docs/architecture.md, "Gates").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_backup_gate
short_description: Decide, before any host changes, whether a backup, restore or drill may run
description:
  - Runs on the control node. Never fails on a refusal. It returns C(refused), one line per reason (empty when the
    operation may run), as every followup-ops gate does; the play reports it and one task refuses with all reasons.
  - backup refuses a missing or malformed age recipient, an unreachable backup host and too little free disk there
    for the estimated size of the dump.
  - restore and drill refuse an unknown or incomplete backup id, a missing identity (key), an archive whose sha256
    changed on the backup host, a non-empty target without the explicit overwrite flag, and a point-in-time request
    the backup cannot serve.
version_added: "0.1.0"
author: followup-ops
options:
  action:
    description: The operation.
    type: str
    required: true
    choices: [backup, restore, drill]
  recipients:
    description: The age public keys backups are encrypted to.
    type: list
    elements: str
    default: []
  target:
    description: The backup host as the database hosts see it, C({host, reachable, error, free_bytes}).
    type: dict
    default: {}
  estimates:
    description: What each backup would read, C([{host, engine, estimated_bytes}]).
    type: list
    elements: dict
    default: []
  probes:
    description:
      - The check-mode results (C(backup)) of followup_backup_dump on each database host. Their estimates are added
        to O(estimates); the backup host as the database hosts reach it (reachable, free space) replaces O(target).
    type: list
    elements: dict
    default: []
  method:
    description: Backup method (physical backups are not compressed as well as dumps).
    type: str
    default: logical
  db:
    description: Which engines the backup is asked for (mysql, mongodb or all).
    type: str
    default: all
  identity_present:
    description: Whether the age identity is set and no placeholder (the identity itself never reaches the gate).
    type: bool
    default: false
  catalogue:
    description: The backups of the backup host's catalogue (followup_backup_catalogue C(backups)).
    type: dict
    default: {}
  backup_id:
    description: The backup asked for; empty means the newest complete logical backup of O(engine) and O(source_host).
    type: str
    default: ""
  engine:
    description: Engine of the restore or drill.
    type: str
  source_host:
    description: Source host whose newest backup is meant, when O(backup_id) is empty.
    type: str
  target_objects:
    description: Tables or collections holding data on the restore target.
    type: int
    default: 0
  overwrite:
    description: The explicit flag that allows restoring over a non-empty target.
    type: bool
    default: false
  until:
    description: Point-in-time request (MySQL).
    type: str
  stop_before:
    description: Statement to stop just before (MySQL).
    type: str
  binlogs:
    description: Binary logs of the source host on the backup host.
    type: list
    elements: str
    default: []
  verify:
    description: The backup host's answer to verify for the chosen archive, C({matches, sha256}).
    type: dict
attributes:
  check_mode:
    support: full
    details: Only computes; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Gate the backup
  followup_backup_gate:
    action: backup
    recipients: "{{ backup_age_recipients }}"
    target: "{{ __backup_target }}"
    estimates: "{{ __backup_estimates }}"
  register: __backup_gate
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
refused:
  description: One line per reason the operation may not run; empty when it may.
  returned: always
  type: list
  elements: str
backup:
  description: For restore and drill, the chosen backup (id, engine, host, time, manifest), or null.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_backup_gate import (
        backup_refusals,
        choose_backup,
        probe_target,
        restore_refusals,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["backup", "restore", "drill"]),
            recipients=dict(type="list", elements="str", default=[]),
            target=dict(type="dict", default={}),
            estimates=dict(type="list", elements="dict", default=[]),
            probes=dict(type="list", elements="dict", default=[]),
            method=dict(type="str", default="logical"),
            db=dict(type="str", default="all"),
            identity_present=dict(type="bool", default=False),
            catalogue=dict(type="dict", default={}),
            backup_id=dict(type="str", default=""),
            engine=dict(type="str"),
            source_host=dict(type="str"),
            target_objects=dict(type="int", default=0),
            overwrite=dict(type="bool", default=False),
            until=dict(type="str"),
            stop_before=dict(type="str"),
            binlogs=dict(type="list", elements="str", default=[]),
            verify=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["action"] == "backup":
        target, estimates = p["target"], list(p["estimates"])
        if p["probes"]:
            target, probed = probe_target(p["probes"])
            estimates += probed
        refused = backup_refusals(p["recipients"], target, estimates, p["method"], p["db"])
        module.exit_json(changed=False, refused=refused, backup=None)
    entry, refused = choose_backup(p["catalogue"], p["backup_id"] or None, p["engine"], p["source_host"])
    refused += restore_refusals(
        entry,
        p["identity_present"],
        p["target_objects"] if p["action"] == "restore" else 0,
        p["overwrite"],
        p["until"],
        p["stop_before"],
        p["binlogs"],
        p["verify"],
    )
    module.exit_json(changed=False, refused=refused, backup=entry)


if __name__ == "__main__":
    main()
