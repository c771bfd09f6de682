#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: periodic MySQL/MariaDB optimisation inside a maintenance window, with index changes only proposed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_db_optimize
short_description: Analyse a MySQL/MariaDB server and refresh statistics or rebuild tables inside a window
description:
  - Reads, read-only, the follow-up system's tables (sizes, free space inside them, row estimates), their
    statistics (InnoDB's changed-rows counter and the age of the persistent statistics), their indexes, the statement
    digests of C(performance_schema) where it is on, indexes unused since the server started, and the end of the slow
    query log where it is on. Statements are kept only as their shapes (every literal replaced by C(?)), so nothing
    from a patient's record is returned.
  - Proposes, never applies, index changes for a release's migrations, namely indexes for slow query shapes that
    examine many rows per row returned, and duplicate, redundant or unused indexes to drop.
  - Then, only when the time of day is inside O(window) (the hospital's time) and O(apply) is true, refreshes the
    statistics of tables whose statistics are stale (C(ANALYZE TABLE)) and rebuilds tables with much free space
    inside them (C(OPTIMIZE TABLE)), the cheapest first, starting nothing that would not finish before the window
    ends. Each table is read again afterwards for the before/after report.
  - Logs in as root over the unix socket the mysql role's local fact names (unix_socket authentication, else root's
    password from root's option file, in memory).
version_added: "0.1.0"
author: followup-ops
options:
  window:
    description: The maintenance window, C(HH:MM-HH:MM) in the hospital's time (it may run past midnight).
    type: str
    required: true
  timezone:
    description: The hospital's UTC offset.
    type: str
    default: "+08:00"
  apply:
    description: Whether to act inside the window; false analyses and plans only.
    type: bool
    default: true
  thresholds:
    description:
      - Settings overriding the defaults of module_utils/followup_optimize.py (C(followup_optimize_thresholds)).
    type: dict
    default: {}
  since:
    description: Read slow log entries from this time on (ISO, UTC); default the last 7 days.
    type: str
  facts_dir:
    description: Directory of the local facts the roles write.
    type: path
    default: /etc/ansible/facts.d
  mysql_option_file:
    description: root's MySQL option file, read for root's password when the server refuses unix_socket login.
    type: path
    default: /root/.my.cnf
  now:
    description: The time to judge the window at (epoch seconds); now when not given.
    type: float
attributes:
  check_mode:
    support: full
    details: Analyses and plans; acts on nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql) on the database host
seealso:
  - module: followup_inspect_facts
notes:
  - OPTIMIZE TABLE on InnoDB recreates the table online (concurrent reads and writes go on, DDL waits); its length is
    estimated at C(rebuild_mb_per_s) so that it ends inside the window.
"""

EXAMPLES = r"""
- name: Analyse the server; refresh statistics and rebuild fragmented tables inside the window
  followup_db_optimize:
    window: "02:00-04:00"
    thresholds: "{{ followup_optimize_thresholds | default({}) }}"
  register: __followup_optimize
"""

RETURN = r"""
optimize:
  description: What was found, planned, done and proposed.
  returned: always
  type: dict
  sample:
    window: {text: "02:00-04:00", inside: true, minutes_left: 95}
    server: {version: 10.11.19-MariaDB, performance_schema: "OFF", slow_query_log: "ON"}
    actions: [{table: cloud_followup.followup_tasks, action: analyze, done: true, seconds: 0.2, result: OK}]
    skipped: []
    before: [{name: cloud_followup.followup_tasks, rows: 10000, data: 1589248, index: 540672, free: 4194304}]
    after: [{name: cloud_followup.followup_tasks, rows: 10000, data: 1589248, index: 540672, free: 0}]
    proposals: {indexes: [], redundant: [], unused: []}
    slow: {source: slow log, shapes: [{shape: "select * from followup_tasks where due_date < ?", count: 12}]}
    notes: ["performance_schema is OFF: unused indexes and statement digests cannot be measured"]
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils import followup_inspect_db as dbmod
    from ansible.module_utils import followup_optimize as opt
    from ansible.module_utils.followup_inspect_records import offset_seconds, parse_time

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def _q(name):
    return "`%s`" % str(name).replace("`", "``")


def rows(cur, sql, args=None):
    cur.execute(sql, args)
    return list(cur.fetchall())


def in_list(sql, databases):
    """SQL with its {in} replaced by one %s placeholder per database (the names go as parameters)."""
    return sql.replace("{in}", ", ".join(["%s"] * len(databases)))


def read_tables(cur, databases):
    out = []
    for r in rows(
        cur,
        in_list(
            "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, ENGINE AS e, TABLE_ROWS AS n, DATA_LENGTH AS d, "
            "INDEX_LENGTH AS i, DATA_FREE AS f FROM information_schema.TABLES WHERE TABLE_TYPE = "
            "'BASE TABLE' AND TABLE_SCHEMA IN ({in}) ORDER BY TABLE_SCHEMA, TABLE_NAME",
            databases,
        ),
        tuple(databases),
    ):
        if r["t"].startswith(("followup_schema_", "followup_migration_")):
            continue
        out.append(
            {
                "name": "%s.%s" % (r["s"], r["t"]),
                "engine": r["e"],
                "rows": int(r["n"] or 0),
                "data": int(r["d"] or 0),
                "index": int(r["i"] or 0),
                "free": int(r["f"] or 0),
            }
        )
    return out


VIEW_QUERY = {
    "INNODB_SYS_TABLESTATS": "SELECT NAME AS name, NUM_ROWS AS n, MODIFIED_COUNTER AS m "
    "FROM information_schema.INNODB_SYS_TABLESTATS",
    "INNODB_TABLESTATS": "SELECT NAME AS name, NUM_ROWS AS n, MODIFIED_COUNTER AS m "
    "FROM information_schema.INNODB_TABLESTATS",
}


def read_stats(cur, tables, now, notes):
    """Add each table's changed-rows counter and statistics age."""
    by_name = dict((t["name"], t) for t in tables)
    counter = None
    for view in ("INNODB_SYS_TABLESTATS", "INNODB_TABLESTATS"):  # MariaDB's name, MySQL 8's
        try:
            counter = rows(cur, VIEW_QUERY[view])
            break
        except Exception:  # noqa: S112 - MariaDB and MySQL 8 name the view differently
            continue
    if counter is None:
        notes.append("InnoDB's changed-rows counter is not readable: statistics are judged by their age only")
    for r in counter or []:
        name = str(r["name"]).replace("/", ".")
        if name in by_name:
            by_name[name]["modified"] = int(r["m"] or 0)
            by_name[name]["stats_rows"] = int(r["n"] or 0)
    try:
        for r in rows(
            cur,
            "SELECT database_name AS s, table_name AS t, last_update AS u, n_rows AS n FROM mysql.innodb_table_stats",
        ):
            name = "%s.%s" % (r["s"], r["t"])
            if name in by_name and r["u"] is not None:
                by_name[name]["stats_age_days"] = round((now - time.mktime(r["u"].timetuple())) / 86400.0, 1)
    except Exception as err:
        notes.append("mysql.innodb_table_stats is not readable (%s): statistics ages unknown" % dbmod._msg(err))


def read_indexes(cur, databases):
    found = {}
    for r in rows(
        cur,
        in_list(
            "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, INDEX_NAME AS i, NON_UNIQUE AS nu, "
            "COLUMN_NAME AS c, SUB_PART AS p FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN ({in}) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            databases,
        ),
        tuple(databases),
    ):
        table = "%s.%s" % (r["s"], r["t"])
        indexes = found.setdefault(table, [])
        if not indexes or indexes[-1]["name"] != r["i"]:
            indexes.append({"name": r["i"], "unique": int(r["nu"]) == 0, "columns": []})
        indexes[-1]["columns"].append(r["c"] + ("(%s)" % r["p"] if r["p"] else ""))
    return found


def read_digests(cur, databases, cfg):
    out = []
    for r in rows(
        cur,
        in_list(
            "SELECT SCHEMA_NAME AS db, DIGEST_TEXT AS d, COUNT_STAR AS n, SUM_TIMER_WAIT AS t, "
            "MAX_TIMER_WAIT AS mx, SUM_ROWS_EXAMINED AS ex, SUM_ROWS_SENT AS sent FROM "
            "performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME IN ({in}) AND "
            "DIGEST_TEXT IS NOT NULL ORDER BY SUM_TIMER_WAIT DESC LIMIT %s",
            databases,
        ),
        (*databases, int(cfg["top_queries"]) * 3),
    ):
        shape = opt.fingerprint(r["d"])
        if opt.is_maintenance(shape):
            continue
        out.append(
            {
                "shape": shape,
                "db": r["db"],
                "count": int(r["n"] or 0),
                "total_s": round(int(r["t"] or 0) / 1e12, 3),
                "max_s": round(int(r["mx"] or 0) / 1e12, 3),
                "rows_examined": int(r["ex"] or 0),
                "rows_sent": int(r["sent"] or 0),
            }
        )
    return out[: int(cfg["top_queries"])]


def read_unused(cur, databases):
    out = []
    for r in rows(
        cur,
        in_list(
            "SELECT OBJECT_SCHEMA AS s, OBJECT_NAME AS t, INDEX_NAME AS i FROM "
            "performance_schema.table_io_waits_summary_by_index_usage WHERE INDEX_NAME IS NOT NULL AND "
            "INDEX_NAME <> 'PRIMARY' AND COUNT_STAR = 0 AND OBJECT_SCHEMA IN ({in}) "
            "ORDER BY OBJECT_SCHEMA, OBJECT_NAME, INDEX_NAME",
            databases,
        ),
        tuple(databases),
    ):
        table = "%s.%s" % (r["s"], r["t"])
        out.append(
            {
                "table": table,
                "index": r["i"],
                "proposal": "ALTER TABLE %s.%s DROP INDEX %s;" % (_q(r["s"]), _q(r["t"]), _q(r["i"])),
            }
        )
    return out


def read_slow_log(variables, since, cfg, notes):
    if str(variables.get("slow_query_log")).upper() not in ("ON", "1"):
        notes.append(
            "the slow query log is off: enable it (mysql_server_options: {slow_query_log: 1, "
            "long_query_time: 1}) so that the next optimisation can find slow queries"
        )
        return None
    if "FILE" not in str(variables.get("log_output")).upper():
        notes.append(
            "the slow query log is written to a table (log_output=%s), not read here" % variables.get("log_output")
        )
        return None
    path = variables.get("slow_query_log_file") or ""
    if not os.path.isabs(path):
        path = os.path.join(variables.get("datadir") or "/var/lib/mysql", path)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - int(cfg["slow_log_max_bytes"]), 0))
            text = handle.read().decode("utf-8", "replace")
    except (OSError, IOError) as err:
        notes.append("the slow query log %s cannot be read (%s)" % (path, err))
        return None
    return opt.parse_slow_log(text, since)


def act(cur, action):
    started = time.time()
    verb = "ANALYZE TABLE" if action["action"] == "analyze" else "OPTIMIZE TABLE"
    schema, table = action["table"].split(".", 1)
    try:
        result = rows(cur, "%s %s.%s" % (verb, _q(schema), _q(table)))
    except Exception as err:
        return dict(action, done=False, seconds=round(time.time() - started, 1), result="error: %s" % dbmod._msg(err))
    messages = ["%s: %s" % (r.get("Msg_type"), r.get("Msg_text")) for r in result]
    ok = any(str(r.get("Msg_type")).lower() == "status" and str(r.get("Msg_text")).upper() == "OK" for r in result)
    return dict(action, done=ok, seconds=round(time.time() - started, 1), result="; ".join(messages)[:300])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            window=dict(type="str", required=True),
            timezone=dict(type="str", default="+08:00"),
            apply=dict(type="bool", default=True),
            thresholds=dict(type="dict", default={}),
            since=dict(type="str"),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            mysql_option_file=dict(type="path", default="/root/.my.cnf"),
            now=dict(type="float"),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_optimize.py is missing: run from the followup-ops repository")
    p = module.params
    try:
        cfg = opt.settings(p["thresholds"])
        window = opt.parse_window(p["window"])
        offset = offset_seconds(p["timezone"])
    except (opt.OptimizeError, ValueError) as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # RecordError from the timezone
        module.fail_json(msg=to_native(err))
    try:
        with open(os.path.join(p["facts_dir"], "mysql.fact")) as handle:
            fact = json.load(handle)
    except (OSError, IOError, ValueError) as err:
        module.fail_json(msg="mysql.fact cannot be read (%s): run the mysql role on this host first" % err)
    if not dbmod.HAS_PYMYSQL:
        module.fail_json(msg="PyMySQL (python3-pymysql) is missing on the host")
    databases = fact.get("databases") or []
    now = p["now"] if p["now"] is not None else time.time()
    local = time.gmtime(now + offset)
    left = opt.minutes_left(window, local.tm_hour * 60 + local.tm_min)
    since = parse_time(p["since"]) if p["since"] else now - 7 * 86400
    notes = []
    try:
        conn = dbmod.mysql_root_connect(fact.get("socket"), p["mysql_option_file"])
    except dbmod.DbError as err:
        module.fail_json(msg=to_native(err))
    result = {
        "window": {
            "text": p["window"],
            "inside": left is not None,
            "minutes_left": left,
            "local_time": time.strftime("%H:%M", local),
        },
        "notes": notes,
    }
    try:
        with conn.cursor() as cur:
            variables = dict(
                (r["Variable_name"], r["Value"])
                for r in rows(
                    cur,
                    "SHOW GLOBAL VARIABLES WHERE "
                    "Variable_name IN ('version', 'performance_schema', 'slow_query_log', "
                    "'slow_query_log_file', 'long_query_time', 'log_output', 'datadir')",
                )
            )
            uptime = int(
                dict(
                    (r["Variable_name"], r["Value"])
                    for r in rows(cur, "SHOW GLOBAL STATUS WHERE Variable_name = 'Uptime'")
                ).get("Uptime", 0)
            )
            result["server"] = dict(variables, uptime_s=uptime)
            tables = read_tables(cur, databases) if databases else []
            read_stats(cur, tables, now, notes)
            indexes = read_indexes(cur, databases) if databases else {}
            ps_on = str(variables.get("performance_schema")).upper() in ("ON", "1")
            shapes, source = [], None
            if ps_on and databases:
                shapes, source = read_digests(cur, databases, cfg), "performance_schema digests"
            else:
                notes.append(
                    "performance_schema is OFF: statement digests and unused indexes cannot be measured "
                    "(enable it with mysql_server_options: {performance_schema: 1} if the server has memory "
                    "to spare)"
                )
            entries = read_slow_log(variables, since, cfg, notes)
            if entries is not None:
                slow = opt.aggregate(entries, cfg["top_queries"])
                if not shapes:
                    shapes, source = slow, "slow query log"
                result["slow_log_entries"] = len(entries)
            unused = []
            if ps_on and databases and uptime >= cfg["unused_min_uptime_days"] * 86400:
                unused = read_unused(cur, databases)
            elif ps_on:
                notes.append(
                    "the server has been up %.1f days: unused indexes are judged after %s days"
                    % (uptime / 86400.0, cfg["unused_min_uptime_days"])
                )
            actions, skipped, _candidates = opt.plan(tables, left, cfg)
            if not p["apply"]:
                skipped = [dict(a, skipped="analysis only (no changes asked for)") for a in actions] + skipped
                actions = []
            done = []
            if actions and not module.check_mode:
                # measured from the start of the work, on this host's clock
                deadline = time.time() + (left - cfg["window_margin_minutes"]) * 60.0
                for action in actions:
                    if time.time() + action["estimate_s"] > deadline:
                        skipped.append(dict(action, skipped="the window closed before it could start"))
                        continue
                    done.append(act(cur, action))
            result.update(
                before=tables,
                after=read_tables(cur, databases) if done else tables,
                actions=done if not module.check_mode else [dict(a, done=False, would=True) for a in actions],
                skipped=skipped,
                proposals={
                    "indexes": opt.suggestions(shapes, indexes, cfg),
                    "redundant": opt.redundant_indexes(indexes),
                    "unused": unused,
                },
                slow={"source": source, "shapes": shapes},
                settings=cfg,
            )
    except Exception as err:  # a statement the server refused: one line, nothing half-reported
        module.fail_json(msg="optimising MySQL failed: %s" % dbmod._msg(err))
    finally:
        conn.close()
    changed = any(a.get("done") for a in result["actions"]) or (module.check_mode and bool(result["actions"]))
    module.exit_json(changed=changed, optimize=result)


if __name__ == "__main__":
    main()
