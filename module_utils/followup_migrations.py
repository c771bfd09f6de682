# -*- coding: utf-8 -*-
# Schema migrations of the follow-up system's databases: reading scripts, checksums, SQL statements,
# and the history/plan logic shared by the MySQL and MongoDB runners (docs/releases.md, "Migrations").
# Pure Python, so it is unit-tested without a database.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

MIGRATION_RE = re.compile(r"^V(\d{3,})__([A-Za-z0-9_]+)\.(sql|yml|py)$")
HISTORY = "followup_schema_history"
TRANSACTION_RE = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK)(\s+WORK)?\s*$", re.IGNORECASE)
COMPOUND_RE = re.compile(
    r"^\s*(CREATE\s+(OR\s+REPLACE\s+)?(DEFINER\s*=\s*\S+\s+)?(TRIGGER|PROCEDURE|FUNCTION|EVENT)\b|BEGIN\s+NOT\s+ATOMIC)",
    re.IGNORECASE,
)


class MigrationError(Exception):
    """A migration problem; the message names the script or the database and the fix."""


class Script(object):
    """One migration file."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        match = MIGRATION_RE.match(self.name)
        if not match:
            raise MigrationError("%s is not named V<NNN>__<description>.<sql|yml|py>" % path)
        self.version = int(match.group(1))
        self.description = match.group(2).replace("_", " ")
        self.kind = match.group(3)
        with open(path, "rb") as handle:
            self.raw = handle.read()
        self.checksum = checksum(self.raw)

    def text(self):
        return self.raw.decode("utf-8-sig")

    def as_dict(self):
        return {
            "version": self.version,
            "script": self.name,
            "description": self.description,
            "checksum": self.checksum,
        }


def checksum(raw):
    """sha256 of a script normalised for line endings, trailing blanks and a byte-order mark."""
    text = raw.decode("utf-8-sig")
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def load_scripts(directory, kinds):
    """Read the scripts of one database, in version order. Only files of KINDS (extensions) are allowed."""
    if not os.path.isdir(directory):
        raise MigrationError("migrations directory %s does not exist" % directory)
    scripts = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        script = Script(path)
        if script.kind not in kinds:
            raise MigrationError(
                "%s: .%s scripts are not allowed here (only %s)" % (path, script.kind, ", ".join(kinds))
            )
        scripts.append(script)
    scripts.sort(key=lambda s: s.version)
    for i in range(1, len(scripts)):
        a, b = scripts[i - 1], scripts[i]
        if a.version == b.version:
            raise MigrationError("%s and %s share version V%03d" % (a.path, b.path, a.version))
    return scripts


def plan(scripts, history, release=None):
    """Compare the scripts of a release with the database's history; return the scripts still to apply.

    HISTORY is a list of dicts with version, script, checksum, success (as stored). Refuses, naming the script:
    a failed migration not yet resolved, an applied script whose file changed, an applied version the release
    does not carry (the database is newer than the release), and a gap (a later version applied before an
    earlier one).
    """
    by_version = dict((s.version, s) for s in scripts)
    applied = {}
    for row in history:
        if not row.get("success"):
            raise MigrationError(
                "migration V%03d (%s) failed earlier and was never resolved: restore the pre-deploy backup or repair "
                "the history table %s, then retry" % (int(row["version"]), row.get("script"), HISTORY)
            )
        applied[int(row["version"])] = row
    for version, row in sorted(applied.items()):
        script = by_version.get(version)
        if script is None:
            raise MigrationError(
                "the database has migration V%03d (%s), which release %s does not carry: the database is newer than "
                "the release; deploy a release at least as new, or roll back with its backup"
                % (version, row.get("script"), release or "?")
            )
        if row.get("checksum") != script.checksum:
            raise MigrationError(
                "migration %s was changed after it was applied (checksum %s, now %s): a release may not alter an "
                "applied migration" % (script.path, row.get("checksum"), script.checksum)
            )
    pending = [s for s in scripts if s.version not in applied]
    if pending and applied and pending[0].version < max(applied):
        raise MigrationError(
            "migration %s is older than the applied V%03d but was never applied: out-of-order migrations are refused"
            % (pending[0].path, max(applied))
        )
    return pending


def schema_version(history):
    done = [int(r["version"]) for r in history if r.get("success")]
    return max(done) if done else None


def split_sql(text):
    """Split SQL text into statements on ';' outside quotes and comments. Comments are dropped."""
    statements = []
    buf = []
    i = 0
    n = len(text)
    quote = None
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if quote:
            buf.append(ch)
            if ch == "\\" and quote in ("'", '"'):
                if nxt:
                    buf.append(nxt)
                i += 2
                continue
            if ch == quote:
                if nxt == quote:  # doubled quote inside a string
                    buf.append(nxt)
                    i += 2
                    continue
                quote = None
            i += 1
            continue
        if ch in ("'", '"', "`"):
            quote = ch
            buf.append(ch)
        elif ch == "#" or (ch == "-" and nxt == "-" and (i + 2 >= n or text[i + 2] in " \t\r\n")):
            end = text.find("\n", i)
            i = n if end < 0 else end
            buf.append("\n")
            continue
        elif ch == "/" and nxt == "*" and text[i + 2 : i + 3] not in ("!", "+"):
            # /*! version-conditional */ and /*+ optimizer hint */ comments are SQL the server runs: kept below.
            end = text.find("*/", i + 2)
            if end < 0:
                raise MigrationError("an unterminated /* comment */ in the SQL")
            i = end + 2
            buf.append(" ")
            continue
        elif ch == ";":
            statement = "".join(buf).strip()
            if statement:
                statements.append(statement)
            buf = []
        else:
            buf.append(ch)
        i += 1
    if quote:
        raise MigrationError("an unterminated %s quote in the SQL" % quote)
    statement = "".join(buf).strip()
    if statement:
        statements.append(statement)
    for statement in statements:
        if statement.upper().startswith("DELIMITER"):
            raise MigrationError("DELIMITER is not supported in migrations (no stored procedures)")
        if TRANSACTION_RE.match(statement):
            raise MigrationError(
                "'%s' controls the transaction, which the migration runner does itself: remove it" % statement[:40]
            )
        if COMPOUND_RE.match(statement):
            raise MigrationError(
                "'%s...' is a compound statement (trigger, procedure, function or event with BEGIN...END), which "
                "migrations cannot split safely: do it with plain statements" % statement[:40]
            )
    return statements
