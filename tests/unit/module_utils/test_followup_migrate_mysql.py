"""The MySQL runner against a fake PyMySQL connection that records every statement: the running row is committed
before the script's first statement, success commits with the script's last data changes, a refused statement
makes the row failed, a lost connection leaves it running, the history table of the first format is brought
forward, the lock says who holds it, a repair is one transaction, and no error carries a row value."""

import socket

import pymysql
import pytest
from ansible.module_utils import followup_migrate_mysql as mm
from ansible.module_utils.followup_migrations import (
    FAILED,
    IN_PROGRESS,
    INTERRUPTED,
    REPAIRED_APPLIED,
    RUNNING,
    MigrationError,
    load_scripts,
)

ALL_COLUMNS = [*mm.BASE_COLUMNS, "description", "installed_by", "execution_ms"] + [c for c, _ in mm.ADDED_COLUMNS]
FIRST_FORMAT = [*mm.BASE_COLUMNS, "description", "installed_by", "execution_ms"]


class FakeConn:
    def __init__(self, columns=ALL_COLUMNS, rows=(), fail=None, lock=1, holder=None, processlist=()):
        self.log = []
        self.args = []
        self.columns = columns
        self.rows = list(rows)
        self.fail = dict(fail or {})
        self.lock = lock
        self.holder = holder
        self.processlist = list(processlist)
        self.lastrowid = None
        self.rowcount = 0

    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.log.append("COMMIT")
        self.args.append(None)

    def rollback(self):
        self.log.append("ROLLBACK")
        self.args.append(None)

    def close(self):
        self.log.append("CLOSE")
        self.args.append(None)

    def execute(self, sql, args):
        self.log.append(str(sql))
        self.args.append(args)
        self.rowcount = 1
        for key, exc in self.fail.items():
            if key in sql:
                raise exc
        if "information_schema.COLUMNS" in sql:
            return [(c,) for c in self.columns]
        if sql.startswith("SELECT installed_rank"):
            return self.rows
        if "GET_LOCK" in sql:
            return [(self.lock,)]
        if "IS_USED_LOCK" in sql:
            return [(self.holder, 5)]
        if "PROCESSLIST" in sql:
            return self.processlist
        if sql.startswith("INSERT"):
            self.lastrowid = 11
        return []

    def after(self, marker):
        """The statements logged after the first one containing MARKER."""
        index = next(i for i, s in enumerate(self.log) if marker in s)
        return self.log[index + 1 :]


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.result = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.result = self.conn.execute(sql, args)

    def fetchall(self):
        return self.result

    @property
    def lastrowid(self):
        return self.conn.lastrowid

    @property
    def rowcount(self):
        return self.conn.rowcount


PARAMS = {"login_user": "followup_migrate", "login_password": "pw", "login_host": "db", "login_port": 3306}


@pytest.fixture
def runner_for(monkeypatch):
    seen = {}

    def make(conn, **kwargs):
        def connect(params, database, **extra):
            seen.update(extra)
            return conn

        monkeypatch.setattr(mm, "mysql_connect", connect)
        runner = mm.MySQLRunner("cloud_followup", PARAMS, **kwargs)
        runner.session = seen
        return runner

    return make


@pytest.fixture
def script(tmp_path):
    (tmp_path / "V003__backfill.sql").write_text(
        "-- 回填 backfill\nALTER TABLE t ADD COLUMN c INT;\n\nUPDATE t SET c = 1;\nINSERT INTO t (id) VALUES (1);\n"
    )
    return load_scripts(str(tmp_path), ("sql",))[0]


def test_the_session_is_utc_and_ends_a_vanished_clients_connection_within_minutes(runner_for):
    runner = runner_for(FakeConn())
    assert runner.session["autocommit"] is False
    assert "time_zone = '+00:00'" in runner.session["init_command"]
    assert "wait_timeout = 300" in runner.session["init_command"]


def test_the_running_row_commits_before_the_first_statement_and_success_commits_with_the_data(runner_for, script):
    conn = FakeConn()
    runner = runner_for(conn)
    runner.apply(script, "1.1.0")
    insert = next(i for i, s in enumerate(conn.log) if s.startswith("INSERT INTO `cloud_followup`"))
    assert RUNNING in conn.args[insert] and "1.1.0" in conn.args[insert]
    assert conn.log[insert + 1] == "COMMIT"
    assert conn.log[insert + 2 : insert + 5] == [
        "ALTER TABLE t ADD COLUMN c INT",
        "UPDATE t SET c = 1",
        "INSERT INTO t (id) VALUES (1)",
    ]
    rest = conn.log[insert + 5 :]
    assert rest[0] == "SET NAMES utf8mb4" and rest[1].startswith("UPDATE `cloud_followup`.`followup_schema_history`")
    assert rest[2:] == ["COMMIT"], "the last data changes and the success row commit together"
    state, success, _ms, error, rank = conn.args[insert + 5 + 1]
    assert (state, success, error, rank) == ("success", 1, None, 11)


def test_a_refused_statement_rolls_back_and_records_failed_with_file_and_line_but_no_value(runner_for, script):
    err = pymysql.err.IntegrityError(1062, "Duplicate entry 'P0000042' for key 'uk_patients_patient_no'")
    conn = FakeConn(fail={"INSERT INTO t": err})
    runner = runner_for(conn)
    with pytest.raises(MigrationError) as caught:
        runner.apply(script, "1.1.0")
    msg = str(caught.value)
    assert caught.value.state == FAILED
    assert f"failed at {script.path}:5 (statement 3 of 3): MySQL error 1062 (a duplicate value for a unique key)" in msg
    assert "keeps the DDL among the 2 statement(s) before it" in msg and "its history row is failed" in msg
    assert "restore cloud_followup from the backup" in msg and "--database cloud_followup --version 3" in msg
    assert "P0000042" not in msg and "\n" not in msg
    assert conn.after("INSERT INTO t")[:2] == ["ROLLBACK", "SET NAMES utf8mb4"]
    state, success, _ms, error, _rank = conn.args[-2]
    assert (state, success) == ("failed", 0) and conn.log[-1] == "COMMIT"
    assert error == "MySQL error 1062 (a duplicate value for a unique key) at V003__backfill.sql:5 (statement 3 of 3)"
    assert caught.value.blocking["error"] == error


def test_a_lost_connection_leaves_the_running_row_and_says_so(runner_for, script):
    conn = FakeConn(fail={"UPDATE t": pymysql.err.OperationalError(2013, "Lost connection to MySQL server")})
    runner = runner_for(conn)
    with pytest.raises(MigrationError) as caught:
        runner.apply(script, "1.1.0")
    msg = str(caught.value)
    assert caught.value.state == INTERRUPTED and caught.value.blocking["state"] == RUNNING
    assert f"lost the connection to MySQL while V003__backfill.sql ran (at {script.path}:4, statement 2 of 3" in msg
    assert "its history row stays running" in msg and "\n" not in msg
    assert conn.after("UPDATE t") == [], "nothing is written after the connection is gone"


def test_a_failure_that_cannot_be_recorded_leaves_the_row_running(runner_for, script):
    conn = FakeConn(
        fail={
            "UPDATE t": pymysql.err.ProgrammingError(1146, "Table 'cloud_followup.t' doesn't exist"),
            "SET NAMES": pymysql.err.OperationalError(2006, "MySQL server has gone away"),
        }
    )
    with pytest.raises(MigrationError) as caught:
        runner_for(conn).apply(script, None)
    assert caught.value.state == INTERRUPTED
    assert "MySQL error 1146: Table 'cloud_followup.t' doesn't exist" in str(caught.value)
    assert "recording the failure failed too, so its history row stays running" in str(caught.value)


def test_a_refused_split_stops_before_anything_is_written(runner_for, tmp_path):
    (tmp_path / "V004__bad.sql").write_text("UPDATE t SET c = 2;\nCOMMIT AND CHAIN;\n")
    bad = load_scripts(str(tmp_path), ("sql",))[0]
    conn = FakeConn()
    with pytest.raises(MigrationError, match=r"V004__bad\.sql:2: 'COMMIT AND CHAIN' is refused"):
        runner_for(conn).apply(bad, None)
    assert not [s for s in conn.log if s.startswith(("INSERT", "UPDATE"))]


def test_history_of_the_first_format_is_read_and_brought_forward(runner_for):
    rows = [(1, 1, "V001__a.sql", "c1", 1, "1.0.0", "2026-01-01 00:00:00"), (2, 2, "V002__b.sql", "c2", 0, None, "x")]
    conn = FakeConn(columns=FIRST_FORMAT, rows=rows)
    runner = runner_for(conn)
    history = runner.history()
    assert conn.log[0] == "COMMIT", "each read starts a fresh snapshot"
    select = next(s for s in conn.log if s.startswith("SELECT installed_rank"))
    assert "state" not in select
    assert [(r["version"], r["success"], r["state"]) for r in history] == [(1, True, None), (2, False, None)]
    assert runner.ensure_history() is True
    alter = next(s for s in conn.log if s.startswith("ALTER TABLE"))
    assert alter == (
        "ALTER TABLE `cloud_followup`.`followup_schema_history` ADD COLUMN state VARCHAR(24) NULL, "
        "ADD COLUMN finished_on TIMESTAMP NULL DEFAULT NULL, ADD COLUMN error VARCHAR(1000) NULL, "
        "ADD COLUMN runner VARCHAR(255) NULL"
    )
    assert "SET state = IF(success = 1, 'success', 'failed') WHERE state IS NULL" in conn.after("ALTER TABLE")[0]
    assert conn.log[-1] == "COMMIT"


def test_a_current_history_table_is_left_as_it_is_and_a_missing_one_is_created(runner_for):
    conn = FakeConn()
    assert runner_for(conn).ensure_history() is False
    assert not [s for s in conn.log if s.startswith(("ALTER", "CREATE"))]
    conn = FakeConn(columns=[])
    assert runner_for(conn).ensure_history() is True
    create = next(s for s in conn.log if s.startswith("CREATE TABLE IF NOT EXISTS `cloud_followup`.`followup_schema"))
    assert "state VARCHAR(24) NULL" in create and "success TINYINT(1) NOT NULL" in create


def test_a_run_waiting_on_the_lock_says_who_holds_it(runner_for):
    running = (3, 3, "V003__slow.sql", "c", 0, "1.1.0", "2026-05-18 02:00:00", RUNNING, None, None, "app1:4242")
    conn = FakeConn(
        lock=0,
        holder=42,
        processlist=[("followup_migrate", "10.89.50.12:51234", "Query", 37, "User sleep")],
        rows=[running],
    )
    with pytest.raises(MigrationError) as caught:
        runner_for(conn, lock_timeout=3).lock()
    msg = str(caught.value)
    assert caught.value.state == IN_PROGRESS
    assert "another migration run holds the lock followup_migrate.cloud_followup" in msg
    assert "MySQL connection 42 (followup_migrate from 10.89.50.12:51234, Query for 37 s, User sleep)" in msg
    assert "applying V003__slow.sql (started 2026-05-18 02:00:00 UTC by app1:4242)" in msg and "waited 3 s" in msg


def test_a_holder_hidden_by_missing_rights_is_still_named_by_its_connection(runner_for):
    conn = FakeConn(holder=42)
    assert runner_for(conn).lock_holder() == (
        "MySQL connection 42 (its details need the PROCESS privilege, which followup_migrate lacks)"
    )
    assert runner_for(FakeConn(holder=None)).lock_holder() is None


def test_a_repair_writes_its_record_and_the_new_state_in_one_transaction(runner_for):
    conn = FakeConn()
    row = {"id": 3, "version": 3, "script": "V003__slow.sql", "state": RUNNING, "error": None}
    request = {"reason": "done by hand", "approved_by": "Wang", "repaired_by": "Zhang"}
    runner_for(conn).repair(row, REPAIRED_APPLIED, request, "Zhang")
    create = next(
        i for i, s in enumerate(conn.log) if "CREATE TABLE IF NOT EXISTS `cloud_followup`.`followup_schema_re" in s
    )
    tail = conn.log[create + 1 :]
    assert tail[0].startswith("INSERT INTO `cloud_followup`.`followup_schema_repairs`")
    assert tail[1].startswith("UPDATE `cloud_followup`.`followup_schema_history` SET state = %s, success = %s")
    assert tail[2:] == ["COMMIT"]
    record = conn.args[create + 1]
    assert record[:5] == (3, 3, "V003__slow.sql", RUNNING, REPAIRED_APPLIED) and record[6:9] == (
        "done by hand",
        "Wang",
        "Zhang",
    )


def test_closing_a_dead_connection_hides_nothing(runner_for):
    conn = FakeConn(fail={"RELEASE_LOCK": pymysql.err.OperationalError(2013, "Lost connection")})
    runner = runner_for(conn)
    runner.locked = True
    runner.close()
    assert conn.log[-1] == "CLOSE"


def test_keepalive_notices_a_vanished_server_within_minutes():
    class Conn:
        _sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    try:
        mm._keepalive(Conn)
        assert Conn._sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert Conn._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
            assert Conn._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 6
    finally:
        Conn._sock.close()


def test_a_database_name_that_could_break_out_of_its_quotes_is_refused(monkeypatch):
    monkeypatch.setattr(mm, "mysql_connect", lambda *a, **k: FakeConn())
    with pytest.raises(MigrationError, match=r"database 'a`b' must be letters, digits and underscores"):
        mm.MySQLRunner("a`b", PARAMS)
