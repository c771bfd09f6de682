#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: read rows or documents from the follow-up system's databases, read-only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_db_read
short_description: Read rows from MySQL or documents from MongoDB, strictly read-only
description:
  - For checks after a deploy, a migration or a restore. Runs one C(SELECT) inside a C(READ ONLY) transaction
    (MySQL refuses any write in it), or one C(find)/C(count) on a MongoDB collection.
  - Returns the rows or documents (at most O(limit)) and their count. Never changes anything.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Database engine.
    type: str
    required: true
    choices: [mysql, mongodb]
  database:
    description: Database to read.
    type: str
    required: true
  query:
    description: For MySQL, one SELECT statement with C(%s) placeholders for O(params).
    type: str
  params:
    description: For MySQL, values for the placeholders of O(query).
    type: list
    elements: raw
    default: []
  collection:
    description: For MongoDB, the collection to read.
    type: str
  filter:
    description: For MongoDB, the query filter.
    type: dict
    default: {}
  limit:
    description: Most rows or documents returned (the count is always the full count).
    type: int
    default: 100
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - followup_mysql
  - followup_mongodb
"""

EXAMPLES = r"""
- name: Read a follow-up task
  followup_db_read:
    engine: mysql
    database: cloud_followup
    query: SELECT id, status FROM followup_tasks WHERE id = %s
    params: [42]
    login_host: 10.89.50.21
    login_user: followup_app
    login_password: "{{ followup_app_mysql_password }}"

- name: Count the call records of a task
  followup_db_read:
    engine: mongodb
    database: cdr
    collection: call_records
    filter: {task_id: 42}
    uri: "{{ followup_app_mongodb_uri }}"
"""

RETURN = r"""
count:
  description: Number of matching rows (MySQL, rows returned by the query) or documents (MongoDB, full count).
  returned: success
  type: int
  sample: 1
rows:
  description: The rows (MySQL, as mappings of column to value) or documents (MongoDB, C(_id) as a string).
  returned: success
  type: list
  elements: dict
  sample: [{id: 42, status: completed}]
"""

import datetime
import decimal

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    import pymongo

    HAS_PYMONGO = True
except ImportError:
    HAS_PYMONGO = False

try:
    from ansible.module_utils.followup_db import (
        HAS_PYMYSQL,
        ConnectError,
        mongodb_argument_spec,
        mysql_argument_spec,
        mysql_connect,
        pymysql,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = HAS_PYMYSQL = False


def _plain(value):
    if isinstance(value, dict):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def read_mysql(module):
    p = module.params
    if not HAS_PYMYSQL:
        module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"))
    query = (p["query"] or "").strip().rstrip(";")
    if not query.lower().startswith(("select", "show", "with")):
        module.fail_json(msg="query must be one SELECT (or SHOW/WITH) statement; followup_db_read never writes")
    try:
        conn = mysql_connect(p, p["database"], cursorclass=pymysql.cursors.DictCursor)
    except ConnectError as err:
        module.fail_json(msg=to_native(err))
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            cur.execute(query, p["params"] or None)
            rows = cur.fetchall()
        conn.rollback()
    except pymysql.MySQLError as err:
        module.fail_json(msg="query on %s failed: %s" % (p["database"], to_native(err)))
    finally:
        conn.close()
    return len(rows), [_plain(r) for r in rows[: p["limit"]]]


def read_mongodb(module):
    p = module.params
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo (python3-pymongo)"))
    if not p["collection"] or not p["uri"]:
        module.fail_json(msg="engine=mongodb needs collection and uri")
    client = None
    try:
        client = pymongo.MongoClient(p["uri"], serverSelectionTimeoutMS=10000)
        coll = client[p["database"]][p["collection"]]
        count = coll.count_documents(p["filter"])
        docs = list(coll.find(p["filter"]).limit(p["limit"]))
    except pymongo.errors.PyMongoError as err:
        module.fail_json(msg="reading %s.%s failed: %s" % (p["database"], p["collection"], to_native(err)))
    finally:
        if client is not None:
            client.close()
    return count, [_plain(d) for d in docs]


def main():
    argument_spec = dict(
        engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
        database=dict(type="str", required=True),
        query=dict(type="str"),
        params=dict(type="list", elements="raw", default=[]),
        collection=dict(type="str"),
        filter=dict(type="dict", default={}),
        limit=dict(type="int", default=100),
    )
    if HAS_UTILS:
        argument_spec.update(mysql_argument_spec())
        argument_spec.update(mongodb_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("engine", "mysql", ["query"]), ("engine", "mongodb", ["collection", "uri"])],
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_db.py is missing: run from the followup-ops repository")
    if module.params["engine"] == "mysql":
        count, rows = read_mysql(module)
    else:
        count, rows = read_mongodb(module)
    module.exit_json(changed=False, count=count, rows=rows)


if __name__ == "__main__":
    main()
