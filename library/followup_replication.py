#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: MySQL/MariaDB replication for a database move: the move account, the consistent seed, the lag, the
# switch of the primary and the end of it all (docs/migration.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_replication
short_description: Seed, watch and switch MySQL/MariaDB replication for a database move
description:
  - Runs on one server of a move, as root, and talks to the other one (O(peer_address)) over TCP as the move account
    C(followup_dbmove), whose password lives only in a root-only file on the two hosts (C(/etc/followup-dbmove/)).
  - V(account) creates the move account for the peer's address (not written to the binary log) and keeps its
    password; on the first host it makes the password (O(password) empty) and returns it for the second.
  - V(seed) streams a consistent dump of O(databases) from the peer (a single transaction with the GTID or binlog
    position it was taken at) into this server, outside its binary log, then makes this server replicate from the
    peer from exactly that position, and waits up to O(wait) seconds for the lag to reach zero.
  - V(status) reports the replication of this server and whether it has caught up with the peer (waiting up to
    O(wait) seconds).
  - V(switch) makes this server (a caught-up replica of the peer) the primary; the peer becomes read-only, this server
    applies its last transaction, stops replicating and takes writes, and the peer replicates from this server, so a
    later switch back loses nothing. When the last transaction does not arrive within O(catchup_timeout) seconds the
    peer is made writable again and nothing else changes.
  - V(stop) stops and forgets this server's replication; V(drop_accounts) removes the move accounts and the password
    file (the end of a move).
version_added: "0.1.0"
author: followup-ops
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [account, drop_accounts, seed, status, stop, switch]
  migration:
    description: The migration's id (names the password file).
    type: str
    required: true
  peer_address:
    description: Address of the other server of the move (required except for V(stop) and V(drop_accounts)).
    type: str
  peer_port:
    description: MySQL port on O(peer_address).
    type: int
    default: 3306
  address:
    description: This server's own address, where the peer's replication connects after a V(switch).
    type: str
  port:
    description: This server's MySQL port.
    type: int
    default: 3306
  password:
    description: For V(account) on the second host, the password the first one made. Never logged.
    type: str
  return_password:
    description: For V(account), return the password (the task must be no_log) to hand it to the second host.
    type: bool
    default: false
  databases:
    description: For V(seed), the databases to copy.
    type: list
    elements: str
    default: [cloud_followup, interface_data]
  reseed:
    description: For V(seed), copy again even when this server replicates already (its copy is replaced).
    type: bool
    default: false
  wait:
    description: Seconds V(seed) and V(status) wait for the lag to reach zero.
    type: int
    default: 0
  catchup_timeout:
    description: For V(switch), seconds the last transaction may take to arrive.
    type: int
    default: 10
  lock_wait_timeout:
    description: For V(switch), seconds the peer may take to become read-only (running writes finish first).
    type: int
    default: 5
  require_caught_up:
    description: For V(status), return C(refused) (one line) when the lag did not reach zero within O(wait).
    type: bool
    default: false
  target_name:
    description: This server's inventory name, for the refusal's message.
    type: str
    default: this server
  tls:
    description: Encrypt the seed and the replication (V(auto) when the peer offers TLS).
    type: str
    default: auto
    choices: [auto, "yes", "no"]
attributes:
  check_mode:
    support: full
    details: V(status) runs as usual (read-only); the other actions report what they would do and change nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql); mariadb-dump or mysqldump and the mariadb or mysql client for V(seed)
notes:
  - The lab proves MariaDB 10.11 (GTID replication). The MySQL 5.7/8.0 statements (auto-position with GTIDs, file and
    position without) are built by the same code and unit-tested, not run here.
seealso:
  - module: followup_table_checksum
  - module: followup_migrate_db_probe
"""

EXAMPLES = r"""
- name: Create the move account on the target and make its password
  followup_replication:
    action: account
    migration: db-mysql-mysql1-mysql2-20261201T203000Z
    peer_address: 10.89.50.21
    return_password: true
  register: __db_move_account
  no_log: true

- name: Seed the target and replicate from the source
  followup_replication:
    action: seed
    migration: db-mysql-mysql1-mysql2-20261201T203000Z
    peer_address: 10.89.50.21
    databases: [cloud_followup, interface_data]
    wait: 120

- name: Make the target the primary
  followup_replication:
    action: switch
    migration: db-mysql-mysql1-mysql2-20261201T203000Z
    peer_address: 10.89.50.21
    address: 10.89.50.23
"""

RETURN = r"""
password:
  description: The move account's password (V(account) with O(return_password) only; the task must be no_log).
  returned: when asked
  type: str
seed:
  description: The copy (bytes, seconds, mb_s, position).
  returned: action seed, when it copied
  type: dict
  sample: {bytes: 152043520, seconds: 9.1, mb_s: 16.7, position: {gtid: 0-21-1042, file: mysql-bin.000003, pos: 8812}}
replica:
  description: This server's replication (configured, io_running, sql_running, seconds_behind, last_error,
    caught_up, reason, primary_position).
  returned: actions seed, status, stop
  type: dict
switch:
  description: The switch's timings in seconds (read_only_s, catch_up_s, promote_s, writes_stopped_s,
    reverse_replication_s) and the positions.
  returned: action switch
  type: dict
refused:
  description: For V(status) with O(require_caught_up), why the cutover may not run (empty when it may).
  returned: action status
  type: list
  elements: str
dropped:
  description: The move account hosts removed.
  returned: action drop_accounts
  type: list
  elements: str
"""

import os
import shutil
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_dbmove import MoveError, lag_refusal, new_password
    from ansible.module_utils.followup_dbmove_mysql import (
        HAS_PYMYSQL,
        SECRET_DIR,
        client_command,
        client_option_file,
        drop_move_accounts,
        dump_command,
        ensure_move_account,
        lag,
        local_server,
        peer_server,
        read_secret,
        replica_status,
        replicate_from,
        reset_replica,
        secret_path,
        stop_replica,
        stream_seed,
        switch,
        write_secret,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False
    HAS_PYMYSQL = False


def tool(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise MoveError("none of %s is installed on this host: the mysql role installs the client" % ", ".join(names))


def peer(module, password):
    p = module.params
    if not p["peer_address"]:
        module.fail_json(msg="peer_address is required for action %s" % p["action"])
    srv = peer_server(p["peer_address"], p["peer_port"], password, "the peer %s" % p["peer_address"])
    if p["tls"] == "no":
        return srv, False
    offers = str(srv.value("SELECT @@have_ssl")).upper() == "YES"
    if p["tls"] == "yes" and not offers:
        raise MoveError(
            "tls: yes, but %s offers no TLS: set up TLS there (mysql_hardening) or use tls: auto" % p["peer_address"]
        )
    if offers:
        srv.close()
        srv = peer_server(p["peer_address"], p["peer_port"], password, "the peer %s" % p["peer_address"], ssl=True)
    return srv, offers


def do_account(module, local):
    p = module.params
    if not p["peer_address"]:
        module.fail_json(msg="peer_address is required for action account")
    existing = None
    if os.path.exists(secret_path(p["migration"])):
        existing = read_secret(p["migration"])
    password = p["password"] or existing or new_password()
    changed = ensure_move_account(local, p["peer_address"], password, check_mode=module.check_mode)
    if not module.check_mode and password != existing:
        write_secret(p["migration"], password)
        changed = True
    result = dict(changed=changed or (password != existing))
    if p["return_password"]:
        result["password"] = password
    return result


def do_seed(module, local):
    p = module.params
    status = replica_status(local)
    have = local.value(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (%s)"  # noqa: S608 - placeholders
        % ", ".join(["%s"] * len(p["databases"])),
        tuple(p["databases"]),
    )
    if status.get("configured") and have and not p["reseed"]:
        password = read_secret(p["migration"])
        primary, _ = peer(module, password)
        try:
            if not (status["io_running"] and status["sql_running"]) and not module.check_mode:
                local.execute("START SLAVE" if local.flavour == "mariadb" else "START REPLICA")
            state = lag(local, primary, wait_s=p["wait"])
        finally:
            primary.close()
        return dict(changed=False, replica=state, msg="replicating already; not copied again (reseed: true copies)")
    if have and not p["reseed"]:
        raise MoveError(
            "this server holds tables in %s but does not replicate: it is not a fresh target; remove them "
            "or pass reseed (it replaces them)" % ", ".join(p["databases"])
        )
    if module.check_mode:
        return dict(
            changed=True,
            msg="would copy %s from %s and replicate from it" % (", ".join(p["databases"]), p["peer_address"]),
        )
    password = read_secret(p["migration"])
    primary, tls = peer(module, password)
    try:
        if status.get("configured"):
            stop_replica(local)
            reset_replica(local)
        # The target's own binary log holds only what its installation wrote (accounts): the old server must never
        # replay that when it follows the new one, so the log starts afresh with the seed.
        local.execute("RESET MASTER")
        saved = local.one("SELECT @@innodb_flush_log_at_trx_commit AS f, @@sync_binlog AS s")
        local.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
        local.execute("SET GLOBAL sync_binlog = 0")
        option_file = client_option_file(p["migration"], password)
        try:
            dump = dump_command(
                tool("mariadb-dump", "mysqldump"),
                p["peer_address"],
                p["peer_port"],
                option_file,
                p["databases"],
                primary.flavour,
                primary.version,
                ssl=tls,
            )
            seed = stream_seed(dump, client_command(tool("mariadb", "mysql")))
        finally:
            os.unlink(option_file)
            local.execute("SET GLOBAL innodb_flush_log_at_trx_commit = %s", (int(saved["f"]),))
            local.execute("SET GLOBAL sync_binlog = %s", (int(saved["s"]),))
        position = dict(seed["position"])
        if local.flavour == "mysql" and position.get("gtid_purged"):
            position = {"auto": True}
        replicate_from(local, p["peer_address"], p["peer_port"], password, position, ssl=tls)
        state = lag(local, primary, wait_s=p["wait"])
    finally:
        primary.close()
    return dict(changed=True, seed=seed, replica=state)


def do_status(module, local):
    p = module.params
    password = read_secret(p["migration"])
    primary, _ = peer(module, password)
    try:
        state = lag(local, primary, wait_s=p["wait"])
    finally:
        primary.close()
    refused = []
    if p["require_caught_up"]:
        reason = lag_refusal(p["target_name"], state, p["wait"], p["wait"])
        if reason:
            refused.append(reason)
    return dict(changed=False, replica=state, refused=refused)


def do_switch(module, local):
    p = module.params
    if not p["address"]:
        module.fail_json(msg="address (this server's own address) is required for action switch")
    password = read_secret(p["migration"])
    old, tls = peer(module, password)
    try:
        status = replica_status(local)
        if not status.get("configured") or (status.get("source_host") not in (p["peer_address"], None)):
            raise MoveError(
                "this server does not replicate from %s: it cannot take over from it (run sync first)"
                % p["peer_address"]
            )
        if module.check_mode:
            return dict(changed=True, msg="would make this server the primary instead of %s" % p["peer_address"])
        local.name = "this server (%s)" % p["address"]
        old.name = "the old primary %s" % p["peer_address"]
        timings = switch(
            old,
            local,
            p["address"],
            p["port"],
            password,
            catchup_timeout=p["catchup_timeout"],
            lock_wait_timeout=p["lock_wait_timeout"],
            ssl=tls,
        )
    finally:
        old.close()
    return dict(changed=True, switch=timings)


def do_stop(module, local):
    status = replica_status(local)
    if not status.get("configured"):
        return dict(changed=False, replica=status)
    if not module.check_mode:
        stop_replica(local)
        reset_replica(local)
    return dict(changed=True, replica=status)


def do_drop(module, local):
    dropped = drop_move_accounts(local, check_mode=module.check_mode)
    path = secret_path(module.params["migration"])
    changed = bool(dropped) or os.path.exists(path)
    if not module.check_mode:
        for name in (path, path[: -len(".json")] + ".cnf"):
            if os.path.exists(name):
                os.unlink(name)
        if os.path.isdir(SECRET_DIR) and not os.listdir(SECRET_DIR):
            os.rmdir(SECRET_DIR)
    return dict(changed=changed, dropped=dropped)


ACTIONS = {
    "account": do_account,
    "seed": do_seed,
    "status": do_status,
    "switch": do_switch,
    "stop": do_stop,
    "drop_accounts": do_drop,
}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(
                type="str", required=True, choices=["account", "drop_accounts", "seed", "status", "stop", "switch"]
            ),
            migration=dict(type="str", required=True),
            peer_address=dict(type="str"),
            peer_port=dict(type="int", default=3306),
            address=dict(type="str"),
            port=dict(type="int", default=3306),
            password=dict(type="str", no_log=True),
            return_password=dict(type="bool", default=False, no_log=False),
            databases=dict(type="list", elements="str", default=["cloud_followup", "interface_data"]),
            reseed=dict(type="bool", default=False),
            wait=dict(type="int", default=0),
            catchup_timeout=dict(type="int", default=10),
            lock_wait_timeout=dict(type="int", default=5),
            require_caught_up=dict(type="bool", default=False),
            target_name=dict(type="str", default="this server"),
            tls=dict(type="str", default="auto", choices=["auto", "yes", "no"]),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove*.py are missing: run from the followup-ops repository")
    if not HAS_PYMYSQL:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"))
    p = module.params
    local = None
    try:
        local = local_server()
        result = ACTIONS[p["action"]](module, local)
        module.exit_json(**result)
    except MoveError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # an internal error, with the traceback for the record
        module.fail_json(
            msg="replication action %s failed: %s" % (p["action"], to_native(err)), exception=traceback.format_exc()
        )
    finally:
        if local is not None:
            local.close()


if __name__ == "__main__":
    main()
