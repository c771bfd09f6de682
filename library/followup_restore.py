#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: restore a MySQL/MariaDB or MongoDB backup from the backup host, verified (docs/backup.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_restore
short_description: Restore a verified backup into MySQL/MariaDB or MongoDB/FerretDB, then compare it with its manifest
description:
  - Runs on the restore target as root. Checks the archive's sha256 on the backup host before anything is loaded,
    streams it from the backup host through C(age --decrypt) (the identity through a pipe, never a file) and
    C(zstd -d) into the C(mysql) client or C(mongorestore), then computes every table's or collection's row count
    and content checksum on the restored copy the way the backup did and compares them with the manifest.
  - Refuses a target whose databases already hold data unless O(overwrite=true). When the restore into an empty
    target fails, the databases it created are dropped again, so nothing half-restored is left behind.
  - >-
    MySQL point-in-time recovery. With O(until) or O(stop_before), the binary logs shipped since the backup are
    applied with C(mysqlbinlog) from the backup's position up to that time, or up to just before the transaction
    holding that statement.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Engine of the backup.
    type: str
    required: true
    choices: [mysql, mongodb]
  manifest:
    description: The backup's manifest, as the catalogue on the backup host returned it (followup_backup_catalogue).
    type: dict
    required: true
  identity:
    description: The age identity (C(AGE-SECRET-KEY-1...)) that decrypts the backup; never logged, never on disk.
    type: str
    required: true
  source:
    description: C(ssh) fetches the archive through the receiving account (a database host of the backup role);
      C(local) reads it from O(store_dir) (the backup host itself, for drills).
    type: str
    default: ssh
    choices: [ssh, local]
  config:
    description: The agent configuration of the backup role (the backup host and this host's key), for O(source=ssh).
    type: path
    default: /etc/followup-backup/agent.json
  store_dir:
    description: The backup store, for O(source=local).
    type: path
    default: /srv/followup-backup
  binlogs:
    description: Names of the shipped binary logs of the source host (from the catalogue), for O(until)/O(stop_before).
    type: list
    elements: str
    default: []
  until:
    description: MySQL only. Apply binary logs up to this time (ISO 8601 with a zone, e.g. C(2026-12-01T20:30:00Z)).
    type: str
  stop_before:
    description: MySQL only. Apply binary logs up to just before the transaction holding this statement text.
    type: str
  overwrite:
    description: Restore even when the target's databases already hold data (they are replaced).
    type: bool
    default: false
  verify:
    description: Compare the restored copy's counts and checksums with the manifest.
    type: bool
    default: true
  login_unix_socket:
    description: MySQL socket of the target server (root logs in over it).
    type: path
  defaults_file:
    description: MySQL option file to log in with instead of root over the socket (e.g. C(/root/.my.cnf)).
    type: path
  mongodb_address:
    description: MongoDB address of the target, without credentials, e.g. C(mongodb://10.89.50.22:27017/).
    type: str
  login_user:
    description: MongoDB account that restores (the administrator).
    type: str
  login_password:
    description: Its password; reaches mongorestore through a pipe, never logged.
    type: str
  auth_mechanism:
    description: MongoDB authentication mechanism (C(PLAIN) on FerretDB, C(SCRAM-SHA-256) on mongod).
    type: str
  auth_source:
    description: MongoDB authentication database.
    type: str
attributes:
  check_mode:
    support: full
    details: Verifies the archive's sha256 on the backup host and counts what the target holds; loads nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - age, zstd, ssh and the engine's client tools (mysql, mysqlbinlog; mongorestore and pymongo) on the target
"""

EXAMPLES = r"""
- name: Restore the newest MySQL backup onto the empty spare
  followup_restore:
    engine: mysql
    manifest: "{{ __backup_chosen.manifest }}"
    identity: "{{ backup_age_identity }}"
    login_unix_socket: /run/mysqld/mysqld.sock
  no_log: true

- name: Restore MySQL up to just before a bad statement
  followup_restore:
    engine: mysql
    manifest: "{{ __backup_chosen.manifest }}"
    identity: "{{ backup_age_identity }}"
    binlogs: "{{ __backup_binlogs }}"
    stop_before: DELETE FROM followup_tasks
    overwrite: true
  no_log: true
"""

RETURN = r"""
restore:
  description: What was restored (id, databases, bytes, load_s, verify_s, duration_s, throughput_mb_s, verified,
    differences, pitr) or, in check mode, what would be (target_objects, archive_verified).
  returned: always
  type: dict
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_backup import BackupError, binlog_relpath, validate_manifest
    from ansible.module_utils.followup_backup_agent import (
        _mongo_client,
        load_config,
        mongodb_restore,
        mysql_restore,
        mysql_table_count,
        target_of,
    )
    from ansible.module_utils.followup_backup_store import Store

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def sources(module):
    """(verify(relpath) -> answer, argv(relpath) -> argv writing the stored file) for the chosen source."""
    p = module.params
    if p["source"] == "local":
        store = Store(p["store_dir"])
        return store.verify, lambda rel: ["cat", store.path(rel)]
    target = target_of(load_config(p["config"]))
    return (lambda rel: target.call("verify", rel)), target.get_argv


def mysql_conf(module):
    p = module.params
    tool = p["manifest"].get("tool")
    return {"client_tool": "mysql", "dump_tool": tool if tool in ("mysqldump", "mariadb-dump") else "mysqldump"}, {
        "socket": p["login_unix_socket"],
        "defaults_file": p["defaults_file"],
    }


def target_objects(module):
    p = module.params
    m = p["manifest"]
    if p["engine"] == "mysql":
        conf, conn = mysql_conf(module)
        return mysql_table_count(conf, m["databases"], **conn)
    client = _mongo_client(
        p["mongodb_address"], p["login_user"], p["login_password"], p["auth_mechanism"], p["auth_source"]
    )
    try:
        db = client[m["databases"][0]]
        names = [n for n in db.list_collection_names() if not n.startswith("system.")]
        return len([n for n in names if db[n].estimated_document_count() > 0])
    finally:
        client.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            manifest=dict(type="dict", required=True),
            identity=dict(type="str", required=True, no_log=True),
            source=dict(type="str", default="ssh", choices=["ssh", "local"]),
            config=dict(type="path", default="/etc/followup-backup/agent.json"),
            store_dir=dict(type="path", default="/srv/followup-backup"),
            binlogs=dict(type="list", elements="str", default=[]),
            until=dict(type="str"),
            stop_before=dict(type="str"),
            overwrite=dict(type="bool", default=False),
            verify=dict(type="bool", default=True),
            login_unix_socket=dict(type="path"),
            defaults_file=dict(type="path"),
            mongodb_address=dict(type="str"),
            login_user=dict(type="str"),
            login_password=dict(type="str", no_log=True),
            auth_mechanism=dict(type="str"),
            auth_source=dict(type="str"),
        ),
        required_if=[("engine", "mongodb", ["mongodb_address"])],
        mutually_exclusive=[("until", "stop_before")],
        supports_check_mode=True,
    )
    p = module.params
    manifest = p["manifest"]
    problems = validate_manifest(manifest, "manifest")
    if problems:
        module.fail_json(msg="; ".join(problems))
    if manifest["engine"] != p["engine"]:
        module.fail_json(msg="backup %s is a %s backup, not %s" % (manifest["id"], manifest["engine"], p["engine"]))
    if (p["until"] or p["stop_before"]) and p["engine"] != "mysql":
        module.fail_json(msg="until/stop_before are for MySQL only: %s" % (manifest.get("pitr") or {}).get("reason"))
    try:
        verify, argv_of = sources(module)
        relpath = manifest["archive"]["path"]
        answer = verify(relpath)
        verified = bool(answer.get("matches")) and answer.get("sha256") == manifest["archive"]["sha256"]
        if module.check_mode:
            # A probe for the restore gate: it reports, the gate refuses.
            module.exit_json(
                changed=False,
                restore={
                    "id": manifest["id"],
                    "archive_verified": verified,
                    "verify": {"matches": verified, "sha256": answer.get("sha256")},
                    "target_objects": target_objects(module),
                    "databases": manifest["databases"],
                },
            )
        if not verified:
            module.fail_json(
                msg="the archive %s on the backup host does not have the sha256 of its manifest: it was "
                "changed or damaged; choose another backup" % relpath,
                restore={"archive_verified": False},
            )
        if p["engine"] == "mysql":
            conf, conn = mysql_conf(module)
            binlog_sources = [(n, argv_of(binlog_relpath(manifest["source_host"], n))) for n in p["binlogs"]]
            result = mysql_restore(
                conf,
                manifest,
                p["identity"],
                argv_of(relpath),
                binlog_sources,
                until=p["until"],
                stop_before=p["stop_before"],
                overwrite=p["overwrite"],
                verify=p["verify"],
                **conn,
            )
        else:
            result = mongodb_restore(
                manifest,
                p["identity"],
                argv_of(relpath),
                p["mongodb_address"],
                p["login_user"],
                p["login_password"],
                p["auth_mechanism"],
                p["auth_source"],
                overwrite=p["overwrite"],
                restore_tool=_tool("mongorestore"),
                verify=p["verify"],
            )
    except BackupError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:
        module.fail_json(
            msg="restore failed: %s: %s" % (type(err).__name__, to_native(err)), exception=traceback.format_exc()
        )
    result.pop("objects", None)
    module.exit_json(changed=True, restore=result)


def _tool(name):
    for directory in ("/usr/local/bin", "/usr/bin"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return name


if __name__ == "__main__":
    main()
