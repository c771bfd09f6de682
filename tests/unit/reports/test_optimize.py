"""Periodic database optimisation: the window, what is worth doing and what fits in it, query shapes without values,
index proposals (never applied), and `db optimize` with its report."""

import json
import time

import followup_db_optimize
import pytest
from ansible.module_utils import followup_optimize as opt
from modulekit import run_module
from pagekit import flat_text

from followup_ops import cli

CFG = opt.settings({})
MiB = 1 << 20


@pytest.mark.parametrize(
    ("window", "minute", "left"),
    [
        ("02:00-04:00", 150, 90),
        ("02:00-04:00", 240, None),
        ("02:00-04:00", 119, None),
        ("23:00-01:30", 1430, 100),
        ("23:00-01:30", 30, 60),
        ("23:00-01:30", 100, None),
    ],
)
def test_the_window_may_run_past_midnight(window, minute, left):
    assert opt.minutes_left(opt.parse_window(window), minute) == left


@pytest.mark.parametrize("window", ["2:00-4:00", "02:00", "25:00-26:00", "02:00-02:00", ""])
def test_a_bad_window_is_one_line(window):
    with pytest.raises(opt.OptimizeError, match=r"HH:MM-HH:MM|is empty"):
        opt.parse_window(window)


def test_bad_settings_are_named():
    with pytest.raises(opt.OptimizeError, match=r"rebuild_min_free_byte is not a setting"):
        opt.settings({"rebuild_min_free_byte": 1})
    with pytest.raises(opt.OptimizeError, match="must be a number"):
        opt.settings({"top_queries": "ten"})


def _table(name, data, free, modified=None, rows=1000, age=None, engine="InnoDB"):
    return {
        "name": name,
        "engine": engine,
        "rows": rows,
        "data": data,
        "index": 0,
        "free": free,
        "modified": modified,
        "stats_rows": rows,
        "stats_age_days": age,
    }


def test_only_what_is_worth_it_is_planned_and_only_what_fits_in_the_window():
    tables = [
        _table("cf.small_free", 10 * MiB, 2 * MiB),  # 2 MiB free: not worth a rebuild
        _table("cf.fragmented", 100 * MiB, 200 * MiB),  # 200 MiB free, 67 %: rebuild, about 5 s at 20 MB/s
        _table("cf.huge", 200000 * MiB, 100000 * MiB),  # worth it, but about 10000 s
        _table("cf.changed", 5 * MiB, 0, modified=300, rows=1000),  # 30 % changed: analyze
        _table("cf.quiet", 5 * MiB, 0, modified=5, rows=1000, age=2),  # fresh enough
        _table("cf.old_stats", 5 * MiB, 0, modified=1, rows=1000, age=30),  # old statistics, changed: analyze
        _table("cf.old_unchanged", 5 * MiB, 0, modified=0, rows=1000, age=30),  # old but nothing changed
        _table("cf.memory", 5 * MiB, 500 * MiB, engine="MEMORY"),  # not a table OPTIMIZE helps
    ]
    actions, skipped, candidates = opt.plan(tables, 120, CFG)
    assert [(a["table"], a["action"]) for a in actions] == [
        ("cf.changed", "analyze"),
        ("cf.old_stats", "analyze"),
        ("cf.fragmented", "rebuild"),
    ]
    assert [(s["table"], s["skipped"][:30]) for s in skipped] == [("cf.huge", "would not finish inside the wi")]
    assert len(candidates) == 4 and actions[2]["estimate_s"] == 5.0
    outside, skipped, _ = opt.plan(tables, None, CFG)
    assert outside == [] and all(s["skipped"] == "outside the maintenance window" for s in skipped)
    nearly_over, skipped, _ = opt.plan(tables, CFG["window_margin_minutes"], CFG)
    assert [a["table"] for a in nearly_over] == [] and len(skipped) == 4, "no work starts inside the margin"


def test_fingerprints_keep_tables_and_columns_never_values():
    sql = (
        "SELECT * FROM patients WHERE name = '测试患者甲' AND phone='13800138000' AND id IN (1, 2, 3) "
        'AND created_at > "2026-12-01" /* app */ AND x = -3.5e2 LIMIT 10'
    )
    shape = opt.fingerprint(sql)
    assert (
        shape == "select * from patients where name = ? and phone=? and id in (?+) and created_at > ? and x = ? limit ?"
    )
    assert opt.fingerprint("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y');") == "insert into t (a, b) values (?+)"
    assert opt.fingerprint("select col1, t2.id from t2") == "select col1, t2.id from t2", "names with digits stay"


SLOW_LOG = """/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1-log (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock
Time		    Id Command	Argument
# Time: 261130  9:00:00
# User@Host: followup_app[followup_app] @  [10.89.50.12]
# Thread_id: 31  Schema: cloud_followup  QC_hit: No
# Query_time: 0.500000  Lock_time: 0.000100  Rows_sent: 0  Rows_examined: 50000
# Rows_affected: 0  Bytes_sent: 0
use cloud_followup;
SET timestamp=1796086800;
SELECT * FROM followup_tasks WHERE due_date < '2026-11-30' AND status = 'new';
# Time: 261201  9:00:00
# User@Host: followup_app[followup_app] @  [10.89.50.12]
# Thread_id: 32  Schema: cloud_followup  QC_hit: No
# Query_time: 1.500000  Lock_time: 0.000100  Rows_sent: 2  Rows_examined: 60000
SET timestamp=1796173200;
SELECT * FROM followup_tasks
  WHERE due_date < '2026-12-01' AND status = 'new';
# User@Host: root[root] @ localhost []
# Query_time: 2.000000  Lock_time: 0.000000  Rows_sent: 10  Rows_examined: 10
SET timestamp=1796173300;
select * from information_schema.TABLES;
# Time: 2026-12-01T01:00:00.123456Z
# User@Host: followup_app[followup_app] @  [10.89.50.12]
# Query_time: 0.200000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1
SET timestamp=1796173400;
SELECT * FROM patients WHERE phone = '13800138000';
"""


def test_the_slow_log_is_reduced_to_shapes_and_our_own_statements_are_left_out(monkeypatch):
    entries = opt.parse_slow_log(SLOW_LOG)
    assert [(e["query_time"], e["rows_examined"], e["db"]) for e in entries] == [
        (0.5, 50000, "cloud_followup"),
        (1.5, 60000, "cloud_followup"),
        (2.0, 10, "cloud_followup"),
        (0.2, 1, "cloud_followup"),
    ]
    shapes = opt.aggregate(entries, 10)
    assert shapes[0] == {
        "shape": "select * from followup_tasks where due_date < ? and status = ?",
        "db": "cloud_followup",
        "count": 2,
        "total_s": 2.0,
        "max_s": 1.5,
        "rows_examined": 110000,
        "rows_sent": 2,
    }
    assert len(shapes) == 2, "the information_schema read is the operators' own"
    text = json.dumps(shapes, ensure_ascii=False)
    assert "13800138000" not in text and "2026-11-30" not in text
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        # MariaDB writes the server's local time (261201 9:00:00 is 01:00 UTC here), MySQL 8 ISO UTC
        newer = opt.parse_slow_log(SLOW_LOG, since_epoch=opt.slow_log_time("2026-12-01T00:30:00"))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [e["query_time"] for e in newer] == [1.5, 2.0, 0.2], "the entry of 30 November is older"


def test_index_proposals_for_shapes_that_scan_and_duplicates_to_drop():
    indexes = {
        "cloud_followup.followup_tasks": [
            {"name": "PRIMARY", "unique": True, "columns": ["id"]},
            {"name": "ix_patient", "unique": False, "columns": ["patient_id"]},
            {"name": "ix_patient_due", "unique": False, "columns": ["patient_id", "due_date"]},
            {"name": "ix_patient_copy", "unique": False, "columns": ["patient_id", "due_date"]},
            {"name": "uk_ext", "unique": True, "columns": ["ext_id"]},
            {"name": "ix_ext", "unique": False, "columns": ["ext_id"]},
        ]
    }
    shapes = opt.aggregate(opt.parse_slow_log(SLOW_LOG), 10)
    found = opt.suggestions(shapes, indexes, CFG)
    assert [(s["table"], s["columns"]) for s in found] == [("cloud_followup.followup_tasks", ["due_date", "status"])]
    assert found[0]["proposal"] == (
        "ALTER TABLE `cloud_followup`.`followup_tasks` ADD INDEX "
        "`ix_followup_tasks_due_date_status` (`due_date`, `status`);"
    )
    redundant = {(r["index"], r["covered_by"], r["kind"]) for r in opt.redundant_indexes(indexes)}
    assert redundant == {
        ("ix_patient", "ix_patient_due", "redundant prefix"),
        ("ix_patient_copy", "ix_patient_due", "duplicate"),
        ("ix_ext", "uk_ext", "duplicate"),
    }
    few = dict(shapes[0], rows_examined=500)
    assert opt.suggestions([few], indexes, CFG) == [], "fewer rows than suggest_min_rows: no proposal"


# -- the module, with the server faked ------------------------------------------------------------------------------
class Cursor:
    def __init__(self, log):
        self.log, self.rows = log, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.log.append(sql)
        if sql.startswith("SHOW GLOBAL VARIABLES"):
            self.rows = [
                {"Variable_name": k, "Value": v}
                for k, v in {
                    "version": "10.11.19-MariaDB",
                    "performance_schema": "OFF",
                    "slow_query_log": "OFF",
                    "log_output": "FILE",
                    "datadir": "/var/lib/mysql/",
                }.items()
            ]
        elif sql.startswith("SHOW GLOBAL STATUS"):
            self.rows = [{"Variable_name": "Uptime", "Value": "86400"}]
        elif "information_schema.TABLES" in sql:
            self.rows = [
                {
                    "s": "cloud_followup",
                    "t": "followup_tasks",
                    "e": "InnoDB",
                    "n": 1000,
                    "d": 100 * MiB,
                    "i": 0,
                    "f": 100 * MiB,
                }
            ]
        elif "INNODB_SYS_TABLESTATS" in sql:
            self.rows = [{"name": "cloud_followup/followup_tasks", "n": 1000, "m": 0}]
        elif sql.startswith(("OPTIMIZE", "ANALYZE")):
            self.rows = [
                {"Msg_type": "note", "Msg_text": "Table does not support optimize, doing recreate + analyze"},
                {"Msg_type": "status", "Msg_text": "OK"},
            ]
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


class Conn:
    def __init__(self):
        self.log = []

    def cursor(self):
        return Cursor(self.log)

    def close(self):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    (tmp_path / "mysql.fact").write_text(
        json.dumps({"socket": "/run/mysqld/mysqld.sock", "databases": ["cloud_followup"]})
    )
    conn = Conn()
    monkeypatch.setattr(followup_db_optimize.dbmod, "mysql_root_connect", lambda socket, option_file: conn)
    monkeypatch.setattr(followup_db_optimize.dbmod, "HAS_PYMYSQL", True)
    return tmp_path, conn


# 2026-12-01T18:30:00Z is 02:30 on 2 December in +08:00
INSIDE, OUTSIDE = 1796149800.0, 1796178600.0


def test_inside_the_window_the_fragmented_table_is_rebuilt_and_reported(server):
    facts, conn = server
    result = run_module(followup_db_optimize, {"window": "02:00-04:00", "facts_dir": str(facts), "now": INSIDE})
    o = result["optimize"]
    assert o["window"] == {"text": "02:00-04:00", "inside": True, "minutes_left": 90, "local_time": "02:30"}
    assert [(a["table"], a["action"], a["done"]) for a in o["actions"]] == [
        ("cloud_followup.followup_tasks", "rebuild", True)
    ]
    assert "OPTIMIZE TABLE `cloud_followup`.`followup_tasks`" in conn.log and result["changed"] is True
    assert any("slow query log is off" in n for n in o["notes"])
    assert any("performance_schema is OFF" in n for n in o["notes"])


def test_outside_the_window_or_in_check_mode_nothing_is_done(server):
    facts, conn = server
    outside = run_module(followup_db_optimize, {"window": "02:00-04:00", "facts_dir": str(facts), "now": OUTSIDE})
    assert outside["optimize"]["actions"] == [] and outside["changed"] is False
    assert outside["optimize"]["skipped"][0]["skipped"] == "outside the maintenance window"
    checked = run_module(
        followup_db_optimize, {"window": "02:00-04:00", "facts_dir": str(facts), "now": INSIDE}, check_mode=True
    )
    assert checked["optimize"]["actions"][0]["would"] is True
    analyse = run_module(
        followup_db_optimize, {"window": "02:00-04:00", "facts_dir": str(facts), "now": INSIDE, "apply": False}
    )
    assert analyse["optimize"]["actions"] == [] and "analysis only" in analyse["optimize"]["skipped"][0]["skipped"]
    assert not [q for q in conn.log if q.startswith(("OPTIMIZE", "ANALYZE"))]
    bad = run_module(followup_db_optimize, {"window": "2-4", "facts_dir": str(facts)})
    assert bad["failed"] and "is not HH:MM-HH:MM" in bad["msg"]


# -- the command ---------------------------------------------------------------------------------------------------
def test_db_optimize_reports_before_after_and_proposals(runs, inventory, playbooks, capsys, tmp_path):
    canned, calls = playbooks
    o = {
        "window": {"text": "02:00-04:00", "inside": True, "minutes_left": 90, "local_time": "02:30"},
        "server": {"version": "10.11.19-MariaDB"},
        "notes": ["the slow query log is off: enable it"],
        "before": [
            {"name": "cloud_followup.followup_tasks", "rows": 1000, "data": 100 * MiB, "index": 0, "free": 100 * MiB}
        ],
        "after": [{"name": "cloud_followup.followup_tasks", "rows": 1000, "data": 60 * MiB, "index": 0, "free": 0}],
        "actions": [
            {
                "table": "cloud_followup.followup_tasks",
                "action": "rebuild",
                "reason": "100 MiB free inside",
                "estimate_s": 5.0,
                "done": True,
                "seconds": 4.2,
                "result": "status: OK",
            }
        ],
        "skipped": [
            {
                "table": "cloud_followup.patients",
                "action": "analyze",
                "reason": "stale",
                "estimate_s": 1,
                "skipped": "would not finish inside the window",
            }
        ],
        "proposals": {
            "indexes": [
                {
                    "table": "cloud_followup.followup_tasks",
                    "columns": ["due_date"],
                    "shape": "select * from followup_tasks where due_date < ?",
                    "reason": "scans",
                    "proposal": "ALTER TABLE `cloud_followup`.`followup_tasks` ADD INDEX `ix_d` (`due_date`);",
                }
            ],
            "redundant": [],
            "unused": [],
        },
        "slow": {
            "source": "slow query log",
            "shapes": [
                {
                    "shape": "select * from followup_tasks where due_date < ?",
                    "db": "cloud_followup",
                    "count": 2,
                    "total_s": 2.0,
                    "max_s": 1.5,
                    "rows_examined": 110000,
                    "rows_sent": 2,
                }
            ],
        },
    }
    canned.append({"data": {"optimize": {"results": [{"host": "mysql1", "optimize": o, "changed": True}]}}})
    out = tmp_path / "out"
    assert cli.main(["db", "optimize", "-i", str(inventory), "--window", "02:00-04:00", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mysql1: inside the window (90 min left)" in printed and "重建表 OPTIMIZE" in printed
    assert calls[0]["extravars"]["followup_optimize_window"] == "02:00-04:00"
    assert calls[0]["extravars"]["followup_optimize_timezone"] == "+08:00"
    text = flat_text(out / "optimize.pdf")
    for words in (
        "数据库优化报告",
        "cloud_followup.followup_tasks",
        "100.0MiB",
        "60.0MiB",
        "ADDINDEX`ix_d`",
        "建议（供版本迁移采纳，未执行）",
        "wouldnotfinishinsidethewindow",
    ):
        assert words in text, words
    record = json.loads(next(runs.glob("*-db-optimize/operation.json")).read_text())
    assert record["details"]["done"] == 1 and record["details"]["proposals"] == 1
    # the next run reads the slow log from where this one ended
    canned.append({"data": {"optimize": {"results": [{"host": "mysql1", "optimize": o, "changed": False}]}}})
    assert cli.main(["db", "optimize", "-i", str(inventory), "--window", "02:00-04:00", "--analyse-only"]) == 0
    assert calls[1]["extravars"]["followup_optimize_since"] == record["ended"]
    assert calls[1]["extravars"]["followup_optimize_analyse_only"] is True


def test_db_optimize_refuses_a_bad_window_in_one_line(runs, inventory, capsys):
    assert cli.main(["db", "optimize", "-i", str(inventory), "--window", "2am-4am"]) == 1
    err = capsys.readouterr().err
    assert "--window: window '2am-4am' is not HH:MM-HH:MM" in err and err.count("\n") == 1


def test_the_optimisation_timer_runs_weekly_at_the_windows_start(runs, inventory, tmp_path, monkeypatch):
    from followup_ops.commands import inspect as inspectcmd

    units = tmp_path / "systemd"
    units.mkdir()
    monkeypatch.setenv(inspectcmd.SYSTEMD_DIR_ENV, str(units))
    assert cli.main(["db", "optimize", "-i", str(inventory), "--window", "02:00-04:00", "--install-timer"]) == 0
    service = (units / "followup-ops-db-optimize-hospital.service").read_text()
    assert "db optimize --window 02:00-04:00 -i" in service
    assert "OnCalendar=Sun *-*-* 02:00:00" in (units / "followup-ops-db-optimize-hospital.timer").read_text()
