# -*- coding: utf-8 -*-
# The control node's records, read the same way by every report: the audit log (runs/audit.jsonl, schema 2 lines of
# the operation core and schema 1 lines from before it), the operations' records (runs/<id>/operation.json), and
# the fault register (runs/faults.jsonl). Which field of which command's record each report uses is fixed in
# docs/reports.md; other engineers make their records fit that page.
#
# Used on the control node only: by library/followup_inspect_history.py (the inspection's history and evidence)
# and by the command line (fault register, quarterly report), which appends module_utils/ to
# ansible.module_utils.__path__ first. Standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import contextlib
import fcntl
import json
import os
import re
import time

AUDIT_FILE = "audit.jsonl"
FAULTS_FILE = "faults.jsonl"
FAULT_SCHEMA = 1
# Commands whose records are the evidence of each report section (docs/reports.md). Aliases are accepted so that a
# command renamed later still counts.
BACKUP_COMMANDS = ("backup",)
DRILL_COMMANDS = ("backup-drill", "drill")
RESTORE_COMMANDS = ("restore",)
COMPLIANCE_COMMANDS = ("compliance",)
UPGRADE_COMMANDS = ("upgrade",)
DEPLOY_COMMANDS = ("deploy",)
MIGRATION_COMMANDS = ("migrate", "migration", "migrate-db", "migrate-server", "db-migrate", "server-migrate")
INSPECT_COMMANDS = ("inspect",)
STATUS_COMMANDS = ("status",)
FAULT_COMMANDS = ("fault-open", "fault-update", "fault-close")
FAULT_ID_RE = re.compile(r"\AF([0-9]{4})-([0-9]{3,})\Z")
FAULT_FIELDS = (
    "kind",
    "severity",
    "host",
    "component",
    "symptom",
    "impact",
    "opened_at",
    "responded_at",
    "onsite_at",
    "resolved_at",
    "cause",
    "fix",
    "service_down",
    "note",
)


class RecordError(Exception):
    """A record that cannot be used; the message names the file and line."""


def parse_time(text):
    """Epoch seconds of an ISO-8601 time with a zone (Z, +08:00) or without (UTC); None when it is not one."""
    if not text:
        return None
    match = re.match(
        r"\A(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?\Z",
        str(text).strip(),
    )
    if not match:
        return None
    y, mo, d, h, mi, s, zone = match.groups()
    epoch = calendar.timegm((int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), 0, 0, 0))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        epoch -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return epoch


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def same_inventory(recorded, wanted):
    """Whether a record's inventory is WANTED: the same directory, or the same name (`lab`, `production`)."""
    if not recorded or not wanted:
        return False
    a, b = str(recorded).rstrip("/"), str(wanted).rstrip("/")
    if a == b:
        return True
    name = lambda p: os.path.basename(os.path.dirname(p)) if p.endswith(".yml") else os.path.basename(p)  # noqa: E731
    return name(a) == name(b)


def normalize(line):
    """One audit line (schema 1 or 2) as the reports read it."""
    schema = line.get("schema") or 1
    run_dir = line.get("run_dir")
    rid = line.get("id") or (os.path.basename(str(run_dir).rstrip("/")) if run_dir else None)
    outcome = line.get("outcome") or line.get("result")
    exit_code = line.get("exit_code")
    if exit_code is None:
        exit_code = line.get("rc")
    start = parse_time(line.get("ts"))
    end = parse_time(line.get("ended"))
    if end is None and start is not None and isinstance(line.get("duration_s"), (int, float)):
        end = start + float(line["duration_s"])
    return {
        "schema": schema,
        "id": rid,
        "command": str(line.get("command") or ""),
        "argv": [str(a) for a in line.get("argv") or []],
        "ts": line.get("ts"),
        "start": start,
        "end": end if end is not None else start,
        "user": line.get("user"),
        "inventory": line.get("inventory"),
        "check": bool(line.get("check")),
        "hosts": list(line.get("hosts") or []),
        "outcome": outcome,
        "exit_code": exit_code,
        "message": line.get("message") or line.get("error"),
        "details": line.get("details") if isinstance(line.get("details"), dict) else {},
        "findings": line.get("findings") if isinstance(line.get("findings"), dict) else {},
        "refused": line.get("refused") or ([{"gate": "gate", "reason": line["gate"]}] if line.get("gate") else []),
        "rolled_back": line.get("rolled_back"),
        "changed": line.get("changed") if isinstance(line.get("changed"), dict) else {},
        "failed_hosts": list(line.get("failed_hosts") or []),
        "duration_s": line.get("duration_s"),
        "run_dir": run_dir,
        "files": list(line.get("files") or []),
        "raw_state": line.get("state"),
    }


def read_audit(runs_dir):
    """(records oldest first, number of damaged lines) of RUNS_DIR/audit.jsonl; ([], 0) when it does not exist."""
    path = os.path.join(str(runs_dir), AUDIT_FILE)
    records, damaged = [], 0
    if not os.path.isfile(path):
        return [], 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            raw = raw.strip()
            if not raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                damaged += 1
                continue
            if not isinstance(line, dict) or not line.get("command"):
                damaged += 1
                continue
            records.append(normalize(line))
    records.sort(key=lambda r: (r["start"] or 0, r["id"] or ""))
    return records, damaged


def operation_record(runs_dir, record):
    """The operation.json of RECORD (its full report), or None when it is missing or unreadable."""
    candidates = []
    if record.get("id"):
        candidates.append(os.path.join(str(runs_dir), record["id"], "operation.json"))
    if record.get("run_dir"):
        candidates.append(os.path.join(str(record["run_dir"]), "operation.json"))
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, IOError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return None


def for_inventory(records, inventory):
    return [r for r in records if same_inventory(r["inventory"], inventory)]


def _newest(records, commands, accept):
    for record in reversed(records):
        if record["command"] in commands and not record["check"] and accept(record):
            return record
    return None


# -- evidence of backups, drills, compliance: the contract of docs/reports.md ------------------------------------
def backup_summary(record):
    """What a backup record says: ids, databases, bytes, MB/s (docs/reports.md, "backup")."""
    d = record["details"]
    backups = d.get("backups") if isinstance(d.get("backups"), list) else []
    ids = [str(b.get("id")) for b in backups if isinstance(b, dict) and b.get("id")]
    if d.get("backup_id"):
        ids.insert(0, str(d["backup_id"]))
    total = d.get("bytes")
    if total is None and backups:
        total = sum(int(b.get("bytes") or 0) for b in backups if isinstance(b, dict))
    rate = d.get("mb_per_s")
    if rate is None and backups:
        rates = [float(b["mb_per_s"]) for b in backups if isinstance(b, dict) and b.get("mb_per_s") is not None]
        rate = round(sum(rates) / len(rates), 1) if rates else None
    dbs = d.get("databases") or [b.get("db") or b.get("database") for b in backups if isinstance(b, dict)]
    return {
        "operation": record["id"],
        "at": iso(record["end"]) if record["end"] else record["ts"],
        "id": ids[0] if ids else None,
        "ids": ids,
        "databases": [str(x) for x in dbs if x],
        "bytes": total,
        "mb_per_s": rate,
        "verified": d.get("verified"),
        "outcome": record["outcome"],
        "summary": ", ".join(ids) or record["id"],
    }


def drill_result(record):
    """'pass' / 'fail' of a drill record, or None when it did not get to compare anything (refused, interrupted)."""
    d = record["details"]
    drill = d.get("drill") if isinstance(d.get("drill"), dict) else {}
    result = d.get("result") or drill.get("result")
    if result in ("pass", "fail"):
        return result
    if record["outcome"] == "ok":
        return "pass"
    if record["outcome"] in ("failed", "noncompliant", "rolled_back"):
        return "fail"
    return None


def drill_summary(record):
    d = record["details"]
    drill = d.get("drill") if isinstance(d.get("drill"), dict) else {}
    get = lambda k: d.get(k) if d.get(k) is not None else drill.get(k)  # noqa: E731
    return {
        "operation": record["id"],
        "at": iso(record["end"]) if record["end"] else record["ts"],
        "result": drill_result(record),
        "backup_id": get("backup_id"),
        "duration_s": get("duration_s") if get("duration_s") is not None else record["duration_s"],
        "tables_checked": get("tables_checked"),
        "mismatches": get("mismatches"),
        "summary": ("%s %s" % (get("backup_id") or "", drill_result(record) or "")).strip(),
    }


def compliance_score(record):
    """The 等保 score (percent) a compliance record carries, or None (docs/reports.md, "compliance")."""
    d = record["details"]
    nested = [d.get(k) for k in ("compliance", "summary") if isinstance(d.get(k), dict)]
    for value in [d.get("score")] + [n.get("score") for n in nested]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def compliance_summary(record):
    d = record["details"]
    inner = d.get("compliance") if isinstance(d.get("compliance"), dict) else d
    counts = inner.get("counts") if isinstance(inner.get("counts"), dict) else record["findings"]
    return {
        "operation": record["id"],
        "at": iso(record["end"]) if record["end"] else record["ts"],
        "score": compliance_score(record),
        "counts": counts or {},
        "failing": inner.get("failing"),
        "high_risk_failing": inner.get("high_risk_failing"),
        "per_host": inner.get("per_host") if isinstance(inner.get("per_host"), dict) else {},
        "catalogue_version": inner.get("catalogue_version"),
        "outcome": record["outcome"],
        "fix": bool(d.get("fix")),
    }


def control_evidence(runs_dir, inventory, now=None):
    """What the inspection reports from the control node's records: newest backup, drill, compliance score, open
    faults. `records` is false when RUNS_DIR does not exist (an AWX execution node keeps no run records)."""
    now = time.time() if now is None else now
    evidence = {"runs_dir": str(runs_dir), "records": os.path.isdir(str(runs_dir))}
    records, damaged = read_audit(runs_dir)
    records = for_inventory(records, inventory)
    evidence["damaged_lines"] = damaged
    backup = _newest(records, BACKUP_COMMANDS, lambda r: r["outcome"] == "ok")
    evidence["backup"] = backup_summary(backup) if backup else None
    drill = _newest(records, DRILL_COMMANDS, lambda r: drill_result(r) is not None)
    evidence["drill"] = drill_summary(drill) if drill else None
    comp = _newest(
        records,
        COMPLIANCE_COMMANDS,
        lambda r: (
            compliance_score(r) is not None and r["outcome"] in ("ok", "noncompliant") and not r["details"].get("fix")
        ),
    )
    evidence["compliance"] = compliance_summary(comp) if comp else None
    faults = fold_faults(read_fault_events(runs_dir)[0])
    open_ids = sorted(
        f["id"] for f in faults.values() if f["state"] != "closed" and same_inventory(f.get("inventory"), inventory)
    )
    evidence["faults"] = {"open": open_ids}
    return evidence


def previous_inspections(runs_dir, inventory, exclude=None, limit=60, max_days=30, now=None):
    """{host: [samples, newest first]} from the previous inspections' records (their report's
    data.inspection.hosts.<host>.sample), at most LIMIT operations and MAX_DAYS back."""
    now = time.time() if now is None else now
    records, _ = read_audit(runs_dir)
    found = {}
    taken = 0
    for record in reversed(for_inventory(records, inventory)):
        if record["command"] not in INSPECT_COMMANDS or record["id"] == exclude:
            continue
        if record["start"] is None or now - record["start"] > max_days * 86400:
            break
        data = operation_record(runs_dir, record)
        hosts = ((((data or {}).get("report") or {}).get("data") or {}).get("inspection") or {}).get("hosts") or {}
        for host, row in hosts.items():
            sample = (row or {}).get("sample")
            if isinstance(sample, dict) and sample.get("at"):
                found.setdefault(host, []).append(sample)
        taken += 1
        if taken >= limit:
            break
    return found


# -- the fault register ------------------------------------------------------------------------------------------
def read_fault_events(runs_dir):
    """(events oldest first, damaged line count) of RUNS_DIR/faults.jsonl."""
    path = os.path.join(str(runs_dir), FAULTS_FILE)
    events, damaged = [], 0
    if not os.path.isfile(path):
        return [], 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            raw = raw.strip()
            if not raw:
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                damaged += 1
                continue
            if isinstance(event, dict) and FAULT_ID_RE.match(str(event.get("fault"))) and event.get("event"):
                events.append(event)
            else:
                damaged += 1
    return events, damaged


def fold_faults(events):
    """{id: fault} with every event applied in order: the register's current state."""
    faults = {}
    for event in events:
        fid = event["fault"]
        if event["event"] == "open":
            if fid in faults:  # an id opens once; a second open is a damaged register, never a reset
                continue
            faults[fid] = {"id": fid, "state": "open", "inventory": event.get("inventory"), "history": []}
            faults[fid].update(opened_by=event.get("user"), seq=event.get("seq"))
        fault = faults.get(fid)
        if fault is None:
            continue
        for key in FAULT_FIELDS:
            if key in (event.get("fields") or {}):
                fault[key] = event["fields"][key]
        if event["event"] == "close":
            fault["state"] = "closed"
            fault["closed_by"] = event.get("user")
        elif event["event"] == "reopen":
            fault["state"] = "open"
        fault["history"].append({"event": event["event"], "at": event.get("at"), "user": event.get("user")})
    return faults


@contextlib.contextmanager
def locked_register(runs_dir):
    """The fault register, locked against other writers (flock) for as long as the block runs; yields its path."""
    runs = str(runs_dir)
    if not os.path.isdir(runs):
        os.makedirs(runs, 0o750)
    path = os.path.join(runs, FAULTS_FILE)
    fd = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def next_fault_id(events, year):
    matches = (FAULT_ID_RE.match(e["fault"]) for e in events)
    numbers = [int(m.group(2)) for m in matches if m and int(m.group(1)) == year]
    return "F%04d-%03d" % (year, max(numbers or [0]) + 1)


def append_fault_event(path, event):
    """Append one event as one line (O_APPEND, fsynced); a failed write leaves no half line behind."""
    data = (json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
    return event


# -- service levels: the contract year, response times, the 5-faults-a-year limit ---------------------------------
def offset_seconds(offset):
    """Seconds east of UTC of an offset like '+08:00'."""
    match = re.match(r"\A([+-])([0-9]{2}):?([0-9]{2})\Z", str(offset or "+00:00"))
    if not match:
        raise RecordError("timezone must be an offset like +08:00, not %r" % offset)
    seconds = int(match.group(2)) * 3600 + int(match.group(3)) * 60
    return seconds if match.group(1) == "+" else -seconds


def local_date(epoch, offset):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch + offset_seconds(offset)))


def local_time(epoch, offset, fmt="%Y-%m-%d %H:%M"):
    if epoch is None:
        return "-"
    return time.strftime(fmt, time.gmtime(epoch + offset_seconds(offset)))


def local_midnight(year, month, day, offset):
    """Epoch of 00:00 local time on YEAR-MONTH-DAY."""
    return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)) - offset_seconds(offset)


def contract_year(epoch, start_mmdd, offset):
    """(start, end, label) of the contract year holding EPOCH; years start on START_MMDD ('12-06') local time."""
    month, day = (int(x) for x in str(start_mmdd).split("-"))
    year = int(local_date(epoch, offset)[:4])
    start = local_midnight(year, month, day, offset)
    if epoch < start:
        year -= 1
        start = local_midnight(year, month, day, offset)
    end = local_midnight(year + 1, month, day, offset)
    label = "%s – %s" % (local_date(start, offset), local_date(end - 1, offset))
    return start, end, label


def fault_metrics(fault, levels):
    """Response and repair times of one fault against the service levels (minutes; None when not recorded)."""
    opened = parse_time(fault.get("opened_at"))
    responded = parse_time(fault.get("responded_at"))
    resolved = parse_time(fault.get("resolved_at"))
    onsite = parse_time(fault.get("onsite_at"))
    kind = fault.get("kind") or "fault"
    target = (levels.get("response_minutes") or {}).get(kind)
    response = round((responded - opened) / 60.0, 1) if opened is not None and responded is not None else None
    duration = round((resolved - opened) / 60.0, 1) if opened is not None and resolved is not None else None
    remote = levels.get("remote_fix_minutes", 60)
    onsite_hours = levels.get("onsite_hours", 24)
    # 超过1小时以上无法远程解决，24小时内到达现场: a severe fault not fixed within REMOTE minutes needs someone on site.
    needs_onsite = bool(
        kind == "fault"
        and fault.get("severity") == "critical"
        and opened is not None
        and ((resolved if resolved is not None else time.time()) - opened) > remote * 60
    )
    onsite_ok = None
    if needs_onsite:
        onsite_ok = onsite is not None and onsite - opened <= onsite_hours * 3600 + remote * 60
    return {
        "response_min": response,
        "target_min": target,
        "on_target": None if response is None or target is None else response <= target,
        "duration_min": duration,
        "needs_onsite": needs_onsite,
        "onsite_ok": onsite_ok,
    }


def fault_summary(faults, start, end, levels):
    """Faults opened in [START, END): counts by kind, those counted against the yearly limit, response times."""
    rows = []
    for fault in faults:
        opened = parse_time(fault.get("opened_at"))
        if opened is None or not start <= opened < end:
            continue
        rows.append(dict(fault, **fault_metrics(fault, levels)))
    rows.sort(key=lambda f: (f.get("opened_at") or "", f["id"]))
    counted = [f for f in rows if (f.get("kind") or "fault") == "fault"]
    timed = [f for f in rows if f["on_target"] is not None]
    down = [f for f in rows if f.get("service_down") and f["duration_min"] is not None]
    return {
        "faults": rows,
        "counted": len(counted),
        "limit": levels.get("faults_per_year"),
        "issues": len(rows) - len(counted),
        "open": len([f for f in rows if f.get("state") != "closed"]),
        "responded": len(timed),
        "on_target": len([f for f in timed if f["on_target"]]),
        "missing_response": len([f for f in rows if f["response_min"] is None]),
        "downtime_min": round(sum(f["duration_min"] for f in down), 1),
        "onsite_missed": len([f for f in rows if f["onsite_ok"] is False]),
    }
