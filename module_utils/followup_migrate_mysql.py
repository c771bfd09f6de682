# -*- coding: utf-8 -*-
# MySQL/MariaDB runner of followup schema migrations: history table, advisory lock, statements.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.module_utils.followup_db import ConnectError, mysql_connect, pymysql
from ansible.module_utils.followup_migrations import HISTORY, MigrationError, split_sql

HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS `%s` ("
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
    " KEY ix_version (version)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" % HISTORY
)
LOCK_TIMEOUT = 30


class MySQLRunner(object):
    def __init__(self, database, params):
        self.database = database
        try:
            self.conn = mysql_connect(params, database, autocommit=False)
        except ConnectError as err:
            raise MigrationError(str(err))
        user = params["login_user"]
        self.user = user
        self.locked = False

    def _query(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def _read(self, sql, args=None):
        """A query of the runner's own (history, lock): a failure becomes one line naming the database."""
        try:
            return self._query(sql, args)
        except pymysql.MySQLError as err:
            raise MigrationError(
                "reading the migration state of %s failed (%s): check the server and the rights of %s"
                % (self.database, err.args[-1] if err.args else err, self.user)
            )

    def history_exists(self):
        rows = self._read(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.database, HISTORY),
        )
        return rows[0][0] > 0

    def history(self):
        if not self.history_exists():
            return []
        rows = self._read(
            "SELECT version, script, checksum, success, release_version, installed_on "  # noqa: S608 - constant name
            "FROM `%s` ORDER BY installed_rank" % HISTORY
        )
        return [
            {
                "version": r[0],
                "script": r[1],
                "checksum": r[2],
                "success": bool(r[3]),
                "release": r[4],
                "installed_on": str(r[5]),
            }
            for r in rows
        ]

    def lock(self):
        got = self._read("SELECT GET_LOCK(%s, %s)", ("followup_migrate." + self.database, LOCK_TIMEOUT))[0][0]
        if got != 1:
            raise MigrationError(
                "another migration of %s holds the lock (waited %ds): let it finish, then retry"
                % (self.database, LOCK_TIMEOUT)
            )
        self.locked = True

    def unlock(self):
        if self.locked:
            self._query("SELECT RELEASE_LOCK(%s)", ("followup_migrate." + self.database,))
            self.locked = False

    def ensure_history(self):
        self._read(HISTORY_DDL)
        self.conn.commit()

    def _record(self, script, release, ms, success, commit=True):
        self._query(
            "INSERT INTO `%s` (version, description, script, checksum, release_version, installed_by, "  # noqa: S608
            "execution_ms, success) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s, %%s)" % HISTORY,
            (
                script.version,
                script.description[:200],
                script.name,
                script.checksum,
                release,
                self.user,
                ms,
                int(success),
            ),
        )
        if commit:
            self.conn.commit()

    def apply(self, script, release):
        """Run one script: its DML commits with its history row; MySQL commits each DDL statement by itself."""
        statements = split_sql(script.text())
        started = time.monotonic()
        done = 0
        try:
            for statement in statements:
                self._query(statement)
                done += 1
            # The script's data changes and its history row commit together.
            self._record(script, release, int((time.monotonic() - started) * 1000), True, commit=False)
            self.conn.commit()
        except pymysql.MySQLError as err:
            self.conn.rollback()
            ms = int((time.monotonic() - started) * 1000)
            self._record(script, release, ms, False)
            raise MigrationError(
                "migration %s failed at statement %d of %d (%s); %d statement(s) before it ran, and MySQL keeps any "
                "DDL among them: restore the pre-deploy backup of %s before retrying"
                % (script.name, done + 1, len(statements), err.args[-1] if err.args else err, done, self.database)
            )
        return int((time.monotonic() - started) * 1000)

    def close(self):
        """Release the lock and the connection; never hide the error that brought us here."""
        try:
            self.unlock()
        except pymysql.MySQLError:
            pass  # a dead connection has released its GET_LOCK already
        finally:
            self.conn.close()
