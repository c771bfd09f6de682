# -*- coding: utf-8 -*-
# Schema migrations of the follow-up system's databases: reading scripts, checksums, SQL statements, the history
# states, the plan against a database's history, repairs, and error texts that never carry row values
# (docs/releases.md, "Migrations"). Pure Python (PyYAML for the MongoDB declarative scripts), so it is unit-tested
# without a database. It runs on the managed hosts' Python, which may be 3.6: no f-strings, no walrus.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import traceback

from ansible.module_utils.followup_release import MIGRATION_RE

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_YAML = False

HISTORY = "followup_schema_history"
REPAIRS = "followup_schema_repairs"

# States of one history row (one run of one script).
RUNNING = "running"  # written (and committed) before the script's first statement; still there = interrupted
SUCCESS = "success"  # the script ran to its end (MySQL: committed together with its last data changes)
FAILED = "failed"  # the runner saw the server refuse a statement and stopped there
REPAIRED_APPLIED = "repaired_applied"  # a failed/running row resolved by hand: the migration counts as applied
REPAIRED_NOT_APPLIED = "repaired_not_applied"  # resolved by hand: its changes were undone, it runs again
ROW_STATES = (RUNNING, SUCCESS, FAILED, REPAIRED_APPLIED, REPAIRED_NOT_APPLIED)
APPLIED_STATES = (SUCCESS, REPAIRED_APPLIED)
UNRESOLVED_STATES = (RUNNING, FAILED)
RESOLUTIONS = {"applied": REPAIRED_APPLIED, "not_applied": REPAIRED_NOT_APPLIED}

# States of a database, as the module reports them (RETURN `state`).
CLEAN = "clean"  # no failed or running migration: the history says exactly what ran
INTERRUPTED = "interrupted"  # a running row and no run holding the lock: killed or disconnected, state unknown
IN_PROGRESS = "in_progress"  # a running row (or the lock) held by a live run
# FAILED (above) is also a database state: a migration failed cleanly at a known statement.

NAME_RE = re.compile(r"\A[A-Za-z0-9_]+\Z")
EXECUTABLE_COMMENT_RE = re.compile(r"/\*M?!\d{0,6}")
QUOTES = ("'", '"', "`")

# Statements that would break the runner's bookkeeping (the script's data changes and its history row commit
# together, on one connection that holds the migration lock), matched on the statement as the server reads it:
# upper case, blanks collapsed, string contents blanked, quoted identifiers kept as names (MySQL accepts `autocommit`),
# /*! */ markers removed, hints dropped.
_CONTROL = [
    (re.compile(r"^BEGIN\b(?! NOT ATOMIC\b)"), "BEGIN starts a transaction"),
    (re.compile(r"^START TRANSACTION\b"), "START TRANSACTION starts a transaction"),
    (re.compile(r"^COMMIT\b"), "COMMIT ends the transaction"),
    (re.compile(r"^ROLLBACK\b"), "ROLLBACK ends the transaction"),
    (re.compile(r"^SAVEPOINT\b"), "SAVEPOINT controls the transaction"),
    (re.compile(r"^RELEASE SAVEPOINT\b"), "RELEASE SAVEPOINT controls the transaction"),
    (re.compile(r"^XA\b"), "XA controls a distributed transaction"),
    (re.compile(r"^LOCK TABLES?\b"), "LOCK TABLES commits the transaction and locks tables"),
    (re.compile(r"^UNLOCK TABLES?\b"), "UNLOCK TABLES commits the transaction"),
    (re.compile(r"^FLUSH\b.*\bWITH READ LOCK\b"), "FLUSH ... WITH READ LOCK blocks every write, the runner's too"),
    (
        re.compile(r"^SET (?:(?:GLOBAL|SESSION|LOCAL) |@@(?:GLOBAL|SESSION|LOCAL)\.)?TRANSACTION\b"),
        "SET TRANSACTION changes how transactions behave",
    ),
    (
        re.compile(
            r"^SET\b.*(?:@@(?:GLOBAL|SESSION|LOCAL|PERSIST|PERSIST_ONLY)\.|@@|(?<![\w@$.`\"]))[`\"]?"
            r"(?:AUTOCOMMIT|COMPLETION_TYPE|TRANSACTION_READ_ONLY|TX_READ_ONLY|TRANSACTION_ISOLATION|TX_ISOLATION)"
            r"[`\"]?\s*:?="
        ),
        "setting autocommit or how transactions behave",
    ),
    (re.compile(r"^USE\b"), "USE switches the database, so later statements would run elsewhere"),
    (
        re.compile(r"^(?:PREPARE|EXECUTE)\b"),
        "PREPARE and EXECUTE run SQL that is only text when the script is checked (it could commit, or release the "
        "runner's lock)",
    ),
    (
        re.compile(r"\b(?:GET_LOCK|RELEASE_LOCK|RELEASE_ALL_LOCKS)\s*\("),
        "named locks (GET_LOCK, RELEASE_LOCK) would release or stack the runner's migration lock",
    ),
]
_COMPOUND = re.compile(
    r"^(?:CREATE (?:OR REPLACE )?(?:DEFINER ?= ?\S+ )?(?:AGGREGATE )?(?:TRIGGER|PROCEDURE|FUNCTION|EVENT|PACKAGE)\b"
    r"|BEGIN NOT ATOMIC\b)"
)
_DELIMITER = re.compile(r"(?im)^\s*DELIMITER\b")

# MongoDB declarative operations and the arguments each needs.
OPERATIONS = {
    "create_collection": ("name",),
    "create_index": ("collection", "keys", "name"),
    "drop_index": ("collection", "name"),
    "update_many": ("collection", "update"),
    "rename_collection": ("from", "to"),
}


class MigrationError(Exception):
    """A migration problem; the message is one line naming the database, the script (file:line) and the fix.

    STATE is the database's state when the error says something about it (failed, interrupted, in_progress);
    BLOCKING the history row at fault (a dict, see row_summary).
    """

    def __init__(self, msg, state=None, blocking=None):
        super(MigrationError, self).__init__(msg)
        self.state = state
        self.blocking = blocking


class Statement(str):
    """One SQL statement (its text as sent to the server) and the line of the file where it starts."""

    def __new__(cls, text, line, check=""):
        obj = str.__new__(cls, text)
        obj.line = line
        obj.check = check
        return obj


class Script(object):
    """One migration file."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        match = MIGRATION_RE.match(self.name)
        if not match or self.name != self.name.strip():
            raise MigrationError("%s is not named V<NNN>__<description>.<sql|yml|py>: rename it" % path)
        self.version = int(match.group(1))
        self.description = match.group(2).replace("_", " ")
        self.kind = match.group(3)
        with open(path, "rb") as handle:
            self.raw = handle.read()
        self.checksum = checksum(self.raw)
        self._prepared = None

    def text(self):
        try:
            return self.raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            line = self.raw[: err.start].count(b"\n") + 1
            raise MigrationError("%s: not valid UTF-8: save the script as UTF-8" % self.where(line))

    def where(self, line=None):
        return self.path if line is None else "%s:%d" % (self.path, line)

    def prepare(self):
        """Read and check the whole script before anything runs: SQL statements, declarative operations, or
        compiled Python. Raises MigrationError naming <file>:<line>."""
        if self._prepared is None:
            if self.kind == "sql":
                self._prepared = split_sql(self.text(), self.path)
            elif self.kind == "yml":
                self._prepared = parse_operations(self.text(), self.path)
            else:
                try:
                    self._prepared = compile(self.text(), self.path, "exec")
                except SyntaxError as err:
                    raise MigrationError(
                        "%s: Python syntax error (%s): fix the script" % (self.where(err.lineno or 1), err.msg)
                    )
        return self._prepared


def checksum(raw):
    """sha256 of a script normalised for line endings, trailing blanks and a byte-order mark."""
    text = raw.decode("utf-8-sig", "surrogateescape")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def check_name(kind, value):
    if not NAME_RE.match(str(value or "")):
        raise MigrationError("%s '%s' must be letters, digits and underscores only" % (kind, value))
    return value


def load_scripts(directory, kinds, listed=None):
    """Read the scripts of one database, in version order. Only files of KINDS (extensions) are allowed.

    LISTED, when given, is the release manifest's list of file names in apply order: exactly those run, a file of
    the directory that is not listed is refused, and so is a listed file that is missing.
    """
    if listed is not None:
        return _load_listed(directory, kinds, listed)
    if not os.path.isdir(directory):
        raise MigrationError("migrations directory %s does not exist: check migrations_dir" % directory)
    scripts = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        scripts.append(_script(path, kinds))
    scripts.sort(key=lambda s: s.version)
    _no_shared_versions(scripts)
    return scripts


def _script(path, kinds):
    script = Script(path)
    if script.kind not in kinds:
        raise MigrationError(
            "%s: .%s scripts are not allowed for this engine (only .%s)" % (path, script.kind, ", .".join(kinds))
        )
    return script


def _no_shared_versions(scripts):
    for i in range(1, len(scripts)):  # no zip(strict=)/pairwise: the managed host's Python may be 3.6
        a, b = scripts[i - 1], scripts[i]
        if a.version == b.version:
            raise MigrationError("%s and %s share version V%03d: give each its own" % (a.path, b.path, a.version))


def _load_listed(directory, kinds, listed):
    names = []
    for i, name in enumerate(listed):
        name = str(name)
        if not MIGRATION_RE.match(name) or os.path.basename(name) != name:
            raise MigrationError(
                "scripts[%d] %r is not a migration file name V<NNN>__<description>.<sql|yml|py>: fix the release "
                "manifest's migrations" % (i, name)
            )
        if name in names:
            raise MigrationError("scripts lists %s twice: fix the release manifest's migrations" % name)
        names.append(name)
    if not names and not os.path.isdir(directory):
        return []
    if not os.path.isdir(directory):
        raise MigrationError(
            "migrations directory %s does not exist, but the release manifest lists %d script(s) for it (%s): "
            "reinstall the release" % (directory, len(names), names[0])
        )
    present = sorted(os.listdir(directory))
    for entry in present:
        if entry not in names:
            raise MigrationError(
                "%s is not listed in the release manifest's migrations: only listed scripts run; remove the file or "
                "use a release that lists it" % os.path.join(directory, entry)
            )
    scripts = []
    for name in names:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise MigrationError(
                "%s is listed in the release manifest's migrations but missing: reinstall the release" % path
            )
        scripts.append(_script(path, kinds))
    for i in range(1, len(scripts)):
        a, b = scripts[i - 1], scripts[i]
        if b.version <= a.version:
            raise MigrationError(
                "scripts lists %s after %s: list the release manifest's migrations in version order" % (b.name, a.name)
            )
    return scripts


# --- history -----------------------------------------------------------------------------------------------------


def row_state(row):
    """The state of one history row; rows written before states existed have only `success`."""
    state = row.get("state")
    if state:
        return state
    return SUCCESS if row.get("success") else FAILED


def row_summary(row):
    """What a refusal or the module's result says about a history row (never an error's row values: see below)."""
    if row is None:
        return None
    return {
        "version": int(row["version"]),
        "script": row.get("script"),
        "state": row_state(row),
        "started_on": row.get("installed_on"),
        "finished_on": row.get("finished_on"),
        "release": row.get("release"),
        "runner": row.get("runner"),
        "error": row.get("error"),
    }


def unresolved(history):
    """The rows of HISTORY still failed or running, in history order."""
    return [r for r in history if row_state(r) in UNRESOLVED_STATES]


def history_state(history):
    """(state, blocking row) of a database from its history alone: clean, failed or interrupted.

    A running row means the run that wrote it was killed or lost its connection, unless that run still holds the
    lock (the module checks that, and reports in_progress).
    """
    rows = unresolved(history)
    if not rows:
        return CLEAN, None
    row = rows[0]
    return (INTERRUPTED if row_state(row) == RUNNING else FAILED), row


def schema_version(history):
    """Highest version that counts as applied (success, or repaired as applied)."""
    done = [int(r["version"]) for r in history if row_state(r) in APPLIED_STATES]
    return max(done) if done else None


def repair_command(engine, database, version):
    return (
        "followup-ops migrations repair -i INVENTORY --engine %s --database %s --version %d "
        "--resolution applied|not_applied --reason TEXT --approved-by NAME" % (engine, database, version)
    )


def recovery(engine, database, version):
    """The two ways out of a failed or interrupted migration, in one line."""
    return (
        "restore %s from the backup taken before the migration and retry, or fix it by hand and record the repair "
        "(playbooks/repair_migration.yml): %s" % (database, repair_command(engine, database, version))
    )


def refusal(engine, database, row, holder=None):
    """The one-line refusal for an unresolved row. HOLDER describes a live run holding the lock, if any."""
    state = row_state(row)
    version = int(row["version"])
    script = row.get("script") or "V%03d" % version
    started = row.get("installed_on")
    by = (" by %s" % row["runner"]) if row.get("runner") else ""
    if state == RUNNING and holder:
        return MigrationError(
            "%s: migration %s is being applied by another run (started %s UTC%s; lock held by %s): let it finish, "
            "then retry" % (database, script, started, by, holder),
            IN_PROGRESS,
            row_summary(row),
        )
    if state == RUNNING:
        return MigrationError(
            "%s: migration %s was interrupted (started %s UTC%s and never finished: the run was killed or lost its "
            "connection, so how much of it ran is unknown): %s"
            % (database, script, started, by, recovery(engine, database, version)),
            INTERRUPTED,
            row_summary(row),
        )
    error = row.get("error") or "no details recorded"
    return MigrationError(
        "%s: migration %s failed (%s UTC: %s) and is not resolved: %s"
        % (database, script, row.get("finished_on") or started, error, recovery(engine, database, version)),
        FAILED,
        row_summary(row),
    )


def plan(scripts, history, release=None, database="the database", engine="mysql"):
    """Compare the scripts of a release with the database's history; return the scripts still to apply.

    Refuses, naming the script: a failed or interrupted migration not yet resolved, an applied script whose file
    changed, an applied version the release does not carry (the database is newer than the release), and a gap (a
    later version applied before an earlier one).
    """
    rows = unresolved(history)
    if rows:
        raise refusal(engine, database, rows[0])
    by_version = dict((s.version, s) for s in scripts)
    applied = {}
    for row in history:
        if row_state(row) in APPLIED_STATES:
            applied[int(row["version"])] = row
    for version, row in sorted(applied.items()):
        script = by_version.get(version)
        if script is None:
            raise MigrationError(
                "%s has migration V%03d (%s), which release %s does not carry: the database is newer than the "
                "release; deploy a release at least as new, or restore the backup taken before the newer one"
                % (database, version, row.get("script"), release or "?")
            )
        if row.get("checksum") != script.checksum:
            raise MigrationError(
                "%s was changed after it was applied to %s (checksum %s, now %s): a release may not alter an applied "
                "migration; use the release's original file"
                % (script.path, database, row.get("checksum"), script.checksum)
            )
    pending = [s for s in scripts if s.version not in applied]
    if pending and applied and pending[0].version < max(applied):
        raise MigrationError(
            "%s is older than V%03d, already applied to %s, but was never applied: out-of-order migrations are "
            "refused; restore the backup taken before V%03d or ask the vendor for a corrected release"
            % (pending[0].path, max(applied), database, max(applied))
        )
    return pending


def validate_repair(repair, repaired_by=None):
    """Refuse a repair request without a reason or an approver, or approved by the person making it."""
    needs = (
        ("reason", "why the migration may be marked resolved (what was fixed by hand)"),
        ("approved_by", "who approved it"),
    )
    for field, what in needs:
        if not str(repair.get(field) or "").strip():
            raise MigrationError("repair.%s is empty: a repair must say %s" % (field, what))
    by = str(repaired_by or repair.get("repaired_by") or "").strip()
    if by and by.lower() == str(repair["approved_by"]).strip().lower():
        raise MigrationError(
            "repair.approved_by is %s, who also makes the repair (repair.repaired_by): another person must approve it"
            % by
        )
    if repair.get("resolution") not in RESOLUTIONS:
        raise MigrationError("repair.resolution must be applied or not_applied")


def check_repair(history, repair, database):
    """Validate a repair request against the history; return (row to repair, its new state).

    REPAIR: version, resolution (applied | not_applied), reason, approved_by, repaired_by. Only the failed or running
    row of a version can be repaired.
    """
    validate_repair(repair)
    version = int(repair["version"])
    rows = [r for r in history if int(r["version"]) == version]
    if not rows:
        raise MigrationError(
            "%s has no history row for V%03d: nothing to repair (check repair.version)" % (database, version)
        )
    open_rows = [r for r in rows if row_state(r) in UNRESOLVED_STATES]
    if not open_rows:
        raise MigrationError(
            "%s: V%03d (%s) is %s, not failed or running: nothing to repair (only a failed or interrupted migration "
            "can be marked resolved)" % (database, version, rows[-1].get("script"), row_state(rows[-1]))
        )
    return open_rows[-1], RESOLUTIONS[repair["resolution"]]


# --- errors without row values -----------------------------------------------------------------------------------

# MySQL errors whose text quotes row values (a duplicate key, a bad value, a foreign key): only the code and a
# generic reason are kept. The errors of IDENTIFIER_ONLY name tables, columns and keys, never values, and keep
# the server's text; every other code keeps only the code.
MYSQL_REASONS = {
    1048: "NULL in a column that does not allow it",
    1062: "a duplicate value for a unique key",
    1064: "an SQL syntax error",
    1114: "the table is full",
    1205: "a lock wait timeout",
    1213: "a deadlock (the statement was rolled back)",
    1216: "a row refers to a parent row that does not exist (foreign key)",
    1217: "a row is still referred to by another table (foreign key)",
    1264: "a value out of range for its column",
    1265: "data truncated for a column",
    1292: "an incorrect date or time value",
    1317: "the query was interrupted (KILL QUERY)",
    1366: "an incorrect value for a column",
    1367: "an illegal value",
    1406: "a value too long for its column",
    1411: "an incorrect value for a function",
    1451: "a row is still referred to by another table (foreign key)",
    1452: "a row refers to a parent row that does not exist (foreign key)",
    1586: "a duplicate value for a unique key",
    1644: "the statement raised an error (SIGNAL)",
    1690: "a value out of range",
    1969: "the statement ran past its time limit",
    3024: "the statement ran past its time limit",
    3819: "a CHECK constraint failed",
    4025: "a CHECK constraint failed",
    1927: "the server killed the connection",
    2003: "the server cannot be reached",
    2006: "the server has gone away",
    2013: "the connection was lost during the statement",
    2055: "the connection was lost",
}
IDENTIFIER_ONLY = frozenset(
    (
        1005,
        1025,
        1044,
        1049,
        1050,
        1051,
        1054,
        1060,
        1061,
        1068,
        1072,
        1091,
        1109,
        1142,
        1143,
        1146,
        1215,
        1227,
        1304,
        1359,
        1822,
        1826,
    )
)
# Client-side codes (and server kills) after which the connection is gone: the runner cannot know what the
# server did with the statement in flight.
MYSQL_CONNECTION_LOST = frozenset((0, 1927, 2003, 2006, 2013, 2055))

MONGO_REASONS = {
    2: "a bad value in the operation",
    13: "the account lacks the right",
    14: "a value of the wrong type",
    26: "the collection does not exist",
    48: "the collection already exists",
    50: "the operation ran past its time limit",
    67: "the index cannot be created",
    85: "an index with these keys exists under another name or options",
    86: "an index with this name exists with other keys",
    121: "a document failed validation",
    11000: "a duplicate value for a unique index",
}


def one_line(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mysql_error_code(err):
    args = getattr(err, "args", ()) or ()
    return args[0] if args and isinstance(args[0], int) else None


def mysql_reason(err):
    """'MySQL error 1062 (a duplicate value for a unique key)': the code and a reason, never a row value."""
    code = mysql_error_code(err)
    if code is None:
        return "MySQL error (%s)" % type(err).__name__
    if code in IDENTIFIER_ONLY and len(err.args) > 1:
        return "MySQL error %d: %s" % (code, one_line(err.args[1]))
    reason = MYSQL_REASONS.get(code)
    if reason:
        return "MySQL error %d (%s)" % (code, reason)
    return "MySQL error %d (its text is not shown: it may quote row values)" % code


def mongo_reason(err):
    """The code and a reason of a MongoDB error, or the type of a Python script's exception: never its text."""
    code = getattr(err, "code", None)
    details = getattr(err, "details", None) or {}
    if isinstance(code, int):
        name = details.get("codeName") if isinstance(details, dict) else None
        label = "%d %s" % (code, name) if name else "%d" % code
        reason = MONGO_REASONS.get(code, "its text is not shown: it may quote document values")
        return "MongoDB error %s (%s)" % (label, reason)
    return "%s raised (its text is not shown: it may quote document values)" % type(err).__name__


def script_line(err, script):
    """The line of SCRIPT (a Python migration) where ERR was raised, from its traceback; None when not in it."""
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == script.path]
    return lines[-1] if lines else None


# --- SQL ---------------------------------------------------------------------------------------------------------


def _as_checked(text, i, end):
    """How the check reads the quoted text TEXT[I:END]: a string's contents are data and blanked; an identifier
    (backticks, or double quotes under ANSI_QUOTES) keeps its name's letters, but none of its punctuation."""
    quote = text[i]
    if quote == "'":
        return "''"
    return quote + re.sub(r"[^\w$]", "_", text[i + 1 : end - 1]) + quote


def _quoted(text, i, where, line):
    """Index after the quoted string or identifier opening at I."""
    quote = text[i]
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if ch == "\\" and quote != "`":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and text[j + 1] == quote:  # doubled quote inside the string
                j += 2
                continue
            return j + 1
        j += 1
    raise MigrationError("%s:%d: an unterminated %s quote: close it" % (where, line, quote))


def _executable_comment(text, i, where, line):
    """(index after the */, its content with strings blanked) of the /*! */ or /*+ */ comment opening at I."""
    match = EXECUTABLE_COMMENT_RE.match(text, i)
    j = match.end() if match else i + 3
    inner = []
    n = len(text)
    while j < n:
        ch = text[j]
        if ch in QUOTES:
            end = _quoted(text, j, where, line + text.count("\n", i, j))
            inner.append(_as_checked(text, j, end))
            j = end
            continue
        if ch == "*" and j + 1 < n and text[j + 1] == "/":
            return j + 2, "".join(inner)
        inner.append(ch)
        j += 1
    raise MigrationError("%s:%d: an unterminated /*! comment */: close it" % (where, line))


def split_sql(text, where="the SQL"):
    """Split SQL text into Statements on ';' outside quotes and comments, refusing what migrations may not do.

    `--` and `#` line comments and `/* */` comments are dropped; `/*! */`, `/*M! */` (SQL the server runs) and
    `/*+ */` (optimizer hints) are kept whole, even when they hold a ';'. Each statement keeps the line where it
    starts. Refused, with <file>:<line>: DELIMITER, compound statements, and every statement that controls the
    transaction, autocommit, the database or the named locks (also when a /*! */ comment hides it).
    """
    statements = []
    buf = []
    chk = []
    start = [None]
    line = 1
    i = 0
    n = len(text)

    def flush():
        statement = "".join(buf).strip()
        if statement:
            statements.append(Statement(statement, start[0], "".join(chk)))
        del buf[:]
        del chk[:]
        start[0] = None

    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\n":
            line += 1
            buf.append(ch)
            chk.append(ch)
            i += 1
        elif ch.isspace():
            buf.append(ch)
            chk.append(" ")
            i += 1
        elif ch in QUOTES:
            if start[0] is None:
                start[0] = line
            end = _quoted(text, i, where, line)
            buf.append(text[i:end])
            chk.append(_as_checked(text, i, end))
            line += text.count("\n", i, end)
            i = end
        elif ch == "#" or (ch == "-" and nxt == "-" and (i + 2 >= n or text[i + 2].isspace())):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch == "/" and nxt == "*":
            executable = EXECUTABLE_COMMENT_RE.match(text, i)
            if executable or text.startswith("/*+", i):
                if start[0] is None:
                    start[0] = line
                end, inner = _executable_comment(text, i, where, line)
                buf.append(text[i:end])
                chk.append(" %s " % inner if executable else " ")
            else:
                close = text.find("*/", i + 2)
                if close < 0:
                    raise MigrationError("%s:%d: an unterminated /* comment */: close it" % (where, line))
                end = close + 2
                buf.append(" ")
                chk.append(" ")
            line += text.count("\n", i, end)
            i = end
        elif ch == ";":
            flush()
            i += 1
        else:
            if start[0] is None:
                start[0] = line
            buf.append(ch)
            chk.append(ch)
            i += 1
    flush()
    for statement in statements:
        _refuse_what_migrations_may_not_do(statement, where)
    return statements


def _refuse_what_migrations_may_not_do(statement, where):
    at = "%s:%d" % (where, statement.line)
    hidden = " (inside a /*! */ comment, which the server runs)" if "/*!" in statement or "/*M!" in statement else ""
    if _DELIMITER.search(statement.check):
        raise MigrationError(
            "%s: DELIMITER is a command of the mysql client, not SQL: migrations hold plain statements ended by ';'"
            % at
        )
    for piece in statement.check.split(";"):
        norm = " ".join(piece.split()).upper()
        if not norm:
            continue
        if _COMPOUND.match(norm):
            raise MigrationError(
                "%s: '%s...' is a compound statement (trigger, procedure, function, event or BEGIN NOT ATOMIC)%s, "
                "which migrations cannot split safely: do it with plain statements" % (at, norm[:40], hidden)
            )
        for pattern, why in _CONTROL:
            if pattern.search(norm):
                raise MigrationError(
                    "%s: '%s' is refused%s: %s, and the runner controls the transaction itself (a script's data "
                    "changes and its history row commit together): remove it" % (at, norm[:40], hidden, why)
                )


# --- MongoDB declarative scripts ---------------------------------------------------------------------------------


def _operation_lines(text):
    """Line of each item of `operations` (1-based), from the YAML node tree; empty when it cannot be told."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "operations" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def parse_operations(text, where="the script"):
    """The operations of a declarative MongoDB script: a list of (index, kind, args, line). Checks them all."""
    if not HAS_YAML:  # pragma: no cover - the module reports PyYAML missing before this
        raise MigrationError("PyYAML is missing: install python3-yaml")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise MigrationError(
            "%s:%d: not valid YAML: fix the script" % (where, (mark.line + 1) if mark is not None else 1)
        )
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        raise MigrationError("%s: 'operations' must be a list of operations" % where)
    lines = _operation_lines(text)
    result = []
    for i, op in enumerate(data["operations"]):
        line = lines[i] if i < len(lines) else 1
        at = "%s:%d" % (where, line)
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in OPERATIONS:
            raise MigrationError("%s: operations[%d] must be one of %s" % (at, i, ", ".join(sorted(OPERATIONS))))
        ((kind, args),) = op.items()
        if not isinstance(args, dict):
            raise MigrationError("%s: operations[%d] (%s) needs a mapping of arguments" % (at, i, kind))
        for key in OPERATIONS[kind]:
            if args.get(key) in (None, "", [], {}):
                raise MigrationError("%s: operations[%d] (%s) lacks '%s'" % (at, i, kind, key))
        if kind == "create_index":
            keys = args["keys"]
            if not isinstance(keys, list) or not all(
                isinstance(k, list) and len(k) == 2 and k[1] in (1, -1) for k in keys
            ):
                raise MigrationError(
                    "%s: operations[%d] (create_index) keys must be a list of [field, 1 or -1]" % (at, i)
                )
        if kind == "update_many" and not isinstance(args["update"], dict):
            raise MigrationError("%s: operations[%d] (update_many) update must be a mapping" % (at, i))
        result.append((i, kind, args, line))
    return result
