"""Table-structure documents: reading the schema (faked servers), inferring MongoDB fields without values, the diff
between two schemas, what each migration changed, the scratch build's tarball checks, and `schema doc|diff`."""

import copy
import datetime
import hashlib
import io
import json
import tarfile

import followup_schema_facts
import followup_schema_scratch
import pytest
from ansible.module_utils import followup_schema as fs
from modulekit import run_module
from renderkit import pdf_text

from followup_ops import cli
from followup_ops.commands import schema as schemacmd

MARKER_NAME = "测试患者甲"
MARKER_PHONE = "13800138000"


class Cursor:
    def __init__(self, answers):
        self.answers, self.rows = answers, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        for key, rows in self.answers.items():
            if key in sql:
                self.rows = rows
                return
        raise AssertionError(sql)

    def fetchall(self):
        return self.rows


class Conn:
    def __init__(self, answers):
        self.answers = answers

    def cursor(self):
        return Cursor(self.answers)


MYSQL = {
    "VERSION()": [{"v": "10.11.19-MariaDB"}],
    "information_schema.SCHEMATA": [{"cs": "utf8mb4", "co": "utf8mb4_unicode_ci"}],
    "FROM information_schema.TABLES": [
        {
            "t": "patients",
            "engine": "InnoDB",
            "n": 1000,
            "d": 65536,
            "i": 16384,
            "co": "utf8mb4_unicode_ci",
            "c": "患者 Patients",
        },
        {"t": "followup_tasks", "engine": "InnoDB", "n": 10000, "d": 1 << 20, "i": 1 << 19, "co": "x", "c": ""},
        {"t": "followup_schema_history", "engine": "InnoDB", "n": 2, "d": 1, "i": 0, "co": "x", "c": ""},
    ],
    "FROM information_schema.COLUMNS": [
        {
            "t": "patients",
            "name": "id",
            "pos": 1,
            "type": "bigint(20) unsigned",
            "n": "NO",
            "d": None,
            "extra": "auto_increment",
            "k": "PRI",
            "c": "",
            "cs": None,
            "co": None,
        },
        {
            "t": "patients",
            "name": "name",
            "pos": 2,
            "type": "varchar(64)",
            "n": "NO",
            "d": None,
            "extra": "",
            "k": "",
            "c": "姓名",
            "cs": "utf8mb4",
            "co": "utf8mb4_unicode_ci",
        },
        {
            "t": "followup_tasks",
            "name": "id",
            "pos": 1,
            "type": "bigint(20)",
            "n": "NO",
            "d": None,
            "extra": "",
            "k": "PRI",
            "c": "",
            "cs": None,
            "co": None,
        },
        {
            "t": "followup_tasks",
            "name": "patient_id",
            "pos": 2,
            "type": "bigint(20) unsigned",
            "n": "NO",
            "d": None,
            "extra": "",
            "k": "MUL",
            "c": "",
            "cs": None,
            "co": None,
        },
    ],
    "information_schema.STATISTICS": [
        {"t": "patients", "name": "PRIMARY", "nu": 0, "seq": 1, "col": "id", "sub": None, "type": "BTREE", "c": ""},
        {
            "t": "followup_tasks",
            "name": "PRIMARY",
            "nu": 0,
            "seq": 1,
            "col": "id",
            "sub": None,
            "type": "BTREE",
            "c": "",
        },
        {
            "t": "followup_tasks",
            "name": "ix_patient",
            "nu": 1,
            "seq": 1,
            "col": "patient_id",
            "sub": None,
            "type": "BTREE",
            "c": "",
        },
        {
            "t": "followup_tasks",
            "name": "ix_patient",
            "nu": 1,
            "seq": 2,
            "col": "id",
            "sub": 10,
            "type": "BTREE",
            "c": "",
        },
    ],
    "KEY_COLUMN_USAGE": [
        {
            "t": "followup_tasks",
            "name": "fk_task_patient",
            "col": "patient_id",
            "rs": "cloud_followup",
            "rt": "patients",
            "rc": "id",
            "up": "RESTRICT",
            "del": "CASCADE",
        },
    ],
    "`followup_schema_history`": [
        {
            "version": 2,
            "description": "add status",
            "script": "V002__add.sql",
            "release_version": "1.1.0",
            "installed_on": datetime.datetime(2026, 5, 20, 1, 0),
            "success": 1,
        },
        {
            "version": 1,
            "description": "create",
            "script": "V001__create.sql",
            "release_version": "1.0.0",
            "installed_on": datetime.datetime(2026, 2, 2, 1, 0),
            "state": "success",
        },
    ],
}


def test_the_mysql_schema_reads_tables_columns_indexes_foreign_keys_and_history():
    schema = fs.mysql_schema(Conn(MYSQL), ["cloud_followup"])
    db = schema["databases"]["cloud_followup"]
    assert sorted(db["tables"]) == ["followup_tasks", "patients"], "the runner's history is not a table of ours"
    patients = db["tables"]["patients"]
    assert patients["comment"] == "患者 Patients" and patients["rows"] == 1000
    assert [(c["name"], c["type"], c["nullable"], c["key"]) for c in patients["columns"]] == [
        ("id", "bigint(20) unsigned", False, "PRI"),
        ("name", "varchar(64)", False, ""),
    ]
    tasks = db["tables"]["followup_tasks"]
    assert tasks["indexes"][1] == {
        "name": "ix_patient",
        "unique": False,
        "type": "BTREE",
        "comment": "",
        "columns": ["patient_id", "id(10)"],
    }
    assert tasks["foreign_keys"] == [
        {
            "name": "fk_task_patient",
            "columns": ["patient_id"],
            "references": "patients",
            "ref_columns": ["id"],
            "on_update": "RESTRICT",
            "on_delete": "CASCADE",
        }
    ]
    assert [(r["version"], r["release"], r["state"]) for r in db["history"]] == [
        ("V001", "1.0.0", "success"),
        ("V002", "1.1.0", "success"),
    ]
    assert fs.schema_release(schema) == "1.1.0" and fs.applied(schema) == {"cloud_followup": ["V001", "V002"]}
    json.dumps(schema)


def test_a_database_the_server_does_not_have_is_marked_missing():
    schema = fs.mysql_schema(Conn(dict(MYSQL, **{"information_schema.SCHEMATA": []})), ["interface_data"])
    assert schema["databases"]["interface_data"] == {"missing": True, "tables": {}, "history": []}


def test_fields_are_inferred_with_types_and_presence_never_values():
    docs = [
        {
            "_id": "C1",
            "phone_masked": "138****0000",
            "name": MARKER_NAME,
            "sip_code": 200,
            "started_at": datetime.datetime(2026, 12, 1),
            "detail": {"duration": 31.5, "tags": ["a", MARKER_PHONE]},
        },
        {"_id": "C2", "sip_code": 486, "duration": "00:31", "big": 2**40, "none": None},
    ]
    fields, total = fs.infer_fields(docs)
    by_path = {f["path"]: f for f in fields}
    assert total == 2 and fields[0]["path"] == "_id"
    assert by_path["sip_code"] == {"path": "sip_code", "types": {"int": 2}, "presence": 100.0}
    assert by_path["name"]["presence"] == 50.0 and by_path["detail.tags[]"]["types"] == {"string": 2}
    assert by_path["detail.duration"]["types"] == {"double": 1} and by_path["big"]["types"] == {"long": 1}
    assert by_path["started_at"]["types"] == {"date": 1} and by_path["none"]["types"] == {"null": 1}
    text = json.dumps(fields, ensure_ascii=False)
    assert MARKER_NAME not in text and MARKER_PHONE not in text and "138****0000" not in text


class Coll:
    def __init__(self, docs, indexes):
        self.docs, self.indexes = docs, indexes

    def index_information(self):
        return self.indexes

    def find(self, *args, **kwargs):
        docs = self.docs

        class Query:
            def sort(self, key, direction):
                self.items = sorted(docs, key=lambda d: d[key], reverse=direction < 0)
                return self

            def limit(self, n):
                return self.items[:n]

            def __iter__(self):
                return iter(docs)

        return Query()

    def estimated_document_count(self):
        return len(self.docs)


class Db:
    def __init__(self, collections):
        self.collections = collections

    def list_collection_names(self):
        return list(self.collections)

    def __getitem__(self, name):
        return self.collections[name]

    def command(self, name):
        return {"version": "7.0.42"}


def test_the_mongodb_schema_samples_both_ends_and_keeps_the_history_apart():
    calls = Coll(
        [{"_id": f"C{i}", "sip_code": 200} for i in range(10)] + [{"_id": "D", "extra": True}],
        {"_id_": {"key": [("_id", 1)]}, "ix_task": {"key": [("task_id", 1), ("started_at", -1)], "unique": False}},
    )
    history = Coll([{"version": 1, "description": "create", "release": "1.0.0", "state": "success"}], {})
    client = {
        "admin": Db({}),
        "cdr": Db(
            {
                "call_records": calls,
                "followup_schema_history": history,
                "followup_migration_lock": Coll([], {}),
                "system.views": None,
            }
        ),
    }
    schema = fs.mongodb_schema(client, ["cdr"], sample=4)
    db = schema["databases"]["cdr"]
    assert list(db["collections"]) == ["call_records"]
    calls_doc = db["collections"]["call_records"]
    assert calls_doc["count"] == 11 and calls_doc["sampled"] == 4
    assert [f["path"] for f in calls_doc["fields"]] == ["_id", "extra", "sip_code"], "the newest by _id is sampled"
    assert calls_doc["indexes"][1] == {
        "name": "ix_task",
        "keys": [["task_id", 1], ["started_at", -1]],
        "unique": False,
        "sparse": False,
        "ttl_s": None,
    }
    assert db["history"][0]["version"] == "V001" and fs.schema_release(schema) == "1.0.0"


def _schema(tables, history=()):
    return {"engine": "mysql", "databases": {"cloud_followup": {"tables": tables, "history": list(history)}}}


def _table(columns, indexes=(), fks=(), comment=""):
    return {
        "engine": "InnoDB",
        "collation": "c",
        "comment": comment,
        "rows": 1,
        "data_bytes": 1,
        "index_bytes": 0,
        "columns": [
            dict(
                {
                    "nullable": True,
                    "default": None,
                    "extra": "",
                    "key": "",
                    "comment": "",
                    "charset": None,
                    "collation": None,
                    "position": i + 1,
                },
                **c,
            )
            for i, c in enumerate(columns)
        ],
        "indexes": list(indexes),
        "foreign_keys": list(fks),
    }


def test_the_diff_names_every_added_removed_and_changed_object_and_the_migrations_between():
    old = _schema(
        {
            "patients": _table([{"name": "id", "type": "bigint"}, {"name": "fax", "type": "varchar(20)"}]),
            "legacy": _table([{"name": "id", "type": "int"}]),
        },
        [{"version": "V001", "state": "success", "release": "1.0.0"}],
    )
    new = _schema(
        {
            "patients": _table(
                [{"name": "id", "type": "bigint"}, {"name": "phone", "type": "varchar(20)"}],
                [{"name": "ix_phone", "unique": True, "type": "BTREE", "columns": ["phone"]}],
                comment="患者",
            ),
            "followup_tasks": _table([{"name": "id", "type": "bigint"}]),
        },
        [
            {"version": "V001", "state": "success", "release": "1.0.0"},
            {"version": "V002", "state": "success", "release": "1.1.0", "description": "phones"},
        ],
    )
    new["databases"]["cloud_followup"]["tables"]["patients"]["columns"][0]["nullable"] = False
    delta = fs.diff(fs.strip_volatile(old), fs.strip_volatile(new))["cloud_followup"]
    assert list(delta["tables_added"]) == ["followup_tasks"] and delta["tables_removed"] == ["legacy"]
    change = delta["tables_changed"]["patients"]
    assert [c["name"] for c in change["columns_added"]] == ["phone"]
    assert [c["name"] for c in change["columns_removed"]] == ["fax"]
    assert change["columns_changed"] == {"id": {"nullable": [True, False]}}
    assert change["indexes_added"][0]["name"] == "ix_phone" and change["table_changed"] == {"comment": ["", "患者"]}
    assert [m["version"] for m in delta["migrations"]] == ["V002"]
    assert fs.count_changes({"cloud_followup": delta}) == 3
    assert fs.diff(new, copy.deepcopy(new)) == {}
    sizes_only = copy.deepcopy(new)
    sizes_only["databases"]["cloud_followup"]["tables"]["patients"]["rows"] = 99999
    assert fs.diff(fs.strip_volatile(new), fs.strip_volatile(sizes_only)) == {}, "row estimates are not a change"


def test_each_migration_of_a_release_document_says_what_it_changed():
    step1 = {"tables": {"patients": _table([{"name": "id", "type": "bigint"}])}, "history": []}
    step2 = {
        "tables": {"patients": _table([{"name": "id", "type": "bigint"}, {"name": "phone", "type": "text"}])},
        "history": [],
    }
    snap = {
        "kind": "release",
        "engines": {
            "mysql": {
                "steps": {
                    "cloud_followup": [
                        {"version": 1, "script": "V001__create.sql", "schema": step1},
                        {"version": 2, "script": "V002__phone.sql", "schema": step2},
                        {"version": 3, "script": "V003__backfill.sql", "schema": step2},
                    ]
                }
            }
        },
    }
    steps = schemacmd.per_migration(snap)
    assert [(s["script"], s["count"]) for s in steps] == [
        ("V001__create.sql", 1),
        ("V002__phone.sql", 1),
        ("V003__backfill.sql", 0),
    ]
    assert list(steps[0]["changes"]["tables_added"]) == ["patients"]
    assert steps[1]["changes"]["tables_changed"]["patients"]["columns_added"][0]["name"] == "phone"
    after = schemacmd.per_migration(snap, {"cloud_followup": {1}})
    assert [s["script"] for s in after] == ["V002__phone.sql", "V003__backfill.sql"]


# -- the scratch build's tarball handling ---------------------------------------------------------------------------
def _tarball(path, files):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_scratch_build_extracts_only_the_listed_migrations_of_a_verified_tarball(tmp_path):
    tarball = tmp_path / "r.tar.gz"
    digest = _tarball(
        tarball,
        {
            "followup-1.1.0/manifest.yml": b"x",
            "followup-1.1.0/migrations/mysql/cloud_followup/V001__a.sql": b"CREATE TABLE a (id int);",
            "followup-1.1.0/migrations/mysql/cloud_followup/V002__b.sql": b"CREATE TABLE b (id int);",
            "followup-1.1.0/components/app/x.py": b"print()",
        },
    )
    dest = tmp_path / "out"
    dest.mkdir()
    followup_schema_scratch.extract(
        str(tarball), digest, "1.1.0", "mysql", {"cloud_followup": ["V001__a.sql"]}, str(dest)
    )
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["V001__a.sql"]
    with pytest.raises(followup_schema_scratch.ScratchError, match="differs from the signed index"):
        followup_schema_scratch.extract(
            str(tarball), "0" * 64, "1.1.0", "mysql", {"cloud_followup": []}, str(tmp_path / "o2")
        )
    with pytest.raises(followup_schema_scratch.ScratchError, match=r"lacks .*V009__c\.sql"):
        followup_schema_scratch.extract(
            str(tarball), digest, "1.1.0", "mysql", {"cloud_followup": ["V009__c.sql"]}, str(tmp_path / "o3")
        )
    with pytest.raises(followup_schema_scratch.ScratchError, match="not a plain file name"):
        followup_schema_scratch.extract(
            str(tarball), digest, "1.1.0", "mysql", {"cloud_followup": ["../../etc/passwd"]}, str(tmp_path / "o4")
        )


def test_the_scratch_module_in_check_mode_builds_nothing(tmp_path):
    result = run_module(
        followup_schema_scratch,
        {
            "engine": "mysql",
            "tarball": str(tmp_path / "x"),
            "sha256": "0",
            "release": "1.1.0",
            "migrations": {"cloud_followup": ["V001__a.sql"]},
            "work_dir": str(tmp_path),
        },
        check_mode=True,
    )
    assert result["scripts"] == {"cloud_followup": ["V001__a.sql"]} and not result["changed"]
    assert list(tmp_path.iterdir()) == []
    bad = run_module(
        followup_schema_scratch, {"engine": "mysql", "tarball": "x", "sha256": "0", "release": "1.x", "migrations": {}}
    )
    assert bad["failed"] and "is not MAJOR.MINOR.PATCH" in bad["msg"]


def test_the_schema_module_needs_the_read_only_account_for_mongodb(tmp_path):
    (tmp_path / "mongodb.fact").write_text(json.dumps({"users": {"backup": "cdr_backup"}, "database": "cdr"}))
    result = run_module(followup_schema_facts, {"facts_dir": str(tmp_path)})
    assert result["failed"] and "no read-only MongoDB account" in result["msg"]
    empty = tmp_path / "none"
    empty.mkdir()
    assert run_module(followup_schema_facts, {"facts_dir": str(empty)})["schema"] == {"mysql": None, "mongodb": None}


# -- the command ---------------------------------------------------------------------------------------------------
def _live(tables, history):
    schema = _schema(tables, history)
    return {
        "data": {
            "schema": {
                "request": {"release": None, "known": ["1.0.0", "1.1.0"], "verified": None},
                "results": [{"host": "mysql1", "schema": {"mysql": schema, "mongodb": None}, "scratch": None}],
            }
        },
        "gates": {"schema_release": {"refused": []}},
    }


def _release(version, steps):
    final = steps[-1]["schema"]
    return {
        "data": {
            "schema": {
                "request": {"release": version, "known": ["1.0.0", "1.1.0"], "verified": version},
                "results": [
                    {
                        "host": "mysql1",
                        "schema": None,
                        "scratch": {
                            "schema": {"engine": "mysql", "databases": {"cloud_followup": final}},
                            "steps": {"cloud_followup": steps},
                        },
                    }
                ],
            }
        },
        "gates": {"schema_release": {"refused": []}},
    }


V1 = [
    {
        "version": "V001",
        "state": "success",
        "release": "1.0.0",
        "description": "create",
        "script": "V001__create.sql",
        "installed_on": "2026-02-02T01:00:00",
    }
]
V2 = [
    *V1,
    {
        "version": "V002",
        "state": "success",
        "release": "1.1.0",
        "description": "phone",
        "script": "V002__phone.sql",
        "installed_on": "2026-05-20T01:00:00",
    },
]
T1 = {"patients": _table([{"name": "id", "type": "bigint", "comment": "主键"}])}
T2 = {
    "patients": _table([{"name": "id", "type": "bigint", "comment": "主键"}, {"name": "phone", "type": "varchar(20)"}])
}


def test_schema_doc_documents_the_live_schema_and_records_it(runs, inventory, playbooks, capsys, tmp_path):
    canned, calls = playbooks
    canned.append(_live(T1, V1))
    out = tmp_path / "doc"
    assert cli.main(["schema", "doc", "-i", str(inventory), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "schema: live document, release 1.0.0" in printed and "mysql cloud_followup on mysql1: 1 tables" in printed
    assert calls[0]["playbook"] == "schema_doc.yml" and "followup_schema_release" not in calls[0]["extravars"]
    text = "".join(pdf_text(out / "schema-1.0.0.pdf"))
    assert "数据库表结构文档" in text and "patients" in text and "主键" in text and "迁移历史" in text
    record = json.loads(next(runs.glob("*-schema-doc/operation.json")).read_text())
    assert record["details"]["schema_release"] == "1.0.0" and record["report"]["data"]["schema"]["results"]
    assert [s["release"] for s in schemacmd.recorded_snapshots(inventory)] == ["1.0.0"]


def test_schema_doc_of_an_unknown_release_is_one_line_exit_1(runs, inventory, playbooks, capsys):
    canned, calls = playbooks
    canned.append(
        {
            "data": {
                "schema": {
                    "request": {"release": "9.9.9", "known": ["1.0.0", "1.1.0"], "verified": None},
                    "results": [],
                }
            }
        }
    )
    assert cli.main(["schema", "doc", "-i", str(inventory), "--release", "9.9.9"]) == 1
    err = capsys.readouterr().err
    assert "unknown release 9.9.9: the signed release index lists 1.0.0, 1.1.0" in err and err.count("\n") == 1
    assert calls[0]["extravars"]["followup_schema_release"] == "9.9.9"
    assert cli.main(["schema", "doc", "-i", str(inventory), "--release", "one"]) == 1
    assert "is not a release version" in capsys.readouterr().err


def test_schema_diff_between_two_recorded_documents_and_a_release_built_on_demand(
    runs, inventory, playbooks, capsys, tmp_path
):
    canned, calls = playbooks
    canned.append(_live(T1, V1))
    assert cli.main(["schema", "doc", "-i", str(inventory)]) == 0
    canned.append(_live(T2, V2))
    assert cli.main(["schema", "doc", "-i", str(inventory)]) == 0
    first, second = (s["operation"] for s in schemacmd.recorded_snapshots(inventory))
    capsys.readouterr()
    out = tmp_path / "diff"
    assert cli.main(["schema", "diff", first, second, "-i", str(inventory), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "schema diff 1.0.0 → 1.1.0: 1 change(s)" in printed and "migrations V002 phone" in printed
    assert "cloud_followup.patients: columns added" in printed
    pdf = next(out.glob("*.pdf"))
    text = "".join(pdf_text(pdf))
    assert "数据库表结构变更" in text and "phone" in text and "新增列" in text
    today = schemacmd.recorded_snapshots(inventory)[-1]["taken_at"][:10]
    assert cli.main(["schema", "diff", "1999-01-01", today, "-i", str(inventory)]) == 1
    assert "no live schema document" in capsys.readouterr().err
    # 1.1.0 has no release document yet: it is built (one playbook run with the release), then compared
    steps = [
        {"version": 1, "script": "V001__create.sql", "schema": {"tables": T1, "history": V1}},
        {"version": 2, "script": "V002__phone.sql", "schema": {"tables": T2, "history": V2}},
    ]
    canned.append(_release("1.1.0", steps))
    n = len(calls)
    assert cli.main(["schema", "diff", second, "1.1.0", "-i", str(inventory)]) == 0
    assert calls[n]["extravars"] == {"followup_schema_release": "1.1.0"} and len(calls) == n + 1
    printed = capsys.readouterr().out
    assert "0 change(s)" in printed, "the live schema at 1.1.0 equals release 1.1.0's"
    canned.append(_release("1.1.0", steps))
    assert cli.main(["schema", "diff", first, "1.1.0", "-i", str(inventory), "--out", str(out)]) == 0
    result = json.loads(next(out.glob(f"schema-diff-{first}-1.1.0.json")).read_text())
    assert [m["script"] for m in result["per_migration"]] == ["V002__phone.sql"], "only what 1.0.0 had not applied"
    assert result["per_migration"][0]["changes"]["tables_changed"]["patients"]["columns_added"][0]["name"] == "phone"
    assert cli.main(["schema", "diff", first, "7.7.7", "-i", str(inventory)]) == 1
    assert "unknown release 7.7.7: the signed release index lists 1.0.0, 1.1.0" in capsys.readouterr().err
    assert cli.main(["schema", "diff", "yesterday", "1.1.0", "-i", str(inventory)]) == 1
    assert "is neither a release" in capsys.readouterr().err
