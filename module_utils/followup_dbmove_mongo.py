# -*- coding: utf-8 -*-
# followup-ops: the MongoDB side of a database move (docs/migration.md). Two ways:
#   - dump/restore inside a maintenance window (FerretDB, which has no replication, and a standalone mongod): the
#     source is made read-only (FerretDB: its PostgreSQL database refuses writes; mongod: fsyncLock), mongodump |
#     mongorestore streams cdr to the target, both are compared, the applications move;
#   - replica set (mongod in production): the target joins as a hidden member, catches up, is given the highest
#     priority and the primary steps down to it; the old member stays until finish.
# Plus what both verify: per collection the document count, digests of the documents in _id order (in chunks, so a
# difference is located), the indexes, and the users. The lab proves dump/restore on FerretDB only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import subprocess
import threading
import time

from ansible.module_utils.followup_dbmove import MONGODB_SYSTEM_DATABASES, MoveError

try:
    import pymongo
    from bson import json_util

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    pymongo = None
    json_util = None
    HAS_PYMONGO = False

OPTION_DIR = "/etc/followup-dbmove"
SYSTEM_COLLECTION_PREFIX = "system."


def client(uri, timeout_ms=10000):
    if not HAS_PYMONGO:
        raise MoveError("pymongo is missing on this host: install python3-pymongo (the mongodb role does)")
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)


def uri_for(user, password, host, port, database, options):
    """A connection string; the password is URL-quoted. Never logged: the modules take it as a no_log option."""
    try:
        from urllib.parse import quote_plus
    except ImportError:  # pragma: no cover - Python 2
        from urllib import quote_plus
    return "mongodb://%s:%s@%s:%s/%s?%s" % (quote_plus(user), quote_plus(password), host, int(port), database, options)


def user_data(cli):
    """Databases that hold collections (anything but admin, local, config)."""
    found = []
    for name in cli.list_database_names():
        if name in MONGODB_SYSTEM_DATABASES:
            continue
        cols = [c for c in cli[name].list_collection_names() if not c.startswith(SYSTEM_COLLECTION_PREFIX)]
        if cols:
            found.append(name)
    return sorted(found)


def engine_facts(cli, database):
    stats = cli[database].command("dbStats")
    info = cli.admin.command("buildInfo")
    hello = cli.admin.command("ismaster")
    return {
        "running": True,
        "version": info.get("version"),
        "ferretdb": "ferretdb" in json.dumps(info, default=str).lower(),
        "data_bytes": int(stats.get("dataSize") or 0) + int(stats.get("indexSize") or 0),
        "collections": int(stats.get("collections") or 0),
        "objects": int(stats.get("objects") or 0),
        "replica_set": hello.get("setName"),
        "primary": bool(hello.get("ismaster")),
        "user_data": user_data(cli),
    }


# -- verification --------------------------------------------------------------------------------------------------
def canonical(doc):
    """A document as canonical extended JSON with sorted keys: the same bytes for the same data whatever the engine
    stored the fields in (FerretDB and mongod may order them differently)."""
    return json.dumps(
        json.loads(json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def collection_digest(coll, chunk_docs=10000):
    """{count, digest, chunks: [[first _id, last _id, count, digest], ...]} over the documents in _id order."""
    total = hashlib.sha256()
    chunks, count = [], 0
    current, first, n = hashlib.sha256(), None, 0
    last = None
    for doc in coll.find({}, sort=[("_id", 1)], batch_size=1000):
        line = canonical(doc).encode("utf-8")
        total.update(line)
        total.update(b"\n")
        current.update(line)
        current.update(b"\n")
        if first is None:
            first = doc.get("_id")
        last = doc.get("_id")
        n += 1
        count += 1
        if n >= chunk_docs:
            chunks.append([str(first), str(last), n, current.hexdigest()])
            current, first, n = hashlib.sha256(), None, 0
    if n:
        chunks.append([str(first), str(last), n, current.hexdigest()])
    return {"count": count, "digest": total.hexdigest(), "chunks": chunks}


def index_specs(coll):
    out = {}
    for idx in coll.list_indexes():
        key = [[k, v if isinstance(v, str) else int(v)] for k, v in idx["key"].items()]
        out[idx["name"]] = {
            "key": key,
            "unique": bool(idx.get("unique", False)),
            "sparse": bool(idx.get("sparse", False)),
        }
    return out


INDEX_OPTIONS = (
    "unique",
    "sparse",
    "expireAfterSeconds",
    "partialFilterExpression",
    "collation",
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
    "2dsphereIndexVersion",
    "bits",
    "min",
    "max",
)


def copy_indexes(source_cli, target_cli, database):
    """Create on the target every index of the source's collections (name, keys and the options that define it),
    as createIndexes with only the options both engines know. Returns the names created."""
    made = []
    src, tgt = source_cli[database], target_cli[database]
    for name in sorted(src.list_collection_names()):
        if name.startswith(SYSTEM_COLLECTION_PREFIX):
            continue
        have = set(i["name"] for i in tgt[name].list_indexes()) if name in tgt.list_collection_names() else set()
        specs = []
        for idx in src[name].list_indexes():
            if idx["name"] == "_id_" or idx["name"] in have:
                continue
            spec = {"key": idx["key"], "name": idx["name"]}
            spec.update((k, idx[k]) for k in INDEX_OPTIONS if k in idx)
            specs.append(spec)
        if specs:
            tgt.command("createIndexes", name, indexes=specs)
            made += ["%s.%s" % (name, s["name"]) for s in specs]
    return made


def snapshot(cli, database, chunk_docs=10000):
    """Every collection of DATABASE: digest and indexes (system collections and FerretDB's metadata left out)."""
    db = cli[database]
    out = {}
    for name in sorted(db.list_collection_names()):
        if name.startswith(SYSTEM_COLLECTION_PREFIX):
            continue
        coll = db[name]
        info = collection_digest(coll, chunk_docs)
        info["indexes"] = index_specs(coll)
        out[name] = info
    return out


def compare_snapshots(source, target, at_least=False):
    """Differences between two snapshots, shaped like the MySQL verification (followup_dbmove.verify_refusals).

    AT_LEAST: the target has taken writes since the copy (after a cutover by dump/restore): it must hold at least
    the source's documents' count per collection, and the same indexes; digests are not comparable then."""
    tables, indexes = {}, []
    for name in sorted(set(source) | set(target)):
        a, b = source.get(name), target.get(name)
        if a is None or b is None:
            if a is None and at_least:
                continue
            tables[name] = {"equal": False, "missing": "source" if a is None else "target"}
            continue
        if at_least:
            equal = b["count"] >= a["count"]
            tables[name] = {"equal": equal, "counts": [a["count"], b["count"]], "chunks_differ": []}
        else:
            differ = []
            for i, (x, y) in enumerate(zip(a["chunks"], b["chunks"], strict=False)):
                if x != y:
                    differ.append({"chunk": i + 1, "range": "%s <= _id <= %s" % (x[0], x[1]), "rows": [x[2], y[2]]})
            if len(a["chunks"]) != len(b["chunks"]) and not differ:
                differ.append(
                    {
                        "chunk": min(len(a["chunks"]), len(b["chunks"])) + 1,
                        "range": "after the last common chunk",
                        "rows": [a["count"], b["count"]],
                    }
                )
            tables[name] = {
                "equal": a["digest"] == b["digest"] and a["count"] == b["count"],
                "counts": [a["count"], b["count"]],
                "chunks": len(a["chunks"]),
                "chunks_differ": differ,
            }
        for idx in sorted(set(a["indexes"]) | set(b["indexes"])):
            if a["indexes"].get(idx) != b["indexes"].get(idx):
                where = (
                    "only on the source"
                    if idx not in b["indexes"]
                    else ("only on the target" if idx not in a["indexes"] else "defined differently")
                )
                indexes.append("%s index %s %s" % (name, idx, where))
    return {
        "tables": tables,
        "indexes": {"differ": indexes},
        "equal": all(t["equal"] for t in tables.values()) and not indexes,
    }


def verify(source_cli, target_cli, database, chunk_docs=10000, at_least=False, clock=time.monotonic):
    started = clock()
    results = {}
    errors = []

    def take(name, cli):
        try:
            results[name] = snapshot(cli, database, chunk_docs)
        except Exception as err:  # reported with the side
            errors.append("%s: %s" % (name, err))

    threads = [
        threading.Thread(target=take, args=("source", source_cli)),
        threading.Thread(target=take, args=("target", target_cli)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise MoveError("reading the collections failed on the %s" % errors[0])
    out = compare_snapshots(results["source"], results["target"], at_least=at_least)
    docs = sum(c["count"] for c in results["source"].values())
    seconds = clock() - started
    out.update(
        rows=docs,
        seconds=round(seconds, 2),
        rows_per_s=round(docs / seconds, 1) if seconds > 0 else None,
        at_least=at_least,
    )
    return out


# -- dump/restore --------------------------------------------------------------------------------------------------
def option_file(name, password):
    """A mongodump/mongorestore --config file (0600) holding only the password, never on a command line."""
    if not os.path.isdir(OPTION_DIR):
        os.makedirs(OPTION_DIR, 0o700)
    path = os.path.join(OPTION_DIR, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("password: %s\n" % json.dumps(password))
    return path


def copy_commands(tools_dir, source_uri, source_config, target_uri, target_config, database):
    """mongodump of DATABASE from the source into mongorestore on this host (--drop: the target's copy is replaced
    collection by collection). The URIs carry no password: it is in the --config files."""
    dump = [
        os.path.join(tools_dir, "mongodump"),
        "--config=%s" % source_config,
        "--uri=%s" % source_uri,
        "--db=%s" % database,
        "--archive",
        "--quiet",
    ]
    # Indexes are made afterwards by copy_indexes: mongorestore hands createIndexes options FerretDB refuses ("ns").
    restore = [
        os.path.join(tools_dir, "mongorestore"),
        "--config=%s" % target_config,
        "--uri=%s" % target_uri,
        "--archive",
        "--drop",
        "--nsInclude=%s.*" % database,
        "--quiet",
        "--stopOnError",
        "--noIndexRestore",
    ]
    return dump, restore


def stream(dump_cmd, restore_cmd, chunk=1 << 20, clock=time.monotonic):
    """DUMP_CMD | RESTORE_CMD through this process, counting bytes; nothing on disk."""
    started = clock()
    dump = subprocess.Popen(dump_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.Popen(restore_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errs = {}

    def drain(name, s):
        errs[name] = s.read()

    threads = [
        threading.Thread(target=drain, args=(n, s))
        for n, s in (("dump", dump.stderr), ("load", load.stderr), ("out", load.stdout))
    ]
    for t in threads:
        t.daemon = True
        t.start()
    total, broken = 0, None
    try:
        while True:
            data = dump.stdout.read(chunk)
            if not data:
                break
            total += len(data)
            try:
                load.stdin.write(data)
            except (IOError, OSError) as err:
                broken = err
                break
    finally:
        with contextlib.suppress(IOError, OSError):
            load.stdin.close()
        if broken:
            dump.kill()
        dump.wait()
        load.wait()
        for t in threads:
            t.join(10)

    def last(name):
        lines = (errs.get(name) or b"").decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no message"

    if dump.returncode != 0:
        raise MoveError("mongodump of the source failed (exit %s: %s)" % (dump.returncode, last("dump")))
    if load.returncode != 0 or broken:
        raise MoveError("mongorestore into this host failed (exit %s: %s)" % (load.returncode, last("load")))
    seconds = max(clock() - started, 1e-6)
    return {"bytes": total, "seconds": round(seconds, 2), "mb_s": round(total / 1e6 / seconds, 2)}


# -- read-only source ----------------------------------------------------------------------------------------------
def ferretdb_read_only_sql(database, on):
    """FerretDB keeps cdr in a PostgreSQL database: refuse writes there for every role, and end the sessions opened
    before, so FerretDB's pool reconnects read-only (reads go on). Persistent: a restart keeps it."""
    ident = '"%s"' % database.replace('"', '""')
    if on:
        setting = "ALTER DATABASE %s SET default_transaction_read_only = on" % ident
    else:
        setting = "ALTER DATABASE %s RESET default_transaction_read_only" % ident
    lit = "'%s'" % database.replace("'", "''")
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "  # noqa: S608 - quoted
        "AND pid <> pg_backend_pid()" % lit
    )
    return [setting, terminate]


def ferretdb_read_only_state_sql(database):
    lit = "'%s'" % database.replace("'", "''")
    return (
        "SELECT COALESCE((SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d "  # noqa: S608
        "ON d.oid = s.setdatabase WHERE d.datname = %s AND s.setrole = 0), '')" % lit
    )


def psql(sql, database="postgres"):
    """Run SQL as the postgres superuser over the local socket (peer authentication); its first output line."""
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        raise MoveError("PostgreSQL refused %s: %s" % (sql.split()[0], proc.stderr.decode("utf-8", "replace").strip()))
    return proc.stdout.decode("utf-8", "replace").strip()


def ferretdb_is_read_only(database):
    return "default_transaction_read_only=on" in psql(ferretdb_read_only_state_sql(database))


def ferretdb_set_read_only(database, on):
    if ferretdb_is_read_only(database) == bool(on):
        return False
    for sql in ferretdb_read_only_sql(database, on):
        psql(sql)
    return True


def ferretdb_users(database, schema, names):
    """The MongoDB accounts of FerretDB (PostgreSQL roles) and their rights on schema SCHEMA, without secrets."""
    out = {}
    schema = schema.replace("'", "''")
    for name in names:
        lit = "'%s'" % name.replace("'", "''")
        row = psql(
            "SELECT rolcanlogin::text || ',' || rolsuper::text || ',' || "  # noqa: S608 - quoted literals
            "COALESCE(has_schema_privilege(%s, '%s', 'USAGE')::text, 'f') || ',' || "
            "COALESCE(has_schema_privilege(%s, '%s', 'CREATE')::text, 'f') || ',' || "
            "COALESCE((SELECT pg_get_userbyid(nspowner) = %s FROM pg_namespace WHERE nspname = '%s')::text, 'f')"
            " FROM pg_roles WHERE rolname = %s" % (lit, schema, lit, schema, lit, schema, lit),
            database,
        )
        if not row:
            out[name] = None
            continue
        login, superuser, usage, create, owner = row.split(",")
        out[name] = {
            "login": login == "true",
            "superuser": superuser == "true",
            "usage": usage == "true",
            "create": create == "true",
            "owner": owner == "true",
        }
    return out


def mongod_users(cli, database):
    info = cli[database].command("usersInfo")
    out = {}
    for user in info.get("users", []):
        out["%s.%s" % (user.get("db"), user.get("user"))] = sorted(
            "%s@%s" % (r.get("role"), r.get("db")) for r in user.get("roles", [])
        )
    return out


def mongod_lock(cli, on):
    if on:
        cli.admin.command("fsync", lock=True)
    else:
        cli.admin.command("fsyncUnlock")


# -- replica set ---------------------------------------------------------------------------------------------------
def rs_config(cli):
    return cli.admin.command("replSetGetConfig")["config"]


def rs_member(config, host):
    for m in config["members"]:
        if m["host"] == host:
            return m
    return None


def rs_add(cli, host):
    """Add HOST as a member that cannot vote or be elected until it has caught up; True when it changed."""
    config = rs_config(cli)
    if rs_member(config, host):
        return False
    config["version"] += 1
    config["members"].append(
        {"_id": max(m["_id"] for m in config["members"]) + 1, "host": host, "priority": 0, "votes": 0, "hidden": True}
    )
    cli.admin.command("replSetReconfig", config)
    return True


def rs_state(cli, host):
    """(state, seconds behind the primary) of HOST."""
    status = cli.admin.command("replSetGetStatus")
    primary = [m for m in status["members"] if m.get("stateStr") == "PRIMARY"]
    member = [m for m in status["members"] if m.get("name") == host]
    if not member:
        return "absent", None
    behind = None
    if primary and member[0].get("optimeDate") and primary[0].get("optimeDate"):
        behind = max((primary[0]["optimeDate"] - member[0]["optimeDate"]).total_seconds(), 0)
    return member[0].get("stateStr"), behind


def rs_promote(cli, host, step_down_s=60, catch_up_s=10):
    """Make HOST (a caught-up member) the primary: highest priority with a vote, then the primary steps down."""
    config = rs_config(cli)
    member = rs_member(config, host)
    if member is None:
        raise MoveError("%s is not a member of the replica set: run sync first" % host)
    for m in config["members"]:
        if m["host"] == host:
            m.update(priority=10, votes=1, hidden=False)
        elif m.get("priority", 1) >= 10:
            m["priority"] = 1
    config["version"] += 1
    cli.admin.command("replSetReconfig", config)
    # The primary closes its connections when it steps down.
    with contextlib.suppress(pymongo.errors.AutoReconnect):
        cli.admin.command("replSetStepDown", step_down_s, secondaryCatchUpPeriodSecs=catch_up_s)


def rs_remove(cli, host):
    config = rs_config(cli)
    if not rs_member(config, host):
        return False
    config["members"] = [m for m in config["members"] if m["host"] != host]
    config["version"] += 1
    cli.admin.command("replSetReconfig", config)
    return True
