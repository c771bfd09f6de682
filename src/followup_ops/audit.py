"""The audit log: one JSON line per operation in runs/audit.jsonl (who, when, what, where, outcome, how long).

The record's fields are fixed in docs/architecture.md ("The audit record"). Writing it never changes an operation's
outcome: when the log cannot be written (disk full, read-only), the caller reports that in one line and keeps the
operation's own exit code.
"""

import contextlib
import fcntl
import getpass
import json
import os
import socket
from datetime import UTC, datetime

from followup_ops.paths import runs_dir

AUDIT_FILE = "audit.jsonl"
SCHEMA = 2
# Arguments whose value is never written down, even though none of ours carries a secret today.
_SECRET_FLAGS = ("--password", "--vault-password", "--secret", "--token", "--passphrase")


class AuditError(Exception):
    """The audit log could not be written; the message names the file and the cause."""


def operator():
    """The person behind the run: the sudo caller if any, else the login user."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def control_node():
    return socket.gethostname()


def clean_argv(argv):
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


def timestamp(moment):
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def now():
    return datetime.now(UTC)


def append(record, path=None):
    """Append RECORD as one line; raise AuditError (one line) when the log cannot be written."""
    path = path or runs_dir() / AUDIT_FILE
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError as err:
        raise AuditError(f"the audit log {path} could not be opened ({err.strerror or err})") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            # A record cut short (power loss, a kill in mid-write) ends without a newline: end it, so that this
            # record stays a line of its own instead of being glued to the broken one.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
        except OSError as err:
            raise AuditError(f"the audit log {path} could not be locked ({err.strerror or err})") from err
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as err:
            # Never leave half a line behind for the next record to be glued to.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise AuditError(f"the audit log {path} could not be written ({err.strerror or err})") from err
    finally:
        os.close(fd)
    return record


def read(path=None):
    """Every record of the audit log, oldest first; a damaged line is skipped (and counted by the caller)."""
    path = path or runs_dir() / AUDIT_FILE
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        return []
    return records
