# -*- coding: utf-8 -*-
# followup-ops: moves of a database (MySQL/MariaDB, MongoDB/FerretDB) or of a server program (app, fep, voice) to a
# new host (docs/migration.md). Pure Python shared by the modules (on the hosts and on the control node), the
# playbooks' gate and the command line: phases and the order they may run in, the refusals of the gate, the plan's
# estimates, the server id of a replica, the move account's password and the inventory change written as a diff.
#
# Runs on the managed hosts' Python too (3.6 on RHEL 8 / Kylin V10): no f-strings with =, no dataclasses.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re
import secrets
import string

# The phases, in the order `all` runs them. `rollback` and `finish` are only ever run when asked for by name.
PHASES = ("plan", "prepare", "sync", "cutover", "verify", "rollback", "finish")
ALL_PHASES = ("plan", "prepare", "sync", "cutover", "verify")
ENGINES = ("mysql", "mongodb")
COMPONENTS = ("app", "fep", "voice")

# The state a migration is in, as the hosts' local fact followup_dbmove.fact records it (the control node's
# runs/migrations/<id>.json mirrors it). `synced`: the target replicates from (MySQL) or holds a trial copy of
# (dump/restore) the source; `cutover`: the applications use the target, the source is kept as the way back.
STATES = ("planned", "prepared", "synced", "cutover", "finished")

# Which state each phase needs (None: no migration yet, i.e. a fresh target).
PHASE_NEEDS = {
    "plan": (None, "planned", "prepared", "synced", "cutover"),
    "prepare": (None, "planned", "prepared"),
    "sync": ("prepared", "synced"),
    "cutover": ("synced",),
    "verify": ("synced", "cutover"),
    "rollback": ("synced", "cutover"),
    "finish": ("cutover",),
}
# The state a phase leaves behind when it succeeds (verify and plan leave the state as it was).
PHASE_LEAVES = {
    "prepare": "prepared",
    "sync": "synced",
    "cutover": "cutover",
    # rollback after the cutover returns the applications to the source and makes the target a replica again;
    # before the cutover it stops the target's replication: back to prepared.
    "rollback": None,
    "finish": "finished",
}

# Inventory groups that serve: a target in one of them is in use.
SERVICE_GROUPS = ("followup", "fep", "app", "voice", "databases", "mysql", "mongo", "backup", "carrier")
ENGINE_GROUP = {"mysql": "mysql", "mongodb": "mongo"}

# Databases a MySQL server always has; anything else on a target is somebody's data.
MYSQL_SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")
MONGODB_SYSTEM_DATABASES = ("admin", "local", "config")

VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


class MoveError(Exception):
    """Bad input or a state a move cannot go on from; the message names it and the fix."""


def parse_phases(text, phases=PHASES, all_phases=ALL_PHASES):
    """'plan', 'sync,cutover' or 'all' -> the phases in canonical order; MoveError names an unknown one.

    PHASES and ALL_PHASES: the phases of the kind of move (a database's here; a server's in followup_srvmove)."""
    words = [w.strip() for w in re.split(r"[,\s]+", str(text or "")) if w.strip()]
    if not words:
        raise MoveError("no phase given: name one of %s, or all" % ", ".join(phases))
    chosen = set()
    for word in words:
        if word == "all":
            chosen.update(all_phases)
        elif word in phases:
            chosen.add(word)
        else:
            raise MoveError(
                "unknown phase '%s': the phases are %s, or all (%s)" % (word, ", ".join(phases), ",".join(all_phases))
            )
    if "rollback" in chosen and len(chosen - {"plan", "rollback", "verify"}) > 0:
        raise MoveError(
            "rollback runs on its own (with plan or verify at most), not together with %s"
            % ", ".join(sorted(chosen - {"plan", "rollback", "verify"}))
        )
    if "finish" in chosen and "rollback" in chosen:
        raise MoveError("finish and rollback exclude each other: run one of them")
    ordered = [p for p in phases if p in chosen]
    # A rollback is verified after it has run.
    if "rollback" in ordered and "verify" in ordered:
        ordered.remove("verify")
        ordered.append("verify")
    return ordered


def migration_id(kind, what, source, target, stamp):
    """db-mysql-mysql1-mysql2-20261201T203000Z, server-app-app1-app2-...: unique, readable, a file name."""
    parts = [kind, what, source, target, stamp]
    text = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(p)) for p in parts)
    return text


def phase_refusal(phase, state, target_role=None):
    """Why PHASE cannot run in STATE (None when it can)."""
    needs = PHASE_NEEDS[phase]
    if state in needs:
        return None
    if state == "finished":
        return "this migration is finished (the target is the server now): start a new one to move again"
    hint = {
        "prepare": "it was prepared and synchronised already; run sync, cutover, verify, rollback or finish",
        "sync": "run prepare first",
        "cutover": "run sync first, until the target has caught up"
        if state in (None, "planned", "prepared")
        else "the applications use the target already; verify, then finish or rollback",
        "verify": "there is nothing to compare before sync",
        "rollback": "nothing was moved yet: nothing to roll back",
        "finish": "finish retires the source only after a cutover; run cutover (and verify) first",
    }.get(phase, "")
    return "phase %s cannot run while the migration is %s: %s" % (phase, state or "not started", hint)


def parse_version(text):
    """'10.11.19-MariaDB-0+deb12u1-log' -> (10, 11, 19); '7.0.5' -> (7, 0, 5); None when there is no version."""
    match = VERSION_RE.search(str(text or ""))
    if not match:
        return None
    return tuple(int(x or 0) for x in match.groups())


def flavour_of(version_text):
    """mariadb or mysql, from a server's VERSION()."""
    return "mariadb" if "mariadb" in str(version_text or "").lower() else "mysql"


def server_id_for(address, avoid=()):
    """A replica's server_id, stable for its address: the last two octets of an IPv4 address (10.89.50.23 ->
    50 * 256 + 23 = 12823), shifted past any id in AVOID; a name gets a hash in the same range."""
    parts = str(address).split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        value = int(parts[2]) * 256 + int(parts[3])
    else:
        value = sum(ord(c) * (i + 1) for i, c in enumerate(str(address))) % 65000
    value = max(value, 2)
    while value in set(int(a) for a in avoid if a is not None):
        value += 1
    return value


PASSWORD_SPECIALS = "-_.+!@%^"  # noqa: S105 - the characters a made password may use


def new_password(length=32):
    """A random password that satisfies the hardening's password policy (upper, lower, digit, special) and needs no
    quoting in an option file or SQL string: letters, digits and -_.+!@%^ only."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SPECIALS
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
            and any(c in PASSWORD_SPECIALS for c in value)
        ):
            return value


# -- the plan's estimates ---------------------------------------------------------------------------------------------
# What a copy and a cutover cost, as data (docs/migration.md, "Estimates"); followup_dbmove_rates in the inventory
# overrides them with what the hospital's own rehearsal measured.
DEFAULT_RATES = {
    # MB/s a logical seed loads into the target (the target's InnoDB is the bottleneck, not the network).
    "mysql_load_mb_s": 20.0,
    # MB/s of a mongodump | mongorestore pipe into FerretDB / mongod.
    "mongodb_copy_mb_s": 4.0,
    # Seconds the applications need to restart on new settings and answer their health checks.
    "app_restart_s": 4.0,
    # Seconds of the database switch itself (read-only, last transaction, promotion).
    "switch_s": 1.0,
    # Free space the target must keep after the copy, as a share of the copy (logs, temporary tables, growth).
    "disk_headroom": 0.5,
}


def merged_rates(overrides):
    rates = dict(DEFAULT_RATES)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_RATES:
            raise MoveError(
                "followup_dbmove_rates: unknown key %s (known: %s)" % (key, ", ".join(sorted(DEFAULT_RATES)))
            )
        try:
            rates[key] = float(value)
        except (TypeError, ValueError):
            raise MoveError("followup_dbmove_rates.%s must be a number, not %r" % (key, value))
        if rates[key] < 0:
            raise MoveError("followup_dbmove_rates.%s must not be negative" % key)
    return rates


def estimate(engine, data_bytes, throughput_mb_s, rates, mode=None, lag_s=0):
    """Copy time and write downtime of a move, with the figures they come from."""
    mb = float(data_bytes or 0) / 1e6
    rate = rates["mysql_load_mb_s"] if engine == "mysql" else rates["mongodb_copy_mb_s"]
    if throughput_mb_s:
        rate = min(rate, float(throughput_mb_s))
    copy_s = mb / rate if rate > 0 else None
    if engine == "mysql" or mode == "replica_set":
        # Replication keeps the target current: writes stop only for the switch and the restarts.
        downtime = rates["switch_s"] + float(lag_s or 0) + rates["app_restart_s"]
    else:
        # A dump and restore in the window: writes stop for the whole copy.
        downtime = (copy_s or 0) + rates["switch_s"] + rates["app_restart_s"]
    return {
        "data_mb": round(mb, 1),
        "copy_rate_mb_s": round(rate, 1),
        "copy_s": round(copy_s, 1) if copy_s is not None else None,
        "write_downtime_s": round(downtime, 1),
        "basis": "copy at %.1f MB/s (the lower of the measured network rate and the %s rate); downtime = %s"
        % (
            rate,
            "load" if engine == "mysql" else "copy",
            "switch + replication lag + application restart"
            if engine == "mysql" or mode == "replica_set"
            else "the whole copy (dump/restore in a window) + switch + application restart",
        ),
    }


# -- the gate ----------------------------------------------------------------------------------------------------------
def gate(phase, engine, source, target, context):
    """Every reason PHASE of a database move may not run (a list of one-line refusals; empty: go on).

    SOURCE and TARGET are the probes (followup_migrate_db_probe) of the two hosts; CONTEXT holds the request
    (names, addresses, the migration's id and state, the policy: min_free_bytes, max_lag_s).
    """
    reasons = []
    sname, tname = context["source_name"], context["target_name"]
    state = context.get("state")
    if sname == tname:
        return ["the target %s is the source itself: name another host with --to" % tname]
    for name, probe in ((sname, source), (tname, target)):
        if not probe or probe.get("unreachable"):
            reasons.append(
                "host %s could not be probed (%s): check that it is up and reachable over SSH"
                % (name, (probe or {}).get("msg") or "no answer")
            )
    if reasons:
        return reasons
    refusal = phase_refusal(phase, state)
    if refusal:
        reasons.append(refusal)
    src_engine, tgt_engine = source.get("engine") or {}, target.get("engine") or {}
    if not src_engine.get("running") and not (phase in ("finish", "verify", "rollback") and state == "cutover"):
        reasons.append(
            "the source %s runs no %s server (%s): migrate from the host that serves the data"
            % (sname, engine, src_engine.get("msg") or "nothing answers on its socket")
        )
    # A target that serves something else, or holds data this migration did not bring, is in use.
    ours = (target.get("move") or {}).get("id") == context.get("id") and context.get("id")
    if not ours:
        groups = sorted(set(context.get("target_groups") or []) & set(SERVICE_GROUPS))
        if groups:
            reasons.append(
                "the target %s is in use: it is in inventory group%s %s; move to a host of group spare "
                "(or none), or take it out of %s first"
                % (tname, "s" if len(groups) > 1 else "", ", ".join(groups), ", ".join(groups))
            )
        other = (target.get("move") or {}).get("id")
        if other and (target.get("move") or {}).get("state") != "finished":
            reasons.append(
                "the target %s is part of another migration (%s): finish or roll back that one first" % (tname, other)
            )
        if not tgt_engine.get("running") and tgt_engine.get("auth_failed"):
            reasons.append(
                "the target %s is in use: a %s server runs there that does not accept this inventory's "
                "administrator; give an empty host" % (tname, engine)
            )
        data = tgt_engine.get("user_data") or []
        if data:
            reasons.append(
                "the target %s is in use: its %s server holds data (%s): give an empty host, or move that "
                "data away first" % (tname, engine, ", ".join(data[:5]) + (" ..." if len(data) > 5 else ""))
            )
    # An older engine on the target would have to read newer data: refused.
    sv = parse_version(src_engine.get("version"))
    tv = parse_version(tgt_engine.get("version") or tgt_engine.get("candidate_version"))
    if sv and tv and tv < sv:
        reasons.append(
            "the target %s would run %s %s, older than %s %s on the source %s: install the same or a "
            "newer release on the target (its package repository), then retry"
            % (tname, engine, ".".join(map(str, tv)), engine, ".".join(map(str, sv)), sname)
        )
    if (
        engine == "mysql"
        and src_engine.get("flavour")
        and tgt_engine.get("flavour")
        and src_engine.get("flavour") != tgt_engine.get("flavour")
        and tgt_engine.get("version")
    ):
        reasons.append(
            "the source runs %s and the target %s: replication between them is not supported; install "
            "%s on the target" % (src_engine["flavour"], tgt_engine["flavour"], src_engine["flavour"])
        )
    if sv is None and phase not in ("finish",) and src_engine.get("running"):
        reasons.append("the source %s did not report its %s version: check the server" % (sname, engine))
    # Room for the copy on the target.
    if phase in ("plan", "prepare", "sync", "cutover") and state != "cutover":
        need = int(source.get("data_bytes") or 0)
        headroom = float(context.get("disk_headroom", DEFAULT_RATES["disk_headroom"]))
        already = int(target.get("data_bytes") or 0) if ours else 0
        free = target.get("free_bytes")
        required = int((need - already) * (1 + headroom)) + int(context.get("min_free_bytes") or 0)
        if free is not None and free < required:
            reasons.append(
                "the target %s lacks disk: %s free on %s, %s needed (the source's %s of data, %d %% headroom, "
                "%s kept free): give %s more space, then retry"
                % (
                    tname,
                    human_bytes(free),
                    target.get("data_dir") or "its data directory",
                    human_bytes(required),
                    human_bytes(need),
                    int(headroom * 100),
                    human_bytes(int(context.get("min_free_bytes") or 0)),
                    tname,
                )
            )
    if engine == "mysql" and phase in ("sync", "cutover"):
        if phase == "sync" and not src_engine.get("log_bin"):
            reasons.append(
                "the source %s writes no binary log, so the target cannot replicate from it: set "
                "mysql_server_options log_bin (with server_id and binlog_format ROW) in the inventory's "
                "group_vars/mysql and deploy (a restart of MySQL), then retry" % sname
            )
        sid, tid = src_engine.get("server_id"), tgt_engine.get("server_id")
        if phase == "sync" and sid is not None and sid == tid:
            reasons.append(
                "the source and the target have the same server_id %s: run prepare again (it sets the target's)" % sid
            )
        if phase == "sync" and target.get("reaches_peer") is False:
            reasons.append(
                "the target %s cannot reach %s on port %s (%s): open the port between the two hosts "
                "(firewall), then retry"
                % (tname, sname, src_engine.get("port") or 3306, target.get("reach_msg") or "no answer")
            )
    if phase == "finish" and state == "cutover":
        last = context.get("last_verify") or {}
        if not (last.get("equal") and last.get("state") == "cutover"):
            reasons.append(
                "finish retires the old server only after a verify that passed since the cutover%s: run "
                "verify first"
                % (
                    (" (the last one, %s, found differences)" % last.get("at"))
                    if last.get("at") and not last.get("equal")
                    else ""
                )
            )
    if phase == "cutover" and engine == "mysql":
        rep = tgt_engine.get("replica") or {}
        if not rep.get("configured"):
            reasons.append("the target %s does not replicate from %s: run sync first" % (tname, sname))
        elif not (rep.get("io_running") and rep.get("sql_running")):
            reasons.append(
                "replication on %s is stopped (IO thread %s, SQL thread %s%s): run sync to restart it, then "
                "retry"
                % (
                    tname,
                    "running" if rep.get("io_running") else "stopped",
                    "running" if rep.get("sql_running") else "stopped",
                    ("; last error: %s" % rep["last_error"]) if rep.get("last_error") else "",
                )
            )
    return reasons


def human_bytes(value):
    value = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return ("%.0f %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0
    return "%.1f TiB" % value


def lag_refusal(target_name, status, waited_s, max_lag_s):
    """The cutover's refusal when the replica did not catch up within the wait (None when it did)."""
    if status.get("caught_up"):
        return None
    behind = status.get("seconds_behind")
    return (
        "replication lag on %s did not reach zero within %d s (%s behind, %s): the cutover would lose the last "
        "writes; wait until the target catches up (sync shows the lag), or find what holds it back, then retry"
        % (
            target_name,
            int(waited_s),
            ("%s s" % behind) if behind is not None else "unknown",
            status.get("reason") or "transactions still to apply",
        )
    )


def verify_refusals(result, what):
    """Refusals for a verification RESULT (followup_table_checksum) that found differences."""
    reasons = []
    for table, info in sorted((result.get("tables") or {}).items()):
        if info.get("equal"):
            continue
        parts = []
        if info.get("counts") and info["counts"][0] != info["counts"][1]:
            parts.append("%s rows on the source, %s on the target" % (info["counts"][0], info["counts"][1]))
        if info.get("chunks_differ"):
            ranges = ["%s" % c.get("range") for c in info["chunks_differ"][:3]]
            parts.append(
                "%d chunk%s differ%s (%s%s)"
                % (
                    len(info["chunks_differ"]),
                    "s" if len(info["chunks_differ"]) > 1 else "",
                    "" if len(info["chunks_differ"]) > 1 else "s",
                    "; ".join(ranges),
                    " ..." if len(info["chunks_differ"]) > 3 else "",
                )
            )
        if info.get("missing"):
            parts.append("missing on the %s" % info["missing"])
        if info.get("columns_differ"):
            parts.append("its columns differ")
        reasons.append("verify found a difference in %s: %s" % (table, "; ".join(parts) or "content differs"))
    for kind in ("indexes", "users"):
        for item in (result.get(kind) or {}).get("differ") or []:
            reasons.append("verify found a difference in the %s: %s" % (kind, item))
    if reasons:
        reasons = ["%s (%d in all): %s" % (what, len(reasons), reasons[0]), *reasons[1:]]
    return reasons


# -- the inventory change ----------------------------------------------------------------------------------------------
HOST_LINE = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z0-9_.\-]+):\s*(#.*)?$")


def _group_hosts_block(lines, group):
    """(index of the `hosts:` line under GROUP, its indent) in a YAML inventory, or None."""
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)%s:\s*(#.*)?$" % re.escape(group), line)
        if not m:
            continue
        indent = len(m.group(1))
        for j in range(i + 1, len(lines)):
            text = lines[j]
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            ind = len(text) - len(text.lstrip())
            if ind <= indent:
                break
            if re.match(r"^\s*hosts:\s*(#.*)?$", text) and ind > indent:
                return j, ind
    return None


def _host_block(lines, start, indent, host):
    """(first, end) line indexes of HOST's entry under the hosts: line at START (END exclusive), or None."""
    child = None
    i = start + 1
    while i < len(lines):
        text = lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            i += 1
            continue
        ind = len(text) - len(text.lstrip())
        if ind <= indent:
            return None
        if child is None:
            child = ind
        m = HOST_LINE.match(text)
        if ind == child and m and m.group("name") == host:
            end = i + 1
            while end < len(lines):
                t = lines[end]
                if t.strip() and not t.lstrip().startswith("#") and len(t) - len(t.lstrip()) <= child:
                    break
                end += 1
            # Keep trailing comment lines with the next entry.
            while end > i + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
                end -= 1
            return i, end
        i += 1
    return None


def _reindent(block, old, new):
    out = []
    for line in block:
        if line.strip():
            out.append(" " * new + line[old:] if line[:old].strip() == "" else line)
        else:
            out.append(line)
    return out


def move_host(text, host, from_group, to_group):
    """TEXT (a YAML hosts file) with HOST's entry moved from FROM_GROUP's hosts to TO_GROUP's (created under the
    same parent as a last resort is not attempted: both groups must have a hosts: mapping). MoveError when the file
    does not have that shape, so the caller can describe the change in words instead."""
    lines = text.splitlines(True)
    src = _group_hosts_block(lines, from_group)
    if src is None:
        raise MoveError("group %s has no hosts: mapping in the inventory file" % from_group)
    found = _host_block(lines, src[0], src[1], host)
    if found is None:
        raise MoveError("host %s is not listed under group %s in the inventory file" % (host, from_group))
    first, end = found
    block = lines[first:end]
    host_indent = len(block[0]) - len(block[0].lstrip())
    # Does FROM_GROUP keep any host? An empty `hosts:` would be null: write `hosts: {}`.
    del lines[first:end]
    left = _host_block_names(lines, src[0], src[1])
    if not left:
        lines[src[0]] = lines[src[0]].rstrip("\n").rstrip() + " {}\n"
    dst = _group_hosts_block(lines, to_group)
    if dst is None:
        raise MoveError("group %s has no hosts: mapping in the inventory file" % to_group)
    line = lines[dst[0]]
    if line.rstrip().endswith("{}"):
        lines[dst[0]] = line.rstrip().rstrip("{}").rstrip() + "\n"
    names = _host_block_names(lines, dst[0], dst[1])
    child = names[0][1] if names else dst[1] + 2
    insert = _last_child_end(lines, dst[0], dst[1])
    lines[insert:insert] = _reindent(block, host_indent, child)
    return "".join(lines)


def _host_block_names(lines, start, indent):
    names = []
    child = None
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        ind = len(text) - len(text.lstrip())
        if ind <= indent:
            break
        if child is None:
            child = ind
        m = HOST_LINE.match(text)
        if ind == child and m:
            names.append((m.group("name"), ind))
    return names


def _last_child_end(lines, start, indent):
    end = start + 1
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if len(text) - len(text.lstrip()) <= indent:
            break
        end = i + 1
    return end


def inventory_change(text, moves, path="hosts.yml"):
    """Apply MOVES ([(host, from_group, to_group), ...]) to a YAML hosts file: (new text, unified diff, words).

    The words say the same in one line per move, for an inventory this cannot edit (an INI file, a generator)."""
    words = ["move host %s from group %s to group %s" % m for m in moves]
    new = text
    for host, src, dst in moves:
        new = move_host(new, host, src, dst)
    diff = "".join(
        difflib.unified_diff(text.splitlines(True), new.splitlines(True), fromfile="a/%s" % path, tofile="b/%s" % path)
    )
    return new, diff, words


def compare_users(source, target):
    """Differences between the accounts of the two servers (probes' `users`): one line per account, no secret."""
    if source is None or target is None:
        return ["the accounts could not be read on the %s" % ("source" if source is None else "target")]
    for side, users in (("source", source), ("target", target)):
        if isinstance(users, dict) and "error" in users and len(users) == 1:
            return ["the accounts could not be read on the %s: %s" % (side, users["error"])]
    differ = []
    for name in sorted(set(source) | set(target)):
        a, b = source.get(name), target.get(name)
        if a is None:
            differ.append("account %s exists only on the target" % name)
        elif b is None:
            differ.append("account %s exists only on the source" % name)
        elif isinstance(a, dict) and isinstance(b, dict) and "grants" in a:
            if a.get("grants") != b.get("grants"):
                differ.append("account %s has other rights on the target" % name)
            elif a.get("auth") and b.get("auth") and a["auth"] != b["auth"] and a.get("auth_comparable", True):
                differ.append("account %s has another password on the target" % name)
        elif a != b:
            differ.append("account %s has other rights on the target" % name)
    return differ


# -- the verification's findings ---------------------------------------------------------------------------------------
APP_ACCOUNTS = {"mysql": {"app": "followup_app", "fep": "followup_interface"}, "mongodb": {}}
# The check in each component's /health that names the database moved (docs/architecture.md, "Ports and health").
HEALTH_CHECK = {"mysql": {"app": "mysql", "fep": "interface_data"}, "mongodb": {"app": "mongodb", "voice": "mongodb"}}


def verify_findings(engine, target, data, users_differ, apps, sessions, state, addresses):
    """The findings of a verify phase: one per table or collection, the indexes, the accounts, and after the cutover
    one per application (health with the database UP, the front-end request, connected to the new server).

    DATA is followup_table_checksum's result (None when skipped), APPS {host: result of verify_apps}, SESSIONS the
    new server's sessions by account@address, ADDRESSES {host: address}. Returns (findings, refusal lines)."""
    findings = {}
    host = target

    def add(fid, status, title, expected, actual, evidence=""):
        findings["%s/migrate/%s" % (host, fid)] = {
            "control": "migrate.verify",
            "host": host,
            "status": status,
            "title": title,
            "expected": expected,
            "actual": actual,
            "evidence": evidence,
            "part": fid,
        }

    if data is None:
        add(
            "data",
            "na",
            "数据比对 data comparison",
            "equal data on both servers",
            "not compared now: by dump/restore the two servers are compared inside the cutover's window",
            "mode dump, state %s" % state,
        )
    else:
        for name, info in sorted((data.get("tables") or {}).items()):
            counts = info.get("counts") or ["-", "-"]
            if info.get("equal"):
                add(
                    "table/%s" % name,
                    "pass",
                    "表数据一致 %s" % name,
                    "same rows and checksums",
                    "%s rows, %s chunks equal" % (counts[0], info.get("chunks", "-")),
                    "at %s" % ((data.get("position") or {}).get("gtid") or "one consistent point"),
                )
            else:
                one = verify_refusals({"tables": {name: info}}, "x")
                add(
                    "table/%s" % name,
                    "fail",
                    "表数据不一致 %s" % name,
                    "same rows and checksums",
                    one[0].split(": ", 1)[-1] if one else "differs",
                    "source %s, target %s rows" % tuple(counts[:2]),
                )
        idx = (data.get("indexes") or {}).get("differ") or []
        add(
            "indexes",
            "fail" if idx else "pass",
            "索引一致 indexes",
            "the same indexes on both servers",
            "; ".join(idx) if idx else "all equal",
        )
    add(
        "users",
        "fail" if users_differ else "pass",
        "账号与权限一致 accounts and grants",
        "the same accounts, rights and passwords",
        "; ".join(users_differ) if users_differ else "all equal",
    )
    if state == "cutover":
        accounts = APP_ACCOUNTS.get(engine, {})
        for app_host, result in sorted((apps or {}).items()):
            comp = result.get("component")
            if not comp:
                continue
            name = HEALTH_CHECK[engine].get(comp, engine)
            check = (result.get("health") or {}).get(name)
            ok = result.get("health_status") == 200 and check == "UP"
            add(
                "app/%s" % app_host,
                "pass" if ok else "fail",
                "应用健康 %s %s" % (comp, app_host),
                "health 200 with %s UP" % name,
                "health %s, %s %s" % (result.get("health_status"), name, check or "not reported"),
            )
            if result.get("request_status") is not None:
                ok = result.get("request_status") == 200 and result.get("request_items")
                add(
                    "request/%s" % app_host,
                    "pass" if ok else "fail",
                    "真实请求 one real request via %s" % app_host,
                    "GET /api/patients?limit=1 through nginx answers 200 with items",
                    "answered %s%s"
                    % (result.get("request_status"), "" if result.get("request_items") else " without items"),
                )
            account = accounts.get(comp)
            if account and sessions is not None:
                key = "%s@%s" % (account, addresses.get(app_host, app_host))
                n = int((sessions or {}).get(key) or 0)
                add(
                    "connected/%s" % app_host,
                    "pass" if n else "fail",
                    "连接新服务器 %s uses the new server" % comp,
                    "%s connected to %s" % (key, target),
                    "%d session%s" % (n, "" if n == 1 else "s"),
                )
    refused = ["%s: %s" % (f["title"], f["actual"]) for f in findings.values() if f["status"] in ("fail", "error")]
    return findings, refused
