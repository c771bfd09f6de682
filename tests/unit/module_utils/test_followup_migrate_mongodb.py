"""The MongoDB runner against a small fake server (its own clock, the few query operators the runner uses): the
lease is taken, renewed and judged on the server's clock, a dead holder on this host is replaced at once, renewal
errors are kept and stop the run before its next operation, a lost lease is noticed before each declarative
operation and after a Python script, the running row comes first, failures are recorded without values, a lost
connection leaves the row running, old documents get states, and a repair is recorded before it is made."""

import datetime
import os
import socket
import subprocess
import types

import pytest
from ansible.module_utils import followup_migrate_mongodb as mm
from ansible.module_utils.followup_migrations import (
    FAILED,
    IN_PROGRESS,
    INTERRUPTED,
    REPAIRED_NOT_APPLIED,
    RUNNING,
    SUCCESS,
    MigrationError,
    load_scripts,
)
from pymongo.errors import AutoReconnect, DuplicateKeyError

T0 = datetime.datetime(2030, 1, 1, 8, 0, 0)
MISSING = object()


class FakeCollection:
    def __init__(self, db, name):
        self.db, self.name, self.docs, self.indexes = db, name, [], {}

    def _hook(self, method, *args):
        self.db.log.append((self.name, method))
        hook = self.db.hooks.get((self.name, method))
        if hook:
            hook(*args)

    @staticmethod
    def _match(doc, flt):
        for key, cond in flt.items():
            value = doc.get(key, MISSING)
            if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
                for op, arg in cond.items():
                    if op == "$exists" and (value is not MISSING) != arg:
                        return False
                    if op == "$lt" and (value is MISSING or not value < arg):
                        return False
                    if op == "$in" and value not in arg:
                        return False
            elif (None if value is MISSING else value) != cond:
                return False
        return True

    def _update(self, doc, update):
        for op, fields in update.items():
            if op == "$set":
                doc.update(fields)
            elif op == "$currentDate":
                doc.update(dict.fromkeys(fields, self.db.client.now))

    def insert_one(self, doc):
        self._hook("insert_one", doc)
        doc = dict(doc)
        doc.setdefault("_id", f"{self.name}-{len(self.docs) + 1}")
        if any(d["_id"] == doc["_id"] for d in self.docs):
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        self.db.created.add(self.name)
        self.docs.append(doc)
        return types.SimpleNamespace(inserted_id=doc["_id"])

    def find_one(self, flt):
        self._hook("find_one", flt)
        found = [d for d in self.docs if self._match(d, flt)]
        return dict(found[0]) if found else None

    def find(self, flt, sort=None):
        self._hook("find", flt)
        return [dict(d) for d in self.docs if self._match(d, flt)]

    def update_one(self, flt, update):
        self._hook("update_one", flt, update)
        for doc in self.docs:
            if self._match(doc, flt):
                self._update(doc, update)
                return types.SimpleNamespace(matched_count=1, modified_count=1)
        return types.SimpleNamespace(matched_count=0, modified_count=0)

    def update_many(self, flt, update):
        self._hook("update_many", flt, update)
        hits = [d for d in self.docs if self._match(d, flt)]
        for doc in hits:
            self._update(doc, update)
        return types.SimpleNamespace(matched_count=len(hits), modified_count=len(hits))

    def delete_one(self, flt):
        self._hook("delete_one", flt)
        for doc in self.docs:
            if self._match(doc, flt):
                self.docs.remove(doc)
                return types.SimpleNamespace(deleted_count=1)
        return types.SimpleNamespace(deleted_count=0)

    def create_index(self, keys, name, unique=False):
        self._hook("create_index", keys)
        self.indexes[name] = keys

    def index_information(self):
        return dict(self.indexes)


class FakeDB:
    def __init__(self, client):
        self.client, self.collections, self.created, self.hooks, self.log = client, {}, set(), {}, []

    def __getitem__(self, name):
        return self.collections.setdefault(name, FakeCollection(self, name))

    def __getattr__(self, name):
        return self[name]

    def command(self, name):
        if name == "hello":
            return {"localTime": self.client.now}
        return {"ok": 1}

    def list_collection_names(self):
        return sorted(self.created)

    def create_collection(self, name):
        self.log.append((name, "create_collection"))
        self.created.add(name)


class FakeClient:
    last = None

    def __init__(self, uri, **kwargs):
        self.now = T0
        self.db = FakeDB(self)
        FakeClient.last = self

    def __getitem__(self, name):
        return self.db

    def close(self):
        pass


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setattr(mm, "pymongo", types.SimpleNamespace(MongoClient=FakeClient))
    made = []

    def make(lock_timeout=0):
        made.append(mm.MongoRunner("mongodb://cdr_app:pw@db:27017/cdr", "cdr", lock_timeout=lock_timeout))
        return made[-1]

    yield make
    for r in made:
        r.close()


def server(r):
    return r.client.db


def lease(r):
    return server(r)["followup_migration_lock"].docs


def history(r):
    return server(r)["followup_schema_history"].docs


def script(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return load_scripts(str(tmp_path), ("yml", "py"), [name])[0]


THREE_OPS = (
    "description: three collections\n"
    "operations:\n"
    "  - create_collection: {name: a}\n"
    "\n"
    "  - create_collection: {name: b}\n"
    "  - create_collection: {name: c}\n"
)


def test_the_lease_is_taken_and_renewed_on_the_servers_clock(runner):
    r = runner()
    r.lock()
    (doc,) = lease(r)
    assert doc["owner"] == r.owner and doc["taken_at"] == T0 and doc["renewed_at"] == T0
    assert doc["host"] == socket.gethostname() and doc["pid"] == os.getpid()
    r.client.now = T0 + datetime.timedelta(seconds=7)
    r.check_lease("before something", "V001__a.yml")
    assert doc["renewed_at"] == T0 + datetime.timedelta(seconds=7) and doc["script"] == "V001__a.yml"
    r.unlock()
    assert lease(r) == []


def other_lease(renewed_at, **extra):
    return dict(
        {
            "_id": "migrate",
            "owner": "app2:99",
            "host": "app2",
            "pid": 99,
            "boot_id": "b",
            "taken_at": renewed_at,
            "renewed_at": renewed_at,
            "lease_seconds": 60,
            "script": "V003__slow.py",
        },
        **extra,
    )


def test_a_lease_not_renewed_for_a_whole_lease_on_the_servers_clock_is_taken(runner):
    r = runner()
    lease(r).append(other_lease(T0 - datetime.timedelta(seconds=61)))
    assert r.lock_holder() is None
    r.lock()
    assert lease(r)[0]["owner"] == r.owner


def test_a_live_lease_refuses_after_the_wait_naming_its_holder(runner):
    r = runner(lock_timeout=0)
    lease(r).append(other_lease(T0 - datetime.timedelta(seconds=30)))
    assert r.lock_holder().startswith("app2:99 (taken 2030-01-01 07:59:30 UTC")
    with pytest.raises(MigrationError) as caught:
        r.lock()
    assert caught.value.state == IN_PROGRESS
    assert "cdr: another migration run holds the lock: app2:99" in str(caught.value)
    assert "applying V003__slow.py" in str(caught.value) and "waited 0 s" in str(caught.value)
    assert lease(r)[0]["owner"] == "app2:99"


def test_a_lease_left_by_a_dead_process_of_this_host_is_taken_at_once(runner):
    dead = subprocess.Popen(["true"])
    dead.wait()
    r = runner(lock_timeout=0)
    me = mm.process_identity()
    lease(r).append(other_lease(T0, owner=f"x:{dead.pid}", host=me["host"], boot_id=me["boot_id"], pid=dead.pid))
    r.lock()
    assert lease(r)[0]["owner"] == r.owner


def test_a_lease_of_a_live_process_of_this_host_is_respected(runner):
    r = runner(lock_timeout=0)
    me = mm.process_identity()
    parent = os.getppid()
    lease(r).append(
        other_lease(
            T0,
            owner=f"x:{parent}",
            host=me["host"],
            boot_id=me["boot_id"],
            pid=parent,
            proc_start=mm.process_start(parent),
        )
    )
    with pytest.raises(MigrationError, match="another migration run holds the lock"):
        r.lock()


def test_renewal_errors_are_kept_and_stop_the_run_once_the_lease_may_have_expired(runner, monkeypatch):
    r = runner()
    r.lock()

    def refuse(*args):
        raise AutoReconnect("db:27017: connection closed")

    server(r).hooks[("followup_migration_lock", "update_one")] = refuse
    r.check_lease("before operations[0]")  # one failed renewal: the lease still has most of its time, keep going
    assert r._renew_error == "connection lost"
    later = r._confirmed + mm.LEASE_SECONDS - mm.SAFETY_SECONDS + 1
    monkeypatch.setattr(mm.time, "monotonic", lambda: later)
    with pytest.raises(mm.LeaseError) as caught:
        r.check_lease("before operations[1]")
    assert str(caught.value) == (
        "cdr: stopped before operations[1]: the migration lock may have expired (no renewal confirmed for 46 s of a "
        "60 s lease; last error: connection lost)"
    )


def test_a_lease_lost_between_declarative_operations_stops_before_the_next_one(runner, tmp_path):
    r = runner()
    s = script(tmp_path, "V001__three.yml", THREE_OPS)

    def taken(name):
        if name == "a":
            lease(r)[0]["owner"] = "app2:99"  # another run took the lock meanwhile

    r.lock()
    original = server(r).create_collection

    def create(name):
        original(name)
        taken(name)

    server(r).create_collection = create
    with pytest.raises(MigrationError) as caught:
        r.apply(s, "1.1.0")
    msg = str(caught.value)
    assert msg.startswith(f"cdr: stopped before {s.path}:5 (operations[1], create_collection): another run took")
    assert "its history row is failed" in msg and "--engine mongodb --database cdr --version 1" in msg
    assert "b" not in server(r).created and caught.value.state == FAILED
    (row,) = history(r)
    assert row["state"] == FAILED and row["error"].startswith("stopped before V001__three.yml:5 (operations[1]")


def test_the_running_row_is_written_before_the_first_operation_and_success_after_the_last(runner, tmp_path):
    r = runner()
    s = script(tmp_path, "V001__three.yml", THREE_OPS)
    seen = []
    original = server(r).create_collection

    def create(name):
        seen.append([(d["script"], d["state"]) for d in history(r)])
        original(name)

    server(r).create_collection = create
    r.lock()
    r.apply(s, "1.1.0")
    assert seen[0] == [("V001__three.yml", RUNNING)]
    (row,) = history(r)
    assert row["state"] == SUCCESS and row["success"] is True and row["finished_on"] == T0
    assert row["installed_by"] == "cdr_app" and row["runner"] == r.owner and row["release"] == "1.1.0"


def test_a_python_script_is_checked_before_and_after_and_its_output_kept_out(runner, tmp_path, capsys):
    r = runner()
    s = script(
        tmp_path,
        "V002__convert.py",
        "def up(db):\n    print('13800138000')\n    db['followup_migration_lock'].docs[0]['owner'] = 'app2:99'\n",
    )
    r.lock()
    with pytest.raises(MigrationError) as caught:
        r.apply(s, None)
    assert f"stopped after {s.path} ran (it may have run while another run held the lock)" in str(caught.value)
    assert history(r)[0]["state"] == FAILED and "13800138000" not in capsys.readouterr().out


def test_a_python_scripts_failure_is_recorded_with_its_line_and_without_the_value(runner, tmp_path):
    r = runner()
    s = script(tmp_path, "V002__convert.py", "def up(db):\n    x = 1\n    int('13800138000x')\n")
    r.lock()
    with pytest.raises(MigrationError) as caught:
        r.apply(s, None)
    msg = str(caught.value)
    assert msg.startswith(f"cdr: migration V002__convert.py failed at {s.path}:3: ValueError raised")
    assert "13800138000" not in msg and caught.value.state == FAILED
    assert history(r)[0]["error"] == (
        "ValueError raised (its text is not shown: it may quote document values) at V002__convert.py:3"
    )


def test_a_lost_connection_mid_script_leaves_the_running_row(runner, tmp_path):
    r = runner()
    s = script(tmp_path, "V001__three.yml", THREE_OPS)
    r.lock()
    original = server(r).create_collection

    def create(name):
        if name == "b":
            raise AutoReconnect("db:27017: connection closed")
        original(name)

    server(r).create_collection = create
    with pytest.raises(MigrationError) as caught:
        r.apply(s, None)
    assert caught.value.state == INTERRUPTED
    assert f"lost the connection to MongoDB while V001__three.yml ran (at {s.path}:5 (operations[1]" in str(
        caught.value
    )
    assert history(r)[0]["state"] == RUNNING


def test_documents_of_the_first_format_get_their_states(runner):
    r = runner()
    server(r).created.add("followup_schema_history")
    history(r).extend([{"_id": 1, "version": 1, "success": True}, {"_id": 2, "version": 2, "success": False}])
    assert [row["state"] for row in r.history()] == [None, None]
    assert r.ensure_history() is True
    assert [d["state"] for d in history(r)] == [SUCCESS, FAILED]
    assert r.ensure_history() is False


def test_a_repair_is_recorded_before_the_history_changes(runner):
    r = runner()
    server(r).created.add("followup_schema_history")
    history(r).append({"_id": 7, "version": 3, "script": "V003__slow.py", "state": RUNNING, "success": False})
    row = r.history()[0]
    r.repair(row, REPAIRED_NOT_APPLIED, {"reason": "undone", "approved_by": "Wang"}, "Zhang")
    writes = [entry for entry in server(r).log if entry[1] in ("insert_one", "update_one")]
    assert writes[-2:] == [("followup_schema_repairs", "insert_one"), ("followup_schema_history", "update_one")]
    (record,) = server(r)["followup_schema_repairs"].docs
    assert (record["state_before"], record["state_after"], record["approved_by"], record["repaired_by"]) == (
        RUNNING,
        REPAIRED_NOT_APPLIED,
        "Wang",
        "Zhang",
    )
    assert history(r)[0]["state"] == REPAIRED_NOT_APPLIED and history(r)[0]["repaired_on"] == T0
