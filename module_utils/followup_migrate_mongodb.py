# -*- coding: utf-8 -*-
# MongoDB runner of followup schema migrations: history collection, lease lock, declarative (.yml)
# and Python (.py) scripts. Works against mongod and against FerretDB 1.x (no transactions, no
# pipeline updates are used).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import socket
import threading
import time

from ansible.module_utils.followup_migrations import HISTORY, MigrationError

try:
    import pymongo
    from pymongo.errors import DuplicateKeyError, PyMongoError

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover - reported by the module
    pymongo = None
    HAS_PYMONGO = False

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

LOCKS = "followup_migration_lock"
# The lease expires on its own when a run dies; a live run renews it every RENEW_SECONDS, so a long data
# migration (FerretDB converts about 400 call records a second) never loses it.
LEASE_SECONDS = 300
RENEW_SECONDS = 60
OPERATIONS = ("create_collection", "create_index", "drop_index", "update_many", "rename_collection")


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class MongoRunner(object):
    def __init__(self, uri, database, connect_timeout=10):
        self.database = database
        try:
            self.client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=connect_timeout * 1000)
            self.db = self.client[database]
            self.db.command("ping")
        except PyMongoError as err:
            raise MigrationError(
                "cannot reach MongoDB database %s (%s): check the server is up and the account in the vault"
                % (database, str(err).split(",")[0])
            )
        self.owner = "%s:%d" % (socket.gethostname(), os.getpid())
        self.locked = False
        self._stop = threading.Event()
        self._renewer = None
        self.lease_lost = False

    def history(self):
        rows = self.db[HISTORY].find({}, sort=[("installed_on", 1), ("version", 1)])
        return [
            {
                "version": r["version"],
                "script": r.get("script"),
                "checksum": r.get("checksum"),
                "success": bool(r.get("success")),
                "release": r.get("release"),
                "installed_on": str(r.get("installed_on")),
            }
            for r in rows
        ]

    def lock(self):
        deadline = time.monotonic() + 30
        while True:
            now = _utcnow()
            try:
                self.db[LOCKS].insert_one(
                    {
                        "_id": "migrate",
                        "owner": self.owner,
                        "expires_at": now + datetime.timedelta(seconds=LEASE_SECONDS),
                    }
                )
                self.locked = True
                self._renewer = threading.Thread(target=self._renew, name="followup-migrate-lease", daemon=True)
                self._renewer.start()
                return
            except DuplicateKeyError:
                # A lease left by a run that died expires on its own.
                self.db[LOCKS].delete_one({"_id": "migrate", "expires_at": {"$lt": now}})
            if time.monotonic() > deadline:
                holder = self.db[LOCKS].find_one({"_id": "migrate"}) or {}
                raise MigrationError(
                    "another migration of %s holds the lock (%s, until %s): let it finish, then retry"
                    % (self.database, holder.get("owner"), holder.get("expires_at"))
                )
            time.sleep(1)

    def _renew(self):
        """Push the lease's expiry forward while this run holds it; note it if it was lost."""
        while not self._stop.wait(RENEW_SECONDS):
            try:
                renewed = self.db[LOCKS].update_one(
                    {"_id": "migrate", "owner": self.owner},
                    {"$set": {"expires_at": _utcnow() + datetime.timedelta(seconds=LEASE_SECONDS)}},
                )
                if renewed.matched_count != 1:
                    self.lease_lost = True
                    return
            except PyMongoError:
                continue  # try again at the next tick; the lease still has minutes to run

    def unlock(self):
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self.locked:
            self.db[LOCKS].delete_one({"_id": "migrate", "owner": self.owner})
            self.locked = False

    def ensure_history(self):
        if HISTORY not in self.db.list_collection_names():
            self.db.create_collection(HISTORY)

    def _record(self, script, release, ms, success, error=None):
        doc = {
            "version": script.version,
            "description": script.description,
            "script": script.name,
            "checksum": script.checksum,
            "release": release,
            "installed_by": self.owner,
            "installed_on": _utcnow(),
            "execution_ms": ms,
            "success": success,
        }
        if error:
            doc["error"] = error[:500]
        self.db[HISTORY].insert_one(doc)

    def _declarative(self, script):
        data = yaml.safe_load(script.text()) or {}
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise MigrationError("%s: 'operations' must be a list" % script.name)
        for i, op in enumerate(operations):
            if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in OPERATIONS:
                raise MigrationError("%s: operations[%d] must be one of %s" % (script.name, i, ", ".join(OPERATIONS)))
        for op in operations:
            ((kind, args),) = op.items()
            getattr(self, "_op_" + kind)(args or {})

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

    def _python(self, script):
        namespace = {"__name__": "followup_migration", "__file__": script.path}
        exec(compile(script.text(), script.path, "exec"), namespace)  # noqa: S102 - the release's own, verified script
        up = namespace.get("up")
        if not callable(up):
            raise MigrationError("%s defines no up(db) function" % script.name)
        up(self.db)

    def apply(self, script, release):
        started = time.monotonic()
        try:
            if script.kind == "yml":
                self._declarative(script)
            else:
                self._python(script)
        except MigrationError:
            raise
        except Exception as err:
            ms = int((time.monotonic() - started) * 1000)
            self._record(script, release, ms, False, error=str(err))
            raise MigrationError(
                "migration %s failed (%s: %s): MongoDB keeps the documents it changed before the failure; restore the "
                "pre-deploy backup of %s before retrying" % (script.name, type(err).__name__, err, self.database)
            )
        ms = int((time.monotonic() - started) * 1000)
        self._record(script, release, ms, True)
        if self.lease_lost:
            raise MigrationError(
                "the migration lock of %s was taken by another run while %s ran: stop the other run and check the "
                "history collection %s before retrying" % (self.database, script.name, HISTORY)
            )
        return ms

    def close(self):
        try:
            self.unlock()
        finally:
            self.client.close()
