#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what an upgrade keeps on each host (module_utils/followup_upgrade.py, docs/upgrade.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_upgrade_host
short_description: Read and keep an upgrade's records on a host - lease, approval used, steps reached
description:
  - Keeps on each host what an upgrade of the follow-up system must find there even when the control node that
    started it is gone (C(docs/upgrade.md)), under O(state_dir) (C(/var/lib/followup-ops)).
  - V(read) reports the releases the host runs (RV(components)), the host lease, the record of use of approval
    O(change_id) and the steps the last upgrade reached. It changes nothing, so the gates can call it before any
    host is touched.
  - V(begin) takes the host lease for O(operation) (refused while another live operation holds it), records the
    approval as C(in_progress) here (one approval, one upgrade; a second control node reading this record refuses
    to use it again) and starts the record of steps.
  - V(step) records that the upgrade reached O(step) (with O(data)) and renews the lease.
  - V(finish) records how the upgrade ended (O(outcome)) in the approval's record and the steps, and releases the
    lease.
  - V(mark_release) writes the approval (O(approval)) into C(.release.json) of release O(version) of every
    component on the host, the record the compliance check reads.
version_added: "0.1.0"
author: followup-ops
options:
  action:
    description: What to do (see the description).
    type: str
    required: true
    choices: [read, begin, step, finish, mark_release]
  state_dir:
    description: Where the records live on the host.
    type: path
    default: /var/lib/followup-ops
  base_dir:
    description: Base directory of the follow-up system's components (for V(read) and V(mark_release)).
    type: path
    default: /opt/followup
  change_id:
    description: The change id of the approval (required for V(begin), V(finish); with V(read) its record is read).
    type: str
  operation:
    description: The operation id of this upgrade (required for every action but V(read)).
    type: str
  holder:
    description:
      - Who holds the lease, for V(begin) (command, user, control_node); recorded with the lease and the approval.
    type: dict
    default: {}
  approval:
    description:
      - For V(begin), what the record of use keeps of the approval (change_id, from_release, to_release, approver,
        signer); for V(mark_release), what C(.release.json) gets as its C(approval).
    type: dict
    default: {}
  resume:
    description:
      - For V(begin), that this run resumes the upgrade an operation that died left C(in_progress) (the gate allowed
        it); its record is taken over instead of refused.
    type: bool
    default: false
  takeover:
    description:
      - For V(begin), operations whose lease may be replaced because the gate judged them gone (their lease expired,
        or their control node knows they died).
    type: list
    elements: str
    default: []
  step:
    description: For V(step), the step reached (start, install, freeze, backup, maintenance, migrate, ... done).
    type: str
  data:
    description: For V(step) and V(finish), what to record with it (backup ids, what failed, what was restored).
    type: dict
    default: {}
  outcome:
    description: For V(finish), how the upgrade ended.
    type: str
    choices: [completed, rolled_back, failed]
  version:
    description: For V(mark_release), the release whose C(.release.json) gets the approval.
    type: str
  lease_seconds:
    description: How long the host lease lasts after its last renewal.
    type: int
    default: 1800
attributes:
  check_mode:
    support: full
    details: V(read) is the same; the other actions say what they would write and write nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The lease is judged on the host's clock. An operation of the same control node that died is recognised by the
    gate module (the control node's own leases admit one operation at a time); one of another control node only
    when its lease expired.
seealso:
  - module: followup_approval_check
  - module: followup_precheck
"""

EXAMPLES = r"""
- name: Read what the host runs and whether approval CHG-2026-014 was used here
  followup_upgrade_host:
    action: read
    change_id: CHG-2026-014
  register: __followup_upgrade_host

- name: Take the host lease and record the approval as in use
  followup_upgrade_host:
    action: begin
    change_id: CHG-2026-014
    operation: 20261201T100000Z-upgrade
    holder: {command: upgrade, user: zhangwei, control_node: ops-01}
    approval: {change_id: CHG-2026-014, from_release: 1.0.0, to_release: 1.2.0}

- name: Record the approval in the installed release
  followup_upgrade_host:
    action: mark_release
    operation: 20261201T100000Z-upgrade
    version: 1.2.0
    approval: {change_id: CHG-2026-014, operation: 20261201T100000Z-upgrade}
"""

RETURN = r"""
components:
  description: Per component with a directory here, the release C(current) points at, the installed releases and
    the approval recorded in the current release's C(.release.json) (null when none).
  returned: always
  type: dict
  sample: {app: {current: 1.0.0, installed: [1.0.0], approval: null}}
lease:
  description: The host lease as found (null when there is none).
  returned: always
  type: dict
  sample: {operation: 20261201T100000Z-upgrade, control_node: ops-01, expires_at: 1796119200.0}
record:
  description: The record of use of approval O(change_id) on this host (null when it was never used here).
  returned: always
  type: dict
  sample: {change_id: CHG-2026-014, operation: 20261201T100000Z-upgrade, state: in_progress}
records:
  description: Every approval used on this host, change id -> its record (the gate looks up the one it checks).
  returned: always
  type: dict
  sample: {CHG-2026-013: {operation: 20261101T100000Z-upgrade, state: completed}}
upgrade:
  description: The record of steps of the last upgrade that reached this host (null when none).
  returned: always
  type: dict
  sample: {operation: 20261201T100000Z-upgrade, change_id: CHG-2026-014, step: migrate, steps: {}}
now:
  description: The host's clock (epoch seconds), to judge leases.
  returned: always
  type: float
  sample: 1796117400.5
marked:
  description: Components whose C(.release.json) got the approval (V(mark_release)).
  returned: when action is mark_release
  type: list
  elements: str
  sample: [app]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_approval import CHANGE_ID_RE
    from ansible.module_utils.followup_layout import COMPONENTS, component_root, installed_versions
    from ansible.module_utils.followup_upgrade import (
        APPROVALS_DIR,
        LEASE_FILE,
        STEPS,
        UPGRADE_FILE,
        HostLock,
        describe_lease,
        lease_state,
        mark_release,
        read_json,
        running_versions,
        write_json,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only when module_utils/ is not on the module_utils path
    HAS_UTILS = False


def _stamp(now):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _paths(params):
    state_dir = params["state_dir"]
    record = None
    if params["change_id"]:
        record = os.path.join(state_dir, APPROVALS_DIR, "%s.json" % params["change_id"])
    return state_dir, os.path.join(state_dir, LEASE_FILE), record, os.path.join(state_dir, UPGRADE_FILE)


def read_records(state_dir, limit=1000):
    """change_id -> record of every approval used on this host (at most LIMIT, newest names last)."""
    directory = os.path.join(state_dir, APPROVALS_DIR)
    if not os.path.isdir(directory):
        return {}
    records = {}
    for name in sorted(os.listdir(directory))[-limit:]:
        if name.endswith(".json") and CHANGE_ID_RE.match(name[: -len(".json")]):
            records[name[: -len(".json")]] = read_json(os.path.join(directory, name))
    return records


def read_state(params):
    state_dir, lease_path, record_path, upgrade_path = _paths(params)
    return {
        "components": running_versions(params["base_dir"], COMPONENTS),
        "lease": read_json(lease_path),
        "record": read_json(record_path) if record_path else None,
        "records": read_records(state_dir),
        "upgrade": read_json(upgrade_path),
        "now": time.time(),
    }


def _held(lease, now, params):
    """Whether LEASE keeps this operation out: held by another live operation the gate did not judge gone."""
    if lease_state(lease, now, params["operation"]) != "held":
        return False
    return lease.get("operation") not in params["takeover"]


def begin(module, params, found):
    state_dir, lease_path, record_path, upgrade_path = _paths(params)
    now = found["now"]
    lease = found["lease"]
    if _held(lease, now, params):
        module.fail_json(
            msg="another operation holds this host: %s; wait for it to finish, then retry" % describe_lease(lease),
            **found,
        )
    record = found["record"]
    resumable = params["resume"] and (record or {}).get("state") == "in_progress"
    if record and record.get("operation") != params["operation"] and not resumable:
        module.fail_json(
            msg="approval %s was already used here by operation %s (%s): one approval, one upgrade"
            % (params["change_id"], record.get("operation"), record.get("state")),
            **found,
        )
    holder = dict(params["holder"])
    new_lease = dict(
        holder,
        operation=params["operation"],
        acquired_at=now,
        acquired_at_text=_stamp(now),
        renewed_at=now,
        expires_at=now + params["lease_seconds"],
    )
    new_record = dict(
        params["approval"],
        change_id=params["change_id"],
        operation=params["operation"],
        control_node=holder.get("control_node"),
        user=holder.get("user"),
        state="in_progress",
        started_at=_stamp(now),
    )
    if record and record.get("operation") != params["operation"]:
        new_record["resumes"] = record.get("operation")
        new_record["started_at"] = record.get("started_at") or new_record["started_at"]
    upgrade = found["upgrade"] or {}
    if upgrade.get("change_id") == params["change_id"] and upgrade.get("state") == "in_progress":
        # A resumed upgrade keeps what the interrupted one reached (the rollback of the rerun reads it).
        new_upgrade = dict(upgrade, operation=params["operation"], resumed_from=upgrade.get("operation"))
    else:
        new_upgrade = {
            "change_id": params["change_id"],
            "operation": params["operation"],
            "from_release": params["approval"].get("from_release"),
            "to_release": params["approval"].get("to_release"),
            "state": "in_progress",
            "started_at": _stamp(now),
            "step": "start",
            "steps": {"start": {"at": _stamp(now)}},
            "data": {},
        }
    if module.check_mode:
        return {"changed": True, "lease": new_lease, "record": new_record, "upgrade": new_upgrade}
    with HostLock(state_dir):
        current = read_json(lease_path)
        if _held(current, time.time(), params):
            module.fail_json(msg="another operation took this host meanwhile: %s" % describe_lease(current), **found)
        write_json(lease_path, new_lease)
        write_json(record_path, new_record)
        write_json(upgrade_path, new_upgrade)
    return {"changed": True, "lease": new_lease, "record": new_record, "upgrade": new_upgrade}


def _own_lease(module, found, params):
    lease = found["lease"]
    if lease_state(lease, found["now"], params["operation"]) != "ours":
        module.fail_json(
            msg="operation %s does not hold this host's lease (%s): it was taken over or released; the upgrade stops "
            "here" % (params["operation"], describe_lease(lease) if lease else "no lease"),
            **found,
        )
    return lease


def step(module, params, found):
    state_dir, lease_path, _, upgrade_path = _paths(params)
    if params["step"] not in STEPS:
        module.fail_json(msg="step %s is not one of %s" % (params["step"], ", ".join(STEPS)))
    lease = _own_lease(module, found, params)
    now = found["now"]
    upgrade = dict(found["upgrade"] or {})
    if upgrade.get("operation") != params["operation"]:
        module.fail_json(
            msg="the host's record of steps belongs to operation %s, not %s"
            % (upgrade.get("operation"), params["operation"]),
            **found,
        )
    steps = dict(upgrade.get("steps") or {})
    steps[params["step"]] = {"at": _stamp(now), "operation": params["operation"]}
    data = dict(upgrade.get("data") or {})
    data.update(params["data"])
    upgrade.update(step=params["step"], steps=steps, data=data)
    lease = dict(lease, renewed_at=now, expires_at=now + params["lease_seconds"])
    if not module.check_mode:
        with HostLock(state_dir):
            write_json(upgrade_path, upgrade)
            write_json(lease_path, lease)
    return {"changed": True, "lease": lease, "upgrade": upgrade, "record": found["record"]}


def finish(module, params, found):
    state_dir, lease_path, record_path, upgrade_path = _paths(params)
    if not params["outcome"]:
        module.fail_json(msg="action finish needs outcome (completed, rolled_back or failed)")
    now = found["now"]
    record = dict(found["record"] or {})
    if record and record.get("operation") != params["operation"]:
        module.fail_json(
            msg="approval %s is recorded here for operation %s, not %s"
            % (params["change_id"], record.get("operation"), params["operation"]),
            **found,
        )
    record.update(state=params["outcome"], finished_at=_stamp(now), result=params["data"] or None)
    upgrade = dict(found["upgrade"] or {})
    if upgrade.get("operation") == params["operation"]:
        upgrade.update(state=params["outcome"], finished_at=_stamp(now))
        if params["data"]:
            upgrade["result"] = params["data"]
    lease = found["lease"]
    release = lease_state(lease, now, params["operation"]) == "ours"
    if not module.check_mode:
        with HostLock(state_dir):
            write_json(record_path, record)
            if upgrade.get("operation") == params["operation"]:
                write_json(upgrade_path, upgrade)
            if release:
                os.unlink(lease_path)
    return {"changed": True, "record": record, "upgrade": upgrade, "lease": None if release else lease}


def mark(module, params, found):
    version = params["version"]
    if not version:
        module.fail_json(msg="action mark_release needs version")
    marked = []
    for component in COMPONENTS:
        root = component_root(component, params["base_dir"])
        if version not in installed_versions(root):
            continue
        try:
            if mark_release(root, version, params["approval"], module.check_mode):
                marked.append(component)
        except ValueError as err:
            module.fail_json(msg=to_native(err), **found)
    return {"changed": bool(marked), "marked": marked}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["read", "begin", "step", "finish", "mark_release"]),
            state_dir=dict(type="path", default="/var/lib/followup-ops"),
            base_dir=dict(type="path", default="/opt/followup"),
            change_id=dict(type="str"),
            operation=dict(type="str"),
            holder=dict(type="dict", default={}),
            approval=dict(type="dict", default={}),
            resume=dict(type="bool", default=False),
            takeover=dict(type="list", elements="str", default=[]),
            step=dict(type="str"),
            data=dict(type="dict", default={}),
            outcome=dict(type="str", choices=["completed", "rolled_back", "failed"]),
            version=dict(type="str"),
            lease_seconds=dict(type="int", default=1800),
        ),
        required_if=[
            ("action", "begin", ("change_id", "operation")),
            ("action", "step", ("operation", "step")),
            ("action", "finish", ("change_id", "operation", "outcome")),
            ("action", "mark_release", ("operation", "version")),
        ],
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_upgrade.py is not on the module_utils path (see ansible.cfg)")
    params = module.params
    if params["change_id"] and not CHANGE_ID_RE.match(params["change_id"]):
        module.fail_json(msg="change_id %r is not a change id (letters, digits, - and _)" % params["change_id"])
    if params["lease_seconds"] < 60:
        module.fail_json(msg="lease_seconds must be at least 60")
    try:
        found = read_state(params)
        if params["action"] == "read":
            module.exit_json(changed=False, **found)
        handler = {"begin": begin, "step": step, "finish": finish, "mark_release": mark}[params["action"]]
        result = dict(found)
        result.update(handler(module, params, found))
        module.exit_json(**result)
    except (IOError, OSError) as err:
        module.fail_json(
            msg="the upgrade's records in %s cannot be written: %s" % (params["state_dir"], to_native(err))
        )


if __name__ == "__main__":
    main()
