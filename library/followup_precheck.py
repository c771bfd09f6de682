#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the pre-checks of an upgrade on one host (module_utils/followup_upgrade_checks.py, docs/upgrade.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_precheck
short_description: Pre-check one host before an upgrade and return the results as a table
description:
  - Read-only checks of one host of the follow-up system before an upgrade changes anything
    (C(docs/upgrade.md), "Pre-checks"). Returns one row per check in RV(rows) (id, title, status, expected, actual,
    fix) and the failing rows as one-line RV(refused) reasons.
  - Follows the gate contract (C(docs/architecture.md), "Gates"); a failing check is not a module failure. It returns
    C(changed=false) and fails only on bad module input.
  - "Checks: free disk on O(disk) paths against what the release and the backup need (a fixed need, or a factor of
    the size of a directory such as the database's data), available memory (O(memory_need_bytes)), time
    synchronisation (chrony or systemd-timesyncd), the services and health checks every local fact names
    (O(health)), MySQL and MongoDB reachable with the privileges the migrations need (O(mysql), O(mongodb)), and the
    replication state where there is replication (O(replication))."
version_added: "0.1.0"
author: followup-ops
options:
  host:
    description: The host's inventory name, used in RV(refused).
    type: str
    default: ""
  facts_dir:
    description: Directory of the local facts whose services and checks must be healthy.
    type: path
    default: /etc/ansible/facts.d
  disk:
    description: Free space to check, one entry per path.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: A path on the file system to check (its nearest existing parent is measured).
        type: path
        required: true
      need_bytes:
        description: Bytes that must be free.
        type: int
        default: 0
      size_of:
        description: A directory whose size, times O(disk[].factor), is added to the need (the database's data).
        type: path
      factor:
        description: Multiplier of the size of O(disk[].size_of).
        type: float
        default: 0
      what:
        description: What the space is for, in the table.
        type: str
        default: the upgrade
  memory_need_bytes:
    description: Memory that must be available (MemAvailable); 0 skips the check.
    type: int
    default: 134217728
  time_sync:
    description: Check that the clock is synchronised.
    type: bool
    default: true
  max_offset_ms:
    description: Largest NTP offset accepted.
    type: float
    default: 500
  require_ntp:
    description:
      - Refuse when NTP reports the clock unsynchronised; false only where hosts cannot set their clocks (containers
        sharing the host's clock, the lab); then it is a warning and the comparison with O(control_time) decides.
    type: bool
    default: true
  control_time:
    description: The control node's clock (epoch seconds) when the task started; the host's clock is compared with it.
    type: float
  max_skew_s:
    description: Largest difference accepted between the host's clock and O(control_time).
    type: float
    default: 30
  health:
    description: Check that every unit the local facts name is active and every health check they name passes.
    type: bool
    default: true
  health_timeout:
    description: Seconds each health check may take.
    type: float
    default: 5
  mysql:
    description: Log in to MySQL as the migration account and check its privileges on O(mysql.databases).
    type: dict
    suboptions:
      login_host:
        description: MySQL server address.
        type: str
        required: true
      login_port:
        description: MySQL port.
        type: int
        default: 3306
      login_user:
        description: The migration account.
        type: str
        required: true
      login_password:
        description: Its password (from vault).
        type: str
        required: true
      databases:
        description: The databases the upgrade migrates.
        type: list
        elements: str
        default: [cloud_followup, interface_data]
  mongodb:
    description: Log in to MongoDB with O(mongodb.uri) and check its privileges on O(mongodb.database).
    type: dict
    suboptions:
      uri:
        description: Connection string with the migration account (carries its password).
        type: str
        required: true
      database:
        description: The database the upgrade migrates.
        type: str
        default: cdr
  replication:
    description:
      - Check replication where this host has it; MySQL through the root socket of the mysql local fact, MongoDB
        through O(mongodb.uri) or the local server. A server that is not a replica reports C(na).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql) for O(mysql) and MySQL replication
  - pymongo (python3-pymongo) for O(mongodb)
seealso:
  - module: followup_approval_check
  - module: followup_status
"""

EXAMPLES = r"""
- name: Pre-check the application server
  followup_precheck:
    host: "{{ inventory_hostname }}"
    disk:
      - {path: /opt/followup, need_bytes: 209715200, what: "the release unpacked and its tarball"}
    mysql:
      login_host: 192.0.2.21
      login_user: followup_migrate
      login_password: "{{ vault_mysql_migrate_password }}"
    mongodb:
      uri: "{{ followup_app_migrate_mongodb_uri }}"
  register: __upgrade_precheck

- name: Pre-check the MySQL host (data room for migrations and a restore, replication)
  followup_precheck:
    host: "{{ inventory_hostname }}"
    disk:
      - {path: /var/lib/mysql, size_of: /var/lib/mysql, factor: 1.0, what: "migrations and a restore of the data"}
    replication: true
"""

RETURN = r"""
rows:
  description: One row per check (id, title, status pass/fail/warn/na, expected, actual, fix when it fails).
  returned: always
  type: list
  elements: dict
  sample:
    - {id: memory, title: 可用内存 available memory, status: pass, expected: ">= 128.0 MiB", actual: 1.2 GiB available}
refused:
  description: One line per failing check, naming the host, the check and what to do.
  returned: always
  type: list
  elements: str
  sample: ["app1: 磁盘空间 free disk /opt/followup: expected >= 200.0 MiB, found 12.0 MiB free: free 188.0 MiB ..."]
"""

import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_health import run_check
    from ansible.module_utils.followup_inspect_host import meminfo, timesync
    from ansible.module_utils.followup_upgrade_checks import (
        dir_bytes,
        disk_row,
        free_bytes,
        memory_row,
        missing_mysql_privileges,
        mongodb_missing_actions,
        refusals,
        row,
        time_row,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def _read_facts(facts_dir):
    facts = {}
    if not os.path.isdir(facts_dir):
        return facts
    for name in sorted(os.listdir(facts_dir)):
        if name.endswith(".fact"):
            try:
                with open(os.path.join(facts_dir, name)) as handle:
                    data = json.load(handle)
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                facts[name[: -len(".fact")]] = data
    return facts


def health_rows(module, facts, timeout):
    rows = []
    units, checks = [], []
    for data in facts.values():
        for unit in data.get("services") or []:
            if unit not in units:
                units.append(str(unit))
        for check in data.get("checks") or []:
            if isinstance(check, dict) and check not in checks:
                checks.append(check)
    for unit in units:
        rc, out, _err = module.run_command(["systemctl", "show", "--property=ActiveState", "--value", unit])
        state = (out.strip() if rc == 0 else "") or "unknown"
        rows.append(
            row(
                "service:%s" % unit,
                "服务 service %s" % unit,
                "pass" if state == "active" else "fail",
                "active",
                state,
                None if state == "active" else "start it (systemctl start %s) and find why it stopped" % unit,
            )
        )
    for check in checks:
        ok, detail = run_check(check, timeout)
        where = "%s %s:%s" % (check.get("type", "http"), check.get("host"), check.get("port"))
        rows.append(
            row(
                "health:%s" % check.get("name"),
                "健康检查 health %s" % check.get("name"),
                "pass" if ok else "fail",
                "healthy (%s)" % where,
                detail,
                None if ok else "repair %s before the upgrade (followup-ops status)" % check.get("name"),
            )
        )
    return rows


def mysql_rows(params):
    try:
        import pymysql
    except ImportError:
        return [
            row(
                "mysql",
                "MySQL 连接 reachable",
                "fail",
                "reachable",
                "PyMySQL is missing on the host",
                "install python3-pymysql",
            )
        ]
    conf = params
    where = "%s:%s as %s" % (conf["login_host"], conf["login_port"], conf["login_user"])
    try:
        conn = pymysql.connect(
            host=conf["login_host"],
            port=conf["login_port"],
            user=conf["login_user"],
            password=conf["login_password"],
            connect_timeout=10,
            charset="utf8mb4",
        )
    except pymysql.MySQLError as err:
        return [
            row(
                "mysql",
                "MySQL 连接 reachable",
                "fail",
                "reachable (%s)" % where,
                "cannot log in: %s" % (err.args[-1] if err.args else err),
                "check the server and the migration account's password in the vault",
            )
        ]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
            cur.execute("SHOW GRANTS FOR CURRENT_USER()")
            grants = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    rows = [row("mysql", "MySQL 连接 reachable", "pass", "reachable (%s)" % where, "MySQL %s" % version)]
    missing = missing_mysql_privileges(grants, conf["databases"])
    if missing:
        text = "; ".join("%s lacks %s" % (db, ", ".join(privs)) for db, privs in sorted(missing.items()))
        rows.append(
            row(
                "mysql:privileges",
                "MySQL 迁移权限 migration privileges",
                "fail",
                "DDL and DML on %s" % ", ".join(conf["databases"]),
                text,
                "grant them to %s (the mysql role does: deploy fixes it)" % conf["login_user"],
            )
        )
    else:
        rows.append(
            row(
                "mysql:privileges",
                "MySQL 迁移权限 migration privileges",
                "pass",
                "DDL and DML on %s" % ", ".join(conf["databases"]),
                "granted",
            )
        )
    return rows


def _mongo_client(uri):
    import pymongo

    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)


def mongodb_rows(params):
    try:
        client = _mongo_client(params["uri"])
    except ImportError:
        return [
            row(
                "mongodb",
                "MongoDB 连接 reachable",
                "fail",
                "reachable",
                "pymongo is missing on the host",
                "install python3-pymongo",
            )
        ]
    except Exception as err:  # a malformed connection string
        return [
            row(
                "mongodb",
                "MongoDB 连接 reachable",
                "fail",
                "reachable",
                type(err).__name__,
                "check the connection string in the inventory",
            )
        ]
    database = params["database"]
    try:
        db = client[database]
        db.command("ping")
        info = client.server_info()
        rows = [
            row(
                "mongodb",
                "MongoDB 连接 reachable",
                "pass",
                "reachable (%s)" % database,
                "version %s" % info.get("version"),
            )
        ]
        try:
            status = db.command("connectionStatus", showPrivileges=True)
            privileges = (status.get("authInfo") or {}).get("authenticatedUserPrivileges")
        except Exception:
            privileges = None
        if privileges is None:
            names = db.list_collection_names()
            rows.append(
                row(
                    "mongodb:privileges",
                    "MongoDB 迁移权限 migration privileges",
                    "warn",
                    "readWrite and index rights on %s" % database,
                    "the server does not list privileges; the account logs in and lists %d collections" % len(names),
                )
            )
        else:
            missing = mongodb_missing_actions(privileges, database)
            rows.append(
                row(
                    "mongodb:privileges",
                    "MongoDB 迁移权限 migration privileges",
                    "fail" if missing else "pass",
                    "readWrite and index rights on %s" % database,
                    ("lacks " + ", ".join(missing)) if missing else "granted",
                    "grant readWrite on %s (the mongodb role does: deploy fixes it)" % database if missing else None,
                )
            )
        return rows
    except Exception as err:
        reason = str(getattr(err, "details", None) or type(err).__name__)[:160]
        return [
            row(
                "mongodb",
                "MongoDB 连接 reachable",
                "fail",
                "reachable (%s)" % database,
                reason,
                "check the server and the account's password in the vault",
            )
        ]
    finally:
        client.close()


def mysql_replication_rows(facts):
    fact = facts.get("mysql")
    if not fact:
        return []
    try:
        from ansible.module_utils.followup_inspect_db import DbError, mysql_root_connect
    except ImportError:  # pragma: no cover
        return []
    try:
        conn = mysql_root_connect(fact.get("socket") or "/run/mysqld/mysqld.sock")
    except DbError as err:
        return [
            row(
                "replication:mysql",
                "MySQL 复制 replication",
                "fail",
                "readable",
                str(err)[:200],
                "check that the server runs",
            )
        ]
    try:
        with conn.cursor() as cur:
            status = None
            for sql in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
                try:
                    cur.execute(sql)
                    status = cur.fetchall()
                    break
                except Exception:  # noqa: S112 - the other spelling
                    continue
    finally:
        conn.close()
    if not status:
        return [
            row(
                "replication:mysql",
                "MySQL 复制 replication",
                "na",
                "healthy where there is replication",
                "not a replica (no replication configured)",
            )
        ]
    rec = status[0]

    def get(*names):
        for name in names:
            if name in rec:
                return rec[name]
        return None

    io = str(get("Replica_IO_Running", "Slave_IO_Running")) == "Yes"
    sql_ok = str(get("Replica_SQL_Running", "Slave_SQL_Running")) == "Yes"
    lag = get("Seconds_Behind_Source", "Seconds_Behind_Master")
    ok = io and sql_ok
    return [
        row(
            "replication:mysql",
            "MySQL 复制 replication",
            "pass" if ok else "fail",
            "IO and SQL threads running",
            "IO %s, SQL %s, lag %s s" % ("yes" if io else "no", "yes" if sql_ok else "no", lag),
            None if ok else "repair replication first (SHOW REPLICA STATUS names the error)",
        )
    ]


def mongodb_replication_rows(facts, params):
    fact = facts.get("mongodb")
    if not fact:
        return []
    uri = (params or {}).get("uri") or "mongodb://%s:%s/" % (
        "127.0.0.1" if fact.get("bind_address") in (None, "0.0.0.0", "::") else fact.get("bind_address"),  # noqa: S104
        fact.get("port") or 27017,
    )
    try:
        client = _mongo_client(uri)
        hello = client.admin.command("hello")
    except Exception as err:
        return [
            row(
                "replication:mongodb",
                "MongoDB 复制 replication",
                "warn",
                "readable",
                "hello failed: %s" % type(err).__name__,
            )
        ]
    try:
        if not hello.get("setName"):
            return [
                row(
                    "replication:mongodb",
                    "MongoDB 复制 replication",
                    "na",
                    "healthy where there is replication",
                    "not a replica set member",
                )
            ]
        try:
            status = client.admin.command("replSetGetStatus")
        except Exception as err:
            return [
                row(
                    "replication:mongodb",
                    "MongoDB 复制 replication",
                    "warn",
                    "every member healthy",
                    "replica set %s; its status cannot be read (%s)" % (hello["setName"], type(err).__name__),
                )
            ]
        bad = [m.get("name") for m in status.get("members") or [] if m.get("health") != 1]
        return [
            row(
                "replication:mongodb",
                "MongoDB 复制 replication",
                "fail" if bad else "pass",
                "every member healthy",
                ("unhealthy: " + ", ".join(bad)) if bad else "%d members healthy" % len(status.get("members") or []),
                "repair the replica set first" if bad else None,
            )
        ]
    finally:
        client.close()


def run(module):
    params = module.params
    host = params["host"] or socket.gethostname()
    rows = []
    for item in params["disk"]:
        need = int(item.get("need_bytes") or 0)
        if item.get("size_of") and item.get("factor"):
            need += int(dir_bytes(item["size_of"]) * float(item["factor"]))
        rows.append(disk_row(item["path"], need, free_bytes(item["path"]), item.get("what") or "the upgrade"))
    if params["memory_need_bytes"]:
        rows.append(memory_row(params["memory_need_bytes"], meminfo()["available"]))
    if params["time_sync"]:
        skew = time.time() - params["control_time"] if params["control_time"] else None
        rows.append(time_row(timesync(), params["max_offset_ms"], params["require_ntp"], skew, params["max_skew_s"]))
    facts = _read_facts(params["facts_dir"])
    if params["health"]:
        rows.extend(health_rows(module, facts, params["health_timeout"]))
    if params["mysql"]:
        rows.extend(mysql_rows(params["mysql"]))
    if params["mongodb"]:
        rows.extend(mongodb_rows(params["mongodb"]))
    if params["replication"]:
        rows.extend(mysql_replication_rows(facts))
        rows.extend(mongodb_replication_rows(facts, params["mongodb"]))
    return {"changed": False, "rows": rows, "refused": refusals(host, rows)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", default=""),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            disk=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    path=dict(type="path", required=True),
                    need_bytes=dict(type="int", default=0),
                    size_of=dict(type="path"),
                    factor=dict(type="float", default=0),
                    what=dict(type="str", default="the upgrade"),
                ),
            ),
            memory_need_bytes=dict(type="int", default=134217728),
            time_sync=dict(type="bool", default=True),
            max_offset_ms=dict(type="float", default=500),
            require_ntp=dict(type="bool", default=True),
            control_time=dict(type="float"),
            max_skew_s=dict(type="float", default=30),
            health=dict(type="bool", default=True),
            health_timeout=dict(type="float", default=5),
            mysql=dict(
                type="dict",
                options=dict(
                    login_host=dict(type="str", required=True),
                    login_port=dict(type="int", default=3306),
                    login_user=dict(type="str", required=True),
                    login_password=dict(type="str", required=True, no_log=True),
                    databases=dict(type="list", elements="str", default=["cloud_followup", "interface_data"]),
                ),
            ),
            mongodb=dict(
                type="dict",
                options=dict(
                    uri=dict(type="str", required=True, no_log=True),
                    database=dict(type="str", default="cdr"),
                ),
            ),
            replication=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(
            msg="module_utils/followup_upgrade_checks.py is not on the module_utils path (see ansible.cfg)"
        )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
