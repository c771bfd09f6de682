#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: compare every table or collection of a database move between the old and the new server: row counts
# and chunked content checksums at one consistent point, columns and indexes (docs/migration.md, "Verify").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_table_checksum
short_description: Compare tables or collections between the two servers of a database move
description:
  - For O(engine=mysql), runs on the server that replicates (the replica) and logs in to the primary (O(peer_address))
    as the move account. It stops the replica's replication, opens a consistent snapshot on the primary at a binary
    log position, lets the replica apply exactly up to that position, and then, with both holding the same data,
    compares every table of O(databases) in the manner of pt-table-checksum - chunks of O(chunk_rows) rows along the
    primary key, each chunk's row count and the BIT_XOR of a 64-bit MD5 of every row (its columns joined with '#' and
    which of them are NULL) - computed on both servers at once, and the columns and indexes of both. Replication
    starts again afterwards and catches up.
  - For O(engine=mongodb), reads every collection of O(database) on both servers (O(source_uri), O(target_uri)) in
    _id order; document counts, a sha256 of the documents as canonical JSON in chunks of O(chunk_docs), and the
    indexes. Both must be still (the source read-only and the target unused, as in a dump/restore window), or
    O(at_least) compares only that the target holds at least the source's documents (after the applications moved).
  - Never fails on a difference; it returns C(equal) and C(refused), one line per difference, for the gate.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: The engine of the move.
    type: str
    required: true
    choices: [mysql, mongodb]
  migration:
    description: The migration's id (names the move account's password file).
    type: str
    default: ""
  peer_address:
    description: For MySQL, the primary's address.
    type: str
  peer_port:
    description: For MySQL, the primary's port.
    type: int
    default: 3306
  databases:
    description: For MySQL, the databases to compare.
    type: list
    elements: str
    default: [cloud_followup, interface_data]
  chunk_rows:
    description: For MySQL, rows per chunk.
    type: int
    default: 10000
  timeout:
    description: For MySQL, seconds the replica may take to reach the consistent point.
    type: int
    default: 120
  tls:
    description: For MySQL, encrypt the connection to the primary (V(auto) when it offers TLS).
    type: str
    default: auto
    choices: [auto, "yes", "no"]
  source_uri:
    description: For MongoDB, the source's connection string (an account that reads the database; never logged).
    type: str
  target_uri:
    description: For MongoDB, the target's connection string (never logged).
    type: str
  database:
    description: For MongoDB, the database to compare.
    type: str
    default: cdr
  chunk_docs:
    description: For MongoDB, documents per chunk.
    type: int
    default: 10000
  at_least:
    description: For MongoDB, compare only counts (the target at least the source's) and indexes.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Changes no data; it runs the same in check mode (for MySQL the replica pauses while it compares).
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql) for MySQL, pymongo (python3-pymongo) for MongoDB
seealso:
  - module: followup_replication
"""

EXAMPLES = r"""
- name: Compare both databases between the primary and this replica
  followup_table_checksum:
    engine: mysql
    migration: db-mysql-mysql1-mysql2-20261201T203000Z
    peer_address: 10.89.50.21
    databases: [cloud_followup, interface_data]
  register: __db_move_verify

- name: Compare cdr between the read-only source and the copy
  followup_table_checksum:
    engine: mongodb
    source_uri: "{{ __db_move_source_uri }}"
    target_uri: "{{ __db_move_target_uri }}"
    database: cdr
  no_log: true
"""

RETURN = r"""
equal:
  description: Whether everything compared is equal.
  returned: always
  type: bool
tables:
  description: Per table (db.table) or collection, C(equal), C(counts) [source, target], C(chunks), C(chunks_differ)
    ([{chunk, range, rows}]) and C(missing) when it exists on one side only.
  returned: always
  type: dict
indexes:
  description: C(differ), one line per index that differs.
  returned: always
  type: dict
rows:
  description: Rows (documents) compared on the source.
  returned: always
  type: int
seconds:
  description: How long the comparison took.
  returned: always
  type: float
rows_per_s:
  description: Rows compared per second.
  returned: always
  type: float
position:
  description: For MySQL, the binary log position both servers were compared at.
  returned: engine mysql
  type: dict
refused:
  description: One line per difference (empty when equal), as the cutover's gate reports them.
  returned: always
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_dbmove import MoveError, verify_refusals

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def mysql_verify(module):
    from ansible.module_utils.followup_dbmove_mysql import local_server, peer_server, read_secret, verify

    p = module.params
    if not p["peer_address"] or not p["migration"]:
        module.fail_json(msg="engine mysql needs peer_address (the primary) and migration")
    password = read_secret(p["migration"])
    replica = local_server()
    replica.name = "the replica (this host)"
    primary = None
    try:
        tls = False
        if p["tls"] != "no":
            probe = peer_server(p["peer_address"], p["peer_port"], password, "the primary %s" % p["peer_address"])
            tls = str(probe.value("SELECT @@have_ssl")).upper() == "YES"
            probe.close()
        primary = peer_server(
            p["peer_address"], p["peer_port"], password, "the primary %s" % p["peer_address"], ssl=tls
        )
        return verify(primary, replica, p["databases"], chunk_rows=p["chunk_rows"], timeout=p["timeout"])
    finally:
        replica.close()
        if primary is not None:
            primary.close()


def mongodb_verify(module):
    from ansible.module_utils.followup_dbmove_mongo import client, verify

    p = module.params
    if not p["source_uri"] or not p["target_uri"]:
        module.fail_json(msg="engine mongodb needs source_uri and target_uri")
    src, tgt = client(p["source_uri"]), client(p["target_uri"])
    try:
        return verify(src, tgt, p["database"], chunk_docs=p["chunk_docs"], at_least=p["at_least"])
    finally:
        src.close()
        tgt.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            migration=dict(type="str", default=""),
            peer_address=dict(type="str"),
            peer_port=dict(type="int", default=3306),
            databases=dict(type="list", elements="str", default=["cloud_followup", "interface_data"]),
            chunk_rows=dict(type="int", default=10000),
            timeout=dict(type="int", default=120),
            tls=dict(type="str", default="auto", choices=["auto", "yes", "no"]),
            source_uri=dict(type="str", no_log=True),
            target_uri=dict(type="str", no_log=True),
            database=dict(type="str", default="cdr"),
            chunk_docs=dict(type="int", default=10000),
            at_least=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove*.py are missing: run from the followup-ops repository")
    p = module.params
    if p["chunk_rows"] < 1 or p["chunk_docs"] < 1:
        module.fail_json(msg="chunk_rows and chunk_docs must be at least 1")
    try:
        result = mysql_verify(module) if p["engine"] == "mysql" else mongodb_verify(module)
    except MoveError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # an internal error, with the traceback for the record
        module.fail_json(msg="comparing the two servers failed: %s" % to_native(err), exception=traceback.format_exc())
    result["refused"] = verify_refusals(result, "the two servers differ")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
