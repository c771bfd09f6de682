# -*- coding: utf-8 -*-
# The pre-checks of an upgrade (docs/upgrade.md, "Pre-checks"): the rules that turn what a host says into rows of
# the pre-check table. Pure Python, standard library only; library/followup_precheck.py gathers the evidence.
#
# A row: {id, title, status (pass | fail | warn | na), expected, actual}. A failing row refuses the upgrade (exit 2)
# with one line naming the host, the check and what to do; a warning is shown and recorded.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

MIB = 1024 * 1024
# What a migration account needs on each database it migrates (DDL and the data changes of backfills).
MYSQL_MIGRATE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX")
# What the MongoDB account of the migrations needs on cdr.
MONGODB_MIGRATE_ACTIONS = ("find", "insert", "update", "remove", "createIndex", "dropIndex", "createCollection")


def human(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return "%.0f %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%.1f TiB" % n


def row(rid, title, status, expected, actual, fix=None):
    data = {"id": rid, "title": title, "status": status, "expected": expected, "actual": actual}
    if fix:
        data["fix"] = fix
    return data


def dir_bytes(path):
    """Bytes of the regular files under PATH (not following links); 0 when it does not exist."""
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(top, name)):
                total += st.st_size
    return total


def free_bytes(path, statvfs=os.statvfs):
    """Bytes free for unprivileged writers on the file system holding PATH (its nearest existing parent)."""
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    st = statvfs(probe or "/")
    return st.f_bavail * st.f_frsize


def disk_row(path, need, free, what):
    status = "pass" if free >= need else "fail"
    return row(
        "disk:%s" % path,
        "磁盘空间 free disk %s" % path,
        status,
        ">= %s (%s)" % (human(need), what),
        "%s free" % human(free),
        None if status == "pass" else "free %s on %s (or move data away), then retry" % (human(need - free), path),
    )


def memory_row(need, available):
    status = "pass" if available >= need else "fail"
    return row(
        "memory",
        "可用内存 available memory",
        status,
        ">= %s (the new release starts beside the old one)" % human(need),
        "%s available" % human(available),
        None if status == "pass" else "free memory on the host (stop what does not belong there), then retry",
    )


def time_row(info, max_offset_ms, require_ntp=True, skew_s=None, max_skew_s=30.0):
    """Time in sync: chrony/timesyncd synchronised (when REQUIRE_NTP) within MAX_OFFSET_MS, and the host's clock
    within MAX_SKEW_S of the control node's (SKEW_S, when measured): leases and approvals are judged on clocks."""
    title = "时间同步 time sync"
    parts = []
    if skew_s is not None:
        parts.append("%.1f s from the control node" % skew_s)
        if abs(skew_s) > max_skew_s:
            return row(
                "time",
                title,
                "fail",
                "within %.0f s of the control node" % max_skew_s,
                "; ".join(parts),
                "synchronise the clocks (chrony on both), then retry",
            )
    synced, offset = info.get("synchronized"), info.get("offset_ms")
    if synced is None:
        status = "fail" if require_ntp else "warn"
        parts.append(info.get("error") or "synchronisation unknown")
        return row(
            "time",
            title,
            status,
            "synchronised (chrony or systemd-timesyncd)",
            "; ".join(parts),
            "start chrony (the common role sets it up), then retry" if require_ntp else None,
        )
    if not synced:
        parts.append("NTP not synchronised (%s)" % info.get("source"))
        status = "fail" if require_ntp else "warn"
        return row(
            "time",
            title,
            status,
            "synchronised",
            "; ".join(parts),
            "check the NTP servers the host reaches (chronyc sources), then retry" if require_ntp else None,
        )
    if offset is not None and abs(offset) > max_offset_ms:
        parts.append("NTP offset %.1f ms" % offset)
        return row(
            "time",
            title,
            "fail",
            "offset <= %d ms" % max_offset_ms,
            "; ".join(parts),
            "wait for chrony to correct the clock (chronyc tracking), then retry",
        )
    parts.insert(0, "synchronised" + (", offset %.1f ms" % offset if offset is not None else ""))
    return row("time", title, "pass", "synchronised", "; ".join(parts))


_GRANT_RE = re.compile(r"\AGRANT (?P<privs>.+?) ON (?P<target>\S+) TO ", re.S)


def _unquote_db(text):
    text = text.strip()
    if text.startswith("`") and text.endswith("`"):
        text = text[1:-1]
    return text


def mysql_privileges(grants):
    """{database pattern: set of privileges} from SHOW GRANTS lines ('*' for global)."""
    found = {}
    for line in grants:
        match = _GRANT_RE.match(str(line))
        if not match:
            continue
        target = match.group("target")
        database = _unquote_db(target.split(".", 1)[0]) if "." in target else target
        privs = set()
        for part in match.group("privs").split(","):
            name = part.strip().upper()
            name = re.sub(r"\s*\(.*\)\Z", "", name)  # column privileges
            if name == "ALL PRIVILEGES" or name == "ALL":
                privs |= set(MYSQL_MIGRATE_PRIVILEGES) | {"ALL"}
            else:
                privs.add(name)
        found.setdefault(database, set()).update(privs)
    return found


def _db_matches(pattern, database):
    if pattern == "*":
        return True
    regex = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    return re.match(r"\A%s\Z" % regex, database) is not None


def missing_mysql_privileges(grants, databases, needed=MYSQL_MIGRATE_PRIVILEGES):
    """{database: [missing privileges]} for the databases the account cannot fully migrate."""
    found = mysql_privileges(grants)
    missing = {}
    for database in databases:
        have = set()
        for pattern, privs in found.items():
            if _db_matches(pattern, database):
                have |= privs
        lacking = [p for p in needed if p not in have]
        if lacking:
            missing[database] = lacking
    return missing


def mongodb_missing_actions(privileges, database, needed=MONGODB_MIGRATE_ACTIONS):
    """The actions of NEEDED that connectionStatus' authenticatedUserPrivileges do not give on DATABASE."""
    have = set()
    for entry in privileges or []:
        resource = entry.get("resource") or {}
        db = resource.get("db")
        if resource.get("anyResource") or db in ("", database):
            have |= set(entry.get("actions") or [])
    return [a for a in needed if a not in have]


def refusals(host, rows):
    """The one-line refusals of a host's failing rows."""
    lines = []
    for r in rows:
        if r["status"] == "fail":
            line = "%s: %s: expected %s, found %s" % (host, r["title"], r["expected"], r["actual"])
            if r.get("fix"):
                line += ": " + r["fix"]
            lines.append(line)
    return lines


def migration_rows(inspections, resume=False):
    """Rows for the migration state of each database (followup_migrate inspect results): a failed or interrupted
    migration refuses the upgrade, except when this run resumes an interrupted upgrade (its rollback restores the
    databases from the backup taken before it)."""
    rows = []
    for result in inspections or []:
        if result.get("skipped"):
            continue
        database = result.get("database") or "?"
        state = result.get("state")
        if result.get("failed") or state is None:
            rows.append(
                row(
                    "migrations:%s" % database,
                    "迁移状态 migration state %s" % database,
                    "fail",
                    "clean",
                    (result.get("msg") or "cannot be read")[:300],
                    "check the database, then retry",
                )
            )
        elif state == "clean":
            rows.append(
                row(
                    "migrations:%s" % database,
                    "迁移状态 migration state %s" % database,
                    "pass",
                    "clean",
                    "clean, schema version %s" % result.get("schema_version"),
                )
            )
        elif resume:
            rows.append(
                row(
                    "migrations:%s" % database,
                    "迁移状态 migration state %s" % database,
                    "warn",
                    "clean",
                    "%s: the interrupted upgrade this run resumes restores it from its backup" % state,
                )
            )
        else:
            reasons = "; ".join(result.get("refused") or []) or state
            rows.append(
                row(
                    "migrations:%s" % database,
                    "迁移状态 migration state %s" % database,
                    "fail",
                    "clean",
                    reasons[:400],
                    "resolve it first (restore the backup, or followup-ops migrations repair)",
                )
            )
    return rows


def left_by_interrupted_upgrade(rows):
    """ROWS of a component host with its failing service and health rows turned into warnings: an upgrade killed
    after its write freeze leaves the interface service stopped (or a unit restarting), and the run that resumes it
    must not be refused for that. Its recovery puts the units back and the health gate at its end (or the
    recovery's own, when there is something to put back) refuses to finish on an unhealthy component."""
    out = []
    for r in rows:
        if r.get("status") == "fail" and str(r.get("id", "")).split(":", 1)[0] in ("service", "health"):
            r = {k: v for k, v in r.items() if k != "fix"}
            r["status"] = "warn"
            r["actual"] = "%s: left so by the interrupted upgrade this run resumes; it puts it back and checks it" % (
                r.get("actual"),
            )
        out.append(r)
    return out


def precheck_table(
    results, probes, backup_gate, inspections=None, inspect_host=None, resume=False, component_hosts=None
):
    """The whole pre-check table and its refusals, from every host's followup_precheck result (RESULTS: host ->
    result), the backup probes of the database hosts (PROBES: host -> [followup_backup_dump check-mode results]), the
    backup gate's result and the migration state of each database (INSPECTIONS, read from INSPECT_HOST).
    When the run resumes an interrupted upgrade (RESUME), the services and health checks of COMPONENT_HOSTS (the hosts
    whose units an upgrade stops and restarts) warn instead of refusing (left_by_interrupted_upgrade); those of the
    database hosts still refuse. Returns {table: {host: rows, "backup": rows}, refused: [lines]}."""
    table, refused = {}, []
    for host in sorted(results or {}):
        result = results[host] or {}
        if result.get("skipped"):
            continue
        rows = list(result.get("rows") or [])
        if resume and host in (component_hosts or ()):
            rows = left_by_interrupted_upgrade(rows)
        if result.get("failed"):
            rows.append(
                row(
                    "precheck",
                    "预检 pre-check",
                    "fail",
                    "the checks run",
                    result.get("msg") or "failed",
                    "see the run record",
                )
            )
        table[host] = rows
        refused.extend(refusals(host, rows))
    backup_rows = []
    for host in sorted(probes or {}):
        for probe in probes[host] or []:
            engine = probe.get("__followup_upgrade_engine") or (probe.get("backup") or {}).get("engine") or "?"
            if probe.get("backup"):
                b = probe["backup"]
                backup_rows.append(
                    row(
                        "backup:%s:%s" % (host, engine),
                        "备份估算 backup estimate %s %s" % (host, engine),
                        "pass",
                        "the backup host has room",
                        "about %s to back up; %s free on %s"
                        % (human(b.get("estimated_bytes")), human(b.get("target_free_bytes")), b.get("target_host")),
                    )
                )
            elif probe.get("msg"):
                r = row(
                    "backup:%s:%s" % (host, engine),
                    "备份 backup %s %s" % (host, engine),
                    "fail",
                    "the backup role's agent set up (followup-ops backup)",
                    probe.get("msg")[:200],
                    "run `followup-ops backup -i INVENTORY` once: it sets up the agents and the backup host",
                )
                backup_rows.append(r)
                refused.extend(refusals(host, [r]))
    for reason in (backup_gate or {}).get("refused") or []:
        backup_rows.append(row("backup", "备份可行 fresh backup possible", "fail", "a fresh backup possible", reason))
        refused.append("backup: %s" % reason)
    if backup_rows:
        table["backup"] = backup_rows
    if inspections:
        rows = migration_rows(inspections, resume)
        table.setdefault(inspect_host or "app", []).extend(rows)
        refused.extend(refusals(inspect_host or "app", rows))
    return {"table": table, "refused": refused}


def pick(items, keys):
    """Each mapping of ITEMS reduced to KEYS (those it has)."""
    return [{k: item[k] for k in keys if k in item} for item in items or [] if isinstance(item, dict)]
