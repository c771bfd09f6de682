# -*- coding: utf-8 -*-
# What an inspection (巡检) reads from the databases, read-only: MySQL/MariaDB (SHOW GLOBAL STATUS/VARIABLES, the
# replica status, information_schema, lock waits) and MongoDB/FerretDB (serverStatus, dbStats, collStats,
# currentOp, replSetGetStatus, today's call records by SIP code). Used by library/followup_inspect_facts.py (and the
# root login by library/followup_schema_facts.py and library/followup_db_optimize.py).
#
# MySQL is read as root over the unix socket the mysql role published (mysql.fact `socket`): unix_socket
# authentication where the server has it (MariaDB), else root's password from root's option file (/root/.my.cnf,
# 0600, written by the mysql role), read here as the server's option-file parser reads it and handed to the driver
# in memory; never a password on a command line. Each figure that cannot be read is named in `errors`.
# Runs on the managed host's Python (3.6 and later).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

try:
    import pymysql

    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    pymysql = None
    HAS_PYMYSQL = False

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
# Option-file escapes (mysys my_default, MySQL 8 and MariaDB alike); any other backslash stays as it is.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "s": " ", '"': '"', "'": "'", "\\": "\\"}


class DbError(Exception):
    """The database could not be reached or read; the message says which and why, in one line."""


# -- MySQL: logging in as root on the host ------------------------------------------------------------------------
def _strip_comment(line):
    quote, escape = None, False
    for index, char in enumerate(line):
        if char in "'\"" and not escape:
            if quote is None:
                quote = char
            elif quote == char:
                quote = None
        if quote is None and char == "#":
            return line[:index]
        escape = quote is not None and char == "\\" and not escape
    return line


def _unescape(value):
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index < len(value) - 1:
            out.append(_ESCAPES.get(value[index + 1], "\\" + value[index + 1]))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def option_file_value(text, group, option):
    """OPTION of [GROUP] in option-file TEXT as MySQL reads it (comments, quotes, escapes, last one wins)."""
    wanted, current, found = option.replace("_", "-"), None, None
    for raw in str(text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;!":
            continue
        if line.startswith("["):
            current = line[1:].split("]", 1)[0].strip()
            continue
        if current != group:
            continue
        line = _strip_comment(line)
        if "=" not in line:
            continue
        name, value = line.split("=", 1)
        if name.strip().replace("_", "-") != wanted:
            continue
        value = value.strip()
        if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        found = _unescape(value)
    return found


def mysql_root_connect(socket, option_file="/root/.my.cnf", database=None, connect=None, timeout=10):
    """A PyMySQL connection as root over SOCKET (dict rows); raise DbError in one line when it cannot be made."""
    if not HAS_PYMYSQL and connect is None:
        raise DbError("PyMySQL (python3-pymysql) is missing on the host")
    connect = connect or pymysql.connect
    kwargs = dict(unix_socket=socket, user="root", charset="utf8mb4", connect_timeout=timeout, autocommit=True)
    if database:
        kwargs["database"] = database
    if pymysql is not None:
        kwargs["cursorclass"] = pymysql.cursors.DictCursor
    first = None
    try:
        return connect(**kwargs)
    except Exception as err:  # unix_socket authentication refused, or the server is down
        first = err
    password = None
    if option_file and os.path.isfile(option_file):
        try:
            with open(option_file) as handle:
                password = option_file_value(handle.read(), "client", "password")
        except (OSError, UnicodeDecodeError):
            password = None
    if password is not None:
        try:
            return connect(password=password, **kwargs)
        except Exception as err:
            first = err
    message = first.args[-1] if getattr(first, "args", None) else first
    raise DbError(
        "cannot log in to MySQL as root over %s (%s): check that the server runs and that root authenticates by "
        "unix socket or has its password in %s" % (socket, message, option_file)
    )


def _rows(cur, sql, args=None):
    cur.execute(sql, args)
    return list(cur.fetchall())


def _num(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


STATUS_NAMES = (
    "Uptime",
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Slow_queries",
    "Questions",
    "Innodb_row_lock_current_waits",
    "Innodb_row_lock_waits",
    "Innodb_row_lock_time",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Aborted_connects",
)
VARIABLE_NAMES = (
    "version",
    "version_comment",
    "max_connections",
    "slow_query_log",
    "slow_query_log_file",
    "long_query_time",
    "log_output",
    "performance_schema",
    "have_ssl",
    "ssl_cert",
    "ssl_ca",
    "datadir",
    "innodb_buffer_pool_size",
)


def mysql_figures(conn, top=10):
    """The inspection's MySQL figures; a figure that cannot be read is named in `errors`."""
    out = {"status": {}, "variables": {}, "replica": None, "tables": [], "lock_waits": None, "errors": []}
    with conn.cursor() as cur:
        try:
            for row in _rows(cur, "SHOW GLOBAL STATUS"):
                name, value = _pair(row)
                if name in STATUS_NAMES:
                    out["status"][name] = _num(value)
        except Exception as err:
            out["errors"].append("SHOW GLOBAL STATUS: %s" % _msg(err))
        try:
            for row in _rows(cur, "SHOW GLOBAL VARIABLES"):
                name, value = _pair(row)
                if name in VARIABLE_NAMES:
                    out["variables"][name] = value
        except Exception as err:
            out["errors"].append("SHOW GLOBAL VARIABLES: %s" % _msg(err))
        out["replica"] = _replica(cur, out["errors"])
        out["lock_waits"] = out["status"].get("Innodb_row_lock_current_waits")
        try:
            rows = _rows(
                cur,
                "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, ENGINE AS engine, TABLE_ROWS AS n, DATA_LENGTH AS d, "
                "INDEX_LENGTH AS i, DATA_FREE AS f FROM information_schema.TABLES "
                "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
                "'performance_schema', 'sys') ORDER BY COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) DESC, "
                "TABLE_SCHEMA, TABLE_NAME LIMIT %s",
                (int(top),),
            )
            for row in rows:
                data, index = _num(row["d"]) or 0, _num(row["i"]) or 0
                out["tables"].append(
                    {
                        "name": "%s.%s" % (row["s"], row["t"]),
                        "engine": row["engine"],
                        "rows": _num(row["n"]),
                        "data": data,
                        "index": index,
                        "bytes": data + index,
                        "free": _num(row["f"]) or 0,
                    }
                )
        except Exception as err:
            out["errors"].append("information_schema.TABLES: %s" % _msg(err))
    return out


def _pair(row):
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return str(values[0]), values[1]


def _msg(err):
    return str(err.args[-1]) if getattr(err, "args", None) else str(err)


def _replica(cur, errors):
    """None when the server is not a replica; else {io_running, sql_running, lag_s, source, error}."""
    for sql in ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
        try:
            rows = _rows(cur, sql)
        except Exception:  # noqa: S112 - MariaDB and MySQL before 8.0.22 know only the second spelling
            continue
        if not rows:
            return None
        row = rows[0]

        def get(*names, row=row):
            for name in names:
                if name in row:
                    return row[name]
            return None

        return {
            "io_running": str(get("Replica_IO_Running", "Slave_IO_Running")) == "Yes",
            "sql_running": str(get("Replica_SQL_Running", "Slave_SQL_Running")) == "Yes",
            "lag_s": _num(get("Seconds_Behind_Source", "Seconds_Behind_Master")),
            "source": "%s:%s" % (get("Source_Host", "Master_Host"), get("Source_Port", "Master_Port")),
            "error": str(get("Last_Error") or "")[:200] or None,
        }
    errors.append("the replica status cannot be read (SHOW REPLICA STATUS / SHOW SLAVE STATUS)")
    return None


# -- MongoDB / FerretDB -------------------------------------------------------------------------------------------
def utc_day_start(now_utc, offset):
    """The UTC moment at which the local day (UTC OFFSET like '+08:00') containing NOW_UTC began."""
    match = re.match(r"\A([+-])([0-9]{2}):?([0-9]{2})\Z", str(offset or "+00:00"))
    if not match:
        raise ValueError("timezone must be an offset like +08:00, not %r" % offset)
    sign = 1 if match.group(1) == "+" else -1
    delta = datetime.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))) * sign
    local = now_utc + delta
    start_local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start_local - delta


def mongodb_figures(client, database, now_utc, offset="+08:00", top=10, calls_collection="call_records"):
    """The inspection's MongoDB figures (what the engine offers: FerretDB has no connection counts or replicas)."""
    out = {"engine": None, "version": None, "connections": None, "replica": None, "lock_waits": None}
    out.update(database=database, size=None, collections=[], calls_today=None, errors=[])
    admin, db = client["admin"], client[database]
    try:
        status = admin.command("serverStatus")
        out["version"] = status.get("version")
        out["engine"] = "ferretdb" if status.get("ferretdbVersion") else "mongod"
        conns = status.get("connections")
        if isinstance(conns, dict) and conns.get("current") is not None:
            current, available = int(conns.get("current", 0)), int(conns.get("available", 0))
            out["connections"] = {"current": current, "available": available}
        uptime = status.get("uptime")
        out["uptime_s"] = float(uptime) if uptime is not None else None
    except Exception as err:
        out["errors"].append("serverStatus: %s" % _msg(err))
    try:
        repl = admin.command("replSetGetStatus")
        out["replica"] = _mongo_lag(repl)
    except Exception as err:
        text = _msg(err)
        # a standalone server, FerretDB (no such command), or an account without clusterMonitor
        if not re.search(r"not running with --replSet|no such command|NoReplicationEnabled|CommandNotFound", text):
            out["errors"].append("replSetGetStatus: %s" % text)
    try:
        ops = admin.command({"currentOp": 1, "waitingForLock": True})
        out["lock_waits"] = len(ops.get("inprog") or [])
    except Exception as err:
        out["errors"].append("currentOp: %s" % _msg(err))
    try:
        stats = db.command("dbStats")
        out["size"] = int(stats.get("dataSize") or 0) + int(stats.get("indexSize") or 0)
        out["objects"] = int(stats.get("objects") or 0)
    except Exception as err:
        out["errors"].append("dbStats: %s" % _msg(err))
    try:
        names = sorted(n for n in db.list_collection_names() if not n.startswith("system."))
        sizes = []
        for name in names:
            try:
                cs = db.command("collStats", name)
            except Exception as err:
                out["errors"].append("collStats %s: %s" % (name, _msg(err)))
                continue
            data, index = int(cs.get("size") or 0), int(cs.get("totalIndexSize") or 0)
            sizes.append({"name": "%s.%s" % (database, name), "count": int(cs.get("count") or 0), "data": data})
            sizes[-1].update(index=index, bytes=data + index)
        sizes.sort(key=lambda c: (-c["bytes"], c["name"]))
        out["collections"] = sizes[: int(top)]
    except Exception as err:
        out["errors"].append("listCollections: %s" % _msg(err))
    try:
        start = utc_day_start(now_utc, offset).replace(tzinfo=None)
        pipeline = [{"$match": {"started_at": {"$gte": start}}}, {"$group": {"_id": "$sip_code", "n": {"$sum": 1}}}]
        by_code = {}
        for row in db[calls_collection].aggregate(pipeline):
            by_code[str(row.get("_id"))] = int(row.get("n") or 0)
        out["calls_today"] = {
            "since": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "placed": sum(by_code.values()),
            "answered": by_code.get("200", 0),
            "by_code": dict(sorted(by_code.items())),
        }
    except Exception as err:
        out["errors"].append("%s today: %s" % (calls_collection, _msg(err)))
    return out


def _mongo_lag(status):
    members = status.get("members") or []
    primary = [m for m in members if m.get("stateStr") == "PRIMARY"]
    me = [m for m in members if m.get("self")]
    if not primary or not me:
        return {"state": me[0].get("stateStr") if me else None, "lag_s": None}
    if me[0].get("stateStr") == "PRIMARY":
        lags = [
            (primary[0]["optimeDate"] - m["optimeDate"]).total_seconds()
            for m in members
            if m.get("stateStr") == "SECONDARY" and m.get("optimeDate") and primary[0].get("optimeDate")
        ]
        return {"state": "PRIMARY", "lag_s": max(lags) if lags else 0.0}
    lag = (primary[0]["optimeDate"] - me[0]["optimeDate"]).total_seconds()
    return {"state": me[0].get("stateStr"), "lag_s": lag}
