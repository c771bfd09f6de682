#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the gate of a database move: every reason a phase may not run, and the plan's estimates.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_db_gate
short_description: Decide whether a phase of a database move may run, and estimate the move
description:
  - Runs on the control node with the probes (M(followup_migrate_db_probe)) of the source and the target. Returns
    every reason the phase may not run as one-line refusals (a target not in the inventory or in use, an older engine
    on the target, too little disk, no binary log on the source, replication stopped, a phase out of order), and the
    plan; sizes, versions, free disk, the measured network rate and the estimated copy time and write downtime.
  - Never fails on a refusal (the gate contract of docs/architecture.md); it returns C(refused) and the playbook
    reports it through set_stats; it fails only on bad input.
version_added: "0.1.0"
author: followup-ops
options:
  phase:
    description: The phase about to run.
    type: str
    required: true
    choices: [plan, prepare, sync, cutover, verify, rollback, finish]
  engine:
    description: The engine being moved.
    type: str
    required: true
    choices: [mysql, mongodb]
  source_name:
    description: Inventory name of the source.
    type: str
    required: true
  target_name:
    description: Inventory name of the target.
    type: str
    required: true
  target_address:
    description: The target's address (its MySQL server_id is derived from it).
    type: str
    default: ""
  in_inventory:
    description: Whether the target is a host of the inventory (false refuses before anything else).
    type: bool
    default: true
  target_groups:
    description: The inventory groups of the target, without the groups the playbook added it to.
    type: list
    elements: str
    default: []
  source:
    description: The source's probe (empty when it was not reached).
    type: dict
    default: {}
  target:
    description: The target's probe (empty when it was not reached).
    type: dict
    default: {}
  id:
    description: The migration's id (the target's local fact names the migration it belongs to).
    type: str
    default: ""
  state:
    description: The migration's state, from the hosts' local facts (empty before prepare).
    type: str
    default: ""
  last_verify:
    description: The last verification's result from the target's local fact (C(at), C(equal), C(state)); finish needs
      one that passed since the cutover.
    type: dict
    default: {}
  min_free_bytes:
    description: Bytes the target must keep free after the copy, on top of the headroom.
    type: int
    default: 0
  rates:
    description: Overrides of the estimates' rates (C(mysql_load_mb_s), C(mongodb_copy_mb_s), C(app_restart_s),
      C(switch_s), C(disk_headroom)).
    type: dict
    default: {}
  throughput_mb_s:
    description: Network rate measured between the two hosts, MB/s (0 when not measured).
    type: float
    default: 0
  mode:
    description: For MongoDB, C(dump) (dump/restore in a window) or C(replica_set).
    type: str
    default: dump
    choices: [dump, replica_set]
attributes:
  check_mode:
    support: full
    details: Computes only; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: followup_migrate_db_probe
"""

EXAMPLES = r"""
- name: Decide whether the sync may run
  followup_migrate_db_gate:
    phase: sync
    engine: mysql
    source_name: mysql1
    target_name: mysql2
    target_groups: [spare]
    source: "{{ hostvars['mysql1']['__db_move_probe'] }}"
    target: "{{ hostvars['mysql2']['__db_move_probe'] }}"
    id: db-mysql-mysql1-mysql2-20261201T203000Z
    state: prepared
  delegate_to: localhost
  register: __db_move_gate
"""

RETURN = r"""
refused:
  description: One line per reason the phase may not run; empty when it may.
  returned: always
  type: list
  elements: str
  sample: ["the target mysql2 lacks disk: 1.2 GiB free on /var/lib/mysql, 3.4 GiB needed ..."]
plan:
  description: What the move involves and the estimates (sizes in bytes, times in seconds).
  returned: always
  type: dict
  sample: {source_version: 10.11.19-MariaDB, target_version: 10.11.19-MariaDB, data_bytes: 152043520,
           target_free_bytes: 50000000000, throughput_mb_s: 105.3, copy_s: 7.6, write_downtime_s: 5.0}
users:
  description: Differences between the two servers' accounts (one line each; empty when equal or not comparable).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_dbmove import (
        MoveError,
        compare_users,
        estimate,
        gate,
        merged_rates,
        server_id_for,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            phase=dict(
                type="str",
                required=True,
                choices=["plan", "prepare", "sync", "cutover", "verify", "rollback", "finish"],
            ),
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            source_name=dict(type="str", required=True),
            target_name=dict(type="str", required=True),
            target_address=dict(type="str", default=""),
            in_inventory=dict(type="bool", default=True),
            target_groups=dict(type="list", elements="str", default=[]),
            source=dict(type="dict", default={}),
            target=dict(type="dict", default={}),
            id=dict(type="str", default=""),
            state=dict(type="str", default=""),
            last_verify=dict(type="dict", default={}),
            min_free_bytes=dict(type="int", default=0),
            rates=dict(type="dict", default={}),
            throughput_mb_s=dict(type="float", default=0),
            mode=dict(type="str", default="dump", choices=["dump", "replica_set"]),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove.py is missing: run from the followup-ops repository")
    p = module.params
    try:
        rates = merged_rates(p["rates"])
    except MoveError as err:
        module.fail_json(msg=to_native(err))
    if not p["in_inventory"]:
        module.exit_json(
            changed=False,
            plan={},
            users=[],
            refused=[
                "the target %s is not a host of the inventory: add it (in group spare) to the inventory's hosts "
                "file, or name one of its hosts with --to" % p["target_name"]
            ],
        )
    source, target = p["source"] or {}, p["target"] or {}
    context = dict(
        source_name=p["source_name"],
        target_name=p["target_name"],
        id=p["id"],
        state=p["state"] or None,
        target_groups=p["target_groups"],
        last_verify=p["last_verify"],
        min_free_bytes=p["min_free_bytes"],
        disk_headroom=rates["disk_headroom"],
    )
    refused = gate(p["phase"], p["engine"], source, target, context)
    se, te = source.get("engine") or {}, target.get("engine") or {}
    lag = ((te.get("replica") or {}).get("seconds_behind") or 0) if p["engine"] == "mysql" else 0
    plan = dict(
        source_version=se.get("version"),
        target_version=te.get("version"),
        target_candidate_version=te.get("candidate_version"),
        source_engine=se.get("engine") or se.get("flavour"),
        data_bytes=int(source.get("data_bytes") or 0),
        databases=se.get("databases") or {},
        target_free_bytes=target.get("free_bytes"),
        target_data_dir=target.get("data_dir"),
        source_log_bin=se.get("log_bin"),
        throughput_mb_s=p["throughput_mb_s"] or None,
        mode=p["mode"] if p["engine"] == "mongodb" else "replication",
    )
    plan.update(estimate(p["engine"], plan["data_bytes"], p["throughput_mb_s"], rates, mode=p["mode"], lag_s=lag))
    if p["engine"] == "mysql":
        # The target's server_id: stable for its address, never the source's.
        plan["target_server_id"] = server_id_for(p["target_address"] or p["target_name"], avoid=[se.get("server_id")])
    users = []
    if se.get("running") and te.get("running") and p["phase"] in ("verify", "cutover", "finish"):
        users = compare_users(source.get("users"), target.get("users"))
    module.exit_json(changed=False, refused=refused, plan=plan, users=users)


if __name__ == "__main__":
    main()
