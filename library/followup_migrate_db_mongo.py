#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the MongoDB steps of a database move: dump/restore in a window (FerretDB, standalone mongod) or the
# replica-set steps (mongod), and making the source read-only while it is copied (docs/migration.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_db_mongo
short_description: Copy, freeze or hand over a MongoDB database for a move to a new server
description:
  - V(copy) runs on the target and streams O(database) from the source with C(mongodump --archive) into
    C(mongorestore --archive --drop --noIndexRestore) here (nothing on disk), then creates the source's indexes here
    with createIndexes (name, keys and defining options only; FerretDB refuses the C(ns) option mongorestore
    sends). The passwords of the connection strings go to the tools in root-only C(--config) files, removed
    afterwards, never on a command line.
  - V(read_only) and V(writable) run on a server; on FerretDB its PostgreSQL database refuses every write (reads go
    on) and the sessions opened before are ended so FerretDB reconnects read-only; the setting survives a restart. On
    a standalone mongod, C(fsyncLock) (writes wait) and C(fsyncUnlock).
  - V(rs_add), V(rs_wait), V(rs_promote) and V(rs_remove) run against the replica set's primary (O(source_uri)); add
    O(member) as a hidden member without a vote, wait until it is SECONDARY and caught up, give it the highest priority
    and step the primary down to it, and remove a member at the end.
version_added: "0.1.0"
author: followup-ops
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [copy, read_only, rs_add, rs_promote, rs_remove, rs_wait, writable]
  engine:
    description: The engine on this host (from the mongodb role's local fact).
    type: str
    default: ferretdb
    choices: [ferretdb, mongod]
  source_uri:
    description: Connection string of the source (for V(copy), an account that reads the database; for the V(rs_*)
      actions, the administrator at the primary). Never logged.
    type: str
  target_uri:
    description: Connection string of this host for V(copy) (an account that may write the database), or of this
      server for V(read_only)/V(writable) on mongod. Never logged.
    type: str
  database:
    description: The database to copy.
    type: str
    default: cdr
  pg_database:
    description: FerretDB's PostgreSQL database.
    type: str
    default: ferretdb
  tools_dir:
    description: Where mongodump and mongorestore are (the mongodb role installs them there).
    type: path
    default: /usr/local/bin
  member:
    description: For the V(rs_*) actions, the member as host:port.
    type: str
  timeout:
    description: Seconds V(rs_wait) and V(rs_promote) wait.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    details: Reports what it would do; changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - pymongo (python3-pymongo); mongodump and mongorestore for V(copy); psql (PostgreSQL) for FerretDB's V(read_only)
notes:
  - The lab proves V(copy), V(read_only) and V(writable) on FerretDB 1.24. The mongod paths (fsyncLock and the
    replica set) are unit-tested with a fake client, never run against a real mongod here.
seealso:
  - module: followup_table_checksum
"""

EXAMPLES = r"""
- name: Make the source refuse writes for the window
  followup_migrate_db_mongo:
    action: read_only
    engine: ferretdb

- name: Copy cdr from the source to this host
  followup_migrate_db_mongo:
    action: copy
    source_uri: "{{ __db_move_source_backup_uri }}"
    target_uri: "{{ __db_move_target_app_uri }}"
    database: cdr
  no_log: true
"""

RETURN = r"""
copy:
  description: The copy (bytes, seconds, mb_s).
  returned: action copy
  type: dict
  sample: {bytes: 10485760, seconds: 12.5, mb_s: 0.84}
read_only:
  description: Whether the server refuses writes after the action.
  returned: actions read_only and writable
  type: bool
member:
  description: The member's state and seconds behind the primary.
  returned: actions rs_add, rs_wait, rs_promote
  type: dict
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_dbmove import MoveError
    from ansible.module_utils.followup_dbmove_mongo import (
        client,
        copy_commands,
        copy_indexes,
        ferretdb_is_read_only,
        ferretdb_set_read_only,
        mongod_lock,
        option_file,
        rs_add,
        rs_promote,
        rs_remove,
        rs_state,
        stream,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def split_uri(uri):
    """(the URI without its password, the password)."""
    from pymongo import uri_parser

    parsed = uri_parser.parse_uri(uri)
    password = parsed.get("password") or ""
    user = parsed.get("username") or ""
    rest = uri.split("@", 1)[1] if "@" in uri else uri.split("://", 1)[1]
    try:
        from urllib.parse import quote_plus
    except ImportError:  # pragma: no cover - Python 2
        from urllib import quote_plus
    return "mongodb://%s@%s" % (quote_plus(user), rest), password


def do_copy(module):
    p = module.params
    if not p["source_uri"] or not p["target_uri"]:
        module.fail_json(msg="copy needs source_uri and target_uri")
    if module.check_mode:
        return dict(changed=True, msg="would copy %s from the source to this host" % p["database"])
    for name in ("mongodump", "mongorestore"):
        if not os.access(os.path.join(p["tools_dir"], name), os.X_OK):
            raise MoveError(
                "%s is missing in %s: the mongodb role installs it (mongodb_tools_enabled)" % (name, p["tools_dir"])
            )
    src_uri, src_pw = split_uri(p["source_uri"])
    tgt_uri, tgt_pw = split_uri(p["target_uri"])
    src_conf = option_file("copy-source.yml", src_pw)
    tgt_conf = option_file("copy-target.yml", tgt_pw)
    try:
        dump, restore = copy_commands(p["tools_dir"], src_uri, src_conf, tgt_uri, tgt_conf, p["database"])
        result = stream(dump, restore)
        src, tgt = client(p["source_uri"]), client(p["target_uri"])
        try:
            result["indexes"] = copy_indexes(src, tgt, p["database"])
        finally:
            src.close()
            tgt.close()
    finally:
        for path in (src_conf, tgt_conf):
            if os.path.exists(path):
                os.unlink(path)
    return dict(changed=True, copy=result)


def do_read_only(module, on):
    p = module.params
    if p["engine"] == "ferretdb":
        now = ferretdb_is_read_only(p["pg_database"])
        if now == on:
            return dict(changed=False, read_only=now)
        if not module.check_mode:
            ferretdb_set_read_only(p["pg_database"], on)
        return dict(changed=True, read_only=on)
    if not p["target_uri"]:
        module.fail_json(msg="read_only on mongod needs target_uri (the administrator at this server)")
    cli = client(p["target_uri"])
    try:
        locked = bool(cli.admin.command("currentOp").get("fsyncLock"))
        if locked == on:
            return dict(changed=False, read_only=locked)
        if not module.check_mode:
            mongod_lock(cli, on)
        return dict(changed=True, read_only=on)
    finally:
        cli.close()


def do_rs(module):
    p = module.params
    if not p["source_uri"] or not p["member"]:
        module.fail_json(msg="%s needs source_uri (the primary's administrator) and member" % p["action"])
    cli = client(p["source_uri"])
    try:
        if p["action"] == "rs_add":
            changed = False if module.check_mode else rs_add(cli, p["member"])
            state, behind = rs_state(cli, p["member"])
            return dict(changed=changed or module.check_mode, member={"state": state, "behind_s": behind})
        if p["action"] == "rs_remove":
            changed = False if module.check_mode else rs_remove(cli, p["member"])
            return dict(changed=changed)
        deadline = time.time() + p["timeout"]
        if p["action"] == "rs_promote" and not module.check_mode:
            rs_promote(cli, p["member"])
        want = "PRIMARY" if p["action"] == "rs_promote" else "SECONDARY"
        while True:
            try:
                state, behind = rs_state(cli, p["member"])
            except Exception:  # the set is electing; ask again
                state, behind = "unknown", None
            if state == want and (want == "PRIMARY" or behind == 0):
                return dict(changed=p["action"] == "rs_promote", member={"state": state, "behind_s": behind})
            if module.check_mode or time.time() > deadline:
                raise MoveError(
                    "member %s is %s (%s s behind) after %s s, not %s: check the replica set"
                    % (p["member"], state, behind, p["timeout"], want)
                )
            time.sleep(2)
    finally:
        cli.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(
                type="str",
                required=True,
                choices=["copy", "read_only", "rs_add", "rs_promote", "rs_remove", "rs_wait", "writable"],
            ),
            engine=dict(type="str", default="ferretdb", choices=["ferretdb", "mongod"]),
            source_uri=dict(type="str", no_log=True),
            target_uri=dict(type="str", no_log=True),
            database=dict(type="str", default="cdr"),
            pg_database=dict(type="str", default="ferretdb"),
            tools_dir=dict(type="path", default="/usr/local/bin"),
            member=dict(type="str"),
            timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove*.py are missing: run from the followup-ops repository")
    p = module.params
    try:
        if p["action"] == "copy":
            result = do_copy(module)
        elif p["action"] in ("read_only", "writable"):
            result = do_read_only(module, p["action"] == "read_only")
        else:
            result = do_rs(module)
        module.exit_json(**result)
    except MoveError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # an internal error, with the traceback for the record
        module.fail_json(
            msg="MongoDB action %s failed: %s" % (p["action"], to_native(err)), exception=traceback.format_exc()
        )


if __name__ == "__main__":
    main()
