#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: an inspection (巡检), judged on the control node.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_inspect_report
short_description: Judge an inspection's figures against their thresholds, on the control node
description:
  - Takes what M(followup_inspect_facts) and M(followup_status) found on every host, the history and evidence of
    M(followup_inspect_history) and the signed release index (M(followup_release_check)), and judges every item
    正常 (pass), 注意 (warn) or 异常 (fail), with its threshold, value and evidence.
  - A host that was asked but gave no result did not answer, so every item its groups call for is 异常 (C(error),
    not checked), never 正常.
  - Returns the report the playbook hands to the command line and AWX through C(set_stats) under C(followup), with
    C(findings) keyed C(<host>/<item>[/<part>]) and C(data.inspection).
version_added: "0.1.0"
author: followup-ops
options:
  targets:
    description: The hosts the inspection asked.
    type: list
    elements: str
    required: true
  results:
    description:
      - What each host answered, C({host, inspection, status}), or C({host, error}) when its inspection failed.
    type: list
    elements: dict
    default: []
  history:
    description: The previous samples per host (M(followup_inspect_history) C(history)).
    type: dict
    default: {}
  evidence:
    description: The control node's records (M(followup_inspect_history) C(evidence)).
    type: dict
    default: {}
  index:
    description: The registered result of M(followup_release_check) on the signed release index.
    type: dict
    default: {}
  thresholds:
    description: The thresholds document (each answering host's merged thresholds come with its result).
    type: dict
    required: true
  inventory_groups:
    description: The inventory's groups (the C(groups) magic variable), to know which items an unreachable host was due.
    type: dict
    default: {}
  now:
    description: The time of the inspection (epoch seconds); the control node's clock when not given.
    type: float
attributes:
  check_mode:
    support: full
    details: Computes only.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: followup_inspect_facts
  - module: followup_inspect_history
"""

EXAMPLES = r"""
- name: Judge every item against its threshold
  followup_inspect_report:
    targets: "{{ __followup_inspect_targets }}"
    results: >-
      {{ __followup_inspect_targets | map('extract', hostvars) | selectattr('__followup_inspect_result', 'defined')
         | map(attribute='__followup_inspect_result') | list }}
    history: "{{ __followup_inspect_history.history }}"
    evidence: "{{ __followup_inspect_history.evidence }}"
    index: "{{ __followup_inspect_index }}"
    thresholds: "{{ __followup_inspect_history.thresholds }}"
    inventory_groups: "{{ groups }}"
  register: __followup_inspect_report
"""

RETURN = r"""
report:
  description: The set_stats report (docs/architecture.md, "What playbooks report").
  returned: always
  type: dict
  sample:
    findings:
      fep1/disk.space//:
        control: disk.space
        host: fep1
        status: fail
        level: 异常 abnormal
        title: 磁盘空间使用率 disk space used
        expected: 正常 < 80%；注意 ≥ 80%；异常 ≥ 90%
        actual: 95.2%（可用 free 0.8 GiB / 16.0 GiB）
        evidence: statvfs / (ext4)
        value: 95.2
    data:
      inspection: {generated_at: "2026-12-01T23:30:09Z", level: fail, counts: {pass: 80, warn: 3, fail: 1}}
level:
  description: The worst level of the inspection, C(pass), C(warn) or C(fail) (what the command line's exit code says).
  returned: always
  type: str
  sample: warn
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_inspect import ThresholdError, evaluate, exit_level, validate

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="str", required=True),
            results=dict(type="list", elements="dict", default=[]),
            history=dict(type="dict", default={}),
            evidence=dict(type="dict", default={}),
            index=dict(type="dict", default={}),
            thresholds=dict(type="dict", required=True),
            inventory_groups=dict(type="dict", default={}),
            now=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_inspect*.py is missing: run from the followup-ops repository")
    p = module.params
    try:
        thresholds = validate(p["thresholds"], "thresholds")
    except ThresholdError as err:
        module.fail_json(msg=to_native(err))
    results = {}
    for result in p["results"]:
        if isinstance(result, dict) and result.get("host"):
            results[str(result["host"])] = result
    groups = {}
    for group, members in (p["inventory_groups"] or {}).items():
        for host in members or []:
            groups.setdefault(host, []).append(group)
    report = evaluate(
        p["targets"], results, p["history"], p["evidence"], p["index"] or None, thresholds, now=p["now"], groups=groups
    )
    module.exit_json(changed=False, report=report, level=exit_level(report["findings"]))


if __name__ == "__main__":
    main()
