"""module_utils/followup_dbmove_mysql.py and followup_dbmove_mongo.py: the statements and comparisons the moves run,
without a server (the Molecule scenario migrate_db runs them against MariaDB and FerretDB)."""

from pathlib import Path

import pytest
from ansible.module_utils import followup_dbmove_mongo as mg
from ansible.module_utils import followup_dbmove_mysql as my


class FakeServer:
    def __init__(self, flavour, version):
        self.flavour = flavour
        self.vtuple = version


# -- MySQL ---------------------------------------------------------------------------------------------------------
def test_mariadb_replicates_by_gtid_and_the_password_is_an_argument_not_text():
    sql, args = my.change_source_sql(FakeServer("mariadb", (10, 11, 6)), "10.0.0.21", 3306, "u", "s3cret", {})
    assert sql.startswith("CHANGE MASTER TO MASTER_HOST = %s") and "MASTER_USE_GTID = slave_pos" in sql
    assert "s3cret" not in sql and args == ["10.0.0.21", 3306, "u", "s3cret"]


def test_new_mysql_uses_the_new_words_and_a_file_position():
    sql, args = my.change_source_sql(
        FakeServer("mysql", (8, 0, 36)), "h", "3306", "u", "p", {"file": "bin.000003", "pos": "157"}, ssl=True
    )
    assert sql.startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s")
    assert "SOURCE_LOG_FILE = %s, SOURCE_LOG_POS = %s" in sql and "SOURCE_SSL = 1" in sql
    assert "GET_SOURCE_PUBLIC_KEY = 1" in sql and args[-2:] == ["bin.000003", 157]
    old, _ = my.change_source_sql(FakeServer("mysql", (5, 7, 44)), "h", 3306, "u", "p", {"auto": True})
    assert old.startswith("CHANGE MASTER TO MASTER_HOST") and "MASTER_AUTO_POSITION = 1" in old


def test_the_seed_is_one_consistent_transaction_with_its_position_and_no_password_on_the_command_line():
    cmd = my.dump_command("mariadb-dump", "10.0.0.21", 3306, "/etc/followup-dbmove/x.cnf", ["a", "b"], "mariadb", "")
    assert "--single-transaction" in cmd and "--master-data=2" in cmd and "--gtid" in cmd
    assert cmd[1] == "--defaults-extra-file=/etc/followup-dbmove/x.cnf" and cmd[-3:] == ["--databases", "a", "b"]
    assert not any("password" in part for part in cmd)
    mysql = my.dump_command("mysqldump", "h", 3306, "f", ["a"], "mysql", "8.0.36")
    assert "--source-data=2" in mysql and "--set-gtid-purged=AUTO" in mysql
    assert "sql_log_bin = 0" in " ".join(my.client_command("mariadb"))


def test_the_position_is_picked_out_of_the_dump_stream():
    found = {}
    my.scan_positions(b"-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=3441;\n", found)
    my.scan_positions(b"-- SET GLOBAL gtid_slave_pos='0-1-42';\n", found)
    assert found == {"file_pos": ["mysql-bin.000002", "3441"], "gtid": ["0-1-42"]}


def test_chunk_bounds_are_half_open_along_the_key():
    assert my.chunk_where(["id"], None, None) == ("", [])
    assert my.chunk_where(["id"], (10,), (20,)) == (" WHERE `id` > %s AND `id` <= %s", [10, 20])
    sql, args = my.chunk_where(["a", "b"], (1, "x"), None)
    assert sql == " WHERE (`a`, `b`) > (%s, %s)" and args == [1, "x"]


def test_the_checksum_counts_nulls_and_quotes_every_name():
    info = {
        "db": "cloud_followup",
        "name": "pa`tient",
        "key": ["id"],
        "columns": [{"name": "id", "nullable": False}, {"name": "note", "nullable": True}],
    }
    sql, args = my.checksum_sql(info, (0,), (100,))
    assert "BIT_XOR(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', `id`, `note`, CONCAT(ISNULL(`note`))))" in sql
    assert "FROM `cloud_followup`.`pa``tient` WHERE `id` > %s AND `id` <= %s" in sql and args == [0, 100]


def test_the_chunk_key_is_the_primary_key_else_a_unique_not_null_index():
    pk = {"indexes": {"PRIMARY": {"columns": ["id"], "unique": True}, "u": {"columns": ["x"], "unique": True}}}
    assert my.chunk_key(pk) == ["id"]
    uniq = {"indexes": {"b": {"columns": ["code"], "unique": True, "nullable": False}, "a": {"columns": ["y"]}}}
    uniq["indexes"]["a"]["unique"] = False
    assert my.chunk_key(uniq) == ["code"]
    assert my.chunk_key({"indexes": {"n": {"columns": ["z"], "unique": True, "nullable": True}}}) == []


def test_catalogs_differ_by_missing_tables_columns_and_indexes():
    col = {"name": "id", "type": "int", "nullable": "NO", "default": None}
    a = {
        "d.t": {"columns": [col], "indexes": {"PRIMARY": {"columns": ["id"]}, "ix": {"columns": ["id"]}}},
        "d.only": {"columns": [col], "indexes": {}},
    }
    b = {"d.t": {"columns": [dict(col, type="bigint")], "indexes": {"PRIMARY": {"columns": ["id"]}}}}
    tables, indexes = my.compare_catalogs(a, b)
    assert tables == {"d.only": {"equal": False, "missing": "target"}, "d.t": {"equal": False, "columns_differ": True}}
    assert indexes == ["d.t index ix only on the source"]
    assert my.compare_catalogs(a, a) == ({}, [])


# -- MongoDB / FerretDB --------------------------------------------------------------------------------------------
def snap(count, digest, chunks, indexes=None):
    if indexes is None:
        indexes = {"_id_": {"key": [["_id", 1]]}}
    return {"count": count, "digest": digest, "chunks": chunks, "indexes": indexes}


def test_documents_are_canonical_whatever_order_the_engine_keeps_their_fields():
    assert mg.canonical({"b": 1, "a": {"y": 2, "x": 1}}) == mg.canonical({"a": {"x": 1, "y": 2}, "b": 1})
    assert mg.canonical({"a": 1}) != mg.canonical({"a": 1.5})


def test_snapshots_name_the_chunk_that_differs():
    src = {"calls": snap(3, "d1", [["1", "2", 2, "c1"], ["3", "3", 1, "c2"]])}
    tgt = {"calls": snap(3, "d2", [["1", "2", 2, "c1"], ["3", "3", 1, "cX"]])}
    result = mg.compare_snapshots(src, tgt)
    assert result["equal"] is False
    assert result["tables"]["calls"]["chunks_differ"] == [{"chunk": 2, "range": "3 <= _id <= 3", "rows": [1, 1]}]
    assert mg.compare_snapshots(src, src)["equal"] is True


def test_after_a_dump_cutover_the_target_must_hold_at_least_the_sources_documents_and_its_indexes():
    src = {"calls": snap(3, "d1", [])}
    assert mg.compare_snapshots(src, {"calls": snap(5, "d9", [])}, at_least=True)["equal"] is True
    assert mg.compare_snapshots(src, {"calls": snap(2, "d9", [])}, at_least=True)["equal"] is False
    lost = mg.compare_snapshots(src, {"calls": snap(3, "d1", [], indexes={})}, at_least=True)
    assert lost["equal"] is False and lost["indexes"]["differ"] == ["calls index _id_ only on the source"]


def test_ferretdb_read_only_is_set_on_the_postgresql_database_with_quoted_names():
    on = mg.ferretdb_read_only_sql('cd"r', True)
    assert on[0] == 'ALTER DATABASE "cd""r" SET default_transaction_read_only = on'
    assert "datname = 'cd\"r'" in on[1] and "pg_terminate_backend" in on[1]
    assert mg.ferretdb_read_only_sql("cdr", False)[0] == 'ALTER DATABASE "cdr" RESET default_transaction_read_only'
    assert "d.datname = 'o''brien'" in mg.ferretdb_read_only_state_sql("o'brien")


@pytest.mark.parametrize("password", ["p@ss:w/rd", "x y"])
def test_the_mongodb_tools_read_the_password_from_a_root_only_file(tmp_path, monkeypatch, password):
    monkeypatch.setattr(mg, "OPTION_DIR", str(tmp_path))
    path = mg.option_file("copy-src", password)
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    assert password in Path(path).read_text()
    dump, restore = mg.copy_commands(str(tmp_path), "mongodb://u@h/cdr", path, "mongodb://u@t/cdr", path, "cdr")
    assert not any(password in part for part in dump + restore)
    assert "--archive" in dump and "--drop" in restore and "--noIndexRestore" in restore
