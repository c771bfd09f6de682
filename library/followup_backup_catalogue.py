#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the catalogue of the backup host's store; verification of a stored archive; expiry (docs/backup.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_backup_catalogue
short_description: List, verify and expire the backups kept on the backup host
description:
  - Runs on the backup host as root, on the store the receiver fills (C(/srv/followup-backup)).
  - O(action=list) returns every backup with its manifest, size, age, the result of its last restore drill
    (verification state) and its retention tier (daily, weekly, monthly, quarterly, or newest-verified / newest),
    and the binary logs shipped per database host.
  - O(action=verify) recomputes the sha256 of one stored archive and compares it with the one recorded when it
    arrived.
  - O(action=expire) removes what the retention tiers no longer keep; it never removes the newest verified backup
    nor the newest backup of a source, and keeps the binary logs from the oldest kept MySQL backup's position on.
    The backup role's expiry timer runs the same code.
version_added: "0.1.0"
author: followup-ops
options:
  action:
    description: What to do.
    type: str
    default: list
    choices: [list, verify, expire]
  store_dir:
    description: The store.
    type: path
    default: /srv/followup-backup
  path:
    description: For O(action=verify), the stored file (C(<kind>/<host>/<file>)).
    type: str
  policy:
    description: Retention, how many of each tier to keep.
    type: dict
    default: {daily: 7, weekly: 5, monthly: 12, quarterly: 8}
  brief:
    description: Leave the per-table objects out of the returned manifests (the list stays small).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: list and verify only read; expire reports what it would remove and removes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the catalogue
  followup_backup_catalogue:
  register: __backup_catalogue

- name: Verify one archive before restoring it
  followup_backup_catalogue:
    action: verify
    path: mysql/mysql1/mysql-mysql1-20261201T203000Z.sql.zst.age
"""

RETURN = r"""
backups:
  description: Backup id -> {id, engine, method, host, time, bytes, tier, verified, verification, verified_at,
    complete, problems, manifest, drills}.
  returned: action list and expire
  type: dict
binlogs:
  description: Source host -> shipped binary logs (name, path, bytes, sha256, stored_at), in sequence order.
  returned: action list
  type: dict
rows:
  description: Backup id -> what `followup-ops backup list` shows (engine, host, method, time, age_days, bytes,
    tier, verification, verified_at, pitr, complete).
  returned: action list
  type: dict
binlog_summary:
  description: Source host -> {count, bytes, newest, newest_stored_at} of its shipped binary logs.
  returned: action list
  type: dict
free_bytes:
  description: Free space of the store's file system.
  returned: always
  type: int
verify:
  description: path, sha256, recorded_sha256, bytes, matches.
  returned: action verify
  type: dict
expired:
  description: Backup ids removed (or that would be, in check mode) and the files.
  returned: action expire
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_backup_store import Refusal, Store, expire

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def brief(catalogue):
    for entry in catalogue["backups"].values():
        manifest = dict(entry["manifest"])
        objects = manifest.pop("objects", None) or {}
        manifest["object_count"] = len(objects)
        entry["manifest"] = manifest
        entry["drills"] = [dict((k, v) for k, v in d.items() if k != "objects") for d in entry.get("drills", [])]
    return catalogue


def list_rows(catalogue, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rows = {}
    for bid, entry in catalogue["backups"].items():
        when = datetime.datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        manifest = entry.get("manifest") or {}
        rows[bid] = {
            "engine": entry["engine"],
            "host": entry["host"],
            "method": entry["method"],
            "time": entry["time"],
            "age_days": round((now - when).total_seconds() / 86400, 1),
            "bytes": entry.get("bytes") or 0,
            "tier": entry.get("tier") or "expiring",
            "verification": entry.get("verification"),
            "verified_at": entry.get("verified_at"),
            "complete": entry.get("complete"),
            "pitr": (manifest.get("pitr") or {}).get("possible", False),
            "duration_s": manifest.get("duration_s"),
            "throughput_mb_s": manifest.get("throughput_mb_s"),
        }
    return rows


def binlog_summary(catalogue):
    out = {}
    for host, logs in catalogue["binlogs"].items():
        out[host] = {
            "count": len(logs),
            "bytes": sum(b["bytes"] for b in logs),
            "newest": logs[-1]["name"] if logs else None,
            "newest_stored_at": logs[-1]["stored_at"] if logs else None,
        }
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", default="list", choices=["list", "verify", "expire"]),
            store_dir=dict(type="path", default="/srv/followup-backup"),
            path=dict(type="str"),
            policy=dict(type="dict", default={"daily": 7, "weekly": 5, "monthly": 12, "quarterly": 8}),
            brief=dict(type="bool", default=True),
        ),
        required_if=[("action", "verify", ["path"])],
        supports_check_mode=True,
    )
    p = module.params
    store = Store(p["store_dir"])
    try:
        free = store.df()["free_bytes"]
        if p["action"] == "verify":
            module.exit_json(changed=False, verify=store.verify(p["path"]), free_bytes=free)
        if p["action"] == "expire":
            plan = expire(store, p["policy"], dry_run=module.check_mode)
            module.exit_json(
                changed=bool(plan["files"]) and not module.check_mode,
                expired={"backups": plan["backups"], "files": plan["files"]},
                free_bytes=free,
            )
        catalogue = store.catalogue(p["policy"])
    except Refusal as err:
        module.fail_json(msg=to_native(err))
    except (OSError, ValueError) as err:
        module.fail_json(msg="reading the store %s failed: %s" % (p["store_dir"], to_native(err)))
    rows = list_rows(catalogue)
    if p["brief"]:
        catalogue = brief(catalogue)
    module.exit_json(
        changed=False,
        backups=catalogue["backups"],
        binlogs=catalogue["binlogs"],
        rows=rows,
        binlog_summary=binlog_summary(catalogue),
        free_bytes=free,
    )


if __name__ == "__main__":
    main()
