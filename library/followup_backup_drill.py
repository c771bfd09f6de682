#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: a restore drill on the backup host: restore the newest backup into a scratch instance, compare it
# with its manifest, record the result, clean up (docs/backup.md, "Restore drills").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_backup_drill
short_description: Restore a backup into a temporary instance, compare it with its manifest, record pass or fail
description:
  - Runs on the backup host as root. Starts a scratch instance that exists only for the drill (a second
    mariadbd on a unix socket; PostgreSQL and FerretDB, or a mongod, on 127.0.0.1), restores the chosen backup
    from the store into it (sha256 checked first, decrypted in a pipe with the identity given through a pipe),
    compares every table's or collection's row count and checksum with the manifest, and writes the drill's
    record (pass or fail, durations, differences) into the store next to the backup, where the catalogue and the
    quarterly report read it.
  - The scratch instance and its data are removed whatever happens (also when the restore fails); leftovers of a
    drill that was killed are removed before the next one starts.
  - A failed drill is a result, not an error. The module returns C(drill.result=fail) with the reason.
version_added: "0.1.0"
author: followup-ops
options:
  manifest:
    description: Manifest of the backup to drill (followup_backup_catalogue with C(brief=false) returns it whole).
    type: dict
    required: true
  identity:
    description: The age identity; never logged, never on disk.
    type: str
    required: true
  store_dir:
    description: The store.
    type: path
    default: /srv/followup-backup
  workdir:
    description: Where scratch instances keep their data for the drill's duration.
    type: path
    default: /var/lib/followup-backup-drill
  store_user:
    description: Owner of the store's files (the drill record is written as this user's file, read-only).
    type: str
    default: followup-backup
  mysql_server:
    description: The mysqld/mariadbd binary of the scratch MySQL instance.
    type: path
    default: /usr/sbin/mariadbd
  mysql_install_db:
    description: The program that initialises its data directory.
    type: path
    default: /usr/bin/mariadb-install-db
  mongodb_engine:
    description: Scratch engine for MongoDB backups.
    type: str
    default: ferretdb
    choices: [ferretdb, mongod]
  ferretdb:
    description: The FerretDB binary.
    type: path
    default: /usr/local/lib/followup-backup/ferretdb
  mongod:
    description: The mongod binary.
    type: path
    default: /usr/bin/mongod
  mongorestore:
    description: The mongorestore binary.
    type: path
    default: /usr/local/lib/followup-backup/mongorestore
  pg_bindir:
    description: PostgreSQL's binaries (initdb, postgres) for the FerretDB scratch instance.
    type: path
    default: /usr/lib/postgresql/15/bin
  mongodb_port:
    description: Port on 127.0.0.1 of the scratch MongoDB endpoint.
    type: int
    default: 27099
attributes:
  check_mode:
    support: full
    details: Reports which backup would be drilled and whether the work directory has room; starts nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Drill the newest MySQL backup
  followup_backup_drill:
    manifest: "{{ __backup_gate.backup.manifest }}"
    identity: "{{ backup_age_identity }}"
  no_log: true
"""

RETURN = r"""
finding:
  description: The drill as a finding for reports (control backup-drill, status pass or fail, title, expected,
    actual, evidence).
  returned: always
  type: dict
drill:
  description: The drill's record (backup_id, engine, source_host, started_at, finished_at, duration_s, result
    pass|fail, error, restore with load_s / verify_s / throughput_mb_s, objects_compared, differences, scratch,
    cleaned_up, record path).
  returned: always
  type: dict
"""

import datetime
import json
import os
import pwd
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_backup import BackupError, drill_relpath, validate_manifest
    from ansible.module_utils.followup_backup_agent import free_bytes, mongodb_restore, mysql_restore
    from ansible.module_utils.followup_backup_scratch import FerretdbScratch, MongodScratch, MysqlScratch
    from ansible.module_utils.followup_backup_store import Store

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def scratch_for(p, engine):
    if engine == "mysql":
        return MysqlScratch(p["workdir"], p["mysql_server"], p["mysql_install_db"])
    if p["mongodb_engine"] == "mongod":
        return MongodScratch(p["workdir"], p["mongod"], p["mongodb_port"])
    return FerretdbScratch(p["workdir"], p["ferretdb"], p["pg_bindir"], p["mongodb_port"])


def write_record(store, relpath, record, owner):
    path = store.path(relpath)
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o440)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.write("\n")
    try:
        entry = pwd.getpwnam(owner)
        os.chown(os.path.dirname(path), entry.pw_uid, entry.pw_gid)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    except KeyError:
        pass


def finding_of(record, host):
    passed = record["result"] == "pass"
    restore = record.get("restore") or {}
    return {
        "control": "backup-drill",
        "host": host,
        "status": "pass" if passed else "fail",
        "title": "恢复演练 restore drill (%s)" % record["engine"],
        "expected": "every table or collection of %s restored with the manifest's row count and checksum"
        % record["backup_id"],
        "actual": (
            "%d objects equal to the manifest; restored in %ss, verified in %ss"
            % (record.get("objects_compared", 0), restore.get("load_s"), restore.get("verify_s"))
            if passed
            else record.get("error", "failed")
        ),
        "evidence": record.get("record") or record["backup_id"],
        "backup_id": record["backup_id"],
        "duration_s": record.get("duration_s"),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type="dict", required=True),
            identity=dict(type="str", required=True, no_log=True),
            store_dir=dict(type="path", default="/srv/followup-backup"),
            workdir=dict(type="path", default="/var/lib/followup-backup-drill"),
            store_user=dict(type="str", default="followup-backup"),
            mysql_server=dict(type="path", default="/usr/sbin/mariadbd"),
            mysql_install_db=dict(type="path", default="/usr/bin/mariadb-install-db"),
            mongodb_engine=dict(type="str", default="ferretdb", choices=["ferretdb", "mongod"]),
            ferretdb=dict(type="path", default="/usr/local/lib/followup-backup/ferretdb"),
            mongod=dict(type="path", default="/usr/bin/mongod"),
            mongorestore=dict(type="path", default="/usr/local/lib/followup-backup/mongorestore"),
            pg_bindir=dict(type="path", default="/usr/lib/postgresql/15/bin"),
            mongodb_port=dict(type="int", default=27099),
        ),
        supports_check_mode=True,
    )
    p = module.params
    manifest = p["manifest"]
    problems = validate_manifest(manifest, "manifest")
    if problems:
        module.fail_json(msg="; ".join(problems))
    engine = manifest["engine"]
    store = Store(p["store_dir"])
    need = int((manifest["archive"].get("plaintext_bytes") or 0) * 3)
    free = free_bytes(p["workdir"])
    if module.check_mode:
        module.exit_json(
            changed=False,
            drill={
                "backup_id": manifest["id"],
                "engine": engine,
                "would_need_bytes": need,
                "workdir_free_bytes": free,
                "enough_space": free >= need,
            },
        )
    started = time.time()
    record = {
        "schema": 1,
        "backup_id": manifest["id"],
        "engine": engine,
        "source_host": manifest["source_host"],
        "started_at": _iso(started),
        "scratch": "temporary %s instance under %s"
        % (engine if engine == "mysql" else p["mongodb_engine"], p["workdir"]),
        "objects_compared": len(manifest.get("objects") or {}),
    }
    scratch = scratch_for(p, engine)
    try:
        if free < need:
            raise BackupError(
                "not enough free disk for the drill in %s: %d MB free, about %d MB needed"
                % (p["workdir"], free // 10**6, need // 10**6)
            )
        conn = scratch.start()
        source = ["cat", store.path(manifest["archive"]["path"])]
        answer = store.verify(manifest["archive"]["path"])
        if not answer["matches"] or answer["sha256"] != manifest["archive"]["sha256"]:
            raise BackupError("the stored archive's sha256 differs from its manifest: it was changed or damaged")
        if engine == "mysql":
            tool = manifest.get("tool") if manifest.get("tool") in ("mysqldump", "mariadb-dump") else "mysqldump"
            result = mysql_restore(
                {"client_tool": "mysql", "dump_tool": tool}, manifest, p["identity"], source, socket=conn["socket"]
            )
        else:
            result = mongodb_restore(manifest, p["identity"], source, conn["uri"], restore_tool=p["mongorestore"])
        result.pop("objects", None)
        record.update(result="pass", restore=result, differences=[])
    except BackupError as err:
        record.update(result="fail", error=to_native(err))
        if "differs from the manifest" in to_native(err):
            record["differences"] = to_native(err).split(": ", 1)[-1].split("; ")
    except Exception as err:  # an internal error is a failed drill too, and recorded as one
        record.update(result="fail", error="%s: %s" % (type(err).__name__, to_native(err)))
    finally:
        scratch.stop()
        shutil.rmtree(p["workdir"], ignore_errors=True)
        record["cleaned_up"] = not os.path.exists(p["workdir"])
    finished = time.time()
    record.update(finished_at=_iso(finished), duration_s=round(finished - started, 3))
    relpath = drill_relpath(manifest["id"])
    record["record"] = relpath
    try:
        write_record(store, relpath, record, p["store_user"])
    except OSError as err:
        module.fail_json(
            msg="the drill ran (%s) but its record could not be written to %s: %s"
            % (record["result"], relpath, to_native(err)),
            drill=record,
        )
    module.exit_json(changed=True, drill=record, finding=finding_of(record, os.uname()[1]))


if __name__ == "__main__":
    main()
