#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: take a MySQL/MariaDB or MongoDB backup on the database host and send it, compressed and encrypted,
# to the backup host (docs/backup.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_backup_dump
short_description: Back up MySQL/MariaDB or MongoDB/FerretDB to the backup host, compressed and encrypted
description:
  - Runs on the database host as root. Streams a consistent dump (C(mariadb-dump)/C(mysqldump)
    C(--single-transaction) with routines, triggers, events and the binlog position; C(mariabackup)/C(xtrabackup)
    for O(method=physical); C(mongodump --archive), with C(--oplog) on a replica set) through C(zstd) and C(age) to the
    backup host's receiving account over SSH. No plaintext byte is written to any disk.
  - Row counts and content checksums per table or collection are computed from the dump stream itself and written,
    with the archive's sha256, size, binlog/oplog position, duration and throughput, to a manifest stored next to
    the archive.
  - Credentials come from root-only option files written by the backup role (C(/etc/followup-backup/)), never from
    the command line. The receiver keeps an upload only when it is complete and its sha256 matches, and never
    replaces a stored file.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Which database to back up.
    type: str
    required: true
    choices: [mysql, mongodb]
  method:
    description: C(logical) (a dump) or, for MySQL, C(physical) (mariabackup/xtrabackup, streamed as xbstream).
    type: str
    default: logical
    choices: [logical, physical]
  config:
    description: The agent configuration written by the backup role (target, recipients, tools; no secrets).
    type: path
    default: /etc/followup-backup/agent.json
attributes:
  check_mode:
    support: full
    details: Reads the size of the data and the backup host's free space (C(df) through the receiver) and reports
      what a backup would do; sends nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - zstd, age, ssh and the engine's dump tool on the database host (installed by the backup role)
  - pymongo (python3-pymongo) for O(engine=mongodb)
"""

EXAMPLES = r"""
- name: Back up MySQL
  followup_backup_dump:
    engine: mysql
  register: __backup_mysql

- name: Check what a physical backup would need
  followup_backup_dump:
    engine: mysql
    method: physical
  check_mode: true
"""

RETURN = r"""
backup:
  description: Summary of the backup (or, in check mode, of what it would need).
  returned: always
  type: dict
  sample: {id: mysql-mysql1-20261201T203000Z, bytes: 1048576, sha256: 9f86d0..., duration_s: 4.2,
           throughput_mb_s: 21.5, objects: 12, estimated_bytes: 25165824, target_free_bytes: 50000000000}
manifest:
  description: The manifest stored on the backup host (id, time, source host, engine and version, position, pitr,
    per-table or per-collection counts and checksums, archive sha256 and size, duration, throughput).
  returned: success, not in check mode
  type: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_backup import BackupError, new_backup_id
    from ansible.module_utils.followup_backup_agent import (
        load_config,
        mongodb_backup,
        mongodb_estimate,
        mysql_backup,
        mysql_estimate,
        target_of,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def estimate(config, engine):
    if engine == "mysql":
        return mysql_estimate(config["mysql"])
    return mongodb_estimate(config["mongodb"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            method=dict(type="str", default="logical", choices=["logical", "physical"]),
            config=dict(type="path", default="/etc/followup-backup/agent.json"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["engine"] == "mongodb" and p["method"] == "physical":
        module.fail_json(msg="method=physical is for MySQL only: MongoDB backups are mongodump archives")
    try:
        config = load_config(p["config"])
        if p["engine"] not in config:
            module.fail_json(
                msg="%s has no %s section: this host is not a %s host of the backup role"
                % (p["config"], p["engine"], p["engine"])
            )
        est_bytes, objects = estimate(config, p["engine"])
        if module.check_mode:
            summary = {
                "id": new_backup_id(p["engine"], config["host"], p["method"]),
                "engine": p["engine"],
                "method": p["method"],
                "estimated_bytes": est_bytes,
                "objects": objects,
            }
            summary["target_host"] = config["target"]["host"]
            try:
                summary["target_free_bytes"] = target_of(config).call("df")["free_bytes"]
                summary["target_reachable"] = True
            except BackupError as err:
                summary.update(target_reachable=False, target_error=to_native(err))
            module.exit_json(changed=False, backup=summary)
        manifest = mysql_backup(config, p["method"]) if p["engine"] == "mysql" else mongodb_backup(config)
    except BackupError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # an internal error: named, with its trace for the run record
        module.fail_json(
            msg="backup failed: %s: %s" % (type(err).__name__, to_native(err)), exception=traceback.format_exc()
        )
    summary = {
        "id": manifest["id"],
        "engine": manifest["engine"],
        "method": manifest["method"],
        "source_host": manifest["source_host"],
        "created_at": manifest["created_at"],
        "bytes": manifest["archive"]["bytes"],
        "plaintext_bytes": manifest["archive"]["plaintext_bytes"],
        "sha256": manifest["archive"]["sha256"],
        "path": manifest["archive"]["path"],
        "duration_s": manifest["duration_s"],
        "throughput_mb_s": manifest["throughput_mb_s"],
        "position": manifest["position"],
        "pitr": manifest["pitr"],
        "objects": len(manifest["objects"] or {}),
        "estimated_bytes": est_bytes,
    }
    summary["file"] = {
        "kind": "backup",
        "sha256": summary["sha256"],
        "bytes": summary["bytes"],
        "backup_id": summary["id"],
    }
    module.exit_json(changed=True, backup=summary, manifest=manifest)


if __name__ == "__main__":
    main()
