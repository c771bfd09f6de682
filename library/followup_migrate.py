#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: apply a release's schema migrations to one MySQL or MongoDB database, report its migration state,
# or record the repair of a failed or interrupted migration.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate
short_description: Apply a follow-up system release's schema migrations to one database, or repair a failed one
description:
  - Reads the migration scripts of one database from a release (C(V<NNN>__<description>.sql) for MySQL,
    C(.yml) or C(.py) for MongoDB; see C(docs/releases.md), "Migrations"), compares them with the database's history
    (table or collection C(followup_schema_history)) and applies the pending ones in version order.
  - Each script's history row is written as C(running) before its first statement (MySQL commits it on its own) and
    becomes C(success) at its end (MySQL in the same transaction as the script's last data changes) or C(failed)
    when the server refuses a statement. A C(running) row found later means the run was killed or lost its
    connection.
  - Refuses, in one line naming the database, the script and the two recoveries (restore the backup taken before
    the migration, or a repair after a manual fix), while a migration is C(failed) or C(running) (RV(state)
    C(failed), C(interrupted) or C(in_progress)); and, naming the file, when an applied script changed, when the
    database carries a migration the release does not, on a gap in the order, and on a script the splitter refuses
    (transaction control, compound statements; with C(<file>:<line>)).
  - With O(scripts) (the release manifest's list) exactly those scripts run; any other file in O(migrations_dir)
    is refused, and so is a listed file that is missing.
  - O(operation=inspect) reads the history and reports, changing nothing and never failing on a refusal (it returns
    RV(refused), as the gates do). O(operation=repair) marks a failed or running migration resolved, as applied or
    not applied, recording who, when, why, the approver and the state before in C(followup_schema_repairs).
  - Two runs cannot interleave. MySQL uses C(GET_LOCK) on the runner's only connection (released by the server with
    that connection); MongoDB a lease document renewed on the server's clock, checked before every operation.
  - Error messages and the C(error) kept in the history carry the error code, the script, the statement's
    C(<file>:<line>) and a generic reason, never the server's text when it may quote row values.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Database engine.
    type: str
    required: true
    choices: [mysql, mongodb]
  database:
    description: Database to migrate (C(cloud_followup), C(interface_data), C(cdr)); letters, digits and underscores.
    type: str
    required: true
  operation:
    description:
      - V(migrate) applies the pending migrations.
      - V(inspect) reports the database's migration state and what would be refused, and changes nothing.
      - V(repair) records the resolution of a failed or interrupted migration given in O(repair).
    type: str
    choices: [migrate, inspect, repair]
    default: migrate
  migrations_dir:
    description:
      - Directory on the managed host holding this database's scripts. Required for O(operation=migrate).
      - With O(operation=inspect) it adds the pending scripts and the refusals of the plan to the report.
    type: path
  scripts:
    description:
      - The release manifest's migrations of this database (file names, in apply order). Only these run; a file of
        O(migrations_dir) that is not listed, or a listed file that is missing, is refused naming it.
      - An empty list means the release carries no migrations for the database (O(migrations_dir) may be missing).
      - Without it every migration file of O(migrations_dir) runs.
    type: list
    elements: str
  release:
    description: Release version the scripts come from, recorded in the history.
    type: str
  repair:
    description:
      - The repair to record with O(operation=repair), after a manual fix, approved by another person.
    type: dict
    suboptions:
      version:
        description: Version of the failed or running migration (C(3) for C(V003__...)).
        type: int
        required: true
      resolution:
        description:
          - V(applied) when its changes are complete (finished by hand). It counts as applied, and the next run goes
            on with the later ones.
          - V(not_applied) when its changes were undone (or never happened). The next run applies it again.
        type: str
        required: true
        choices: [applied, not_applied]
      reason:
        description: What was found and fixed by hand, and why the migration may be marked resolved.
        type: str
        required: true
      approved_by:
        description: Who approved the repair (another person than O(repair.repaired_by)).
        type: str
        required: true
      repaired_by:
        description: Who makes the repair. Default the database account and this host.
        type: str
  lock_timeout:
    description:
      - Seconds to wait for the migration lock. A killed run's MySQL lock ends when the statement it was running ends;
        its MongoDB lease at once on the same host, else 60 s after its last renewal.
    type: int
    default: 90
attributes:
  check_mode:
    support: full
    details: Reads the history and the lock; lists the pending migrations or the repair it would record.
  diff_mode:
    support: full
    details: Shows the schema version (and for a repair the row's state) before and after.
  platform:
    platforms: posix
notes:
  - Credentials are passed as module parameters (never on a command line) and the parameters are C(no_log). The task
    needs no task-level C(no_log), since no message or result carries a password or a row value.
  - MySQL commits DDL implicitly, so a failed MySQL migration may have kept DDL of the statements before the one
    that failed (the message says how many); restore the backup taken before the migration, or repair.
  - States of a history row are C(running), C(success), C(failed), C(repaired_applied) and C(repaired_not_applied);
    rows written before states existed (C(success) only) keep working, and the table or collection gains its new
    columns the first time a run writes to it.
requirements:
  - PyYAML (python3-yaml) for MongoDB
seealso:
  - name: Migrations
    description: The migration scripts, the history states and what each refusal means.
    link: docs/releases.md
extends_documentation_fragment:
  - followup_mysql
  - followup_mongodb
"""

EXAMPLES = r"""
- name: Migrate cloud_followup to release 1.1.0, exactly the manifest's scripts
  followup_migrate:
    engine: mysql
    database: cloud_followup
    migrations_dir: /opt/followup/app/releases/1.1.0/migrations/mysql/cloud_followup
    scripts: [V001__create_core_tables.sql, V002__add_task_status_code.sql, V003__backfill_task_status_code.sql]
    release: 1.1.0
    login_host: 10.89.50.21
    login_user: followup_migrate
    login_password: "{{ followup_app_migrate_mysql_password }}"

- name: Migrate cdr
  followup_migrate:
    engine: mongodb
    database: cdr
    migrations_dir: /opt/followup/app/releases/1.1.0/migrations/mongodb/cdr
    scripts: [V001__create_collections.yml, V002__index_calls_and_categorise_documents.yml]
    release: 1.1.0
    uri: "{{ followup_app_migrate_mongodb_uri }}"

- name: Read the migration state of cloud_followup (never fails on a refusal)
  followup_migrate:
    engine: mysql
    database: cloud_followup
    operation: inspect
    login_host: 10.89.50.21
    login_user: followup_migrate
    login_password: "{{ followup_app_migrate_mysql_password }}"
  register: __followup_migration_state

- name: Record that V003 of cloud_followup was finished by hand
  followup_migrate:
    engine: mysql
    database: cloud_followup
    operation: repair
    repair:
      version: 3
      resolution: applied
      reason: "V003 stopped at statement 2 (connection lost); statements 2-3 run by hand, rows checked"
      approved_by: Wang Li (IT)
      repaired_by: Zhang Wei
    login_host: 10.89.50.21
    login_user: followup_migrate
    login_password: "{{ followup_app_migrate_mysql_password }}"
"""

RETURN = r"""
database:
  description: The database.
  returned: always
  type: str
  sample: cloud_followup
state:
  description:
    - The database's migration state, read from its history (and the lock), after the run.
    - C(clean) nothing failed or unfinished; C(failed) a migration failed at a known statement (RV(blocking));
      C(interrupted) a migration was left running by a run that was killed or lost its connection (how much of it
      ran is unknown); C(in_progress) another live run is applying it.
  returned: always
  type: str
  choices: [clean, failed, interrupted, in_progress]
  sample: clean
blocking:
  description: The failed or running history row that stops the migrations (null when RV(state) is C(clean)).
  returned: always
  type: dict
  sample:
    version: 3
    script: V003__backfill_task_status_code.sql
    state: failed
    started_on: "2026-05-18 02:10:04"
    finished_on: "2026-05-18 02:10:09"
    release: 1.1.0
    runner: app1:4242
    error: "MySQL error 1062 (a duplicate value for a unique key) at V003__backfill.sql:4 (statement 2 of 3)"
applied:
  description: Scripts applied by this run (or that would be, in check mode), with their duration.
  returned: always
  type: list
  elements: dict
  sample: [{version: 3, script: V003__task_status_codes.sql, execution_ms: 120}]
pending:
  description: Scripts not applied before this run.
  returned: always
  type: list
  elements: str
  sample: [V003__task_status_codes.sql]
schema_version_before:
  description: Highest applied migration version before the run (null for an empty database).
  returned: always
  type: int
  sample: 2
schema_version:
  description: Highest applied migration version after the run (the expected one in check mode).
  returned: always
  type: int
  sample: 3
refused:
  description: With O(operation=inspect), one line per reason a migration run would be refused (empty when none).
  returned: when operation is inspect
  type: list
  elements: str
  sample: []
history_upgraded:
  description: Whether this run created the history table/collection or brought its columns forward.
  returned: when operation is migrate or repair
  type: bool
  sample: false
repair:
  description: The repair recorded (or that would be, in check mode).
  returned: when operation is repair
  type: dict
  sample:
    version: 3
    script: V003__backfill_task_status_code.sql
    state_before: failed
    state_after: repaired_applied
    reason: "statements 2-3 run by hand, rows checked"
    approved_by: Wang Li (IT)
    repaired_by: Zhang Wei
"""

import os
import socket
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_db import mongodb_argument_spec, mysql_argument_spec
    from ansible.module_utils.followup_migrations import (
        CLEAN,
        FAILED,
        IN_PROGRESS,
        INTERRUPTED,
        RUNNING,
        MigrationError,
        check_name,
        check_repair,
        history_state,
        load_scripts,
        plan,
        refusal,
        row_state,
        row_summary,
        schema_version,
        validate_repair,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False

KINDS = {"mysql": ("sql",), "mongodb": ("yml", "py")}


def _requirements(module):
    """Fail, naming the package, when the engine's driver is missing on the managed host."""
    if module.params["engine"] == "mysql":
        from ansible.module_utils.followup_db import HAS_PYMYSQL

        if not HAS_PYMYSQL:
            module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"))
        return
    from ansible.module_utils.followup_migrate_mongodb import HAS_PYMONGO, HAS_YAML

    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo (python3-pymongo)"))
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))


def _runner(module):
    p = module.params
    if p["engine"] == "mysql":
        from ansible.module_utils.followup_migrate_mysql import MySQLRunner

        return MySQLRunner(p["database"], p, p["lock_timeout"])
    from ansible.module_utils.followup_migrate_mongodb import MongoRunner

    return MongoRunner(p["uri"], p["database"], p["lock_timeout"])


def _state(runner, history):
    """(state, blocking row, lock holder): a running row is in progress while a live run holds the lock."""
    state, row = history_state(history)
    holder = None
    if state == INTERRUPTED:
        holder = runner.lock_holder()
        if holder:
            state = IN_PROGRESS
    return state, row, holder


def _report(result, state, row):
    result["state"] = state
    result["blocking"] = row_summary(row)


def _diff(module, result, before, after):
    if module._diff:
        result["diff"] = {"before": before, "after": after}


def _prepared(pending):
    for script in pending:
        script.prepare()  # refuses, naming <file>:<line>, before anything runs
    return pending


def _migrate(module, runner, scripts, result):
    p = module.params
    engine, database = p["engine"], p["database"]
    history = runner.history()
    before = schema_version(history)
    result.update(schema_version_before=before, schema_version=before, history_upgraded=False)
    state, row, holder = _state(runner, history)
    _report(result, state, row)
    if state == FAILED or (module.check_mode and state != CLEAN):
        raise refusal(engine, database, row, holder)
    if state == CLEAN:
        pending = _prepared(plan(scripts, history, p["release"], database, engine))
        result["pending"] = [s.name for s in pending]
        if not pending:
            return result
        if module.check_mode:
            result["changed"] = True
            result["applied"] = [{"version": s.version, "script": s.name, "execution_ms": 0} for s in pending]
            result["schema_version"] = pending[-1].version
            return result
    # Pending scripts, or a running row whose run may be alive: decide under the lock.
    runner.lock()
    history = runner.history()
    state, row = history_state(history)  # holding the lock, a running row is an interrupted run
    _report(result, state, row)
    if state != CLEAN:
        raise refusal(engine, database, row)
    pending = _prepared(plan(scripts, history, p["release"], database, engine))
    result["pending"] = [s.name for s in pending]
    if pending:
        result["history_upgraded"] = runner.ensure_history()
    for script in pending:
        ms = runner.apply(script, p["release"])
        result["applied"].append({"version": script.version, "script": script.name, "execution_ms": ms})
        result["changed"] = True
        result["schema_version"] = script.version
    return result


def _inspect(module, runner, scripts, result):
    p = module.params
    engine, database = p["engine"], p["database"]
    history = runner.history()
    before = schema_version(history)
    result.update(schema_version_before=before, schema_version=before, refused=[])
    state, row, holder = _state(runner, history)
    _report(result, state, row)
    if state != CLEAN:
        result["refused"].append(to_native(refusal(engine, database, row, holder)))
    elif scripts is not None:
        try:
            pending = _prepared(plan(scripts, history, p["release"], database, engine))
            result["pending"] = [s.name for s in pending]
        except MigrationError as err:
            result["refused"].append(to_native(err))
    return result


def _repair(module, runner, result):
    p = module.params
    engine, database = p["engine"], p["database"]
    request = dict(p["repair"])
    request["repaired_by"] = (request.get("repaired_by") or "").strip() or "%s@%s" % (
        runner.user,
        socket.gethostname(),
    )
    history = runner.history()
    before = schema_version(history)
    result.update(schema_version_before=before, schema_version=before, history_upgraded=False)
    state, blocking = history_state(history)
    _report(result, state, blocking)
    row, new_state = check_repair(history, request, database)
    if row_state(row) == RUNNING:
        # A running row may belong to a live run: never mark that one.
        holder = runner.lock_holder()
        if holder:
            _report(result, IN_PROGRESS, row)
            raise refusal(engine, database, row, holder)
    result["repair"] = {
        "version": int(row["version"]),
        "script": row["script"],
        "state_before": row_state(row),
        "state_after": new_state,
        "reason": request["reason"],
        "approved_by": request["approved_by"],
        "repaired_by": request["repaired_by"],
    }
    result["changed"] = True
    _diff(
        module,
        result,
        "%s %s: %s\n" % (database, row["script"], row_state(row)),
        "%s %s: %s (approved by %s)\n" % (database, row["script"], new_state, request["approved_by"]),
    )
    if module.check_mode:
        return result
    runner.lock()
    history = runner.history()
    row, new_state = check_repair(history, request, database)  # again, under the lock
    result["history_upgraded"] = runner.ensure_history()
    runner.repair(row, new_state, request, request["repaired_by"])
    history = runner.history()
    state, blocking = history_state(history)
    _report(result, state, blocking)
    result["schema_version"] = schema_version(history)
    return result


def run(module, result):
    p = module.params
    check_name("database", p["database"])
    if p["lock_timeout"] < 0:
        raise MigrationError("lock_timeout is %d: give the seconds to wait for the lock, 0 or more" % p["lock_timeout"])
    result.update(database=p["database"], state=CLEAN, blocking=None, applied=[], pending=[])
    scripts = None
    if p["migrations_dir"]:
        scripts = load_scripts(p["migrations_dir"], KINDS[p["engine"]], p["scripts"])
    elif p["scripts"]:
        raise MigrationError("scripts is given without migrations_dir: say where the scripts are")
    if p["operation"] == "repair":
        validate_repair(p["repair"])  # before connecting: a repair without reason or approver is refused
    runner = _runner(module)
    try:
        if p["operation"] == "repair":
            return _repair(module, runner, result)
        if p["operation"] == "inspect":
            return _inspect(module, runner, scripts, result)
        result = _migrate(module, runner, scripts, result)
        _diff(
            module,
            result,
            "%s schema version: %s\n" % (p["database"], result["schema_version_before"]),
            "%s schema version: %s\n" % (p["database"], result["schema_version"]),
        )
        return result
    finally:
        runner.close()


def main():
    argument_spec = dict(
        engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
        database=dict(type="str", required=True),
        operation=dict(type="str", default="migrate", choices=["migrate", "inspect", "repair"]),
        migrations_dir=dict(type="path"),
        scripts=dict(type="list", elements="str"),
        release=dict(type="str"),
        repair=dict(
            type="dict",
            options=dict(
                version=dict(type="int", required=True),
                resolution=dict(type="str", required=True, choices=["applied", "not_applied"]),
                reason=dict(type="str", required=True),
                approved_by=dict(type="str", required=True),
                repaired_by=dict(type="str"),
            ),
        ),
        lock_timeout=dict(type="int", default=90),
    )
    required_if = [("operation", "migrate", ("migrations_dir",)), ("operation", "repair", ("repair",))]
    if HAS_UTILS:
        argument_spec.update(mysql_argument_spec())
        argument_spec.update(mongodb_argument_spec())
        required_if += [("engine", "mysql", ("login_user",)), ("engine", "mongodb", ("uri",))]
    module = AnsibleModule(argument_spec=argument_spec, required_if=required_if, supports_check_mode=True)
    if not HAS_UTILS:
        module.fail_json(
            msg="module_utils/followup_migrations.py or followup_db.py is missing: run from the followup-ops repository"
        )
    _requirements(module)
    result = {"changed": False}
    try:
        outcome = run(module, result)
    except MigrationError as err:
        if err.state:
            result["state"] = err.state
        if err.blocking:
            result["blocking"] = err.blocking
        result["changed"] = bool(result.get("applied")) and not module.check_mode
        module.fail_json(msg=to_native(err), **result)
    except Exception as err:  # not expected: still one line, and never its text (a driver's may quote row values)
        frames = traceback.extract_tb(err.__traceback__)
        where = ("%s:%d" % (os.path.basename(frames[-1].filename), frames[-1].lineno)) if frames else "?"
        result["changed"] = bool(result.get("applied")) and not module.check_mode
        module.fail_json(
            msg="%s: internal error %s at %s (its text is not shown: it may quote row values): check the migration "
            "state with operation=inspect before retrying" % (module.params["database"], type(err).__name__, where),
            **result,
        )
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
