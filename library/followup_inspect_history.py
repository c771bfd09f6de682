#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what an inspection (巡检) reads on the control node before it asks the hosts.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_inspect_history
short_description: Read an inspection's thresholds, history and the control node's records
description:
  - Runs on the control node (C(localhost)), read-only. Loads and validates the thresholds document
    (C(inspection/thresholds.yml)); reads the previous inspections of the inventory from the run records
    (C(runs/audit.jsonl) and C(runs/<id>/operation.json)) for the growth trends and the journal cursor of each
    host; and reads the evidence the inspection reports from the control node, that is the newest successful backup, the
    newest restore drill, the newest 等保 compliance score and the faults still open in the fault register
    (which fields of which records is fixed in C(docs/reports.md)).
  - When the run records directory does not exist (an AWX execution node), the history is empty and the evidence
    says C(records=false); the report then marks those items 不适用 rather than guessing.
version_added: "0.1.0"
author: followup-ops
options:
  runs_dir:
    description: The command line's run records (C(runs/), or C($FOLLOWUP_OPS_RUNS_DIR)).
    type: path
    required: true
  inventory:
    description: The inventory inspected (its directory); records of other inventories are ignored.
    type: str
    required: true
  thresholds_file:
    description: The thresholds document.
    type: path
    required: true
  operation_id:
    description: The id of the operation running this inspection, left out of the history.
    type: str
  history_days:
    description: How far back previous inspections are read.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyYAML on the control node
seealso:
  - module: followup_inspect_facts
  - module: followup_inspect_report
"""

EXAMPLES = r"""
- name: Read the thresholds, the previous inspections and the records of backups, drills, compliance and faults
  followup_inspect_history:
    runs_dir: "{{ playbook_dir }}/../runs"
    inventory: "{{ hostvars[groups['all'][0]]['inventory_dir'] }}"
    thresholds_file: "{{ playbook_dir }}/../inspection/thresholds.yml"
    operation_id: "{{ followup_operation_id | default(omit) }}"
  register: __followup_inspect_history
"""

RETURN = r"""
thresholds:
  description: The validated thresholds document.
  returned: always
  type: dict
  sample: {schema: 1, timezone: "+08:00", items: {disk.space: {warn: 80, crit: 90, direction: above}}}
history:
  description: Previous samples per host, newest first (disk use, table sizes, MySQL counters, journal cursor).
  returned: always
  type: dict
  sample: {app1: [{at: "2026-11-30T23:30:00Z", mounts: {/: {used: 18000000000, avail: 80000000000}}}]}
journal:
  description: Where each host's journal was read up to last time.
  returned: always
  type: dict
  sample: {app1: {cursor: "s=4c1e...;i=2a1", since: "2026-11-30T23:30:00Z"}}
evidence:
  description: The control node's records the inspection reports.
  returned: always
  type: dict
  sample:
    records: true
    backup: {operation: 20261201T180000Z-backup, at: "2026-12-01T18:04:10Z", id: B20261201T180000Z}
    drill: null
    compliance: {operation: 20261130T010000Z-compliance, score: 87.5}
    faults: {open: [F2026-003]}
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

try:
    from ansible.module_utils.followup_inspect import ThresholdError, validate
    from ansible.module_utils.followup_inspect_records import control_evidence, previous_inspections

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def load_thresholds(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, IOError) as err:
        raise ThresholdError("%s cannot be read (%s)" % (path, err))
    except yaml.YAMLError as err:
        raise ThresholdError("%s is not valid YAML (%s)" % (path, str(err).splitlines()[0]))
    return validate(data, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            runs_dir=dict(type="path", required=True),
            inventory=dict(type="str", required=True),
            thresholds_file=dict(type="path", required=True),
            operation_id=dict(type="str"),
            history_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_inspect*.py is missing: run from the followup-ops repository")
    p = module.params
    try:
        thresholds = load_thresholds(p["thresholds_file"])
    except ThresholdError as err:
        module.fail_json(msg=to_native(err))
    runs = os.path.abspath(p["runs_dir"])
    try:
        history = previous_inspections(runs, p["inventory"], exclude=p["operation_id"], max_days=p["history_days"])
        evidence = control_evidence(runs, p["inventory"])
    except (OSError, IOError, ValueError) as err:
        module.fail_json(msg="the run records in %s cannot be read: %s" % (runs, to_native(err)))
    journal = {}
    for host, samples in history.items():
        for sample in samples:
            if sample.get("journal_cursor"):
                journal[host] = {"cursor": sample["journal_cursor"], "since": sample.get("at")}
                break
    module.exit_json(changed=False, thresholds=thresholds, history=history, journal=journal, evidence=evidence)


if __name__ == "__main__":
    main()
