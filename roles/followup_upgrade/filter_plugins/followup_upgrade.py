"""Filters of the followup_upgrade role. The rules live in module_utils/followup_upgrade_checks.py (tested there).

- ``followup_upgrade_precheck``: the pre-check table of every host and its refusals (precheck_table).
- ``followup_upgrade_backup_ids``: {host: {engine: backup id}} of the backup role's results.
- ``followup_upgrade_pick``: each mapping of a list reduced to some keys.
- ``followup_upgrade_interrupted``: what an interrupted upgrade reached, from the hosts' records (interrupted).
- ``followup_upgrade_lost``: hosts of the upgrade dropped from the play (lost_hosts).
- ``followup_upgrade_lost_reason``: the one line that says so (lost_reason).
"""

import os

import ansible.module_utils

_MODULE_UTILS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "module_utils"
)
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_upgrade import backup_ids, interrupted, lost_hosts, lost_reason  # noqa: E402
from ansible.module_utils.followup_upgrade_checks import pick, precheck_table  # noqa: E402


def followup_upgrade_precheck(
    results, probes, backup_gate, inspections=None, inspect_host=None, resume=False, component_hosts=None
):
    return precheck_table(results, probes, backup_gate, inspections, inspect_host, resume, component_hosts)


def followup_upgrade_backup_ids(backups):
    return backup_ids(backups)


def followup_upgrade_pick(items, keys):
    return pick(items, keys)


def followup_upgrade_pick_one(item, keys):
    return (pick([item], keys) or [{}])[0]


def followup_upgrade_interrupted(records, operation):
    return interrupted(records, operation)


def followup_upgrade_lost(upgrade_hosts, targeted, active):
    return lost_hosts(upgrade_hosts, targeted, active)


def followup_upgrade_lost_reason(lost, step, rollback=False):
    return lost_reason(lost, step, rollback)


class FilterModule:
    def filters(self):
        return {
            "followup_upgrade_precheck": followup_upgrade_precheck,
            "followup_upgrade_interrupted": followup_upgrade_interrupted,
            "followup_upgrade_pick": followup_upgrade_pick,
            "followup_upgrade_pick_one": followup_upgrade_pick_one,
            "followup_upgrade_backup_ids": followup_upgrade_backup_ids,
            "followup_upgrade_lost": followup_upgrade_lost,
            "followup_upgrade_lost_reason": followup_upgrade_lost_reason,
        }
