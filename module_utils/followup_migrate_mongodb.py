# -*- coding: utf-8 -*-
# MongoDB runner of followup schema migrations: history collection (and the states brought forward to documents
# written before them), repairs collection, lease lock, declarative (.yml) and Python (.py) scripts. Works against
# mongod and against FerretDB 1.24: no transactions, no pipeline updates, no $$NOW (FerretDB 1.24 has none of
# them); the server's clock comes from `hello.localTime` and `$currentDate`, which both support.
#
# The lease: a document with a unique _id, inserted to take the lock (atomic), renewed by a thread with
# `$currentDate` (the server's clock), judged expired on the server's clock by whoever waits for it. A run on the
# same host whose holder process is gone takes it at once, so a killed run's lease does not outlive it there; on
# another host it expires LEASE_SECONDS after its last renewal. A running script checks the lease before each
# declarative operation and before and after a Python script, and stops with one line when it was lost or may
# have expired (renewals failing for longer than the lease allows).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import io
import os
import socket
import threading
import time

from ansible.module_utils.followup_migrations import (
    FAILED,
    HISTORY,
    IN_PROGRESS,
    INTERRUPTED,
    REPAIRED_APPLIED,
    REPAIRS,
    RUNNING,
    SUCCESS,
    MigrationError,
    check_name,
    mongo_reason,
    one_line,
    recovery,
    row_state,
    script_line,
)

try:
    import pymongo
    from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover - reported by the module
    pymongo = None
    HAS_PYMONGO = False

    class PyMongoError(Exception):
        pass

    ConnectionFailure = DuplicateKeyError = PyMongoError

try:
    import yaml  # noqa: F401 - the declarative scripts need it (followup_migrations.parse_operations)

    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

LOCKS = "followup_migration_lock"
LOCK_ID = "migrate"
LOCK_TIMEOUT = 90
# A live run renews its lease every RENEW_SECONDS (every RETRY_SECONDS while renewals fail). It stops before its
# next operation once no renewal was confirmed for LEASE_SECONDS - SAFETY_SECONDS: the lease may expire soon.
LEASE_SECONDS = 60
RENEW_SECONDS = 10
RETRY_SECONDS = 2
SAFETY_SECONDS = 15


class LeaseError(MigrationError):
    """The lease was lost or may have expired: the run stops before its next operation."""


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def process_start(pid):
    """The start time of process PID in clock ticks since boot (/proc/<pid>/stat field 22), or None."""
    stat = _read("/proc/%d/stat" % pid)
    if not stat or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def process_identity():
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "proc_start": process_start(pid),
    }


def holder_is_gone(holder, me):
    """True when HOLDER (a lease document) was taken by a process of this host (same boot) that no longer runs."""
    if not holder.get("boot_id") or holder.get("host") != me["host"] or holder.get("boot_id") != me["boot_id"]:
        return False
    if holder.get("pid") == me["pid"] and holder.get("proc_start") == me["proc_start"]:
        return False
    try:
        pid = int(holder.get("pid"))
    except (TypeError, ValueError):
        return False
    started = process_start(pid)
    return started is None or started != holder.get("proc_start")


def lease_expired(holder, now):
    renewed = holder.get("renewed_at")
    if renewed is None:  # a lease of the first format: {owner, expires_at}
        expires = holder.get("expires_at")
        return expires is None or expires < now
    return renewed + datetime.timedelta(seconds=int(holder.get("lease_seconds") or LEASE_SECONDS)) < now


def _ts(value):
    return None if value is None else str(value).split(".")[0]


class MongoRunner(object):
    engine = "mongodb"

    def __init__(self, uri, database, lock_timeout=LOCK_TIMEOUT, connect_timeout=10):
        self.database = check_name("database", database)
        self.lock_timeout = int(lock_timeout)
        try:
            self.client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=connect_timeout * 1000, connectTimeoutMS=connect_timeout * 1000
            )
            self.db = self.client[database]
            self.db.command("ping")
        except PyMongoError as err:
            raise MigrationError(
                "cannot reach MongoDB database %s (%s): check the server is up and the account in the vault"
                % (database, one_line(str(err).split(",")[0]))
            )
        try:
            from pymongo.uri_parser import parse_uri

            self.user = parse_uri(uri).get("username") or "?"
        except Exception:  # the driver has accepted the URI already; the name is only for the record
            self.user = "?"
        self.me = process_identity()
        self.owner = "%s:%d" % (self.me["host"], self.me["pid"])
        self.runner = self.owner
        self.locked = False
        self.lease_lost = False
        self._stop = threading.Event()
        self._renewer = None
        self._confirmed = 0.0
        self._renew_error = None

    # --- the runner's own operations ---------------------------------------------------------------------------

    def _error(self, doing, err):
        if isinstance(err, ConnectionFailure):
            return MigrationError(
                "%s: lost the connection to MongoDB while %s: check the server and the network, then retry"
                % (self.database, doing)
            )
        return MigrationError(
            "%s: %s failed (%s): check the server and the rights of %s"
            % (self.database, doing, mongo_reason(err), self.user)
        )

    def _own(self, doing, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except PyMongoError as err:
            raise self._error(doing, err)

    def server_time(self):
        """The server's clock (hello.localTime; isMaster on servers older than 4.4.2)."""
        try:
            reply = self._own("reading the server's time", self.db.command, "hello")
        except MigrationError:
            reply = self._own("reading the server's time", self.db.command, "isMaster")
        now = reply.get("localTime")
        if now is None:
            raise MigrationError(
                "%s: the server does not tell its time (hello.localTime), which the migration lock needs"
                % self.database
            )
        return now.replace(tzinfo=None)

    # --- history -----------------------------------------------------------------------------------------------

    def history(self):
        docs = self._own(
            "reading the migration state",
            lambda: list(self.db[HISTORY].find({}, sort=[("installed_on", 1), ("_id", 1)])),
        )
        return [
            {
                "id": d["_id"],
                "version": d["version"],
                "script": d.get("script"),
                "checksum": d.get("checksum"),
                "success": bool(d.get("success")),
                "release": d.get("release"),
                "installed_on": _ts(d.get("installed_on")),
                "state": d.get("state"),
                "finished_on": _ts(d.get("finished_on")),
                "error": d.get("error"),
                "runner": d.get("runner"),
            }
            for d in docs
        ]

    def ensure_history(self):
        """Create the history collection, or give the documents written before states existed theirs."""
        doing = "upgrading the history collection %s" % HISTORY
        changed = False
        if HISTORY not in self._own(doing, self.db.list_collection_names):
            self._own(doing, self.db.create_collection, HISTORY)
            changed = True
        history = self.db[HISTORY]
        done = self._own(
            doing, history.update_many, {"state": {"$exists": False}, "success": True}, {"$set": {"state": SUCCESS}}
        )
        other = self._own(doing, history.update_many, {"state": {"$exists": False}}, {"$set": {"state": FAILED}})
        return changed or bool(done.modified_count or other.modified_count)

    # --- lease -------------------------------------------------------------------------------------------------

    def _describe(self, holder):
        doing = (", applying %s" % holder["script"]) if holder.get("script") else ""
        return "%s (taken %s UTC, renewed %s UTC, lease %s s%s)" % (
            holder.get("owner"),
            _ts(holder.get("taken_at")),
            _ts(holder.get("renewed_at") or holder.get("expires_at")),
            holder.get("lease_seconds") or LEASE_SECONDS,
            doing,
        )

    def lock_holder(self):
        """Who holds this database's lease, in words, or None when nobody else does (or its lease is dead)."""
        holder = self._own("reading the lock", self.db[LOCKS].find_one, {"_id": LOCK_ID})
        if not holder or (self.locked and holder.get("owner") == self.owner):
            return None
        if holder_is_gone(holder, self.me) or lease_expired(holder, self.server_time()):
            return None
        return self._describe(holder)

    def lock(self):
        locks = self.db[LOCKS]
        deadline = time.monotonic() + self.lock_timeout
        doing = "taking the migration lock"
        while True:
            now = self.server_time()
            sent = time.monotonic()
            doc = dict(
                self.me,
                _id=LOCK_ID,
                owner=self.owner,
                taken_at=now,
                renewed_at=now,
                lease_seconds=LEASE_SECONDS,
                script=None,
            )
            try:
                locks.insert_one(doc)
                break
            except DuplicateKeyError:
                pass
            except PyMongoError as err:
                raise self._error(doing, err)
            holder = self._own(doing, locks.find_one, {"_id": LOCK_ID})
            if holder is None:
                continue  # released in between
            if holder_is_gone(holder, self.me) or lease_expired(holder, now):
                # Its process is gone (same host), or it was not renewed for a whole lease on the server's clock.
                self._own(
                    doing,
                    locks.delete_one,
                    {"_id": LOCK_ID, "owner": holder.get("owner"), "renewed_at": holder.get("renewed_at")},
                )
                continue
            if time.monotonic() >= deadline:
                raise MigrationError(
                    "%s: another migration run holds the lock: %s; waited %d s: let it finish, then retry (a killed "
                    "run's lease expires %d s after its last renewal, or at once for a run on the same host)"
                    % (self.database, self._describe(holder), self.lock_timeout, LEASE_SECONDS),
                    IN_PROGRESS,
                )
            time.sleep(1)
        self.locked = True
        self._confirmed = sent
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="followup-migrate-lease")
        self._renewer.daemon = True
        self._renewer.start()

    def _renew(self, script=None):
        """Push the lease forward on the server's clock. True when confirmed; the lease is marked lost when another
        run has it; a failure is kept (not swallowed) for the check before the next operation."""
        sent = time.monotonic()
        change = {"$currentDate": {"renewed_at": True}}
        if script is not None:
            change["$set"] = {"script": script}
        try:
            renewed = self.db[LOCKS].update_one({"_id": LOCK_ID, "owner": self.owner}, change)
        except PyMongoError as err:
            self._renew_error = mongo_reason(err) if not isinstance(err, ConnectionFailure) else "connection lost"
            return False
        if renewed.matched_count != 1:
            self.lease_lost = True
            return False
        self._confirmed = sent
        self._renew_error = None
        return True

    def _renew_loop(self):
        interval = RENEW_SECONDS
        while not self._stop.wait(interval):
            if self._renew():
                interval = RENEW_SECONDS
            elif self.lease_lost:
                return
            else:
                interval = RETRY_SECONDS  # keep trying; check_lease stops the run if it goes on too long

    def check_lease(self, where, script=None):
        """Before each operation: stop with one line when the lease was lost or may have expired."""
        if not self.lease_lost:
            self._renew(script)
        if self.lease_lost:
            raise LeaseError(
                "%s: stopped %s: another run took the migration lock (this run's lease was not renewed in time)"
                % (self.database, where)
            )
        unconfirmed = time.monotonic() - self._confirmed
        if unconfirmed > LEASE_SECONDS - SAFETY_SECONDS:
            raise LeaseError(
                "%s: stopped %s: the migration lock may have expired (no renewal confirmed for %d s of a %d s lease; "
                "last error: %s)" % (self.database, where, unconfirmed, LEASE_SECONDS, self._renew_error or "none")
            )

    def unlock(self):
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self.locked:
            self.locked = False
            self.db[LOCKS].delete_one({"_id": LOCK_ID, "owner": self.owner})

    # --- applying ----------------------------------------------------------------------------------------------

    def _start(self, script, release):
        doing = "recording %s as running (nothing of it ran)" % script.name
        doc = {
            "version": script.version,
            "description": script.description,
            "script": script.name,
            "checksum": script.checksum,
            "release": release,
            "installed_by": self.user,
            "runner": self.runner,
            "installed_on": self.server_time(),
            "execution_ms": 0,
            "success": False,
            "state": RUNNING,
        }
        return self._own(doing, self.db[HISTORY].insert_one, doc).inserted_id

    def _finish(self, doc_id, state, ms, error=None):
        self.db[HISTORY].update_one(
            {"_id": doc_id},
            {
                "$set": {"state": state, "success": state == SUCCESS, "execution_ms": ms, "error": error},
                "$currentDate": {"finished_on": True},
            },
        )

    def apply(self, script, release):
        prepared = script.prepare()
        self.check_lease("before %s" % script.name, script.name)
        doc_id = self._start(script, release)
        started = time.monotonic()
        line, label = None, ""
        try:
            if script.kind == "yml":
                for i, kind, args, op_line in prepared:
                    line, label = op_line, " (operations[%d], %s)" % (i, kind)
                    self.check_lease("before %s%s" % (script.where(line), label))
                    getattr(self, "_op_" + kind)(args)
            else:
                self.check_lease("before running %s" % script.path)
                self._python(script, prepared)
                self.check_lease("after %s ran (it may have run while another run held the lock)" % script.path)
        except LeaseError as err:
            self._failed(script, doc_id, started, str(err), str(err).split(": ", 1)[1])
        except ConnectionFailure:
            raise MigrationError(
                "%s: lost the connection to MongoDB while %s ran (at %s%s): its history row stays running, since how "
                "much of it the server applied is unknown: %s"
                % (
                    self.database,
                    script.name,
                    script.where(line),
                    label,
                    recovery(self.engine, self.database, script.version),
                ),
                INTERRUPTED,
                {"version": script.version, "script": script.name, "state": RUNNING, "error": None},
            )
        except Exception as err:  # a failing operation, or whatever a Python script raises
            if script.kind == "py":
                line = script_line(err, script)
            reason = str(err) if isinstance(err, MigrationError) else mongo_reason(err)
            at = script.where(line) + label
            short = ("%s:%d" % (script.name, line) if line else script.name) + label
            self._failed(
                script,
                doc_id,
                started,
                "%s: migration %s failed at %s: %s" % (self.database, script.name, at, reason),
                "%s at %s" % (reason, short),
            )
        ms = int((time.monotonic() - started) * 1000)
        try:
            self._finish(doc_id, SUCCESS, ms)
        except PyMongoError as err:
            raise MigrationError(
                "%s: %s ran to its end, but recording its success failed (%s): its history row stays running; "
                "check what it changed, then: %s"
                % (self.database, script.name, mongo_reason(err), recovery(self.engine, self.database, script.version)),
                INTERRUPTED,
                {"version": script.version, "script": script.name, "state": RUNNING},
            )
        return ms

    def _failed(self, script, doc_id, started, message, error):
        """Record the failure (the error without the database, with file names instead of paths) and raise."""
        ms = int((time.monotonic() - started) * 1000)
        error = error.replace(os.path.dirname(script.path) + os.sep, "")[:1000]
        try:
            self._finish(doc_id, FAILED, ms, error)
            state, recorded = FAILED, "its history row is failed"
        except PyMongoError:
            state, recorded = INTERRUPTED, "recording the failure failed too, so its history row stays running"
        raise MigrationError(
            "%s; MongoDB keeps the documents it changed before it stopped; %s: %s"
            % (message, recorded, recovery(self.engine, self.database, script.version)),
            state,
            {
                "version": script.version,
                "script": script.name,
                "state": state if state == FAILED else RUNNING,
                "error": error,
            },
        )

    def _op_create_collection(self, args):
        if args["name"] not in self.db.list_collection_names():
            self.db.create_collection(args["name"])

    def _op_create_index(self, args):
        keys = [(k, int(d)) for k, d in args["keys"]]
        self.db[args["collection"]].create_index(keys, name=args["name"], unique=bool(args.get("unique", False)))

    def _op_drop_index(self, args):
        if args["name"] in self.db[args["collection"]].index_information():
            self.db[args["collection"]].drop_index(args["name"])

    def _op_update_many(self, args):
        self.db[args["collection"]].update_many(args.get("filter") or {}, args["update"])

    def _op_rename_collection(self, args):
        names = self.db.list_collection_names()
        if args["from"] in names and args["to"] not in names:
            self.db[args["from"]].rename(args["to"])

    def _python(self, script, code):
        """Run a Python script's up(db). What it prints is kept out of the module's output (which is JSON, and
        must not carry document values)."""
        namespace = {"__name__": "followup_migration", "__file__": script.path}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)  # noqa: S102 - the release's own, verified script
            up = namespace.get("up")
            if not callable(up):
                raise MigrationError("%s defines no up(db) function" % script.path)
            up(self.db)

    # --- repair ------------------------------------------------------------------------------------------------

    def repair(self, row, new_state, repair, repaired_by):
        """Mark a failed or running row resolved and record it in followup_schema_repairs. MongoDB (FerretDB) has no
        transactions here: the audit document is written first, so a repair is never made without its record."""
        self.ensure_history()
        doing = "recording the repair of %s" % row["script"]
        if REPAIRS not in self._own(doing, self.db.list_collection_names):
            self._own(doing, self.db.create_collection, REPAIRS)
        self._own(
            doing,
            self.db[REPAIRS].insert_one,
            {
                "history_id": row["id"],
                "version": row["version"],
                "script": row["script"],
                "state_before": row_state(row),
                "state_after": new_state,
                "error_before": row.get("error"),
                "reason": repair["reason"],
                "approved_by": repair["approved_by"],
                "repaired_by": repaired_by,
                "runner": self.runner,
                "repaired_on": self.server_time(),
            },
        )
        updated = self._own(
            doing,
            self.db[HISTORY].update_one,
            {"_id": row["id"], "state": {"$in": [FAILED, RUNNING]}},
            {
                "$set": {"state": new_state, "success": new_state == REPAIRED_APPLIED},
                "$currentDate": {"repaired_on": True},
            },
        )
        if updated.matched_count != 1:
            raise MigrationError(
                "%s: the history row of %s changed while it was being repaired: rerun the repair"
                % (self.database, row["script"])
            )

    def close(self):
        try:
            self.unlock()
        except PyMongoError:
            pass  # the lease expires on its own
        finally:
            self.client.close()
