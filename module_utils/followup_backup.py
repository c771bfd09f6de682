# -*- coding: utf-8 -*-
# followup-ops backups: names, manifests, the digests computed from the dump stream itself, and the pipe that takes
# a dump to the backup host compressed and encrypted without a plaintext byte on any disk (docs/backup.md).
#
#   producer (mariadb-dump | mariabackup | mongodump | cat binlog)
#     -> [this process: per-table / per-collection row counts and content checksums, computed from the stream]
#     -> zstd -> age -r <recipient> -> [this process: sha256 and size of what is stored]
#     -> ssh <receiver account>@<backup host> put <path>   (framed; the receiver keeps nothing that is incomplete)
#
# Restores run the same pipe backwards: ssh get -> [sha256] -> age -d -i /dev/fd/N -> zstd -d -> consumer.
# Secrets (the age identity, option files with passwords) reach the tools through pipes (/dev/fd/N) or root-only
# option files, never the command line. Used on the database hosts (modules, and the timers' agent), and imported
# by followup_backup_store.py on the backup host. Pure Python and the standard library; bson only for MongoDB.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import hashlib
import json
import os
import re
import struct
import subprocess
import threading
import time

MANIFEST_SCHEMA = 1
ENGINES = ("mysql", "mongodb")
METHODS = {"mysql": ("logical", "physical"), "mongodb": ("logical",)}
KINDS = ("mysql", "mongodb", "binlog", "drill")
CHUNK = 1 << 20

# <engine>-<source host>-<UTC time>[-physical], e.g. mysql-mysql1-20261201T203000Z
BACKUP_ID_RE = re.compile(r"\A(mysql|mongodb)-([a-z0-9][a-z0-9.-]{0,62})-([0-9]{8}T[0-9]{6}Z)(-physical)?\Z")
# What the receiver accepts as a stored path: <kind>/<source host>/<file name>, nothing else (no .., no /).
RELPATH_RE = re.compile(r"\A(mysql|mongodb|binlog|drill)/[a-z0-9][a-z0-9.-]{0,62}/[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z")
STAMP = "%Y%m%dT%H%M%SZ"

EXTENSIONS = {
    ("mysql", "logical"): "sql.zst.age",
    ("mysql", "physical"): "xbstream.zst.age",
    ("mongodb", "logical"): "archive.zst.age",
}


class BackupError(Exception):
    """A backup or restore step failed; the message is one line naming what and the fix."""


# -- names -----------------------------------------------------------------------------------------------------------
def host_slug(name):
    """A host name as it appears in backup ids and paths (lower case; anything else than a-z 0-9 . - becomes -)."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", str(name).lower()).strip("-.")
    if not slug:
        raise ValueError("host name %r gives an empty backup name" % (name,))
    return slug[:63]


def utc_stamp(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime(STAMP)


def parse_stamp(stamp):
    return datetime.datetime.strptime(stamp, STAMP).replace(tzinfo=datetime.timezone.utc)


def new_backup_id(engine, host, method="logical", when=None):
    if engine not in ENGINES:
        raise ValueError("engine must be one of %s, not %r" % (", ".join(ENGINES), engine))
    if method not in METHODS[engine]:
        raise ValueError("%s backups are %s, not %r" % (engine, " or ".join(METHODS[engine]), method))
    bid = "%s-%s-%s" % (engine, host_slug(host), utc_stamp(when))
    return bid + ("-physical" if method == "physical" else "")


def parse_backup_id(bid):
    """{engine, host, time, method} of a backup id; ValueError naming the expected form otherwise."""
    match = BACKUP_ID_RE.match(str(bid))
    if not match:
        raise ValueError(
            "backup id %r is not of the form <mysql|mongodb>-<host>-<YYYYMMDDTHHMMSSZ>[-physical] "
            "(see `followup-ops backup list`)" % (bid,)
        )
    engine, host, stamp, physical = match.groups()
    return {"engine": engine, "host": host, "time": parse_stamp(stamp), "method": "physical" if physical else "logical"}


def archive_relpath(bid):
    info = parse_backup_id(bid)
    return "%s/%s/%s.%s" % (info["engine"], info["host"], bid, EXTENSIONS[(info["engine"], info["method"])])


def manifest_relpath(bid):
    info = parse_backup_id(bid)
    return "%s/%s/%s.manifest.json" % (info["engine"], info["host"], bid)


def binlog_relpath(host, binlog_name):
    if not re.match(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,120}\Z", binlog_name):
        raise ValueError("binary log name %r is not a plain file name" % (binlog_name,))
    return "binlog/%s/%s.zst.age" % (host_slug(host), binlog_name)


def drill_relpath(bid, when=None):
    info = parse_backup_id(bid)
    return "drill/%s/%s.drill-%s.json" % (info["host"], bid, utc_stamp(when))


def check_relpath(relpath):
    if not RELPATH_RE.match(relpath or ""):
        raise ValueError("path %r is not <mysql|mongodb|binlog|drill>/<host>/<file name>" % (relpath,))
    return relpath


# -- manifest --------------------------------------------------------------------------------------------------------
MANIFEST_FIELDS = (
    "schema",
    "id",
    "engine",
    "method",
    "source_host",
    "engine_version",
    "tool",
    "created_at",
    "finished_at",
    "databases",
    "position",
    "pitr",
    "objects",
    "archive",
    "duration_s",
    "throughput_mb_s",
    "encryption",
    "compression",
)


def build_manifest(
    bid,
    engine,
    method,
    source_host,
    engine_version,
    tool,
    started,
    finished,
    databases,
    position,
    pitr,
    objects,
    archive,
    plaintext_bytes,
    recipients,
):
    duration = max(finished - started, 1e-6)
    return {
        "schema": MANIFEST_SCHEMA,
        "id": bid,
        "engine": engine,
        "method": method,
        "source_host": source_host,
        "engine_version": engine_version,
        "tool": tool,
        "created_at": _iso(started),
        "finished_at": _iso(finished),
        "databases": list(databases),
        "position": position,
        "pitr": pitr,
        "objects": objects,
        "archive": dict(archive, plaintext_bytes=plaintext_bytes),
        "duration_s": round(duration, 3),
        # Throughput of the data read from the server (before compression), as the plain tools' is measured.
        "throughput_mb_s": round(plaintext_bytes / 1e6 / duration, 2),
        "encryption": {"tool": "age", "recipients": list(recipients)},
        "compression": {"tool": "zstd"},
    }


def validate_manifest(manifest, where="manifest"):
    """Problems of a manifest (one line each); an empty list when it is complete."""
    if not isinstance(manifest, dict):
        return ["%s is not a JSON object" % where]
    problems = ["%s has no field %s" % (where, f) for f in MANIFEST_FIELDS if f not in manifest]
    if problems:
        return problems
    try:
        parse_backup_id(manifest["id"])
    except ValueError as err:
        problems.append("%s: %s" % (where, err))
    archive = manifest.get("archive") or {}
    if not re.match(r"\A[0-9a-f]{64}\Z", str(archive.get("sha256", ""))):
        problems.append("%s: archive.sha256 is not a sha256" % where)
    if not isinstance(archive.get("bytes"), int) or archive.get("bytes", 0) <= 0:
        problems.append("%s: archive.bytes is not a positive size" % where)
    if manifest["method"] == "logical" and not isinstance(manifest.get("objects"), dict):
        problems.append("%s: objects (row counts and checksums) are missing" % where)
    return problems


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare_objects(expected, actual):
    """Differences between two {name: {rows|documents, sha256}} maps, one line each (empty: equal)."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            lines.append("%s: restored but not in the backup" % name)
        elif got is None:
            lines.append("%s: in the backup but not restored" % name)
        else:
            for key in ("rows", "documents"):
                if key in want and want.get(key) != got.get(key):
                    lines.append("%s: %s %s in the backup, %s restored" % (name, key, want.get(key), got.get(key)))
            if want.get("sha256") != got.get("sha256"):
                lines.append("%s: content checksum differs" % name)
    return lines


# -- digests computed from the dump stream ---------------------------------------------------------------------------
# mysqldump/mariadb-dump string literals: '...' with backslash escapes (mysql_real_escape_string), so a quote inside
# is always \' and a newline is \n: rows never span raw lines, and "),(" inside a string is skipped by this pattern.
_SQL_STRING = re.compile(rb"'[^'\\]*(?:\\.[^'\\]*)*'")
_TABLE_DATA = re.compile(rb"\A-- Dumping data for table `((?:[^`]|``)+)`")
_CURRENT_DB = re.compile(rb"\AUSE `((?:[^`]|``)+)`;")
_MASTER = re.compile(rb"\A-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=([0-9]+);")
_GTID = re.compile(rb"\A-- SET GLOBAL gtid_slave_pos='([^']*)';")
_SOURCE = re.compile(
    rb"\A-- CHANGE (?:REPLICATION SOURCE|MASTER) TO (?:SOURCE|MASTER)_LOG_FILE='([^']+)', "
    rb"(?:SOURCE|MASTER)_LOG_POS=([0-9]+);"
)
_GTID_PURGED = re.compile(rb"\ASET @@GLOBAL.GTID_PURGED=(?:/\*!80000 '\+'\*/ )?'([^']*)';")


class MysqlDumpDigest(object):
    """Row counts and content checksums per table, read from a mysqldump/mariadb-dump stream as it passes.

    The checksum of a table is the sha256 of its INSERT lines in dump order (with --order-by-primary: primary key
    order), so dumping a restored copy with the same tool and options gives the same value. Handles both layouts:
    MariaDB >= 10.11 writes one row per line after `INSERT INTO `t` VALUES`, MySQL all rows of a statement on one
    line separated by `),(`.
    """

    def __init__(self):
        self.objects = {}
        self.position = {}
        self.complete = False
        self.bytes = 0
        self._db = None
        self._table = None
        self._hash = None
        self._rest = b""
        self._in_values = False

    def feed(self, chunk):
        self.bytes += len(chunk)
        data = self._rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._rest = data
            return
        self._rest = data[cut + 1 :]
        for line in data[:cut].split(b"\n"):
            self._line(line)

    def finish(self):
        if self._rest:
            self._line(self._rest)
            self._rest = b""
        self._close_table()
        return {"objects": self.objects, "position": self.position, "complete": self.complete}

    def _close_table(self):
        if self._table is not None:
            self.objects[self._table]["sha256"] = self._hash.hexdigest()
        self._table, self._hash, self._in_values = None, None, False

    def _line(self, line):
        if self._table is not None:
            if self._in_values:
                # one row per line (MariaDB 10.11+): "(...)," or "(...);"
                if line.startswith(b"("):
                    self.objects[self._table]["rows"] += 1
                    self._hash.update(line)
                    self._hash.update(b"\n")
                    if line.endswith(b";"):
                        self._in_values = False
                    return
                self._in_values = False
            if line.startswith(b"INSERT INTO "):
                self._hash.update(line)
                self._hash.update(b"\n")
                if line.endswith(b"VALUES"):
                    self._in_values = True
                else:
                    values = line.split(b" VALUES ", 1)[-1]
                    self.objects[self._table]["rows"] += _SQL_STRING.sub(b"''", values).count(b"),(") + 1
                return
            if (
                line.startswith(b"UNLOCK TABLES")
                or line.startswith(b"-- Table structure")
                or (line.startswith(b"-- Dumping "))
            ):
                self._close_table()
        if not line.startswith((b"--", b"USE ", b"SET @@GLOBAL")):
            return
        match = _TABLE_DATA.match(line)
        if match:
            self._close_table()
            name = "%s.%s" % (self._db, match.group(1).decode("utf-8").replace("``", "`"))
            self.objects[name] = {"rows": 0}
            self._table, self._hash = name, hashlib.sha256()
            return
        match = _CURRENT_DB.match(line)
        if match:
            self._db = match.group(1).decode("utf-8").replace("``", "`")
            return
        match = _MASTER.match(line) or _SOURCE.match(line)
        if match and "file" not in self.position:
            self.position.update(file=match.group(1).decode(), pos=int(match.group(2)))
            return
        match = _GTID.match(line) or _GTID_PURGED.match(line)
        if match:
            self.position["gtid"] = match.group(1).decode()
            return
        if line.startswith(b"-- Dump completed"):
            self.complete = True


_TERMINATOR = b"\xff\xff\xff\xff"
_MAGIC = b"\x6d\xe2\x99\x81"
_MOD = 1 << 256


def doc_digest(raw):
    return int.from_bytes(hashlib.sha256(raw).digest(), "big")


def hex256(value):
    return "%064x" % (value % _MOD)


class _ArchiveFrames(object):
    """Splits a `mongodump --archive` stream into its frames, for the readers below: the magic number checked, then
    ("document", BSON bytes) and ("terminator", None) in stream order. Bytes of a frame not yet complete wait for
    the next feed() (.pending counts them)."""

    def __init__(self):
        self._buf = bytearray()
        self._magic = False

    @property
    def pending(self):
        return len(self._buf)

    def feed(self, chunk):
        self._buf += chunk
        buf, offset, frames = self._buf, 0, []
        if not self._magic:
            if len(buf) < 4:
                return frames
            if bytes(buf[:4]) != _MAGIC:
                raise BackupError("the mongodump output is not an archive (bad magic number)")
            offset, self._magic = 4, True
        while len(buf) - offset >= 4:
            if bytes(buf[offset : offset + 4]) == _TERMINATOR:
                offset += 4
                frames.append(("terminator", None))
                continue
            size = struct.unpack_from("<i", buf, offset)[0]
            if size < 5:
                raise BackupError("the mongodump archive is damaged (a document of %d bytes)" % size)
            if len(buf) - offset < size:
                break
            frames.append(("document", bytes(buf[offset : offset + size])))
            offset += size
        del buf[:offset]
        return frames


class MongoArchiveDigest(object):
    """Document counts and content checksums per collection, read from a `mongodump --archive` stream.

    The archive (mongo-tools' archive format) is: magic, header document, collection metadata documents, a
    terminator, then segments of one collection each (a namespace header, its BSON documents, a terminator). A
    collection's checksum is the sum (mod 2^256) of the sha256 of each document's BSON bytes: independent of the
    order documents come in (mongodump and a find() on a restored copy need not agree on it), and the same as
    followup_backup.mongo_collection_digest() computes from a restored collection.
    """

    def __init__(self, decode=None):
        self.objects = {}
        self.sums = {}
        self.bytes = 0
        self.complete = False
        self.position = {}
        self._frames = _ArchiveFrames()
        self._state = "header"
        self._ns = None
        self._ended = set()
        self._seen = set()
        if decode is None:
            import bson  # pymongo's, on the host that runs the backup

            decode = bson.decode
        self._decode = decode

    def feed(self, chunk):
        self.bytes += len(chunk)
        for kind, raw in self._frames.feed(chunk):
            if kind == "terminator":
                if self._state in ("metadata", "body"):
                    self._state = "segment"
            elif self._state == "header":
                self._state = "metadata"
            elif self._state == "metadata":
                meta = self._decode(raw)
                self._seen.add("%s.%s" % (meta.get("db"), meta.get("collection")))
            elif self._state == "segment":
                head = self._decode(raw)
                db, coll = head.get("db"), head.get("collection")
                name = "%s.%s" % (db, coll) if db else "oplog"
                if head.get("EOF"):
                    self._ended.add(name)
                    self._ns = None
                else:
                    self._ns = name
                    self.objects.setdefault(name, {"documents": 0})
                    self.sums.setdefault(name, 0)
                self._state = "body"
            elif self._state == "body":
                if self._ns is None:
                    raise BackupError("the mongodump archive is damaged (documents after the end of a collection)")
                self.objects[self._ns]["documents"] += 1
                self.sums[self._ns] += doc_digest(raw)

    def finish(self):
        for name in self._seen:
            if not name.endswith(".system.indexes"):
                self.objects.setdefault(name, {"documents": 0})
                self.sums.setdefault(name, 0)
        for name, total in self.sums.items():
            self.objects[name]["sha256"] = hex256(total)
        oplog = self.objects.pop("oplog", None)
        if oplog is not None:
            self.position["oplog_entries"] = oplog["documents"]
        self.complete = (
            self._state in ("segment", "body")
            and not self._frames.pending
            and (set(self.objects) <= (self._ended | set(n for n in self.objects if self.objects[n]["documents"] == 0)))
        )
        return {"objects": self.objects, "position": self.position, "complete": self.complete}


def mongo_collection_digest(raw_documents):
    """{documents, sha256} of an iterable of BSON documents' bytes, as MongoArchiveDigest computes it."""
    count, total = 0, 0
    for raw in raw_documents:
        count += 1
        total += doc_digest(raw)
    return {"documents": count, "sha256": hex256(total)}


class NullDigest(object):
    """Counts bytes only (physical backups and binary logs: verified by restoring them, not by their content)."""

    def __init__(self):
        self.bytes = 0

    def feed(self, chunk):
        self.bytes += len(chunk)

    def finish(self):
        return {"objects": None, "position": {}, "complete": True}


# -- framing between the sender and the receiver on the backup host ---------------------------------------------------
FRAME_HEADER = struct.Struct(">I")


def frame(chunk):
    return FRAME_HEADER.pack(len(chunk)) + chunk


def trailer(sha256, size):
    return FRAME_HEADER.pack(0) + ("sha256 %s %d\n" % (sha256, size)).encode()


def read_frames(stream, write):
    """Pass the data of each frame to WRITE until the end frame; return (sha256, size) of the trailer.

    Raises BackupError when the stream ends early (a dropped connection, a killed sender): the caller keeps nothing.
    """
    while True:
        (size,) = FRAME_HEADER.unpack(_read_exact(stream, 4))
        if size == 0:
            break
        if size > 16 * CHUNK:
            raise BackupError("frame of %d bytes is larger than allowed" % size)
        write(_read_exact(stream, size))
    line = stream.readline(200)
    match = re.match(rb"\Asha256 ([0-9a-f]{64}) ([0-9]+)\n\Z", line)
    if not match:
        raise BackupError("the upload ended without its checksum line: nothing was kept")
    return match.group(1).decode(), int(match.group(2))


def _read_exact(stream, size):
    parts, left = [], size
    while left:
        data = stream.read(left)
        if not data:
            raise BackupError("the upload stopped before its end (%d bytes missing): nothing was kept" % left)
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


# -- processes -------------------------------------------------------------------------------------------------------
class _Tail(threading.Thread):
    """Collects the last few KB a process writes to stderr (error messages) without blocking the pipe."""

    def __init__(self, stream, limit=4096):
        super().__init__(daemon=True)
        self.stream, self.limit, self.data = stream, limit, b""

    def run(self):
        for block in iter(lambda: self.stream.read(4096), b""):
            self.data = (self.data + block)[-self.limit :]

    def text(self):
        self.join(5)
        lines = [x.strip() for x in self.data.decode("utf-8", "replace").splitlines() if x.strip()]
        lines = [x for x in lines if "report unexpected or unhelpful errors" not in x]
        # The tools end with a summary line ("10001 document(s) restored ... 0 failed"); the cause is earlier.
        last = lines[-1] if lines else ""
        errors = [x for x in lines if re.search(r"(?i)\b(error|failed:|fatal)", x) and x != last]
        if errors:
            return "%s (last: %s)" % (errors[-1], lines[-1])
        return lines[-1] if lines else ""


class _Transform(threading.Thread):
    """Copies SOURCE to SINK through TRANSFORM; closes both; keeps the first error (a damaged archive)."""

    def __init__(self, source, sink, transform):
        super().__init__(daemon=True)
        self.source, self.sink, self.transform, self.error = source, sink, transform, None

    def run(self):
        try:
            for block in iter(lambda: self.source.read(CHUNK), b""):
                self.sink.write(self.transform.feed(block))
            self.sink.write(self.transform.finish())
        except (BrokenPipeError, OSError):
            pass  # the consumer stopped early: its own message says why
        except Exception as err:  # a damaged archive: reported as the consumer's failure
            self.error = "error rewriting the archive: %s" % err
        finally:
            with contextlib.suppress(OSError):
                self.sink.close()
            with contextlib.suppress(OSError):
                self.source.close()


class _Scan(threading.Thread):
    def __init__(self, stream, callback):
        super().__init__(daemon=True)
        self.stream, self.callback, self.data = stream, callback, b""

    def run(self):
        for block in iter(lambda: self.stream.read(CHUNK), b""):
            self.callback(block.decode("utf-8", "replace"))


def secret_fd(data):
    """A pipe's read end holding DATA (an age identity, an option file): passed to a tool as /dev/fd/N."""
    read_fd, write_fd = os.pipe()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > 60000:
        raise BackupError("secret too large for a pipe")
    os.write(write_fd, data)
    os.close(write_fd)
    return read_fd


def _explain_age(message):
    if "no identity matched" in message:
        return "the age identity does not match this backup's recipient (wrong key): use the hospital's backup key"
    if "failed to decrypt and authenticate" in message or "unexpected EOF" in message or "truncated" in message:
        return "the archive is damaged or truncated (age could not authenticate it): use another backup"
    if "header" in message:
        return "the archive is not an age file or its header is damaged: use another backup"
    return message


def stream_backup(producer, digest, recipients, sink, env=None, pass_fds=(), zstd_level=3, stdin=None):
    """Run PRODUCER (argv) | zstd | age -r ... into SINK, digesting the plaintext on the way.

    SINK has write(bytes), finish(sha256, size) -> dict and abort(). Returns a dict: sha256, bytes (stored),
    plaintext_bytes, digest (DIGEST.finish()), producer_stderr. Nothing in plaintext touches a disk: the tools are
    connected by pipes, and the only buffers are this process's memory.
    """
    if not recipients:
        raise BackupError("no age recipient configured (backup_age_recipients): set the hospital's public key")
    age_argv = ["age", "--encrypt"]
    for recipient in recipients:
        age_argv += ["-r", recipient]
    procs = []
    try:
        prod = subprocess.Popen(
            producer,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            pass_fds=pass_fds,
        )
        procs.append(prod)
        prod_err = _Tail(prod.stderr, limit=65536)
        prod_err.start()
        zstd = subprocess.Popen(
            ["zstd", "-q", "-c", "-%d" % zstd_level, "-T2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append(zstd)
        zstd_err = _Tail(zstd.stderr)
        zstd_err.start()
        age = subprocess.Popen(age_argv, stdin=zstd.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(age)
        zstd.stdout.close()
        age_err = _Tail(age.stderr)
        age_err.start()
    except OSError as err:
        _kill(procs)
        raise BackupError("cannot start %s: %s (is it installed? the backup role installs it)" % (err.filename, err))

    pump_error = []

    def pump():
        try:
            for block in iter(lambda: prod.stdout.read(CHUNK), b""):
                digest.feed(block)
                zstd.stdin.write(block)
        except Exception as err:  # a digest error (damaged archive) or a broken pipe
            pump_error.append(err)
            _kill([prod])
        finally:
            with contextlib.suppress(OSError):
                zstd.stdin.close()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    sha = hashlib.sha256()
    size = 0
    try:
        for block in iter(lambda: age.stdout.read(CHUNK), b""):
            sha.update(block)
            size += len(block)
            sink.write(block)
    except Exception as err:
        _kill(procs)
        thread.join(10)
        sink.abort()
        raise BackupError("sending the backup failed: %s" % (err,))
    thread.join()
    codes = [p.wait() for p in procs]
    if pump_error:
        sink.abort()
        raise BackupError("reading the dump failed: %s" % (pump_error[0],))
    if codes[0] != 0:
        sink.abort()
        raise BackupError("%s failed (exit %d): %s" % (os.path.basename(producer[0]), codes[0], prod_err.text()))
    if codes[1] != 0:
        sink.abort()
        raise BackupError("zstd failed (exit %d): %s" % (codes[1], zstd_err.text()))
    if codes[2] != 0:
        sink.abort()
        raise BackupError("age failed (exit %d): %s" % (codes[2], age_err.text()))
    prod_err.join(5)
    result = digest.finish()
    if not result.get("complete"):
        sink.abort()
        raise BackupError("the dump ended before its end marker: nothing was kept (see %s's log)" % producer[0])
    stored = sink.finish(sha.hexdigest(), size)
    return {
        "sha256": sha.hexdigest(),
        "bytes": size,
        "plaintext_bytes": digest.bytes,
        "digest": result,
        # the whole tail: mariabackup names the binlog position a few lines before its last one
        "producer_stderr": prod_err.data.decode("utf-8", "replace"),
        "stored": stored,
    }


class MongoArchiveIndexes(object):
    """Reads the index definitions from the prelude of a mongodump archive on its way to mongorestore, passing every
    byte on unchanged. mongorestore adds the option "ns" to every index it creates, which FerretDB refuses; the
    restore therefore runs with --noIndexRestore and creates these indexes itself (create_indexes()).
    feed(bytes) -> bytes, finish() -> bytes; .indexes is {collection: [index document]} (without "ns" and "v")."""

    def __init__(self):
        import bson  # pymongo's, on the host that restores
        from bson import json_util

        self._bson, self._json = bson, json_util
        self._frames = _ArchiveFrames()
        self._state = "header"  # header, metadata, done
        self.indexes = {}

    def feed(self, chunk):
        if self._state != "done":
            for kind, raw in self._frames.feed(chunk):
                if kind == "terminator":
                    self._state = "done"
                    self._frames = None
                    break
                if self._state == "header":
                    self._state = "metadata"
                else:
                    self._collect(self._bson.decode(raw))
        return chunk

    def finish(self):
        self._frames = None
        return b""

    def _collect(self, doc):
        text = doc.get("metadata")
        meta = self._json.loads(text) if isinstance(text, str) and text else {}
        specs = []
        for index in (meta.get("indexes") if isinstance(meta, dict) else None) or []:
            if isinstance(index, dict) and index.get("name") != "_id_":
                specs.append({k: v for k, v in index.items() if k not in ("ns", "v")})
        if specs:
            self.indexes[doc.get("collection")] = specs

    def create_indexes(self, database):
        """Creates the collected indexes in DATABASE (a pymongo Database); returns how many."""
        count = 0
        for collection, specs in sorted(self.indexes.items()):
            try:
                database.command("createIndexes", collection, indexes=specs)
            except Exception as err:  # pymongo's errors, named with the collection and the indexes
                raise BackupError(
                    "creating the indexes %s of %s failed after the documents were restored: %s"
                    % (", ".join(str(i.get("name")) for i in specs), collection, err)
                )
            count += len(specs)
        return count


def stream_restore(
    source,
    identity,
    consumer,
    env=None,
    pass_fds=(),
    expect_sha256=None,
    consumer_stdout=None,
    scan=None,
    transform=None,
):
    """SOURCE (argv writing the stored file) | [sha256] | age -d | zstd -d | [TRANSFORM] | CONSUMER, identity by pipe.

    TRANSFORM, when given, has feed(bytes) -> bytes and finish() -> bytes and rewrites the decompressed stream in
    this process (MongoArchiveIndexes).

    Returns {sha256, bytes, consumer_stdout}. Raises BackupError naming the first stage that failed: a wrong key, a
    damaged or truncated archive, a checksum that differs, or the consumer's own error. SCAN, when given, receives
    the consumer's standard output as text, block by block (a search through decoded binary logs).
    """
    id_fd = secret_fd(identity)
    procs = []
    try:
        src = subprocess.Popen(source, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(src)
        src_err = _Tail(src.stderr)
        src_err.start()
        age = subprocess.Popen(
            ["age", "--decrypt", "-i", "/dev/fd/%d" % id_fd],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(id_fd,),
        )
        procs.append(age)
        age_err = _Tail(age.stderr)
        age_err.start()
        zstd = subprocess.Popen(
            ["zstd", "-q", "-d", "-c"], stdin=age.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        procs.append(zstd)
        age.stdout.close()
        zstd_err = _Tail(zstd.stderr)
        zstd_err.start()
        cons = subprocess.Popen(
            consumer,
            stdin=zstd.stdout if transform is None else subprocess.PIPE,
            stdout=consumer_stdout or subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            pass_fds=pass_fds,
        )
        procs.append(cons)
        if transform is None:
            zstd.stdout.close()
        else:
            pump = _Transform(zstd.stdout, cons.stdin, transform)
            pump.start()
        cons_err = _Tail(cons.stderr)
        cons_err.start()
        cons_out = None
        if scan is not None:
            cons_out = _Scan(cons.stdout, scan)
            cons_out.start()
        elif consumer_stdout is None:
            cons_out = _Tail(cons.stdout, limit=65536)
            cons_out.start()
    except OSError as err:
        _kill(procs)
        raise BackupError("cannot start %s: %s (is it installed? the backup role installs it)" % (err.filename, err))
    finally:
        os.close(id_fd)
    sha = hashlib.sha256()
    size = 0
    try:
        for block in iter(lambda: src.stdout.read(CHUNK), b""):
            sha.update(block)
            size += len(block)
            age.stdin.write(block)
    except (BrokenPipeError, OSError):
        pass  # age stopped early: its own message says why
    finally:
        with contextlib.suppress(OSError):
            age.stdin.close()
    codes = [p.wait() for p in procs]
    if cons_out is not None:
        cons_out.join(30)
    if transform is not None:
        pump.join(30)
        if pump.error is not None and codes[3] == 0:
            codes[3] = -1
            cons_err.data += ("\n%s" % pump.error).encode()
    if codes[0] != 0:
        raise BackupError("fetching the backup failed (exit %d): %s" % (codes[0], src_err.text()))
    if expect_sha256 and sha.hexdigest() != expect_sha256:
        raise BackupError(
            "the archive's sha256 %s is not the manifest's %s: it was changed or damaged; use another "
            "backup" % (sha.hexdigest()[:16], expect_sha256[:16])
        )
    if codes[1] != 0:
        raise BackupError(_explain_age(age_err.text()))
    if codes[2] != 0:
        raise BackupError("the archive is damaged (zstd: %s): use another backup" % zstd_err.text())
    if codes[3] != 0:
        raise BackupError("%s failed (exit %d): %s" % (os.path.basename(consumer[0]), codes[3], cons_err.text()))
    return {
        "sha256": sha.hexdigest(),
        "bytes": size,
        "consumer_stdout": cons_out.data.decode("utf-8", "replace") if cons_out else "",
    }


def _kill(procs):
    for proc in procs:
        try:
            if proc.poll() is None:
                proc.kill()
        except OSError:
            pass


# -- the backup host, over SSH -----------------------------------------------------------------------------------------
class Target(object):
    """The receiving account on the backup host: ssh with a pinned host key and the database host's own key."""

    def __init__(self, host, user, key, known_hosts, port=22, timeout=20):
        self.host, self.user, self.key, self.known_hosts = host, user, key, known_hosts
        self.port, self.timeout = port, timeout

    def argv(self, *words):
        return [
            "ssh",
            "-T",
            "-i",
            self.key,
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UserKnownHostsFile=%s" % self.known_hosts,
            "-o",
            "ConnectTimeout=%d" % self.timeout,
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "LogLevel=ERROR",
            "%s@%s" % (self.user, self.host),
            " ".join(words),
        ]

    def call(self, *words, data=None):
        """Run one receiver command; its JSON answer, or BackupError with the receiver's one-line reason."""
        try:
            proc = subprocess.run(
                self.argv(*words),
                input=data,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=max(self.timeout * 6, 120),
            )
        except subprocess.TimeoutExpired:
            raise BackupError("the backup host %s did not answer in time" % self.host)
        return self._answer(proc.returncode, proc.stdout, proc.stderr)

    def _answer(self, code, out, err):
        text = out.decode("utf-8", "replace").strip()
        try:
            answer = json.loads(text.splitlines()[-1]) if text else None
        except ValueError:
            answer = None
        if code == 255 and not isinstance(answer, dict):
            raise BackupError(
                "the backup host %s is unreachable over SSH as %s (%s): check that it is up and that "
                "the backup role set up its receiver"
                % (self.host, self.user, err.decode("utf-8", "replace").strip()[-200:])
            )
        if not isinstance(answer, dict):
            raise BackupError(
                "the backup host %s gave no answer (exit %d): %s"
                % (self.host, code, err.decode("utf-8", "replace").strip()[-200:])
            )
        if not answer.get("ok"):
            raise BackupError("the backup host %s refused: %s" % (self.host, answer.get("error")))
        return answer

    def sink(self, relpath):
        return _SshSink(self, check_relpath(relpath))

    def put_bytes(self, relpath, data):
        sink = self.sink(relpath)
        sink.write(data)
        return sink.finish(hashlib.sha256(data).hexdigest(), len(data))

    def get_argv(self, relpath):
        return self.argv("get", check_relpath(relpath))


class _SshSink(object):
    def __init__(self, target, relpath):
        self.target = target
        self.proc = subprocess.Popen(
            target.argv("put", relpath), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.err = _Tail(self.proc.stderr)
        self.err.start()

    def write(self, chunk):
        try:
            self.proc.stdin.write(frame(chunk))
        except BrokenPipeError:
            code = self.proc.wait()
            out = self.proc.stdout.read()
            self.target._answer(code, out, self.err.data)
            raise BackupError("the backup host closed the upload")

    def finish(self, sha256, size):
        try:
            self.proc.stdin.write(trailer(sha256, size))
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        out = self.proc.stdout.read()
        code = self.proc.wait()
        return self.target._answer(code, out, self.err.data)

    def abort(self):
        # No end frame: the receiver discards what it staged.
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()


class MemorySink(object):
    """A sink that keeps what it is given (tests, benchmarks)."""

    def __init__(self):
        self.data = bytearray()
        self.aborted = False
        self.result = None

    def write(self, chunk):
        self.data += chunk

    def finish(self, sha256, size):
        self.result = {"ok": True, "sha256": sha256, "bytes": size}
        return self.result

    def abort(self):
        self.aborted = True
        self.data = bytearray()


# -- MySQL commands ----------------------------------------------------------------------------------------------------
def mysqldump_argv(tool, defaults_file, databases, socket=None, extra=()):
    """The logical dump: one consistent snapshot, routines, triggers, events, the binlog position as a comment."""
    argv = [tool]
    if defaults_file:
        argv.append("--defaults-extra-file=%s" % defaults_file)
    if socket:
        argv.append("--socket=%s" % socket)
    argv += [
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--order-by-primary",
        "--skip-dump-date",
        "--default-character-set=utf8mb4",
    ]
    argv += list(extra)
    argv += ["--databases", *list(databases)]
    return argv


def position_args(flavour, log_bin):
    """How the dump records the binlog position (as a comment), given the flavour and whether binlogs exist."""
    if not log_bin:
        return []
    if flavour == "mariadb":
        return ["--master-data=2", "--gtid"]
    return ["--source-data=2"]


def parse_mariabackup_position(stderr_text):
    match = re.search(
        r"binlog position: filename '([^']+)', position '([0-9]+)'(?:, GTID of the last change '([^']*)')?", stderr_text
    )
    if not match:
        return {}
    pos = {"file": match.group(1), "pos": int(match.group(2))}
    if match.group(3):
        pos["gtid"] = match.group(3)
    return pos


def binlog_index(index_file):
    """Binary log file names listed in the server's index file, in order."""
    names = []
    with open(index_file) as handle:
        for line in handle:
            line = line.strip()
            if line:
                names.append(os.path.basename(line))
    return names


def binlog_sequence(name):
    match = re.search(r"\.([0-9]+)\Z", name)
    return int(match.group(1)) if match else -1


def binlogs_from(names, start_file):
    """The binary logs needed to roll forward from START_FILE (inclusive), in sequence order."""
    start = binlog_sequence(start_file)
    return sorted((n for n in names if binlog_sequence(n) >= start), key=binlog_sequence)


def find_statement_position(decoded, statement, min_pos=0):
    """The position at which to stop so that the transaction holding STATEMENT is not applied.

    DECODED is `mysqlbinlog --base64-output=decode-rows -vv` output of one binary log. A ROW-format log carries the
    statement's text as an annotation (`#Q> ...`, MariaDB's binlog_annotate_row_events, MySQL's
    binlog_rows_query_log_events) or as a query event. Returns the `# at N` of the event that begins the
    transaction (its GTID or BEGIN), or None when the statement is not in this log at or after MIN_POS (the
    backup's position: what came before it is in the backup already).
    """
    needle = " ".join(statement.split()).lower()
    if not needle:
        raise ValueError("the statement to stop before is empty")
    last_at = None
    txn_start = None
    for line in decoded.splitlines():
        if line.startswith("# at "):
            try:
                last_at = int(line[5:].strip())
            except ValueError:
                continue
            continue
        flat = " ".join(line.split()).lower()
        if ("gtid" in flat and ("trans" in flat or "gtid_next" in flat or "gtid " in flat)) and line.startswith("#"):
            txn_start = last_at
            continue
        if flat == "begin" or flat == "begin/*!*/;":
            if txn_start is None:
                txn_start = last_at
            continue
        if flat.startswith("commit") or (flat.startswith("#") and " xid = " in flat):
            txn_start = None
            continue
        text = flat[4:] if flat.startswith("#q> ") else flat
        if needle in text:
            found = txn_start if txn_start is not None else last_at
            if found is not None and found >= min_pos:
                return found
    return None


def json_line(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def monotonic():
    return time.time()
