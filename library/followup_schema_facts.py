#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the table structure of a database host, read-only, for the table-structure documents.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_schema_facts
short_description: Read the table structure of the follow-up system's databases on a host, read-only
description:
  - On a host whose local facts name a MySQL/MariaDB server (C(mysql.fact)), reads from information_schema the
    tables, columns, types, keys, indexes, comments and foreign keys of every database the fact lists, with row
    estimates and sizes, and each database's migration history (C(followup_schema_history)). Logs in as root over
    the unix socket (unix_socket authentication, else root's password from root's option file, in memory).
  - On a host whose local facts name MongoDB/FerretDB (C(mongodb.fact)), reads the collections, their indexes and
    estimated counts, and infers each collection's fields by sampling documents (the newest and the oldest by
    C(_id)), keeping for every field path only its types and how many of the sampled documents have it, never a
    value. Logs in as the read-only account the fact names (C(users.backup)).
  - Changes nothing. A database that cannot be read fails the task with one line naming it and the fix.
version_added: "0.1.0"
author: followup-ops
options:
  facts_dir:
    description: Directory of the local facts the roles write.
    type: path
    default: /etc/ansible/facts.d
  mysql_option_file:
    description: root's MySQL option file, read for root's password when the server refuses unix_socket login.
    type: path
    default: /root/.my.cnf
  mongodb_secret:
    description: Password of the read-only MongoDB account C(mongodb.fact) names (C(users.backup)); never logged.
    type: str
  sample:
    description: How many documents of each collection to sample for the fields.
    type: int
    default: 200
  timeout:
    description: Seconds allowed to connect.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql) on MySQL hosts, pymongo (python3-pymongo) on MongoDB hosts
seealso:
  - module: followup_schema_scratch
"""

EXAMPLES = r"""
- name: Read the table structure of the databases on this host
  followup_schema_facts:
    mongodb_secret: "{{ mongodb_backup_password | default(omit) }}"
  register: __followup_schema_facts
  no_log: true
"""

RETURN = r"""
schema:
  description: Per engine found on the host, the schema of its databases; null for an engine the host does not run.
  returned: always
  type: dict
  sample:
    mysql:
      engine: mysql
      server_version: 10.11.19-MariaDB-0+deb12u1
      databases:
        cloud_followup:
          charset: utf8mb4
          tables:
            followup_tasks:
              engine: InnoDB
              comment: 随访任务
              rows: 10000
              columns: [{name: id, type: "bigint(20) unsigned", nullable: false, key: PRI, extra: auto_increment}]
              indexes: [{name: PRIMARY, unique: true, columns: [id]}]
              foreign_keys: []
          history: [{version: "001", description: create core tables, release: 1.0.0, state: success}]
    mongodb:
      engine: mongodb
      databases:
        cdr:
          collections:
            call_records: {count: 10000, sampled: 200, indexes: [{name: _id_, keys: [[_id, 1]]}],
                           fields: [{path: sip_code, types: {int: 200}, presence: 100.0}]}
          history: []
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    import pymongo

    HAS_PYMONGO = True
except ImportError:
    HAS_PYMONGO = False

try:
    from ansible.module_utils import followup_inspect_db as dbmod
    from ansible.module_utils.followup_schema import mongodb_schema, mysql_schema

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def read_fact(facts_dir, name):
    path = os.path.join(facts_dir, name + ".fact")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def read_mysql(module, fact):
    if not dbmod.HAS_PYMYSQL:
        module.fail_json(msg="PyMySQL (python3-pymysql) is missing on the host: install it (the mysql role does)")
    try:
        conn = dbmod.mysql_root_connect(
            fact.get("socket"), module.params["mysql_option_file"], timeout=module.params["timeout"]
        )
    except dbmod.DbError as err:
        module.fail_json(msg=to_native(err))
    try:
        return mysql_schema(conn, fact.get("databases") or [])
    except Exception as err:  # a query information_schema refused: one line
        module.fail_json(msg="reading the MySQL schema failed: %s" % dbmod._msg(err))
    finally:
        conn.close()


def read_mongodb(module, fact):
    if not HAS_PYMONGO:
        module.fail_json(msg="pymongo (python3-pymongo) is missing on the host: install it (the mongodb role does)")
    user = (fact.get("users") or {}).get("backup")
    if not module.params["mongodb_secret"] or not user:
        module.fail_json(
            msg="no read-only MongoDB account to read the schema with: pass mongodb_secret (the "
            "inventory's mongodb_backup_password) for the account mongodb.fact names (users.backup)"
        )
    host = fact.get("bind_address") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard listener is reached on loopback
        host = "127.0.0.1"
    client = None
    try:
        client = pymongo.MongoClient(
            host=host,
            port=int(fact.get("port") or 27017),
            username=user,
            password=module.params["mongodb_secret"],
            authSource=fact.get("auth_source") or fact.get("database") or "admin",
            authMechanism=fact.get("auth_mechanism") or "SCRAM-SHA-256",
            serverSelectionTimeoutMS=int(module.params["timeout"] * 1000),
        )
        return mongodb_schema(client, [fact.get("database") or "cdr"], module.params["sample"])
    except Exception as err:  # pymongo raises many kinds; each becomes one line
        module.fail_json(
            msg="reading the MongoDB schema on %s:%s as %s failed: %s"
            % (host, fact.get("port"), user, to_native(err).splitlines()[0])
        )
    finally:
        if client is not None:
            client.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            mysql_option_file=dict(type="path", default="/root/.my.cnf"),
            mongodb_secret=dict(type="str", no_log=True),
            sample=dict(type="int", default=200),
            timeout=dict(type="float", default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_schema.py is missing: run from the followup-ops repository")
    if module.params["sample"] < 1:
        module.fail_json(msg="sample must be at least 1, not %d" % module.params["sample"])
    try:
        mysql_fact = read_fact(module.params["facts_dir"], "mysql")
        mongo_fact = read_fact(module.params["facts_dir"], "mongodb")
    except (OSError, ValueError) as err:
        module.fail_json(msg="a database local fact is not readable JSON (%s): run the database role again" % err)
    schema = {
        "mysql": read_mysql(module, mysql_fact) if mysql_fact else None,
        "mongodb": read_mongodb(module, mongo_fact) if mongo_fact else None,
    }
    module.exit_json(changed=False, schema=schema)


if __name__ == "__main__":
    main()
