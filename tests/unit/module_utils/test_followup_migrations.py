"""Migration scripts: naming, checksums, SQL splitting and the plan against a database's history."""

import pytest
from ansible.module_utils.followup_migrations import MigrationError, checksum, load_scripts, plan, split_sql


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


def test_scripts_load_in_numeric_order(tmp_path):
    write(tmp_path, "V010__ten.sql", "SELECT 10;")
    write(tmp_path, "V002__two.sql", "SELECT 2;")
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    assert [s.version for s in load_scripts(str(tmp_path), ("sql",))] == [1, 2, 10]


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
    with pytest.raises(MigrationError, match=r"\.py scripts are not allowed here"):
        load_scripts(str(tmp_path), ("sql",))


def test_checksum_ignores_line_endings_trailing_blanks_and_bom():
    assert checksum(b"SELECT 1;\nSELECT 2;\n") == checksum(b"\xef\xbb\xbfSELECT 1;  \r\nSELECT 2;\r\n\r\n")
    assert checksum(b"SELECT 1;\n") != checksum(b"SELECT 2;\n")


def test_plan_on_an_empty_database_is_every_script(tmp_path):
    for n in (1, 2, 3):
        write(tmp_path, f"V00{n}__s{n}.sql", f"SELECT {n};")
    scripts = load_scripts(str(tmp_path), ("sql",))
    assert [s.version for s in plan(scripts, [])] == [1, 2, 3]


def test_plan_after_some_are_applied_is_the_rest(tmp_path):
    for n in (1, 2, 3):
        write(tmp_path, f"V00{n}__s{n}.sql", f"SELECT {n};")
    scripts = load_scripts(str(tmp_path), ("sql",))
    assert [s.version for s in plan(scripts, history_of(scripts, upto=2))] == [3]
    assert plan(scripts, history_of(scripts)) == []


def test_a_changed_applied_script_is_refused_naming_the_file(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    scripts = load_scripts(str(tmp_path), ("sql",))
    history = history_of(scripts, checksum="0" * 64)
    with pytest.raises(MigrationError, match=r"V001__one\.sql was changed after it was applied"):
        plan(scripts, history)


def test_a_database_newer_than_the_release_is_refused(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    scripts = load_scripts(str(tmp_path), ("sql",))
    history = [*history_of(scripts), {"version": 2, "script": "V002__two.sql", "checksum": "x", "success": True}]
    with pytest.raises(MigrationError, match=r"the database is newer than the release"):
        plan(scripts, history, release="1.0.0")


def test_an_unresolved_failed_migration_is_refused(tmp_path):
    write(tmp_path, "V001__one.sql", "SELECT 1;")
    scripts = load_scripts(str(tmp_path), ("sql",))
    with pytest.raises(MigrationError, match=r"failed earlier and was never resolved"):
        plan(scripts, history_of(scripts, success=False))


def test_an_out_of_order_script_is_refused(tmp_path):
    for n in (1, 2, 3):
        write(tmp_path, f"V00{n}__s{n}.sql", f"SELECT {n};")
    scripts = load_scripts(str(tmp_path), ("sql",))
    history = [r for r in history_of(scripts) if r["version"] != 2]
    with pytest.raises(MigrationError, match=r"out-of-order migrations are refused"):
        plan(scripts, history)


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


def test_split_sql_refuses_delimiter_and_unterminated_quotes():
    with pytest.raises(MigrationError, match=r"DELIMITER is not supported"):
        split_sql("DELIMITER //\nCREATE PROCEDURE p() BEGIN END //")
    with pytest.raises(MigrationError, match=r"unterminated ' quote"):
        split_sql("SELECT 'open;")


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


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1;",
        "CREATE DEFINER=`root`@`%` PROCEDURE p() SELECT 1;",
        "create or replace function f() returns int return 1;",
        "BEGIN NOT ATOMIC SELECT 1; END;",
    ],
)
def test_compound_statements_are_refused(text):
    with pytest.raises(MigrationError, match="compound statement"):
        split_sql(text)


@pytest.mark.parametrize("text", ["BEGIN;", "START TRANSACTION;", "commit;", "ROLLBACK WORK;"])
def test_transaction_control_is_left_to_the_runner(text):
    with pytest.raises(MigrationError, match="controls the transaction"):
        split_sql(text)


def test_every_stand_in_migration_splits(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "standin" / "migrations" / "mysql"
    scripts = sorted(root.rglob("V*.sql"))
    assert len(scripts) >= 9
    for path in scripts:
        assert split_sql(path.read_text()), path
