# -*- coding: utf-8 -*-
# followup-ops backups, the database hosts' side: take a MySQL/MariaDB or MongoDB backup and send it to the backup
# host, ship binary logs, restore (with point-in-time recovery for MySQL) and verify a restored copy against the
# manifest. Used by the modules (followup_backup_dump, followup_backup_binlogs, followup_restore,
# followup_backup_drill) and by the timers' agent installed by roles/backup. See docs/backup.md.
#
# Credentials: the dump account's option file (/etc/followup-backup/mysql-backup.cnf, mongodb-backup.conf, 0600
# root) written by the role; passwords given to a module (restore, drill) reach the tools through a pipe
# (/dev/fd/N); the age identity only ever through a pipe. Nothing here puts a secret on a command line.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import json
import os
import subprocess
import threading
import time

try:
    from ansible.module_utils.followup_backup import (
        BackupError,
        MongoArchiveDigest,
        MongoArchiveIndexes,
        MysqlDumpDigest,
        NullDigest,
        Target,
        archive_relpath,
        binlog_index,
        binlog_relpath,
        binlogs_from,
        build_manifest,
        compare_objects,
        find_statement_position,
        manifest_relpath,
        mongo_collection_digest,
        mysqldump_argv,
        new_backup_id,
        parse_mariabackup_position,
        position_args,
        secret_fd,
        stream_backup,
        stream_restore,
    )
except ImportError:  # the timers' agent on the host, installed next to followup_backup.py
    from followup_backup import (  # type: ignore[no-redef]
        BackupError,
        MongoArchiveDigest,
        MongoArchiveIndexes,
        MysqlDumpDigest,
        NullDigest,
        Target,
        archive_relpath,
        binlog_index,
        binlog_relpath,
        binlogs_from,
        build_manifest,
        compare_objects,
        find_statement_position,
        manifest_relpath,
        mongo_collection_digest,
        mysqldump_argv,
        new_backup_id,
        parse_mariabackup_position,
        position_args,
        secret_fd,
        stream_backup,
        stream_restore,
    )

CONFIG_PATH = "/etc/followup-backup/agent.json"
STATE_DIR = "/var/lib/followup-backup"
# Free space the backup host must keep beyond the estimate (a full disk there stops every later backup).
RESERVE_BYTES = 256 * 1024 * 1024


def load_config(path=CONFIG_PATH):
    try:
        with open(path) as handle:
            config = json.load(handle)
    except OSError as err:
        raise BackupError("%s cannot be read (%s): apply the backup role to this host first" % (path, err.strerror))
    except ValueError as err:
        raise BackupError("%s is not valid JSON (%s): apply the backup role again" % (path, err))
    for key in ("host", "target", "recipients"):
        if key not in config:
            raise BackupError("%s has no %s: apply the backup role again" % (path, key))
    return config


def target_of(config):
    t = config["target"]
    return Target(t["host"], t["user"], t["key"], t["known_hosts"], port=t.get("port", 22))


# -- MySQL -------------------------------------------------------------------------------------------------------------
def mysql_client(m, sql, defaults_file=None, socket=None, timeout=120):
    """Run SQL with the mysql client (option file, never a password argument); rows as lists of strings."""
    argv = [m.get("client_tool", "mysql")]
    defaults = defaults_file if defaults_file is not None else m.get("defaults_file")
    if defaults:
        argv.append("--defaults-extra-file=%s" % defaults)
    sock = socket if socket is not None else m.get("socket")
    if sock:
        argv.append("--socket=%s" % sock)
    argv += ["--batch", "--skip-column-names", "--raw"]
    proc = subprocess.run(argv, input=sql.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0:
        raise BackupError("mysql: %s" % proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:])
    return [line.split("\t") for line in proc.stdout.decode("utf-8", "replace").splitlines()]


def _sql_list(names):
    return ", ".join("'%s'" % n.replace("\\", "\\\\").replace("'", "''") for n in names)


def mysql_estimate(m, databases=None, **conn):
    sql = "SELECT COALESCE(SUM(data_length + index_length), 0), COUNT(*) FROM information_schema.tables WHERE "
    sql += "table_schema IN (%s)" % _sql_list(databases or m["databases"])  # names quoted by _sql_list
    rows = mysql_client(m, sql, **conn)
    return int(float(rows[0][0])), int(rows[0][1])


def mysql_table_count(m, databases, **conn):
    return mysql_estimate(m, databases, **conn)[1]


def mysql_server_info(m, **conn):
    rows = mysql_client(m, "SELECT VERSION(), @@log_bin, @@binlog_format, @@server_id", **conn)
    version, log_bin, fmt, server_id = rows[0]
    return {"version": version, "log_bin": log_bin == "1", "binlog_format": fmt, "server_id": int(server_id)}


def mysql_backup(config, method="logical", when=None):
    """Take a MySQL/MariaDB backup, send it and its manifest to the backup host; returns the manifest."""
    m = config["mysql"]
    target = target_of(config)
    info = mysql_server_info(m)
    bid = new_backup_id("mysql", config["host"], method, when)
    relpath = archive_relpath(bid)
    started = time.time()
    if method == "logical":
        argv = mysqldump_argv(
            m.get("dump_tool", "mysqldump"),
            m.get("defaults_file"),
            m["databases"],
            m.get("socket"),
            position_args(m.get("flavour", "mariadb"), info["log_bin"]),
        )
        digest = MysqlDumpDigest()
        tool = os.path.basename(argv[0])
    else:
        tool = m.get("physical_tool", "mariabackup")
        argv = [tool]
        if m.get("physical_defaults_file"):
            argv.append("--defaults-extra-file=%s" % m["physical_defaults_file"])
        argv += ["--backup", "--stream=xbstream", "--target-dir=/tmp"]
        if m.get("socket"):
            argv.append("--socket=%s" % m["socket"])
        if tool == "mariabackup":
            argv.append("--user=root")
        digest = NullDigest()
    result = stream_backup(argv, digest, config["recipients"], target.sink(relpath))
    finished = time.time()
    found = result["digest"]
    position = found.get("position") or {}
    if method == "physical":
        position = parse_mariabackup_position(result["producer_stderr"]) or position
    pitr = (
        {"possible": True, "via": "binlog", "from": position}
        if info["log_bin"] and position.get("file")
        else {"possible": False, "reason": "the server writes no binary log (log_bin is off)"}
    )
    manifest = build_manifest(
        bid,
        "mysql",
        method,
        config["host"],
        info["version"],
        tool,
        started,
        finished,
        m["databases"],
        position,
        pitr,
        found.get("objects"),
        {"path": relpath, "sha256": result["sha256"], "bytes": result["bytes"]},
        result["plaintext_bytes"],
        config["recipients"],
    )
    target.put_bytes(manifest_relpath(bid), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def ship_binlogs(config, state_dir=STATE_DIR, flush=True):
    """Close the current binary log and send every closed one not yet on the backup host. Returns what was sent."""
    m = config["mysql"]
    binlog = m.get("binlog") or {}
    if not binlog.get("index"):
        raise BackupError("binary log shipping is not configured (backup_mysql_binlog_index): enable log_bin first")
    target = target_of(config)
    if flush:
        mysql_client(m, "FLUSH BINARY LOGS")
    names = binlog_index(binlog["index"])
    closed = names[:-1]
    state_path = os.path.join(state_dir, "binlogs-shipped.json")
    try:
        with open(state_path) as handle:
            shipped = set(json.load(handle))
    except (OSError, ValueError):
        shipped = set()
    sent = []
    directory = os.path.dirname(binlog["index"])
    for name in closed:
        if name in shipped:
            continue
        relpath = binlog_relpath(config["host"], name)
        try:
            result = stream_backup(
                ["cat", os.path.join(directory, name)], NullDigest(), config["recipients"], target.sink(relpath)
            )
            sent.append({"name": name, "bytes": result["bytes"], "sha256": result["sha256"]})
        except BackupError as err:
            if "exists" not in str(err):
                raise
        shipped.add(name)
        _write_json(state_path, sorted(shipped & set(names)) + sorted(shipped - set(names)))
    return {"sent": sent, "current": names[-1] if names else None, "closed": len(closed)}


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def mysql_dump_digest(m, databases, socket=None, defaults_file=None):
    """Per-table counts and checksums of DATABASES as a dump of them reads now (for a restored copy)."""
    argv = mysqldump_argv(m.get("dump_tool", "mysqldump"), defaults_file, databases, socket)
    digest = MysqlDumpDigest()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    thread = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    thread.start()
    for block in iter(lambda: proc.stdout.read(1 << 20), b""):
        digest.feed(block)
    code = proc.wait()
    thread.join(5)
    if code != 0:
        raise BackupError("dumping the restored copy failed: %s" % (b"".join(err).decode("utf-8", "replace").strip()))
    return digest.finish()["objects"]


def utc_datetime(text):
    """An --until time (ISO 8601, e.g. 2026-12-01T20:30:00Z or with +08:00) as a UTC datetime."""
    value = str(text).strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BackupError("--until %r is not a time such as 2026-12-01T20:30:00Z or 2026-12-01T20:30:00+08:00" % text)
    if when.tzinfo is None:
        raise BackupError("--until %r has no time zone: add Z (UTC) or an offset such as +08:00" % text)
    return when.astimezone(datetime.timezone.utc)


def mysql_restore(
    m,
    manifest,
    identity,
    source_argv,
    binlog_sources=(),
    until=None,
    stop_before=None,
    overwrite=False,
    socket=None,
    defaults_file=None,
    verify=True,
):
    """Restore a logical MySQL backup into the server reached by SOCKET/DEFAULTS_FILE (root over its socket).

    SOURCE_ARGV writes the stored archive to stdout (ssh ... get PATH, or cat on the backup host). BINLOG_SOURCES:
    (name, argv) of the shipped binary logs from the backup's position on, applied up to UNTIL or to just before
    the transaction holding the statement STOP_BEFORE. Returns what was restored, how long it took and the
    comparison with the manifest.
    """
    if manifest.get("method") != "logical":
        raise BackupError(
            "backup %s is a physical backup: restore it with the drill (prepare and copy back) or "
            "choose a logical one" % manifest["id"]
        )
    conn = {"socket": socket, "defaults_file": defaults_file}
    databases = manifest["databases"]
    tables = mysql_table_count(m, databases, **conn)
    if tables and not overwrite:
        raise BackupError(
            "the target already holds %d tables in %s: restoring would overwrite them; pass the explicit overwrite "
            "flag (followup-ops restore --overwrite-nonempty) if that is what you want" % (tables, ", ".join(databases))
        )
    client = [m.get("client_tool", "mysql")]
    if defaults_file or m.get("restore_defaults_file"):
        client.append("--defaults-extra-file=%s" % (defaults_file or m.get("restore_defaults_file")))
    if socket:
        client.append("--socket=%s" % socket)
    started = time.time()
    try:
        # The restore itself is not written to the target's binary log: the logs stay what the application did,
        # so a later point-in-time recovery never replays a restore.
        result = stream_restore(
            source_argv,
            identity,
            [*client, "--binary-mode", "--init-command=SET SESSION sql_log_bin=0"],
            expect_sha256=manifest["archive"]["sha256"],
        )
    except BackupError:
        if not tables:
            _drop_databases(m, databases, conn)
        raise
    # A restore over data leaves the target as the backup was: tables made after the backup (a migration's new
    # table) would otherwise stay, and a later replay of the binary logs or migration would find them.
    load_conn = {"socket": socket, "defaults_file": defaults_file or m.get("restore_defaults_file")}
    dropped = _drop_tables_not_in(m, manifest, databases, load_conn) if tables else []
    loaded = time.time()
    out = {
        "id": manifest["id"],
        "databases": databases,
        "dropped_tables": dropped,
        "bytes": result["bytes"],
        "plaintext_bytes": manifest["archive"].get("plaintext_bytes"),
        "load_s": round(loaded - started, 3),
        "throughput_mb_s": round(
            (manifest["archive"].get("plaintext_bytes") or 0) / 1e6 / max(loaded - started, 1e-6), 2
        ),
        "overwrote_tables": tables,
    }
    if verify:
        restored = mysql_dump_digest(
            m, databases, socket=socket, defaults_file=defaults_file or m.get("restore_defaults_file")
        )
        diffs = compare_objects(manifest.get("objects") or {}, restored)
        out.update(verified=not diffs, differences=diffs, objects=restored, verify_s=round(time.time() - loaded, 3))
        if diffs:
            raise BackupError(
                "the restored copy differs from the manifest: %s" % "; ".join(diffs[:5]),
            )
    if until or stop_before:
        out["pitr"] = apply_binlogs(m, manifest, identity, binlog_sources, until, stop_before, client)
    out["duration_s"] = round(time.time() - started, 3)
    return out


def _drop_tables_not_in(m, manifest, databases, conn):
    """Drops the base tables of DATABASES that the backup does not hold (not logged); returns their names."""
    sql = "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND "
    sql += "table_schema IN (%s)" % _sql_list(databases)  # names quoted by _sql_list
    rows = mysql_client(m, sql, **conn)
    known = set(manifest.get("objects") or {})
    extra = sorted("%s.%s" % (db, name) for db, name in rows if "%s.%s" % (db, name) not in known)
    if extra:
        mysql_client(
            m,
            "SET SESSION sql_log_bin=0; SET SESSION foreign_key_checks=0; "
            + "".join(
                "DROP TABLE IF EXISTS `%s`.`%s`;" % tuple(x.replace("`", "``") for x in name.split(".", 1))
                for name in extra
            ),
            **conn,
        )
    return extra


def _drop_databases(m, databases, conn):
    with contextlib.suppress(BackupError):
        mysql_client(m, "".join("DROP DATABASE IF EXISTS `%s`;" % d.replace("`", "``") for d in databases), **conn)


def apply_binlogs(m, manifest, identity, binlog_sources, until=None, stop_before=None, client=None):
    """Roll forward from the backup's binlog position through the shipped binary logs."""
    position = manifest.get("position") or {}
    if not position.get("file"):
        raise BackupError(
            "backup %s has no binary log position: point-in-time recovery needs log_bin on the source "
            "server when the backup is taken" % manifest["id"]
        )
    sources = dict(binlog_sources)
    names = binlogs_from(list(sources), position["file"])
    if not names or names[0] != position["file"]:
        raise BackupError(
            "binary log %s (the backup's position) is not on the backup host: no point-in-time "
            "recovery from this backup" % position["file"]
        )
    env = dict(os.environ, TZ="UTC")
    stop_dt = utc_datetime(until).strftime("%Y-%m-%d %H:%M:%S") if until else None
    stop_at = None
    if stop_before:
        for name in names:
            found = []
            stream_restore(
                sources[name],
                identity,
                ["mysqlbinlog", "--base64-output=decode-rows", "-vv", "-"],
                env=env,
                consumer_stdout=subprocess.PIPE,
                scan=lambda text, found=found: found.append(text),
            )
            start = position["pos"] if name == position["file"] else 0
            pos = find_statement_position("".join(found), stop_before, start)
            if pos is not None:
                stop_at = (name, pos)
                break
        if stop_at is None:
            raise BackupError(
                "the statement %r is not in the binary logs shipped since the backup: check its text "
                "(as the application sent it) or use --until" % stop_before
            )
    applied = []
    mysql = " ".join(_shquote(x) for x in client)
    for index, name in enumerate(names):
        args = ["--disable-log-bin"]
        if index == 0:
            args.append("--start-position=%d" % position["pos"])
        if stop_dt:
            args.append("--stop-datetime=%s" % stop_dt)
        if stop_at and stop_at[0] == name:
            args.append("--stop-position=%d" % stop_at[1])
        consumer = [
            "bash",
            "-o",
            "pipefail",
            "-c",
            "mysqlbinlog %s - | %s --binary-mode" % (" ".join(_shquote(a) for a in args), mysql),
        ]
        stream_restore(sources[name], identity, consumer, env=env)
        applied.append(name)
        if stop_at and stop_at[0] == name:
            break
    return {
        "binlogs": applied,
        "until": stop_dt and stop_dt + "Z",
        "stop_before": stop_at and {"file": stop_at[0], "pos": stop_at[1]},
    }


def _shquote(text):
    return "'" + str(text).replace("'", "'\\''") + "'"


# -- MongoDB -----------------------------------------------------------------------------------------------------------
def _mongo_client(uri, user=None, password=None, mechanism=None, source=None):
    import pymongo

    kwargs = {"serverSelectionTimeoutMS": 15000}
    if user:
        kwargs.update(username=user, password=password)
        if mechanism:
            kwargs["authMechanism"] = mechanism
        if source:
            kwargs["authSource"] = source
    return pymongo.MongoClient(uri, **kwargs)


def _mongo_password_from(config_file):
    with open(config_file) as handle:
        for line in handle:
            if line.startswith("password:"):
                value = line.split(":", 1)[1].strip()
                return json.loads(value) if value.startswith('"') else value
    raise BackupError("%s holds no password line" % config_file)


def mongo_topology(client):
    hello = client.admin.command("ismaster")
    return {"replica_set": hello.get("setName"), "version": client.server_info().get("version")}


def mongodb_estimate(g, client=None):
    own = client is None
    client = client or _mongo_client(
        g["uri"], g.get("user"), _mongo_password_from(g["config_file"]), g.get("auth_mechanism"), g.get("auth_source")
    )
    try:
        stats = client[g["database"]].command("dbStats")
        return int(stats.get("dataSize", 0) + stats.get("indexSize", 0)), int(stats.get("collections", 0))
    finally:
        if own:
            client.close()


def mongodb_backup(config, when=None):
    g = config["mongodb"]
    target = target_of(config)
    client = _mongo_client(
        g["uri"], g.get("user"), _mongo_password_from(g["config_file"]), g.get("auth_mechanism"), g.get("auth_source")
    )
    try:
        topo = mongo_topology(client)
    finally:
        client.close()
    bid = new_backup_id("mongodb", config["host"], "logical", when)
    relpath = archive_relpath(bid)
    argv = [
        g.get("dump_tool", "mongodump"),
        "--archive",
        "--uri=%s" % g["dump_uri"],
        "--config=%s" % g["config_file"],
    ]
    if topo["replica_set"]:
        argv.append("--oplog")
    else:
        argv.append("--db=%s" % g["database"])
    started = time.time()
    result = stream_backup(argv, MongoArchiveDigest(), config["recipients"], target.sink(relpath))
    finished = time.time()
    found = result["digest"]
    objects = dict((k, v) for k, v in found["objects"].items() if k.split(".", 1)[0] == g["database"])
    pitr = (
        {"possible": True, "via": "oplog", "to": "the end of the dump (mongorestore --oplogReplay)"}
        if topo["replica_set"]
        else {
            "possible": False,
            "reason": "standalone server (%s, no replica set): mongodump cannot take --oplog, so this backup restores "
            "to the time it was taken, with no point-in-time recovery" % g.get("engine", "mongod"),
        }
    )
    manifest = build_manifest(
        bid,
        "mongodb",
        "logical",
        config["host"],
        topo["version"],
        os.path.basename(argv[0]),
        started,
        finished,
        [g["database"]],
        found.get("position") or {},
        pitr,
        objects,
        {"path": relpath, "sha256": result["sha256"], "bytes": result["bytes"]},
        result["plaintext_bytes"],
        config["recipients"],
    )
    manifest["engine_flavour"] = g.get("engine")
    manifest["replica_set"] = topo["replica_set"]
    target.put_bytes(manifest_relpath(bid), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def mongodb_digest(client, database):
    from bson.raw_bson import RawBSONDocument

    db = client.get_database(database, codec_options=client.codec_options.with_options(document_class=RawBSONDocument))
    out = {}
    for name in sorted(db.list_collection_names()):
        if name.startswith("system."):
            continue
        out["%s.%s" % (database, name)] = mongo_collection_digest(d.raw for d in db[name].find({}, batch_size=2000))
    return out


def mongodb_restore(
    manifest,
    identity,
    source_argv,
    uri,
    user=None,
    password=None,
    mechanism=None,
    source=None,
    overwrite=False,
    restore_tool="mongorestore",
    verify=True,
):
    database = manifest["databases"][0]
    client = _mongo_client(uri, user, password, mechanism, source)
    try:
        existing = [n for n in client[database].list_collection_names() if not n.startswith("system.")]
        nonempty = [n for n in existing if client[database][n].estimated_document_count() > 0]
        if nonempty and not overwrite:
            raise BackupError(
                "the target already holds %d collections with documents in %s: restoring would overwrite them; pass "
                "the explicit overwrite flag (followup-ops restore --overwrite-nonempty) if that is what you want"
                % (len(nonempty), database)
            )
        conf = "password: %s\n" % json.dumps(password or "")
        conf_fd = secret_fd(conf)
        argv = [
            restore_tool,
            "--archive",
            "--uri=%s" % _uri_with_user(uri, user, mechanism, source),
            "--config=/dev/fd/%d" % conf_fd,
            "--drop",
            # mongorestore adds the option "ns" to every index it creates, which FerretDB refuses: the indexes
            # are read from the archive on the way (MongoArchiveIndexes) and created after the documents.
            "--noIndexRestore",
            "--nsInclude=%s.*" % database,
        ]
        if (manifest.get("position") or {}).get("oplog_entries"):
            argv.append("--oplogReplay")
        started = time.time()
        indexes = MongoArchiveIndexes()
        try:
            result = stream_restore(
                source_argv,
                identity,
                argv,
                pass_fds=(conf_fd,),
                expect_sha256=manifest["archive"]["sha256"],
                transform=indexes,
            )
            index_count = indexes.create_indexes(client[database])
        except BackupError:
            if not nonempty:
                with contextlib.suppress(Exception):  # best effort; the error that matters is raised below
                    client.drop_database(database)
            raise
        finally:
            os.close(conf_fd)
        loaded = time.time()
        out = {
            "id": manifest["id"],
            "databases": [database],
            "bytes": result["bytes"],
            "plaintext_bytes": manifest["archive"].get("plaintext_bytes"),
            "load_s": round(loaded - started, 3),
            "throughput_mb_s": round(
                (manifest["archive"].get("plaintext_bytes") or 0) / 1e6 / max(loaded - started, 1e-6), 2
            ),
            "overwrote_collections": len(nonempty),
            "indexes": index_count,
        }
        if verify:
            restored = mongodb_digest(client, database)
            diffs = compare_objects(manifest.get("objects") or {}, restored)
            out.update(verified=not diffs, differences=diffs, objects=restored, verify_s=round(time.time() - loaded, 3))
            if diffs:
                raise BackupError("the restored copy differs from the manifest: %s" % "; ".join(diffs[:5]))
        out["duration_s"] = round(time.time() - started, 3)
        return out
    finally:
        client.close()


def _uri_with_user(uri, user, mechanism, source):
    if not user:
        return uri
    from urllib.parse import quote

    scheme, rest = uri.split("://", 1)
    if "@" in rest.split("/", 1)[0]:
        return uri
    out = "%s://%s@%s" % (scheme, quote(user, safe=""), rest)
    extra = []
    if mechanism and "authMechanism=" not in out:
        extra.append("authMechanism=%s" % mechanism)
    if source and "authSource=" not in out:
        extra.append("authSource=%s" % source)
    if extra:
        if "/" not in rest:
            out += "/"
        out += ("&" if "?" in out else "?") + "&".join(extra)
    return out


def free_bytes(path):
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    st = os.statvfs(path or "/")
    return st.f_bavail * st.f_frsize
