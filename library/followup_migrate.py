#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: apply a release's schema migrations to one MySQL or MongoDB database.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate
short_description: Apply a follow-up system release's schema migrations to one database
description:
  - Reads the migration scripts of one database from a release (C(V<NNN>__<description>.sql) for MySQL,
    C(.yml) or C(.py) for MongoDB; see C(docs/releases.md)), compares them with the database's history
    (table or collection C(followup_schema_history)) and applies the pending ones in version order, recording each
    with its normalised sha256 checksum, duration, release and result.
  - Refuses, naming the script, when an applied script changed, when the database carries a migration the
    release does not (the database is newer than the release), when a migration failed earlier and was not
    resolved, or on a gap in the order.
  - Two runs cannot interleave. MySQL uses C(GET_LOCK), MongoDB a lease document that expires on its own.
  - In check mode, connects read-only and returns the pending scripts without applying anything.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Database engine.
    type: str
    required: true
    choices: [mysql, mongodb]
  database:
    description: Database to migrate (C(cloud_followup), C(interface_data), C(cdr)).
    type: str
    required: true
  migrations_dir:
    description: Directory on the managed host holding this database's scripts.
    type: path
    required: true
  release:
    description: Release version the scripts come from, recorded in the history.
    type: str
attributes:
  check_mode:
    support: full
    details: Lists pending migrations; reads the history, changes nothing.
  diff_mode:
    support: full
    details: Shows the schema version before and after.
  platform:
    platforms: posix
notes:
  - Credentials are passed as module parameters (never on a command line) and the parameters are C(no_log).
  - MySQL commits DDL implicitly; a failed MySQL migration is recorded with C(success=0) and the message says
    to restore the pre-deploy backup before retrying.
requirements:
  - PyYAML (python3-yaml) for MongoDB
extends_documentation_fragment:
  - followup_mysql
  - followup_mongodb
"""

EXAMPLES = r"""
- name: Migrate cloud_followup to release 1.1.0
  followup_migrate:
    engine: mysql
    database: cloud_followup
    migrations_dir: /opt/followup/app/releases/1.1.0/migrations/mysql/cloud_followup
    release: 1.1.0
    login_host: 10.89.50.21
    login_user: followup_migrate
    login_password: "{{ followup_app_migrate_password }}"
  no_log: true

- name: Migrate cdr
  followup_migrate:
    engine: mongodb
    database: cdr
    migrations_dir: /opt/followup/app/releases/1.1.0/migrations/mongodb/cdr
    release: 1.1.0
    uri: "{{ followup_app_mongodb_uri }}"
  no_log: true
"""

RETURN = r"""
applied:
  description: Scripts applied by this run (or that would be, in check mode), with their duration.
  returned: success
  type: list
  elements: dict
  sample: [{version: 3, script: V003__task_status_codes.sql, execution_ms: 120}]
pending:
  description: Scripts not applied before this run.
  returned: success
  type: list
  elements: str
  sample: [V003__task_status_codes.sql]
schema_version_before:
  description: Highest applied migration version before the run (null for an empty database).
  returned: success
  type: int
  sample: 2
schema_version:
  description: Highest applied migration version after the run (the expected one in check mode).
  returned: success
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_db import mongodb_argument_spec, mysql_argument_spec
    from ansible.module_utils.followup_migrations import MigrationError, load_scripts, plan, schema_version

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def _runner(module):
    p = module.params
    if p["engine"] == "mysql":
        from ansible.module_utils.followup_db import HAS_PYMYSQL
        from ansible.module_utils.followup_migrate_mysql import MySQLRunner

        if not HAS_PYMYSQL:
            module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"))
        if not p["login_user"]:
            module.fail_json(msg="engine=mysql needs login_user (the followup_migrate account)")
        return MySQLRunner(p["database"], p)
    from ansible.module_utils.followup_migrate_mongodb import HAS_PYMONGO, HAS_YAML, MongoRunner

    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo (python3-pymongo)"))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    if not p["uri"]:
        module.fail_json(msg="engine=mongodb needs uri (a connection string with the application account)")
    return MongoRunner(p["uri"], p["database"])


def run(module):
    p = module.params
    kinds = ("sql",) if p["engine"] == "mysql" else ("yml", "py")
    scripts = load_scripts(p["migrations_dir"], kinds)
    runner = _runner(module)
    try:
        history = runner.history()
        before = schema_version(history)
        pending = plan(scripts, history, p["release"])
        result = {
            "changed": bool(pending),
            "pending": [s.name for s in pending],
            "schema_version_before": before,
            "applied": [],
        }
        if pending and not module.check_mode:
            runner.lock()
            # Re-read under the lock: another run may have applied some in between.
            pending = plan(scripts, runner.history(), p["release"])
            runner.ensure_history()
            for script in pending:
                ms = runner.apply(script, p["release"])
                result["applied"].append({"version": script.version, "script": script.name, "execution_ms": ms})
            result["changed"] = bool(result["applied"])
        elif pending:
            result["applied"] = [{"version": s.version, "script": s.name, "execution_ms": 0} for s in pending]
        # plan() guarantees the history is a prefix of the scripts, so after the run every script is applied.
        result["schema_version"] = scripts[-1].version if scripts else before
        if module._diff:
            result["diff"] = {
                "before": "%s schema version: %s\n" % (p["database"], before),
                "after": "%s schema version: %s\n" % (p["database"], result["schema_version"]),
            }
        return result
    finally:
        runner.close()


def main():
    argument_spec = dict(
        engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
        database=dict(type="str", required=True),
        migrations_dir=dict(type="path", required=True),
        release=dict(type="str"),
    )
    if HAS_UTILS:
        argument_spec.update(mysql_argument_spec())
        argument_spec.update(mongodb_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(
            msg="module_utils/followup_migrations.py or followup_db.py is missing: run from the followup-ops repository"
        )
    try:
        module.exit_json(**run(module))
    except MigrationError as err:
        module.fail_json(msg=to_native(err))


if __name__ == "__main__":
    main()
