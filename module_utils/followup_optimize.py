# -*- coding: utf-8 -*-
# Periodic database optimisation (定期数据库优化, R-DB), decided here: the maintenance window, which tables are worth a
# statistics refresh (ANALYZE TABLE) or a rebuild (OPTIMIZE TABLE), whether a rebuild can finish inside the window,
# the slow query log and statement digests reduced to query shapes (literals removed, so no patient datum is kept),
# duplicate, redundant and unused indexes, and index proposals for a release. Index changes are only ever proposed:
# they go into a release's migrations, never applied here.
#
# Pure Python (3.6 and later), standard library only; used by library/followup_db_optimize.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DEFAULTS = {
    # a rebuild is worth it when a table has at least this much free space inside it, and this share of it is free
    "rebuild_min_free_bytes": 64 * 1024 * 1024,
    "rebuild_min_free_percent": 20.0,
    # conservative rebuild speed used to decide whether a rebuild finishes inside the window
    "rebuild_mb_per_s": 20.0,
    # statistics are stale when this share of the rows changed since they were computed, or when they are older
    # than stats_max_age_days and the table changed at all
    "stats_stale_percent": 10.0,
    "stats_max_age_days": 7,
    # slow log: how much of its end is read, how many query shapes are reported
    "slow_log_max_bytes": 16 * 1024 * 1024,
    "top_queries": 10,
    # a query shape suggests an index when it examines this many rows per row it returns (and more than min_rows)
    "suggest_examined_ratio": 100.0,
    "suggest_min_rows": 1000,
    # indexes unused since the server started are reported only when it has been up this long
    "unused_min_uptime_days": 7,
    # stop starting new work this many minutes before the window ends
    "window_margin_minutes": 10,
}
WINDOW_RE = re.compile(r"\A([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])\Z")


class OptimizeError(ValueError):
    """Bad input (a window, a threshold); the message names it and the fix."""


def settings(overrides):
    out = dict(DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULTS:
            raise OptimizeError(
                "followup_optimize_thresholds.%s is not a setting (known: %s)" % (key, ", ".join(sorted(DEFAULTS)))
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise OptimizeError("followup_optimize_thresholds.%s must be a number of 0 or more, not %r" % (key, value))
        out[key] = value
    return out


def parse_window(text):
    """(start minute, end minute) of a window 'HH:MM-HH:MM' in local time; it may run past midnight."""
    match = WINDOW_RE.match(str(text or "").strip())
    if not match:
        raise OptimizeError("window %r is not HH:MM-HH:MM (the hospital's time), e.g. 02:00-04:00" % (text,))
    h1, m1, h2, m2 = (int(x) for x in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise OptimizeError("window %s is empty: give a start and an end that differ" % text)
    return start, end


def fmt_number(value):
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def minutes_left(window, local_minute):
    """Minutes left in WINDOW at LOCAL_MINUTE of the day (0..1439), or None when outside it."""
    start, end = window
    length = (end - start) % 1440
    into = (local_minute - start) % 1440
    if into >= length:
        return None
    return length - into


# -- what is worth doing -------------------------------------------------------------------------------------------
def plan(tables, window_left, cfg):
    """Actions worth taking on TABLES, in order, and the ones skipped with why.

    TABLES: [{name, engine, rows, data, index, free, modified, stats_rows, stats_age_days}]. WINDOW_LEFT: minutes
    left in the window (None: outside it). Returns (actions, skipped, candidates), each action
    {table, action: analyze|rebuild, reason, estimate_s}.
    """
    candidates = []
    for t in tables:
        if (t.get("engine") or "").lower() not in ("innodb", "aria", "myisam"):
            continue
        size = (t.get("data") or 0) + (t.get("index") or 0)
        free = t.get("free") or 0
        free_pct = 100.0 * free / (size + free) if size + free else 0.0
        if free >= cfg["rebuild_min_free_bytes"] and free_pct >= cfg["rebuild_min_free_percent"]:
            candidates.append(
                {
                    "table": t["name"],
                    "action": "rebuild",
                    "reason": "%.0f MiB free inside (%.1f%% of the table): rebuilding returns it and defragments"
                    % (free / 1048576.0, free_pct),
                    "estimate_s": round(size / (cfg["rebuild_mb_per_s"] * 1048576.0), 1),
                    "free_bytes": free,
                    "free_percent": round(free_pct, 1),
                }
            )
            continue  # a rebuild also refreshes the statistics
        rows = max(t.get("stats_rows") or t.get("rows") or 0, 1)
        modified = t.get("modified")
        age = t.get("stats_age_days")
        reason = None
        if modified is not None and 100.0 * modified / rows >= cfg["stats_stale_percent"] and modified > 0:
            reason = "%d rows changed since the statistics were computed (%.0f%% of %d)" % (
                modified,
                100.0 * modified / rows,
                rows,
            )
        elif age is not None and age >= cfg["stats_max_age_days"] and (modified is None or modified > 0):
            reason = "statistics are %.0f days old" % age
        if reason:
            candidates.append(
                {
                    "table": t["name"],
                    "action": "analyze",
                    "reason": reason,
                    "estimate_s": round(min(size / (200.0 * 1048576.0), 60.0), 1),
                }
            )
    actions, skipped = [], []
    margin = cfg["window_margin_minutes"]
    budget = None if window_left is None else (window_left - margin) * 60.0
    for c in sorted(candidates, key=lambda c: (c["action"] != "analyze", c["estimate_s"], c["table"])):
        if budget is None:
            skipped.append(dict(c, skipped="outside the maintenance window"))
        elif budget <= 0:
            skipped.append(dict(c, skipped="the window closes in less than %s minutes" % fmt_number(margin)))
        elif c["estimate_s"] > budget:
            skipped.append(
                dict(
                    c,
                    skipped="would not finish inside the window (about %.0f s, %.0f s left)"
                    % (c["estimate_s"], max(budget, 0)),
                )
            )
        else:
            actions.append(c)
            budget -= c["estimate_s"]
    return actions, skipped, candidates


# -- query shapes --------------------------------------------------------------------------------------------------
_COMMENT = re.compile(r"/\*(?![!+]).*?\*/|--[^\n]*|#[^\n]*", re.S)
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.S)
_NUMBER = re.compile(
    r"(?<![A-Za-z_0-9.`])-?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)(?![A-Za-z_0-9`])"
)
_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_VALUES = re.compile(r"\bvalues\s*(\(\s*\?(?:\s*,\s*\?)*\s*\)\s*,?\s*)+", re.I)


def fingerprint(sql):
    """The shape of a statement: comments dropped, every literal a ?, IN lists and VALUES rows folded, lower case.
    What is left names tables and columns, never a value."""
    text = _COMMENT.sub(" ", str(sql))
    text = _STRING.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _VALUES.sub("values (?+) ", text)
    text = _IN_LIST.sub("(?+)", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(";").strip()
    return text.lower()


_SLOW_HEADER = re.compile(
    r"^# Query_time: ([0-9.]+)\s+Lock_time: ([0-9.]+)\s+Rows_sent: ([0-9]+)\s+Rows_examined: ([0-9]+)"
)


def slow_log_time(text):
    """Epoch of a slow log '# Time:' value: MySQL's ISO time (UTC), or MariaDB's 'YYMMDD H:MM:SS' (the server's
    local time); None when it is neither."""
    import calendar
    import time as timemod

    text = str(text or "").strip()
    iso = re.match(r"\A(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", text)
    if iso:
        return calendar.timegm((*tuple(int(x) for x in iso.groups()), 0, 0, 0))
    maria = re.match(r"\A(\d{2})(\d{2})(\d{2})\s+(\d{1,2}):(\d{2}):(\d{2})\Z", text)
    if maria:
        y, mo, d, h, mi, sec = (int(x) for x in maria.groups())
        return timemod.mktime((2000 + y, mo, d, h, mi, sec, 0, 0, -1))
    return None


def parse_slow_log(text, since_epoch=None):
    """Statements of a MySQL/MariaDB slow query log: [{at, db, query_time, lock_time, rows_sent, rows_examined,
    shape}]; the statement itself is kept only as its fingerprint. Entries timed before SINCE_EPOCH are left out."""
    entries = []
    state = {"current": None, "db": None, "at": None, "lines": []}

    def flush():
        current, lines = state["current"], state["lines"]
        if current is not None and "query_time" in current and lines:
            sql = re.sub(r"\A\s*(use\s+[^;]+;\s*)?(set\s+timestamp\s*=\s*[0-9]+;\s*)?", "", " ".join(lines), flags=re.I)
            at = state["at"]
            if sql.strip() and (since_epoch is None or at is None or at >= since_epoch):
                entries.append(dict(current, db=state["db"], shape=fingerprint(sql)))
        state["current"], state["lines"] = None, []

    for line in str(text).splitlines():
        if line.startswith("# Time:"):
            flush()
            state["at"] = slow_log_time(line[7:])
            continue
        if line.startswith("# User@Host:"):
            flush()
            state["current"] = {"at": state["at"]}
            continue
        match = _SLOW_HEADER.match(line)
        if match:
            if state["current"] is None:
                state["current"] = {"at": state["at"]}
            state["current"].update(
                query_time=float(match.group(1)),
                lock_time=float(match.group(2)),
                rows_sent=int(match.group(3)),
                rows_examined=int(match.group(4)),
            )
            continue
        if line.startswith("#"):
            schema = re.search(r"Schema: ([^\s]+)", line)
            if schema:
                state["db"] = schema.group(1)
            continue
        use = re.match(r"\Ause\s+`?([^;`]+)`?;", line.strip(), re.I)
        if use:
            state["db"] = use.group(1)
        if state["current"] is not None and "query_time" in state["current"]:
            state["lines"].append(line.strip())
    flush()
    return entries


_MAINTENANCE = re.compile(
    r"\A(optimize|analyze|analyse|show|set|flush|explain|use|commit|rollback|start transaction|begin)\b"
    r"|information_schema\.|performance_schema\.|\bmysql\.|\bsys\.|followup_schema_|get_lock|release_lock"
)


def is_maintenance(shape):
    """Whether a query shape is the servers' and operators' own (inspection, optimisation, migrations), not the
    follow-up system's: those are left out of the slow query report."""
    return bool(_MAINTENANCE.search(shape))


def aggregate(entries, top):
    """Query shapes by total time: [{shape, db, count, total_s, max_s, rows_examined, rows_sent}], without the
    maintenance statements."""
    shapes = {}
    for e in entries:
        if is_maintenance(e["shape"]):
            continue
        key = (e.get("db"), e["shape"])
        s = shapes.setdefault(
            key,
            {
                "shape": e["shape"],
                "db": e.get("db"),
                "count": 0,
                "total_s": 0.0,
                "max_s": 0.0,
                "rows_examined": 0,
                "rows_sent": 0,
            },
        )
        s["count"] += 1
        s["total_s"] += e["query_time"]
        s["max_s"] = max(s["max_s"], e["query_time"])
        s["rows_examined"] += e["rows_examined"]
        s["rows_sent"] += e["rows_sent"]
    out = sorted(shapes.values(), key=lambda s: (-s["total_s"], s["shape"]))[: int(top)]
    for s in out:
        s["total_s"] = round(s["total_s"], 3)
    return out


# -- indexes -------------------------------------------------------------------------------------------------------
def redundant_indexes(tables):
    """Duplicate and left-prefix redundant indexes: [{table, index, covered_by, kind, drop}]. TABLES:
    {name: [{name, unique, columns}]}."""
    found = []
    for table, indexes in sorted(tables.items()):
        for a in indexes:
            if a["name"] == "PRIMARY":
                continue
            for b in indexes:
                if a is b:
                    continue
                same = a["columns"] == b["columns"]
                prefix = len(a["columns"]) < len(b["columns"]) and b["columns"][: len(a["columns"])] == a["columns"]
                if same and (a["unique"] == b["unique"]) and a["name"] > b["name"] and b["name"] != "PRIMARY":
                    continue  # reported once, from the other side
                if (same and (not a["unique"] or b["unique"])) or (prefix and not a["unique"]):
                    found.append(
                        {
                            "table": table,
                            "index": a["name"],
                            "columns": a["columns"],
                            "covered_by": b["name"],
                            "kind": "duplicate" if same else "redundant prefix",
                            "proposal": "ALTER TABLE %s DROP INDEX %s;" % (_quote_table(table), _ident(a["name"])),
                        }
                    )
                    break
    return found


def suggestions(shapes, tables, cfg):
    """Index proposals from query shapes that examine many rows per row returned: single-table filters on a column
    no index starts with. TABLES: {db.table: [{name, columns}]}. Returns [{table, columns, shape, reason, proposal}]."""
    out = []
    seen = set()
    for s in shapes:
        examined, sent = s["rows_examined"], max(s["rows_sent"], 1)
        if examined < cfg["suggest_min_rows"] or examined / float(sent) < cfg["suggest_examined_ratio"]:
            continue
        match = re.match(
            r"\A(select|update|delete)\b.*?\bfrom\s+`?([a-z0-9_.]+)`?(?:\s+(?:as\s+)?[a-z_][a-z0-9_]*)?\s+"
            r"where\s+(.*?)(?:\s+group by|\s+order by|\s+limit|\Z)",
            s["shape"],
        )
        if not match or " join " in s["shape"]:
            continue
        table = match.group(2)
        if "." not in table and s.get("db"):
            table = "%s.%s" % (s["db"], table)
        if table not in tables:
            continue
        columns = []
        for col in re.findall(r"`?([a-z_][a-z0-9_]*)`?\s*(?:=|in\s*\(|<=?|>=?|between|is null)", match.group(3)):
            if col not in columns and col not in ("and", "or", "not"):
                columns.append(col)
        if not columns:
            continue
        leading = [i["columns"][0].split("(")[0] for i in tables[table] if i["columns"]]
        if columns[0] in leading:
            continue
        key = (table, tuple(columns[:2]))
        if key in seen:
            continue
        seen.add(key)
        name = "ix_%s_%s" % (table.split(".")[-1], "_".join(columns[:2]))[:64]
        out.append(
            {
                "table": table,
                "columns": columns[:2],
                "shape": s["shape"][:300],
                "reason": "%d rows examined for %d returned over %d executions; no index starts with %s"
                % (examined, s["rows_sent"], s["count"], columns[0]),
                "proposal": "ALTER TABLE %s ADD INDEX %s (%s);"
                % (_quote_table(table), _ident(name), ", ".join(_ident(c) for c in columns[:2])),
            }
        )
    return out


def _ident(name):
    return "`%s`" % str(name).replace("`", "``")


def _quote_table(table):
    return ".".join(_ident(p) for p in table.split("."))
