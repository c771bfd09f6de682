# -*- coding: utf-8 -*-
# Table-structure documents (数据库表结构文档, R-SRC): the schema of the follow-up system's databases read from the
# servers, read-only, and compared between two points (two releases, two recorded times).
#
#   MySQL/MariaDB: information_schema (tables, columns, types, keys, indexes, comments, foreign keys, row estimates)
#   MongoDB/FerretDB: collections, indexes, and fields inferred by sampling documents (types and presence only —
#   never a value, so no patient datum reaches a document)
#
# A schema is plain data ({engine, databases: {db: {tables|collections, history}}}) so that it can be recorded in
# a run record and compared later. `diff` compares two schemas; `migrations_between` lists the migrations (from the
# databases' own history tables) that one schema has and the other has not.
# Used by library/followup_schema_facts.py, library/followup_schema_scratch.py and the command line. Runs on the
# managed host's Python (3.6 and later).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

HISTORY = "followup_schema_history"
# The migration runner's own bookkeeping (history, repairs, lock): not the follow-up system's schema.
RUNNER_PREFIXES = ("followup_schema_", "followup_migration_")
VERSION_RE = re.compile(r"\A([0-9]+)\.([0-9]+)\.([0-9]+)\Z")


def version_key(version):
    match = VERSION_RE.match(str(version or ""))
    return tuple(int(x) for x in match.groups()) if match else None


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# -- MySQL ---------------------------------------------------------------------------------------------------------
def _rows(cur, sql, args=None):
    cur.execute(sql, args)
    return list(cur.fetchall())


def mysql_schema(conn, databases):
    """The schema of DATABASES on the server CONN is connected to (a DictCursor connection)."""
    out = {"engine": "mysql", "databases": {}}
    with conn.cursor() as cur:
        version = _rows(cur, "SELECT VERSION() AS v")
        out["server_version"] = version[0]["v"] if version else None
        for db in databases:
            schemata = _rows(
                cur,
                "SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (db,),
            )
            if not schemata:
                out["databases"][db] = {"missing": True, "tables": {}, "history": []}
                continue
            out["databases"][db] = _mysql_database(cur, db, schemata[0])
    return out


def _mysql_database(cur, db, schemata):
    tables = {}
    for row in _rows(
        cur,
        "SELECT TABLE_NAME AS t, ENGINE AS engine, TABLE_ROWS AS n, DATA_LENGTH AS d, INDEX_LENGTH AS i, "
        "TABLE_COLLATION AS co, TABLE_COMMENT AS c FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    ):
        tables[row["t"]] = {
            "engine": row["engine"],
            "collation": row["co"],
            "comment": row["c"] or "",
            "rows": int(row["n"]) if row["n"] is not None else None,
            "data_bytes": int(row["d"] or 0),
            "index_bytes": int(row["i"] or 0),
            "columns": [],
            "indexes": [],
            "foreign_keys": [],
        }
    for row in _rows(
        cur,
        "SELECT TABLE_NAME AS t, COLUMN_NAME AS name, ORDINAL_POSITION AS pos, COLUMN_TYPE AS type, IS_NULLABLE AS n, "
        "COLUMN_DEFAULT AS d, EXTRA AS extra, COLUMN_KEY AS k, COLUMN_COMMENT AS c, CHARACTER_SET_NAME AS cs, "
        "COLLATION_NAME AS co FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, "
        "ORDINAL_POSITION",
        (db,),
    ):
        if row["t"] not in tables:
            continue
        tables[row["t"]]["columns"].append(
            {
                "name": row["name"],
                "position": int(row["pos"]),
                "type": row["type"],
                "nullable": row["n"] == "YES",
                "default": _plain(row["d"]),
                "extra": row["extra"] or "",
                "key": row["k"] or "",
                "comment": row["c"] or "",
                "charset": row["cs"],
                "collation": row["co"],
            }
        )
    indexes = {}
    for row in _rows(
        cur,
        "SELECT TABLE_NAME AS t, INDEX_NAME AS name, NON_UNIQUE AS nu, SEQ_IN_INDEX AS seq, COLUMN_NAME AS col, "
        "SUB_PART AS sub, INDEX_TYPE AS type, INDEX_COMMENT AS c FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        (db,),
    ):
        if row["t"] not in tables:
            continue
        key = (row["t"], row["name"])
        if key not in indexes:
            indexes[key] = {
                "name": row["name"],
                "unique": int(row["nu"]) == 0,
                "type": row["type"],
                "comment": row["c"] or "",
                "columns": [],
            }
            tables[row["t"]]["indexes"].append(indexes[key])
        indexes[key]["columns"].append(row["col"] + ("(%s)" % row["sub"] if row["sub"] else ""))
    fks = {}
    for row in _rows(
        cur,
        "SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_SCHEMA AS rs, "
        "k.REFERENCED_TABLE_NAME AS rt, k.REFERENCED_COLUMN_NAME AS rc, r.UPDATE_RULE AS up, r.DELETE_RULE AS del "
        "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        (db,),
    ):
        if row["t"] not in tables:
            continue
        key = (row["t"], row["name"])
        if key not in fks:
            ref = row["rt"] if row["rs"] == db else "%s.%s" % (row["rs"], row["rt"])
            fks[key] = {
                "name": row["name"],
                "columns": [],
                "references": ref,
                "ref_columns": [],
                "on_update": row["up"],
                "on_delete": row["del"],
            }
            tables[row["t"]]["foreign_keys"].append(fks[key])
        fks[key]["columns"].append(row["col"])
        fks[key]["ref_columns"].append(row["rc"])
    history = []
    if HISTORY in tables:
        history = mysql_history(cur, db)
    for name in [t for t in tables if t.startswith(RUNNER_PREFIXES)]:
        del tables[name]
    return {"charset": schemata["cs"], "collation": schemata["co"], "tables": tables, "history": history}


def mysql_history(cur, db):
    # an identifier cannot be a query parameter: the database name is quoted as MySQL quotes identifiers
    rows = _rows(cur, "SELECT * FROM `%s`.`%s`" % (db.replace("`", "``"), HISTORY))  # noqa: S608
    return normalise_history(rows)


def normalise_history(rows):
    """The migrations a database has applied (whatever columns its history table has), oldest first."""
    out = []
    for row in rows:
        state = row.get("state")
        if state is None and "success" in row:
            state = "success" if row.get("success") in (1, True, "1") else "failed"
        version = row.get("version")
        if isinstance(version, int) or re.match(r"\A[0-9]+\Z", str(version)):
            version = "V%03d" % int(version)
        out.append(
            {
                "version": str(version),
                "description": _plain(row.get("description")),
                "script": _plain(row.get("script")),
                "release": _plain(row.get("release") if row.get("release") is not None else row.get("release_version")),
                "installed_on": _plain(row.get("installed_on")),
                "state": _plain(state),
            }
        )
    out.sort(key=lambda r: (_version_number(r["version"]), r["installed_on"] or ""))
    return out


def _version_number(version):
    match = re.match(r"\AV?0*([0-9]+)", str(version))
    return int(match.group(1)) if match else 0


# -- MongoDB -------------------------------------------------------------------------------------------------------
def bson_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime.datetime):
        return "date"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, bytes):
        return "binData"
    name = type(value).__name__
    return {
        "ObjectId": "objectId",
        "Decimal128": "decimal",
        "Binary": "binData",
        "Timestamp": "timestamp",
        "Regex": "regex",
        "Int64": "long",
    }.get(name, name)


def infer_fields(documents, max_depth=4):
    """[{path, types: {type: n}, presence (percent of the documents that have it)}] of DOCUMENTS, by path.

    Nested documents give dotted paths; array elements give `<path>[]`. Values are never kept.
    """
    seen = {}
    total = 0

    def walk(value, path, depth, counted):
        kind = bson_type(value)
        entry = seen.setdefault(path, {"types": {}, "docs": set()})
        entry["types"][kind] = entry["types"].get(kind, 0) + 1
        entry["docs"].add(counted)
        if depth >= max_depth:
            return
        if kind == "object":
            for key in sorted(value):
                walk(value[key], "%s.%s" % (path, key), depth + 1, counted)
        elif kind == "array":
            for item in value:
                walk(item, path + "[]", depth + 1, counted)

    for number, doc in enumerate(documents):
        total += 1
        for key in sorted(doc):
            walk(doc[key], str(key), 1, number)
    fields = []
    for path in sorted(seen, key=lambda p: (p != "_id", p)):
        entry = seen[path]
        fields.append(
            {
                "path": path,
                "types": dict(sorted(entry["types"].items())),
                "presence": round(100.0 * len(entry["docs"]) / total, 1) if total else 0.0,
            }
        )
    return fields, total


def mongodb_schema(client, databases, sample=200):
    """Collections, indexes and sampled fields of DATABASES (a pymongo client)."""
    out = {"engine": "mongodb", "databases": {}}
    try:
        out["server_version"] = client["admin"].command("buildInfo").get("version")
    except Exception:
        out["server_version"] = None
    for name in databases:
        db = client[name]
        collections = {}
        history = []
        for coll in sorted(db.list_collection_names()):
            if coll.startswith("system."):
                continue
            if coll == HISTORY:
                history = normalise_history(list(db[coll].find({}, {"_id": 0})))
                continue
            if coll.startswith(RUNNER_PREFIXES):  # the migration runner's lock and repair records
                continue
            handle = db[coll]
            indexes = []
            for index_name, info in sorted(handle.index_information().items()):
                indexes.append(
                    {
                        "name": index_name,
                        "keys": [[str(k), _plain(d)] for k, d in info.get("key") or []],
                        "unique": bool(info.get("unique")),
                        "sparse": bool(info.get("sparse")),
                        "ttl_s": info.get("expireAfterSeconds"),
                    }
                )
            half = max(int(sample) // 2, 1)
            docs = list(handle.find().sort("_id", -1).limit(half))
            seen_ids = set(str(d.get("_id")) for d in docs)
            docs += [d for d in handle.find().sort("_id", 1).limit(half) if str(d.get("_id")) not in seen_ids]
            fields, sampled = infer_fields(docs)
            collections[coll] = {
                "count": handle.estimated_document_count(),
                "indexes": indexes,
                "fields": fields,
                "sampled": sampled,
            }
        out["databases"][name] = {"collections": collections, "history": history}
    return out


# -- releases, labels, differences ---------------------------------------------------------------------------------
def schema_release(schema):
    """The newest release whose migrations a schema has applied (from its history tables), or None."""
    best = None
    for db in (schema.get("databases") or {}).values():
        for row in db.get("history") or []:
            if row.get("state") not in (None, "success"):
                continue
            key = version_key(row.get("release"))
            if key and (best is None or key > version_key(best)):
                best = row["release"]
    return best


def applied(schema):
    """{database: [migration versions applied successfully]}."""
    out = {}
    for name, db in (schema.get("databases") or {}).items():
        out[name] = [r["version"] for r in db.get("history") or [] if r.get("state") in (None, "success")]
    return out


def _by_name(items, key="name"):
    return dict((item[key], item) for item in items or [])


def _changed(old, new, keys):
    return dict((k, [old.get(k), new.get(k)]) for k in keys if old.get(k) != new.get(k))


COLUMN_KEYS = ("type", "nullable", "default", "extra", "comment", "charset", "collation", "position")
TABLE_KEYS = ("engine", "collation", "comment")


def _diff_table(old, new):
    change = {}
    cols_old, cols_new = _by_name(old["columns"]), _by_name(new["columns"])
    added = [c for c in new["columns"] if c["name"] not in cols_old]
    removed = [c for c in old["columns"] if c["name"] not in cols_new]
    changed = {}
    for name in cols_old:
        if name in cols_new:
            keys = [k for k in COLUMN_KEYS if k != "position"]
            delta = _changed(cols_old[name], cols_new[name], keys)
            if delta:
                changed[name] = delta
    if added:
        change["columns_added"] = added
    if removed:
        change["columns_removed"] = removed
    if changed:
        change["columns_changed"] = changed
    for part, keys in (
        ("indexes", ("columns", "unique", "type")),
        ("foreign_keys", ("columns", "references", "ref_columns", "on_update", "on_delete")),
    ):
        a, b = _by_name(old.get(part)), _by_name(new.get(part))
        if [x for x in b if x not in a]:
            change[part + "_added"] = [b[x] for x in sorted(b) if x not in a]
        if [x for x in a if x not in b]:
            change[part + "_removed"] = [a[x] for x in sorted(a) if x not in b]
        moved = dict((x, _changed(a[x], b[x], keys)) for x in sorted(a) if x in b and _changed(a[x], b[x], keys))
        if moved:
            change[part + "_changed"] = moved
    table = _changed(old, new, TABLE_KEYS)
    if table:
        change["table_changed"] = table
    return change


def _diff_collection(old, new):
    change = {}
    a, b = _by_name(old.get("indexes")), _by_name(new.get("indexes"))
    if [x for x in b if x not in a]:
        change["indexes_added"] = [b[x] for x in sorted(b) if x not in a]
    if [x for x in a if x not in b]:
        change["indexes_removed"] = [a[x] for x in sorted(a) if x not in b]
    moved = dict(
        (x, _changed(a[x], b[x], ("keys", "unique", "sparse", "ttl_s")))
        for x in sorted(a)
        if x in b and _changed(a[x], b[x], ("keys", "unique", "sparse", "ttl_s"))
    )
    if moved:
        change["indexes_changed"] = moved
    fa, fb = _by_name(old.get("fields"), "path"), _by_name(new.get("fields"), "path")
    if [x for x in fb if x not in fa]:
        change["fields_added"] = [fb[x] for x in sorted(fb) if x not in fa]
    if [x for x in fa if x not in fb]:
        change["fields_removed"] = [fa[x] for x in sorted(fa) if x not in fb]
    retyped = dict(
        (x, [sorted(fa[x]["types"]), sorted(fb[x]["types"])])
        for x in sorted(fa)
        if x in fb and sorted(fa[x]["types"]) != sorted(fb[x]["types"])
    )
    if retyped:
        change["fields_retyped"] = retyped
    return change


def diff(old, new):
    """What changed from schema OLD to schema NEW, per database: objects added, removed and changed."""
    out = {}
    names = sorted(set(old.get("databases") or {}) | set(new.get("databases") or {}))
    for name in names:
        a = (old.get("databases") or {}).get(name)
        b = (new.get("databases") or {}).get(name)
        if a is None or b is None:
            out[name] = {"database_added": a is None, "database_removed": b is None}
            continue
        kind = "tables" if "tables" in a or "tables" in b else "collections"
        objs_a, objs_b = a.get(kind) or {}, b.get(kind) or {}
        entry = {}
        added = sorted(x for x in objs_b if x not in objs_a)
        removed = sorted(x for x in objs_a if x not in objs_b)
        if added:
            entry[kind + "_added"] = dict((x, objs_b[x]) for x in added)
        if removed:
            entry[kind + "_removed"] = removed
        changed = {}
        for x in sorted(objs_a):
            if x in objs_b:
                delta = (_diff_table if kind == "tables" else _diff_collection)(objs_a[x], objs_b[x])
                if delta:
                    changed[x] = delta
        if changed:
            entry[kind + "_changed"] = changed
        migrations = migrations_between(a, b)
        if migrations:
            entry["migrations"] = migrations
        if entry:
            out[name] = entry
    return out


def migrations_between(old_db, new_db):
    """The migrations NEW_DB has applied that OLD_DB had not (version, description, script, release)."""
    had = set(r["version"] for r in old_db.get("history") or [] if r.get("state") in (None, "success"))
    return [r for r in new_db.get("history") or [] if r.get("state") in (None, "success") and r["version"] not in had]


def strip_volatile(schema):
    """SCHEMA without what changes by itself (row estimates, sizes, sample counts): what a release defines."""
    out = {"engine": schema.get("engine"), "databases": {}}
    for name, db in (schema.get("databases") or {}).items():
        copy = {"history": db.get("history") or []}
        if "tables" in db:
            copy["tables"] = dict(
                (t, dict((k, v) for k, v in info.items() if k not in ("rows", "data_bytes", "index_bytes")))
                for t, info in db["tables"].items()
            )
        if "collections" in db:
            copy["collections"] = dict(
                (
                    c,
                    {
                        "indexes": info.get("indexes"),
                        "fields": [dict(f, presence=None) for f in info.get("fields") or []],
                    },
                )
                for c, info in db["collections"].items()
            )
        out["databases"][name] = copy
    return out


def count_changes(delta):
    """How many objects a diff adds, removes or changes (for one-line summaries)."""
    total = 0
    for entry in delta.values():
        for key, value in entry.items():
            if key == "migrations":
                continue
            if isinstance(value, (list, dict)):
                total += len(value)
            elif value:
                total += 1
    return total
