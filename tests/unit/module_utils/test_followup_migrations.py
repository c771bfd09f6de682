"""Migration scripts: naming, the manifest's exact list, checksums, history states, the plan, repairs, SQL splitting
(line numbers, executable comments, every transaction statement), declarative operations, errors without values."""

from pathlib import Path

import pytest
from ansible.module_utils import followup_migrations as fm
from ansible.module_utils.followup_migrations import (
    FAILED,
    REPAIRED_APPLIED,
    REPAIRED_NOT_APPLIED,
    RUNNING,
    SUCCESS,
    MigrationError,
    check_repair,
    checksum,
    history_state,
    load_scripts,
    mongo_reason,
    mysql_reason,
    parse_operations,
    plan,
    schema_version,
    split_sql,
    validate_repair,
)


def write(directory, name, text):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


def history_of(scripts, upto=None, **override):
    rows = []
    for s in scripts:
        if upto is not None and s.version > upto:
            break
        rows.append(dict({"version": s.version, "script": s.name, "checksum": s.checksum, "success": True}, **override))
    return rows


@pytest.fixture
def three(tmp_path):
    for n in (1, 2, 3):
        write(tmp_path, f"V00{n}__s{n}.sql", f"SELECT {n};")
    return load_scripts(str(tmp_path), ("sql",))


# --- files ---------------------------------------------------------------------------------------------------------


def test_scripts_load_in_numeric_order(tmp_path):
    write(tmp_path, "V010__ten.sql", "SELECT 10;")
    write(tmp_path, "V002__two.sql", "SELECT 2;")
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    assert [s.version for s in load_scripts(str(tmp_path), ("sql",))] == [1, 2, 10]


def test_the_migration_name_pattern_is_the_release_modules_one():
    from ansible.module_utils import followup_release

    assert fm.MIGRATION_RE is followup_release.MIGRATION_RE


def test_a_badly_named_script_is_refused_naming_it(tmp_path):
    write(tmp_path, "001_one.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"001_one.sql is not named V<NNN>__<description>"):
        load_scripts(str(tmp_path), ("sql",))


def test_two_scripts_with_one_version_are_refused(tmp_path):
    write(tmp_path, "V001__a.sql", "SELECT 1;")
    write(tmp_path, "V001__b.sql", "SELECT 2;")
    with pytest.raises(MigrationError, match=r"share version V001"):
        load_scripts(str(tmp_path), ("sql",))


def test_a_python_script_is_refused_for_mysql(tmp_path):
    write(tmp_path, "V001__a.py", "def up(db): pass")
    with pytest.raises(MigrationError, match=r"\.py scripts are not allowed for this engine"):
        load_scripts(str(tmp_path), ("sql",))


def test_with_the_manifest_list_exactly_the_listed_scripts_load_in_its_order(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    write(tmp_path, "V002__two.sql", "SELECT 2;")
    scripts = load_scripts(str(tmp_path), ("sql",), ["V001__one.sql", "V002__two.sql"])
    assert [s.name for s in scripts] == ["V001__one.sql", "V002__two.sql"]


def test_a_file_the_manifest_does_not_list_is_refused_naming_it(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    write(tmp_path, "V002__smuggled.sql", "DROP TABLE patients;")
    with pytest.raises(MigrationError, match=r"V002__smuggled\.sql is not listed in the release manifest"):
        load_scripts(str(tmp_path), ("sql",), ["V001__one.sql"])


def test_even_a_hidden_file_the_manifest_does_not_list_is_refused(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    write(tmp_path, ".V002__hidden.sql", "SELECT 2;")
    with pytest.raises(MigrationError, match=r"\.V002__hidden\.sql is not listed"):
        load_scripts(str(tmp_path), ("sql",), ["V001__one.sql"])


def test_a_listed_file_that_is_missing_is_refused_naming_it(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    with pytest.raises(
        MigrationError, match=r"V002__two\.sql is listed in the release manifest's migrations but missing"
    ):
        load_scripts(str(tmp_path), ("sql",), ["V001__one.sql", "V002__two.sql"])


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        (["V002__two.sql", "V001__one.sql"], r"scripts lists V001__one\.sql after V002__two\.sql"),
        (["V001__one.sql", "V001__one.sql"], r"scripts lists V001__one\.sql twice"),
        (["../V001__one.sql"], r"scripts\[0\] '\.\./V001__one\.sql' is not a migration file name"),
        (["V001__one.sql\n"], r"scripts\[0\] 'V001__one\.sql\\n' is not a migration file name"),
    ],
)
def test_a_wrong_manifest_list_is_refused_naming_the_field(tmp_path, listed, message):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    write(tmp_path, "V002__two.sql", "SELECT 2;")
    with pytest.raises(MigrationError, match=message):
        load_scripts(str(tmp_path), ("sql",), listed)


def test_an_empty_manifest_list_needs_no_directory(tmp_path):
    assert load_scripts(str(tmp_path / "absent"), ("sql",), []) == []
    with pytest.raises(MigrationError, match=r"does not exist, but the release manifest lists 1 script"):
        load_scripts(str(tmp_path / "absent"), ("sql",), ["V001__one.sql"])


def test_checksum_ignores_line_endings_trailing_blanks_and_bom():
    assert checksum(b"SELECT 1;\nSELECT 2;\n") == checksum(b"\xef\xbb\xbfSELECT 1;  \r\nSELECT 2;\r\n\r\n")
    assert checksum(b"SELECT 1;\n") != checksum(b"SELECT 2;\n")


def test_a_script_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "V001__latin1.sql"
    path.write_bytes(b"SELECT 1;\nSELECT '\xe9';\n")
    (script,) = load_scripts(str(tmp_path), ("sql",))
    with pytest.raises(MigrationError, match=r"V001__latin1\.sql:2: not valid UTF-8"):
        script.prepare()


# --- history and plan ----------------------------------------------------------------------------------------------


def test_plan_on_an_empty_database_is_every_script(three):
    assert [s.version for s in plan(three, [])] == [1, 2, 3]


def test_plan_after_some_are_applied_is_the_rest(three):
    assert [s.version for s in plan(three, history_of(three, upto=2))] == [3]
    assert plan(three, history_of(three)) == []


def test_rows_of_the_first_format_get_their_state_from_success(three):
    rows = history_of(three, upto=2)
    assert [fm.row_state(r) for r in rows] == [SUCCESS, SUCCESS]
    assert fm.row_state({"version": 1, "success": 0}) == FAILED
    assert fm.row_state({"version": 1, "success": 0, "state": RUNNING}) == RUNNING


def test_a_changed_applied_script_is_refused_naming_the_file(three):
    history = history_of(three, upto=1, checksum="0" * 64)
    with pytest.raises(MigrationError, match=r"V001__s1\.sql was changed after it was applied to db1"):
        plan(three, history, database="db1")


def test_a_database_newer_than_the_release_is_refused(three):
    history = [*history_of(three), {"version": 4, "script": "V004__four.sql", "checksum": "x", "success": True}]
    with pytest.raises(MigrationError, match=r"the database is newer than the release"):
        plan(three, history, release="1.0.0")


def test_an_unresolved_failed_migration_is_refused_with_both_recoveries(three):
    history = [*history_of(three, upto=1), dict(history_of(three)[1], state=FAILED, success=False, error="E")]
    with pytest.raises(MigrationError) as caught:
        plan(three, history, database="cloud_followup", engine="mysql")
    msg = str(caught.value)
    assert "cloud_followup: migration V002__s2.sql failed" in msg and "is not resolved" in msg
    assert "restore cloud_followup from the backup taken before the migration" in msg
    assert "followup-ops migrations repair -i INVENTORY --engine mysql --database cloud_followup --version 2" in msg
    assert "\n" not in msg and caught.value.state == FAILED and caught.value.blocking["version"] == 2


def test_a_running_row_is_an_interrupted_migration(three):
    history = [*history_of(three, upto=1), dict(history_of(three)[1], state=RUNNING, runner="app1:42")]
    assert history_state(history)[0] == fm.INTERRUPTED
    with pytest.raises(
        MigrationError, match=r"V002__s2\.sql was interrupted .*by app1:42.*killed or lost its"
    ) as caught:
        plan(three, history, database="cdr", engine="mongodb")
    assert caught.value.state == fm.INTERRUPTED and "--engine mongodb --database cdr --version 2" in str(caught.value)


def test_a_running_row_of_a_live_run_is_in_progress():
    row = {"version": 2, "script": "V002__a.sql", "state": RUNNING, "installed_on": "2026-05-18 02:00:00"}
    err = fm.refusal("mysql", "db", row, holder="MySQL connection 9 (followup_migrate from 10.0.0.1:5)")
    assert err.state == fm.IN_PROGRESS and "being applied by another run" in str(err) and "connection 9" in str(err)


def test_a_migration_repaired_as_applied_counts_and_one_repaired_as_not_applied_runs_again(three):
    applied = [*history_of(three, upto=1), dict(history_of(three)[1], state=REPAIRED_APPLIED)]
    assert [s.version for s in plan(three, applied)] == [3] and schema_version(applied) == 2
    undone = [*history_of(three, upto=1), dict(history_of(three)[1], state=REPAIRED_NOT_APPLIED, checksum="old")]
    assert [s.version for s in plan(three, undone)] == [2, 3] and schema_version(undone) == 1


def test_an_out_of_order_script_is_refused(three):
    history = [r for r in history_of(three) if r["version"] != 2]
    with pytest.raises(MigrationError, match=r"out-of-order migrations are refused"):
        plan(three, history)


# --- repairs -------------------------------------------------------------------------------------------------------


def repair(**over):
    return dict({"version": 2, "resolution": "applied", "reason": "finished by hand", "approved_by": "Wang"}, **over)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (repair(reason=""), r"repair\.reason is empty"),
        (repair(reason="   "), r"repair\.reason is empty"),
        (repair(approved_by=None), r"repair\.approved_by is empty"),
        (repair(repaired_by="wang"), r"repair\.approved_by is wang, who also makes the repair"),
        (repair(resolution="maybe"), r"repair\.resolution must be applied or not_applied"),
    ],
)
def test_a_repair_without_reason_or_approver_or_self_approved_is_refused(request_, message):
    with pytest.raises(MigrationError, match=message):
        validate_repair(request_)


def test_only_a_failed_or_running_row_can_be_repaired(three):
    history = history_of(three, upto=2)
    with pytest.raises(MigrationError, match=r"db: V002 \(V002__s2\.sql\) is success, not failed or running"):
        check_repair(history, repair(), "db")
    with pytest.raises(MigrationError, match=r"db has no history row for V007"):
        check_repair(history, repair(version=7), "db")


def test_a_repair_picks_the_unresolved_row_and_its_new_state(three):
    history = [*history_of(three, upto=1), dict(history_of(three)[1], state=RUNNING, id=17)]
    row, state = check_repair(history, repair(resolution="not_applied"), "db")
    assert row["id"] == 17 and state == REPAIRED_NOT_APPLIED
    assert check_repair(history, repair(), "db")[1] == REPAIRED_APPLIED


# --- SQL -----------------------------------------------------------------------------------------------------------


def test_split_sql_respects_quotes_and_comments():
    text = """
    -- 建表 create the table; with a semicolon in a comment
    CREATE TABLE t (a VARCHAR(10) COMMENT 'it''s; fine', b TEXT); # trailing comment;
    /* block; comment */ INSERT INTO t VALUES ('x;y', "q\\"uote;");
    UPDATE t SET a = `a;b`
    """
    statements = split_sql(text)
    assert len(statements) == 3
    assert statements[0].startswith("CREATE TABLE t") and "'it''s; fine'" in statements[0]
    assert statements[1] == 'INSERT INTO t VALUES (\'x;y\', "q\\"uote;")'
    assert statements[2] == "UPDATE t SET a = `a;b`"


def test_each_statement_knows_the_line_it_starts_on():
    text = (
        "-- header\n\nCREATE TABLE a (x INT);\n/* two\nlines */ INSERT INTO a\nVALUES ('1\n2');\n\n"
        "  UPDATE a SET x = 1;"
    )
    assert [s.line for s in split_sql(text)] == [3, 5, 9]


def test_split_sql_refuses_delimiter_and_unterminated_quotes_with_file_and_line():
    with pytest.raises(MigrationError, match=r"^V001\.sql:2: DELIMITER is a command of the mysql client"):
        split_sql("SELECT 1;\nDELIMITER //\nCREATE PROCEDURE p() BEGIN END //", "V001.sql")
    with pytest.raises(MigrationError, match=r"^V001\.sql:3: an unterminated ' quote"):
        split_sql("SELECT 1;\n\nSELECT 'open;", "V001.sql")
    with pytest.raises(MigrationError, match=r"^V001\.sql:2: an unterminated /\* comment"):
        split_sql("SELECT 1;\n/* open", "V001.sql")
    with pytest.raises(MigrationError, match=r"^V001\.sql:1: an unterminated /\*! comment"):
        split_sql("SELECT 1 /*!50001 ;", "V001.sql")


def test_double_dash_without_space_is_not_a_comment():
    assert split_sql("SELECT 1--1;") == ["SELECT 1--1"]


def test_version_conditional_comments_and_hints_are_kept():
    statements = split_sql(
        "CREATE TABLE t (a INT) /*!50100 ENGINE=InnoDB */;\nSELECT /*+ MAX_EXECUTION_TIME(1000) */ 1;"
    )
    assert statements == [
        "CREATE TABLE t (a INT) /*!50100 ENGINE=InnoDB */",
        "SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1",
    ]


def test_conditional_comments_holding_a_semicolon_are_kept_whole():
    text = (
        "/*!50001 CREATE VIEW v AS SELECT 'a;b' AS x; SELECT 1 */;\n"
        "/*M!100100 ALTER TABLE t COMMENT 'x;*/y' */;\n"
        "SELECT /*+ SET_VAR(sort_buffer_size = 16M); */ 1"
    )
    statements = split_sql(text)
    assert statements == [
        "/*!50001 CREATE VIEW v AS SELECT 'a;b' AS x; SELECT 1 */",
        "/*M!100100 ALTER TABLE t COMMENT 'x;*/y' */",
        "SELECT /*+ SET_VAR(sort_buffer_size = 16M); */ 1",
    ]
    assert [s.line for s in statements] == [1, 2, 3]


def test_a_mysqldump_header_splits():
    text = (
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
        "/*!40101 SET NAMES utf8mb4 */;\n"
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"
        "/*!40103 SET TIME_ZONE='+00:00' */;\n"
    )
    assert len(split_sql(text)) == 4


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1;",
        "CREATE DEFINER=`root`@`%` PROCEDURE p() SELECT 1;",
        "create or replace function f() returns int return 1;",
        "CREATE AGGREGATE FUNCTION f(x INT) RETURNS INT BEGIN RETURN 1; END;",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t;",
        "BEGIN NOT ATOMIC SELECT 1; END;",
        "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW "
        "SET NEW.a = 1 */;",
    ],
)
def test_compound_statements_are_refused(text):
    with pytest.raises(MigrationError, match=r"^the SQL:1: .*compound statement"):
        split_sql(text)


def test_a_table_with_a_column_named_event_or_function_is_not_compound():
    assert len(split_sql("CREATE TABLE log (event VARCHAR(10), function_name VARCHAR(10), begin_at DATETIME);")) == 1


TRANSACTION_STATEMENTS = [
    "BEGIN",
    "BEGIN WORK",
    "begin",
    "START TRANSACTION",
    "START TRANSACTION READ ONLY",
    "START TRANSACTION READ WRITE",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT",
    "COMMIT",
    "COMMIT WORK",
    "COMMIT AND CHAIN",
    "COMMIT AND NO CHAIN",
    "COMMIT RELEASE",
    "COMMIT NO RELEASE",
    "commit work and no chain no release",
    "ROLLBACK",
    "ROLLBACK WORK",
    "ROLLBACK AND CHAIN",
    "ROLLBACK TO SAVEPOINT s1",
    "ROLLBACK TO s1",
    "SAVEPOINT s1",
    "RELEASE SAVEPOINT s1",
    "SET autocommit = 0",
    "SET autocommit=1",
    "SET SESSION autocommit = 0",
    "SET GLOBAL autocommit = 0",
    "SET LOCAL autocommit = 0",
    "SET @@autocommit = 0",
    "SET @@session.autocommit := 0",
    "SET @@GLOBAL.autocommit = 0",
    "SET NAMES utf8mb4, autocommit = 0",
    "SET @x = 1, @@autocommit = 0",
    "SET STATEMENT autocommit=0 FOR UPDATE t SET a = 1",
    "SET completion_type = 1",
    "SET TRANSACTION READ ONLY",
    "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SET GLOBAL TRANSACTION READ ONLY",
    "SET @@transaction_read_only = 1",
    "SET tx_isolation = 'READ-COMMITTED'",
    "XA START 'x'",
    "XA COMMIT 'x'",
    "LOCK TABLES t WRITE",
    "LOCK TABLE t READ",
    "UNLOCK TABLES",
    "FLUSH TABLES WITH READ LOCK",
    "USE interface_data",
    "SELECT GET_LOCK('followup_migrate.cloud_followup', 0)",
    "DO RELEASE_LOCK('followup_migrate.cloud_followup')",
    "SELECT RELEASE_ALL_LOCKS()",
    "/*!40000 COMMIT */",
    "/*!50000 SET autocommit=0 */",
    "SET /*!40101 autocommit = 0 */",
    "SELECT 1 /*!50001 ; COMMIT */",
    "/*M!100100 START TRANSACTION */",
]


@pytest.mark.parametrize("statement", TRANSACTION_STATEMENTS)
def test_every_statement_that_controls_the_transaction_is_refused_with_file_and_line(statement):
    with pytest.raises(MigrationError) as caught:
        split_sql(f"CREATE TABLE a (x INT);\n\n{statement};\nSELECT 1;", "/r/V003__x.sql")
    msg = str(caught.value)
    assert msg.startswith("/r/V003__x.sql:3: ") and "is refused" in msg and "remove it" in msg and "\n" not in msg
    if "/*" in statement:
        assert "inside a /*! */ comment" in msg


@pytest.mark.parametrize(
    "statement",
    [
        "SET @autocommit = 0",
        "SET NAMES utf8mb4",
        "SET @x = 'autocommit=0'",
        "SELECT 'COMMIT; ROLLBACK'",
        "UPDATE t SET autocommit_flag = 1",
        "INSERT INTO t (begin, commit_count) VALUES (1, 2)",
        "ALTER TABLE t ADD COLUMN lock_tables INT",
        "SET sql_mode = 'STRICT_TRANS_TABLES'",
        "CREATE TABLE users (id INT)",
        "SELECT /*+ BKA(t) */ 1",
    ],
)
def test_statements_that_only_look_like_transaction_control_pass(statement):
    assert split_sql(statement + ";") == [statement]


def test_every_stand_in_migration_splits():
    root = Path(__file__).resolve().parents[3] / "standin" / "migrations" / "mysql"
    scripts = sorted(root.rglob("V*.sql"))
    assert len(scripts) >= 9
    for path in scripts:
        assert split_sql(path.read_text(), str(path)), path


# --- MongoDB declarative scripts ---------------------------------------------------------------------------------


def test_declarative_operations_know_their_lines():
    text = (
        "# header\n"
        "description: x\n"
        "operations:\n"
        "  - create_collection: {name: calls}\n"
        "  - create_index:\n"
        "      collection: calls\n"
        "      keys: [[task_id, 1]]\n"
        "      name: ix_task\n"
        "  - update_many: {collection: calls, filter: {}, update: {$set: {a: 1}}}\n"
    )
    ops = parse_operations(text, "V001.yml")
    assert [(i, kind, line) for i, kind, _, line in ops] == [
        (0, "create_collection", 4),
        (1, "create_index", 5),
        (2, "update_many", 9),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("operations:\n  - drop_table: {name: x}\n", r"^V001\.yml:2: operations\[0\] must be one of"),
        (
            "operations:\n  - create_collection: {}\n",
            r"^V001\.yml:2: operations\[0\] \(create_collection\) lacks 'name'",
        ),
        (
            "operations:\n  - create_collection: {name: a}\n"
            "  - create_index: {collection: a, keys: [[x, 2]], name: i}\n",
            r"^V001\.yml:3: operations\[1\] \(create_index\) keys must be",
        ),
        ("operations: {}\n", r"'operations' must be a list"),
        ("operations:\n  - [\n", r"^V001\.yml:\d+: not valid YAML"),
    ],
)
def test_a_wrong_declarative_script_is_refused_with_file_and_line(text, message):
    with pytest.raises(MigrationError, match=message):
        parse_operations(text, "V001.yml")


def test_a_python_script_with_a_syntax_error_is_refused_before_it_runs(tmp_path):
    write(tmp_path, "V003__convert.py", "def up(db):\n    return (\n")
    (script,) = load_scripts(str(tmp_path), ("py",))
    with pytest.raises(MigrationError, match=r"V003__convert\.py:\d+: Python syntax error"):
        script.prepare()


# --- errors without row values -----------------------------------------------------------------------------------


class FakeMySQLError(Exception):
    pass


@pytest.mark.parametrize(
    ("code", "text", "reason"),
    [
        (1062, "Duplicate entry 'P0000042' for key 'uk_patients_patient_no'", "a duplicate value for a unique key"),
        (1366, "Incorrect integer value: '张三' for column `x`.`t`.`age` at row 1", "an incorrect value for a column"),
        (
            1452,
            "Cannot add or update a child row: a foreign key constraint fails (`db`.`t`, CONSTRAINT ...)",
            "foreign key",
        ),
        (1406, "Data too long for column 'name' at row 3", "a value too long"),
        (1644, "patient 13800138000 refused", "SIGNAL"),
        (9999, "some new error quoting '13800138000'", "its text is not shown"),
    ],
)
def test_mysql_errors_keep_the_code_and_a_reason_never_the_values(code, text, reason):
    line = mysql_reason(FakeMySQLError(code, text))
    assert line.startswith(f"MySQL error {code}") and reason in line
    for value in ("P0000042", "张三", "13800138000", "uk_patients", "at row"):
        assert value not in line


def test_mysql_errors_that_name_only_schema_objects_keep_the_servers_text():
    assert mysql_reason(FakeMySQLError(1050, "Table 'patients' already exists")) == (
        "MySQL error 1050: Table 'patients' already exists"
    )


def test_mongodb_errors_keep_the_code_never_the_document():
    from pymongo.errors import DuplicateKeyError

    err = DuplicateKeyError(
        'E11000 duplicate key error collection: cdr.calls index: ix dup key: { phone: "13800138000" }',
        11000,
        {"codeName": "DuplicateKey", "keyValue": {"phone": "13800138000"}},
    )
    line = mongo_reason(err)
    assert line == "MongoDB error 11000 DuplicateKey (a duplicate value for a unique index)"
    assert "13800138000" not in mongo_reason(ValueError("invalid literal for int(): '13800138000'"))


def test_a_python_scripts_exception_is_located_in_the_script(tmp_path):
    write(tmp_path, "V003__convert.py", "def up(db):\n    x = 1\n    int('13800138000x')\n")
    (script,) = load_scripts(str(tmp_path), ("py",))
    namespace = {}
    exec(script.prepare(), namespace)  # noqa: S102 - the test's own script
    with pytest.raises(ValueError) as caught:
        namespace["up"](None)
    assert fm.script_line(caught.value, script) == 3
