"""Migrations: names, order, Chinese-first descriptions, portable SQL, declarative ops, the 1.2.0 conversion."""

import importlib.util
import itertools
import re

import pytest
import yaml
from standin_paths import STANDIN

MIGRATIONS = STANDIN / "migrations"
DATABASES = {"mysql/cloud_followup": ".sql", "mysql/interface_data": ".sql", "mongodb/cdr": (".yml", ".py")}
NAME = re.compile(r"V(\d{3,})__([A-Za-z0-9_]+)\.(sql|yml|py)")
CJK = re.compile(r"[\u4e00-\u9fff]")
KNOWN_OPS = {"create_collection", "create_index", "drop_index", "update_many", "rename_collection"}


def files(folder):
    return sorted(p for p in (MIGRATIONS / folder).iterdir() if p.is_file() and p.suffix != ".pyc")


def all_files():
    return [p for folder in DATABASES for p in files(folder)]


@pytest.mark.parametrize("folder", sorted(DATABASES))
def test_names_and_contiguous_versions(folder):
    versions = []
    for path in files(folder):
        match = NAME.fullmatch(path.name)
        assert match, path.name
        assert path.suffix in DATABASES[folder], path.name
        versions.append(int(match.group(1)))
    assert versions == list(range(1, len(versions) + 1))


def test_catalogue_levels_exist():
    catalogue = yaml.safe_load((STANDIN / "releases.yml").read_text(encoding="utf-8"))
    last = catalogue["releases"][-1]["schema"]
    for engine, databases in last.items():
        for database, level in databases.items():
            assert len(files(f"{engine}/{database}")) == level, (engine, database)
    # 1.1.0 and 1.2.0 each bring migrations on MySQL and on MongoDB
    levels = [r["schema"] for r in catalogue["releases"]]
    for before, after in itertools.pairwise(levels):
        assert after["mysql"]["cloud_followup"] > before["mysql"]["cloud_followup"]
        assert after["mongodb"]["cdr"] > before["mongodb"]["cdr"]


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_first_line_is_a_chinese_first_description(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    marker = "-- " if path.suffix == ".sql" else "# "
    assert first.startswith(marker), path.name
    assert CJK.match(first[len(marker) :]), f"{path.name}: description must start in Chinese"


def sql_statements(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = [line for line in text.splitlines() if line.strip() and not re.match(r"\s*(--|#)", line)]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append(" ".join(current))
            current = []
    assert not current, "text after the last ';'"
    return statements


@pytest.mark.parametrize("path", [p for p in all_files() if p.suffix == ".sql"], ids=lambda p: p.name)
def test_sql_is_portable(path):
    text = path.read_text(encoding="utf-8")
    statements = sql_statements(text)
    assert statements
    upper = text.upper()
    assert "DELIMITER" not in upper
    assert not re.search(r"ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS", upper)
    assert not re.search(r"\bCHECK\s*\(", upper)
    assert "JSON" not in re.sub(r"'[^']*'|--.*", "", upper).replace("(JSON ARRAY)", "")
    for statement in statements:
        if statement.upper().lstrip().startswith("CREATE TABLE"):
            assert "ENGINE=InnoDB" in statement and "CHARSET=utf8mb4" in statement, statement[:60]
    ddl = any(re.match(r"\s*(CREATE|ALTER|DROP)\b", s, re.I) for s in statements)
    dml = any(re.match(r"\s*(INSERT|UPDATE|DELETE)\b", s, re.I) for s in statements)
    assert not (ddl and dml), f"{path.name} mixes DDL and data changes"


def test_data_changing_mysql_migrations_repeat_safely():
    for name in ("V003__backfill_task_status_code.sql", "V006__backfill_task_attempts.sql"):
        text = (MIGRATIONS / "mysql/cloud_followup" / name).read_text(encoding="utf-8")
        assert re.search(r"WHERE .*(IS NULL|= 0)", text, re.S), name


@pytest.mark.parametrize("path", [p for p in all_files() if p.suffix == ".yml"], ids=lambda p: p.name)
def test_declarative_mongodb_migrations(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert CJK.match(data["description"])
    assert data["operations"]
    for operation in data["operations"]:
        ((kind, args),) = operation.items()
        assert kind in KNOWN_OPS
        if kind == "create_index":
            assert args["name"].startswith("ix_") and args["keys"]
            assert all(len(key) == 2 and key[1] in (1, -1) for key in args["keys"])


def load_v003():
    path = MIGRATIONS / "mongodb/cdr/V003__convert_call_duration_and_result.py"
    spec = importlib.util.spec_from_file_location("v003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeCollection:
    """Top-level equality filters, $set, distinct: enough for the V003 migration."""

    def __init__(self, docs):
        self.docs = docs
        self.calls = 0

    def distinct(self, field):
        values = []
        for doc in self.docs:
            if field in doc and doc[field] not in values:
                values.append(doc[field])
        return values

    def update_many(self, query, update):
        self.calls += 1
        modified = 0
        for doc in self.docs:
            if all(doc.get(k) == v and type(doc.get(k)) is type(v) for k, v in query.items()):
                new = {**doc, **update["$set"]}
                if new != doc:
                    doc.update(update["$set"])
                    modified += 1
        return type("Result", (), {"modified_count": modified})()


def test_v003_converts_duration_and_result_and_is_idempotent(capsys):
    module = load_v003()
    docs = [
        {"_id": "a", "duration": "03:25", "result": "接通"},
        {"_id": "b", "duration": "00:00", "result": "忙线"},
        {"_id": "c", "duration": "1:02:03", "result": "无人接听"},
        {"_id": "d", "duration": "garbled", "result": "失败"},
        {"_id": "e", "duration": 42, "result": "answered", "result_text": "接通"},
    ]
    db = {"call_records": FakeCollection(docs)}
    first = module.up(db)
    assert docs[0] == {"_id": "a", "duration": 205, "result": "answered", "result_text": "接通"}
    assert docs[1]["duration"] == 0 and docs[1]["result"] == "busy"
    assert docs[2]["duration"] == 3723 and docs[2]["result"] == "no_answer"
    assert docs[3]["duration"] is None and docs[3]["duration_text"] == "garbled" and docs[3]["result"] == "failed"
    assert docs[4] == {"_id": "e", "duration": 42, "result": "answered", "result_text": "接通"}
    assert first["changes"] == 8
    snapshot = [dict(doc) for doc in docs]
    second = module.up(db)
    assert second["changes"] == 0 and docs == snapshot
    assert "call_records" in capsys.readouterr().out


def test_v003_plans_one_update_per_old_value():
    module = load_v003()
    planned = module.updates(["00:10", 7, "00:10x", "01:00"])
    filters = [query for query, _ in planned]
    assert {"duration": "00:10"} in filters and {"duration": "01:00"} in filters
    assert {"duration": 7} not in filters
    assert len(planned) == 4 + 3
