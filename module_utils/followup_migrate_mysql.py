# -*- coding: utf-8 -*-
# MySQL/MariaDB runner of followup schema migrations: the history table (and its own schema, brought forward from
# the first format, which had only `success`), the repairs table, the advisory lock, and the scripts' statements.
#
# One connection does everything, so GET_LOCK dies with it: a killed run's lock is released by the server as soon
# as it ends that connection (when the statement in flight ends). A script's history row is committed as `running`
# before its first statement, and turned into `success` in the same transaction as its last data changes.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import socket
import time

from ansible.module_utils.followup_db import ConnectError, mysql_connect, pymysql
from ansible.module_utils.followup_migrations import (
    FAILED,
    HISTORY,
    IN_PROGRESS,
    INTERRUPTED,
    MYSQL_CONNECTION_LOST,
    REPAIRED_APPLIED,
    REPAIRS,
    RUNNING,
    SUCCESS,
    MigrationError,
    check_name,
    mysql_error_code,
    mysql_reason,
    recovery,
    row_state,
)

LOCK_TIMEOUT = 90
# The session the runner works in: UTC timestamps; and a server that loses sight of a vanished client host ends
# its connection (and the lock) within minutes, not after the 8-hour default (the runner never idles that long).
SESSION = "SET time_zone = '+00:00', wait_timeout = 300"

BASE_COLUMNS = (
    "installed_rank",
    "version",
    "script",
    "checksum",
    "success",
    "release_version",
    "installed_on",
)
# Columns added to the first format of the table (which had `success` only); NULL in the rows written before.
ADDED_COLUMNS = (
    ("state", "VARCHAR(24) NULL"),
    ("finished_on", "TIMESTAMP NULL DEFAULT NULL"),
    ("error", "VARCHAR(1000) NULL"),
    ("runner", "VARCHAR(255) NULL"),
)
HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS %s ("
    " installed_rank INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " version INT NOT NULL,"
    " description VARCHAR(200) NOT NULL,"
    " script VARCHAR(255) NOT NULL,"
    " checksum CHAR(64) NOT NULL,"
    " release_version VARCHAR(32) NULL,"
    " installed_by VARCHAR(128) NOT NULL,"
    " installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " execution_ms INT NOT NULL,"
    " success TINYINT(1) NOT NULL,"
    + "".join(" %s %s," % column for column in ADDED_COLUMNS)
    + " KEY ix_version (version)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)
REPAIRS_DDL = (
    "CREATE TABLE IF NOT EXISTS %s ("
    " repair_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " installed_rank INT NOT NULL,"
    " version INT NOT NULL,"
    " script VARCHAR(255) NOT NULL,"
    " state_before VARCHAR(24) NOT NULL,"
    " state_after VARCHAR(24) NOT NULL,"
    " error_before VARCHAR(1000) NULL,"
    " reason VARCHAR(1000) NOT NULL,"
    " approved_by VARCHAR(255) NOT NULL,"
    " repaired_by VARCHAR(255) NOT NULL,"
    " repaired_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " runner VARCHAR(255) NULL,"
    " KEY ix_version (version)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)


def process_identity():
    """host:pid of this run, written into the rows it makes, so that a refusal can say who left them."""
    return "%s:%d" % (socket.gethostname(), os.getpid())


def connection_lost(err):
    if isinstance(err, OSError):
        return True
    if pymysql is not None and isinstance(err, pymysql.err.InterfaceError):
        return True
    return mysql_error_code(err) in MYSQL_CONNECTION_LOST


def _keepalive(conn):
    """TCP keepalive of a few minutes, so that a server host that vanishes mid-statement ends the run with an
    error instead of a wait without end (Linux defaults to two hours)."""
    sock = getattr(conn, "_sock", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _ts(value):
    return None if value is None else str(value)


class MySQLRunner(object):
    engine = "mysql"

    def __init__(self, database, params, lock_timeout=LOCK_TIMEOUT):
        self.database = check_name("database", database)
        self.user = params["login_user"]
        self.lock_timeout = int(lock_timeout)
        self.lock_name = "followup_migrate." + database
        self.runner = process_identity()
        self.locked = False
        try:
            self.conn = mysql_connect(params, database, autocommit=False, init_command=SESSION)
        except ConnectError as err:
            raise MigrationError(str(err))
        _keepalive(self.conn)

    # --- the runner's own statements ---------------------------------------------------------------------------

    def _table(self, name):
        return "`%s`.`%s`" % (self.database, name)

    def _query(self, sql, args=None, count=False):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.rowcount if count else cur.fetchall()

    def _own(self, sql, args=None, doing="reading the migration state", count=False):
        """A statement of the runner's own: a failure becomes one line naming the database and what to check."""
        try:
            return self._query(sql, args, count)
        except (pymysql.MySQLError, OSError) as err:
            if connection_lost(err):
                raise MigrationError(
                    "%s: lost the connection to MySQL while %s (%s): check the server and the network, then retry"
                    % (self.database, doing, mysql_reason(err))
                )
            raise MigrationError(
                "%s: %s failed (%s): check the server and the rights of %s"
                % (self.database, doing, mysql_reason(err), self.user)
            )

    def _commit(self, doing):
        try:
            self.conn.commit()
        except (pymysql.MySQLError, OSError) as err:
            raise MigrationError(
                "%s: %s failed at the commit (%s): check the server, then retry"
                % (self.database, doing, mysql_reason(err))
            )

    # --- history -----------------------------------------------------------------------------------------------

    def _history_columns(self):
        rows = self._own(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (self.database, HISTORY),
        )
        return set(str(r[0]).lower() for r in rows)

    def history(self):
        """Every history row in apply order, whatever the table's format (an empty list when there is none)."""
        self._commit("reading the migration state")  # a fresh snapshot: see what other runs committed since
        columns = self._history_columns()
        if not columns:
            return []
        select = list(BASE_COLUMNS) + [name for name, _ in ADDED_COLUMNS if name in columns]
        rows = self._own(
            "SELECT %s FROM %s ORDER BY installed_rank" % (", ".join(select), self._table(HISTORY))  # noqa: S608
        )
        result = []
        for values in rows:
            r = dict((name, values[i]) for i, name in enumerate(select))
            result.append(
                {
                    "id": r["installed_rank"],
                    "version": r["version"],
                    "script": r["script"],
                    "checksum": r["checksum"],
                    "success": bool(r["success"]),
                    "release": r["release_version"],
                    "installed_on": _ts(r["installed_on"]),
                    "state": r.get("state"),
                    "finished_on": _ts(r.get("finished_on")),
                    "error": r.get("error"),
                    "runner": r.get("runner"),
                }
            )
        return result

    def ensure_history(self):
        """Create the history table, or bring an older one's columns forward. Returns True when it changed it.

        Plain ADD COLUMN after a look at information_schema (MySQL has no ADD COLUMN IF NOT EXISTS), so it works on
        MySQL 5.7, 8.0 and MariaDB 10.x. Rows written before states existed get theirs from `success`.
        """
        columns = self._history_columns()
        doing = "upgrading the history table %s" % HISTORY
        if not columns:
            self._own(HISTORY_DDL % self._table(HISTORY), doing=doing)
            changed = True
        else:
            missing = [(name, kind) for name, kind in ADDED_COLUMNS if name not in columns]
            if missing:
                self._own(
                    "ALTER TABLE %s %s"
                    % (self._table(HISTORY), ", ".join("ADD COLUMN %s %s" % column for column in missing)),
                    doing=doing,
                )
            self._own(
                "UPDATE %s SET state = IF(success = 1, 'success', 'failed') WHERE state IS NULL"  # noqa: S608
                % self._table(HISTORY),
                doing=doing,
            )
            changed = bool(missing)
        self._commit(doing)
        return changed

    # --- lock --------------------------------------------------------------------------------------------------

    def lock_holder(self):
        """Who holds this database's migration lock, in words, or None when nobody else does."""
        rows = self._own("SELECT IS_USED_LOCK(%s), CONNECTION_ID()", (self.lock_name,), doing="reading the lock")
        holder, own = rows[0]
        if holder is None or holder == own:
            return None
        rows = self._own(
            "SELECT USER, HOST, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST WHERE ID = %s",
            (holder,),
            doing="reading the lock",
        )
        if not rows:
            return "MySQL connection %s (its details need the PROCESS privilege, which %s lacks)" % (holder, self.user)
        user, host, command, seconds, state = rows[0]
        return "MySQL connection %s (%s from %s, %s for %s s%s)" % (
            holder,
            user,
            host,
            command,
            seconds,
            (", " + state) if state else "",
        )

    def lock(self):
        got = self._own(
            "SELECT GET_LOCK(%s, %s)", (self.lock_name, self.lock_timeout), doing="taking the migration lock"
        )[0][0]
        if got == 1:
            self.locked = True
            return
        holder = self.lock_holder() or "a connection that has just let it go"
        running = [r for r in self.history() if row_state(r) == RUNNING]
        doing = (
            "; it is applying %s (started %s UTC by %s)"
            % (running[-1]["script"], running[-1]["installed_on"], running[-1]["runner"] or "?")
            if running
            else ""
        )
        raise MigrationError(
            "%s: another migration run holds the lock %s: %s%s; waited %d s: let it finish, then retry (a killed run's "
            "connection, and its lock, end when the statement it was running ends)"
            % (self.database, self.lock_name, holder, doing, self.lock_timeout),
            IN_PROGRESS,
        )

    def unlock(self):
        if self.locked:
            self._query("SELECT RELEASE_LOCK(%s)", (self.lock_name,))
            self.locked = False

    # --- applying ----------------------------------------------------------------------------------------------

    def _start(self, script, release):
        """The `running` row, committed before the script's first statement. Returns its installed_rank."""
        doing = "recording %s as running (nothing of it ran)" % script.name
        try:
            with self.conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO %s (version, description, script, checksum, release_version, installed_by, "  # noqa: S608
                    "execution_ms, success, state, runner) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, 0, 0, %%s, %%s)"
                    % self._table(HISTORY),
                    (
                        script.version,
                        script.description[:200],
                        script.name,
                        script.checksum,
                        release,
                        self.user,
                        RUNNING,
                        self.runner,
                    ),
                )
                rank = cur.lastrowid
        except (pymysql.MySQLError, OSError) as err:
            raise MigrationError(
                "%s: %s failed (%s): check the server, then retry" % (self.database, doing, mysql_reason(err))
            )
        self._commit(doing)
        return rank

    def _finish(self, rank, state, ms, error=None):
        with self.conn.cursor() as cur:
            # A script may have changed the connection's character set; the history is written in utf8mb4.
            cur.execute("SET NAMES utf8mb4")
            cur.execute(
                "UPDATE %s SET state = %%s, success = %%s, execution_ms = %%s, finished_on = CURRENT_TIMESTAMP, "  # noqa: S608
                "error = %%s WHERE installed_rank = %%s" % self._table(HISTORY),
                (state, int(state == SUCCESS), ms, error, rank),
            )
        self.conn.commit()

    def apply(self, script, release):
        """Run one script: its history row is committed as running first; its last data changes and the row's
        success commit together. MySQL commits each DDL statement by itself."""
        statements = script.prepare()
        rank = self._start(script, release)
        started = time.monotonic()
        done = 0
        try:
            for statement in statements:
                with self.conn.cursor() as cur:
                    cur.execute(statement)
                done += 1
        except (pymysql.MySQLError, OSError) as err:
            self._failed(script, rank, statements, done, err, started)
        ms = int((time.monotonic() - started) * 1000)
        try:
            self._finish(rank, SUCCESS, ms)
        except (pymysql.MySQLError, OSError) as err:
            raise MigrationError(
                "%s: %s ran to its end, but recording its success failed (%s): its history row is success if the "
                "commit reached the server, else still running (and its last data changes were rolled back); "
                "rerun to see which, and if it refuses: %s"
                % (self.database, script.name, mysql_reason(err), recovery(self.engine, self.database, script.version)),
                INTERRUPTED,
                {"version": script.version, "script": script.name, "state": RUNNING},
            )
        return ms

    def _failed(self, script, rank, statements, done, err, started):
        ms = int((time.monotonic() - started) * 1000)
        statement = statements[done]
        at = script.where(statement.line)
        position = "statement %d of %d" % (done + 1, len(statements))
        reason = mysql_reason(err)
        fix = recovery(self.engine, self.database, script.version)
        if connection_lost(err):
            raise MigrationError(
                "%s: lost the connection to MySQL while %s ran (at %s, %s; %s): its history row stays running, since "
                "how much of it the server applied is unknown: %s"
                % (self.database, script.name, at, position, reason, fix),
                INTERRUPTED,
                {"version": script.version, "script": script.name, "state": RUNNING, "error": None},
            )
        error = "%s at %s:%d (%s)" % (reason, script.name, statement.line, position)
        try:
            self.conn.rollback()
            self._finish(rank, FAILED, ms, error)
            state, recorded = FAILED, "its history row is failed"
        except (pymysql.MySQLError, OSError):
            state, recorded = INTERRUPTED, "recording the failure failed too, so its history row stays running"
        kept = (
            "; MySQL keeps the DDL among the %d statement(s) before it, their data changes were rolled back" % done
            if done
            else "; nothing of it ran"
        )
        raise MigrationError(
            "%s: migration %s failed at %s (%s): %s%s; %s: %s"
            % (self.database, script.name, at, position, reason, kept, recorded, fix),
            state,
            {
                "version": script.version,
                "script": script.name,
                "state": state if state == FAILED else RUNNING,
                "error": error,
            },
        )

    # --- repair ------------------------------------------------------------------------------------------------

    def repair(self, row, new_state, repair, repaired_by):
        """Mark a failed or running row resolved, and record who, why, who approved it and what it was before, in
        one transaction (the DDL that may create the tables comes first: MySQL commits DDL by itself)."""
        self.ensure_history()
        doing = "recording the repair of %s" % row["script"]
        self._own(REPAIRS_DDL % self._table(REPAIRS), doing=doing)
        before = row_state(row)
        self._own(
            "INSERT INTO %s (installed_rank, version, script, state_before, state_after, error_before, reason, "  # noqa: S608
            "approved_by, repaired_by, runner) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s)"
            % self._table(REPAIRS),
            (
                row["id"],
                row["version"],
                row["script"],
                before,
                new_state,
                row.get("error"),
                repair["reason"][:1000],
                repair["approved_by"][:255],
                repaired_by[:255],
                self.runner,
            ),
            doing=doing,
        )
        updated = self._own(
            "UPDATE %s SET state = %%s, success = %%s WHERE installed_rank = %%s AND state IN (%%s, %%s)"  # noqa: S608
            % self._table(HISTORY),
            (new_state, int(new_state == REPAIRED_APPLIED), row["id"], FAILED, RUNNING),
            doing=doing,
            count=True,
        )
        if updated != 1:
            self.conn.rollback()
            raise MigrationError(
                "%s: the history row of %s changed while it was being repaired: rerun the repair"
                % (self.database, row["script"])
            )
        self._commit(doing)

    def close(self):
        """Release the lock and the connection; never hide the error that brought us here."""
        try:
            self.unlock()
        except (pymysql.MySQLError, OSError):
            pass  # a dead connection has released its GET_LOCK already
        finally:
            with contextlib.suppress(Exception):
                self.conn.close()
