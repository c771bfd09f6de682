"""The audit log: one JSON line per run in runs/audit.jsonl (who, when, what, where, result, how long)."""

import fcntl
import getpass
import json
import os
import socket
from datetime import UTC, datetime

from followup_ops.paths import runs_dir

AUDIT_FILE = "audit.jsonl"
# Arguments whose value is never written down, even though none of ours carries a secret today.
_SECRET_FLAGS = ("--password", "--vault-password", "--secret", "--token")


def operator():
    """The person behind the run: the sudo caller if any, else the login user."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _clean_argv(argv):
    clean, hide_next = [], False
    for word in argv or []:
        if hide_next:
            clean.append("***")
            hide_next = False
            continue
        flag = word.split("=", 1)[0]
        if any(flag.startswith(s) and not flag.endswith("-file") for s in _SECRET_FLAGS):
            if "=" in word:
                clean.append(flag + "=***")
            else:
                clean.append(word)
                hide_next = True
            continue
        clean.append(word)
    return clean


def result_label(result):
    if result.gate:
        return "refused"
    if result.ok:
        return "ok"
    if result.unreachable:
        return "unreachable"
    return "failed"


def _who_when_what(command, argv, started_at):
    return {
        "ts": started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "user": operator(),
        "control_node": socket.gethostname(),
        "command": command,
        "argv": _clean_argv(argv),
    }


def record(*, command, argv, inventory, result, started_at):
    line = {
        **_who_when_what(command, argv, started_at),
        "inventory": inventory,
        "hosts": result.hosts,
        "result": result_label(result),
        "rc": result.rc,
        "changed": {h: s.changed for h, s in sorted(result.stats.items())},
        "failed_hosts": sorted({h for h, _, _ in result.failures} | {h for h, _ in result.unreachable}),
        "gate": result.gate[0] if result.gate else None,
        "duration_s": round(result.duration, 1),
        "run_dir": str(result.run_dir),
    }
    return _append(line)


def record_local(*, command, argv, hosts, ok, started_at, duration, error=None):
    """The audit line of a command that runs no playbook (the lab's own commands)."""
    line = {
        **_who_when_what(command, argv, started_at),
        "inventory": "lab",
        "hosts": sorted(hosts),
        "result": "ok" if ok else "failed",
        "error": error,
        "duration_s": round(duration, 1),
    }
    return _append(line)


def _append(line):
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / AUDIT_FILE, "a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return line


def now():
    return datetime.now(UTC)
