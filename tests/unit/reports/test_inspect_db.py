"""What the inspection reads from the databases, with fake connections: root's login, MySQL figures, MongoDB figures."""

import datetime

import pytest
from ansible.module_utils import followup_inspect_db as db


class FakeCursor:
    def __init__(self, answers):
        self.answers = answers
        self.queries = []
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.queries.append(sql)
        for prefix, rows in self.answers.items():
            if sql.startswith(prefix):
                if isinstance(rows, Exception):
                    raise rows
                self.rows = rows
                return
        raise AssertionError(f"unexpected query {sql}")

    def fetchall(self):
        return self.rows


class FakeConnection:
    def __init__(self, answers):
        self.cursor_ = FakeCursor(answers)

    def cursor(self):
        return self.cursor_


MYSQL = {
    "SHOW GLOBAL STATUS": [
        {"Variable_name": "Uptime", "Value": "3600"},
        {"Variable_name": "Threads_connected", "Value": "7"},
        {"Variable_name": "Slow_queries", "Value": "2"},
        {"Variable_name": "Innodb_row_lock_current_waits", "Value": "1"},
        {"Variable_name": "Com_select", "Value": "99"},
    ],
    "SHOW GLOBAL VARIABLES": [
        {"Variable_name": "max_connections", "Value": "151"},
        {"Variable_name": "ssl_cert", "Value": "server-cert.pem"},
        {"Variable_name": "innodb_page_size", "Value": "16384"},
    ],
    "SHOW REPLICA STATUS": Exception("You have an error in your SQL syntax"),
    "SHOW SLAVE STATUS": [
        {
            "Slave_IO_Running": "Yes",
            "Slave_SQL_Running": "No",
            "Seconds_Behind_Master": None,
            "Master_Host": "10.0.0.1",
            "Master_Port": 3306,
            "Last_Error": "Duplicate entry",
        }
    ],
    "SELECT TABLE_SCHEMA": [
        {
            "s": "cloud_followup",
            "t": "followup_tasks",
            "engine": "InnoDB",
            "n": 10000,
            "d": 3000000,
            "i": 1000000,
            "f": 4194304,
        }
    ],
}


def test_mysql_figures_read_counters_variables_replica_and_largest_tables():
    figures = db.mysql_figures(FakeConnection(MYSQL), top=5)
    assert figures["status"] == {
        "Uptime": 3600,
        "Threads_connected": 7,
        "Slow_queries": 2,
        "Innodb_row_lock_current_waits": 1,
    }
    assert figures["variables"] == {"max_connections": "151", "ssl_cert": "server-cert.pem"}
    assert figures["replica"]["sql_running"] is False and figures["replica"]["source"] == "10.0.0.1:3306"
    assert figures["tables"] == [
        {
            "name": "cloud_followup.followup_tasks",
            "engine": "InnoDB",
            "rows": 10000,
            "data": 3000000,
            "index": 1000000,
            "bytes": 4000000,
            "free": 4194304,
        }
    ]
    assert figures["lock_waits"] == 1 and figures["errors"] == []


def test_a_server_that_is_not_a_replica_and_an_unreadable_figure_are_told_apart():
    answers = dict(MYSQL, **{"SHOW REPLICA STATUS": [], "SELECT TABLE_SCHEMA": Exception("denied")})
    figures = db.mysql_figures(FakeConnection(answers))
    assert figures["replica"] is None
    assert figures["errors"] == ["information_schema.TABLES: denied"]


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ('[client]\nuser = root\npassword = "a\\"b\\\\c # d"\n', 'a"b\\c # d'),
        ("[client]\npassword=plain # a comment\n", "plain"),
        ("[mysqld]\npassword = no\n[client]\npassword = 'single'\n", "single"),
        ("[client]\nuser=root\n", None),
    ],
)
def test_root_option_file_is_read_as_mysql_reads_it(text, password):
    assert db.option_file_value(text, "client", "password") == password


def test_root_logs_in_by_socket_first_then_with_the_option_files_password(tmp_path):
    calls = []

    class Refused(Exception):
        pass

    def connect(**kwargs):
        calls.append(kwargs)
        if "password" not in kwargs:
            raise Refused(1698, "Access denied for user 'root'@'localhost'")
        return "connection"

    option_file = tmp_path / "my.cnf"
    option_file.write_text('[client]\npassword = "s3cr\\"et"\n')
    assert db.mysql_root_connect("/run/mysqld/mysqld.sock", str(option_file), connect=connect) == "connection"
    assert calls[0]["unix_socket"] == "/run/mysqld/mysqld.sock" and calls[0]["user"] == "root"
    assert calls[1]["password"] == 's3cr"et'
    with pytest.raises(db.DbError) as caught:
        db.mysql_root_connect("/run/mysqld/mysqld.sock", str(tmp_path / "none"), connect=connect)
    assert "cannot log in to MySQL as root over /run/mysqld/mysqld.sock" in str(caught.value)
    assert "s3cr" not in str(caught.value)


def test_the_local_day_starts_at_midnight_of_the_hospitals_time_zone():
    now = datetime.datetime(2026, 12, 1, 15, 30)  # 23:30 in +08:00
    assert db.utc_day_start(now, "+08:00") == datetime.datetime(2026, 11, 30, 16, 0)
    assert db.utc_day_start(datetime.datetime(2026, 12, 1, 17, 0), "+08:00") == datetime.datetime(2026, 12, 1, 16, 0)
    with pytest.raises(ValueError, match="offset like"):
        db.utc_day_start(now, "Asia/Shanghai")


class FakeCollection:
    def __init__(self, rows):
        self.rows = rows
        self.pipelines = []

    def aggregate(self, pipeline):
        self.pipelines.append(pipeline)
        return iter(self.rows)


class FakeDatabase:
    def __init__(self, answers, collections):
        self.answers = answers
        self.collections = collections

    def command(self, name, *args, **kwargs):
        key = name if isinstance(name, str) else next(iter(name))
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return answer(*args) if callable(answer) else answer

    def list_collection_names(self):
        return sorted(self.collections)

    def __getitem__(self, name):
        return self.collections[name]


class FakeClient:
    def __init__(self, admin, database):
        self.dbs = {"admin": admin, "cdr": database}

    def __getitem__(self, name):
        return self.dbs[name]


def test_mongodb_figures_on_ferretdb_count_todays_calls_by_sip_code():
    calls = FakeCollection([{"_id": 200, "n": 40}, {"_id": 486, "n": 5}, {"_id": 503, "n": 2}])
    admin = FakeDatabase(
        {
            "serverStatus": {"version": "7.0.42", "ferretdbVersion": "v1.24.2", "uptime": 99.0},
            "replSetGetStatus": Exception("no such command: 'replSetGetStatus'"),
            "currentOp": {"inprog": []},
        },
        {},
    )
    cdr = FakeDatabase(
        {
            "dbStats": {"dataSize": 1000, "indexSize": 500, "objects": 47},
            "collStats": lambda name: {
                "size": 900 if name == "call_records" else 100,
                "count": 47,
                "totalIndexSize": 10,
            },
        },
        {"call_records": calls, "documents": FakeCollection([]), "system.views": None},
    )
    figures = db.mongodb_figures(FakeClient(admin, cdr), "cdr", datetime.datetime(2026, 12, 1, 15, 30))
    assert figures["engine"] == "ferretdb" and figures["connections"] is None and figures["replica"] is None
    assert figures["errors"] == [] and figures["lock_waits"] == 0 and figures["size"] == 1500
    assert [c["name"] for c in figures["collections"]] == ["cdr.call_records", "cdr.documents"]
    assert figures["calls_today"] == {
        "since": "2026-11-30T16:00:00Z",
        "placed": 47,
        "answered": 40,
        "by_code": {"200": 40, "486": 5, "503": 2},
    }
    match = calls.pipelines[0][0]["$match"]["started_at"]["$gte"]
    assert match == datetime.datetime(2026, 11, 30, 16, 0)


def test_mongod_connections_and_replica_lag_are_read_when_the_engine_has_them():
    primary = datetime.datetime(2026, 12, 1, 12, 0, 30)
    admin = FakeDatabase(
        {
            "serverStatus": {"version": "6.0.14", "connections": {"current": 30, "available": 70}},
            "replSetGetStatus": {
                "members": [
                    {"stateStr": "PRIMARY", "optimeDate": primary},
                    {"stateStr": "SECONDARY", "optimeDate": primary - datetime.timedelta(seconds=12), "self": True},
                ]
            },
            "currentOp": {"inprog": [{"op": "update"}]},
        },
        {},
    )
    cdr = FakeDatabase({"dbStats": {}, "collStats": lambda name: {}}, {"call_records": FakeCollection([])})
    figures = db.mongodb_figures(FakeClient(admin, cdr), "cdr", datetime.datetime(2026, 12, 1, 12, 1))
    assert figures["engine"] == "mongod" and figures["connections"] == {"current": 30, "available": 70}
    assert figures["replica"] == {"state": "SECONDARY", "lag_s": 12.0} and figures["lock_waits"] == 1


def test_an_account_that_may_not_run_a_command_is_named_not_hidden():
    admin = FakeDatabase(
        {
            "serverStatus": Exception("not authorized on admin to execute command { serverStatus: 1 }"),
            "replSetGetStatus": Exception("not authorized"),
            "currentOp": {"inprog": []},
        },
        {},
    )
    cdr = FakeDatabase({"dbStats": {}, "collStats": lambda name: {}}, {"call_records": FakeCollection([])})
    figures = db.mongodb_figures(FakeClient(admin, cdr), "cdr", datetime.datetime(2026, 12, 1))
    assert any(e.startswith("serverStatus: not authorized") for e in figures["errors"])
    assert any(e.startswith("replSetGetStatus: not authorized") for e in figures["errors"])
