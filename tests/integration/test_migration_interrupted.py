"""Migrations killed halfway, then run again, on real MariaDB and FerretDB: the module (library/followup_migrate.py,
run as its own process exactly as Ansible runs it, arguments on stdin) is SIGKILLed in the middle of a slow
migration; the rerun refuses in one line naming the migration and the recoveries; the repair is recorded; the next
run applies the rest. Also: a second run waiting on the lock names its holder, a cut connection ends with one line
and leaves the migration running, and history of the first format (success only) is brought forward.

Where it runs. By default on the lab, after a deploy (test_deploy.py runs first): the runner runs on the control
node and reaches mysql1 and mongo1 through SSH tunnels from app1 as ops, so MySQL sees the migrate account come from
the app host, as in a deploy. It works in a scratch database `followup_migtest` that it creates (MariaDB: as root
through `docker exec` on mysql1, granting followup_migrate@app1 the migrate account's usual rights there; FerretDB:
as the administrator followup_admin, since cdr_app may use only cdr) and removes afterwards; cloud_followup,
interface_data and cdr are never touched.

Against other servers (e.g. throwaway containers), FOLLOWUP_MIGTEST_* variables replace the lab's values:
VIA (ssh, the default, or direct), JUMP (user@host of the app host, default ops@10.89.50.12), SSH_KEY, KNOWN_HOSTS,
MYSQL and MONGO (host:port as the app host reaches them), MYSQL_CONTAINER (where `mariadb` runs as root),
MYSQL_CLIENT (the address MySQL sees the runner come from), MYSQL_PASSWORD_FILE (followup_migrate's), MONGO_USER,
MONGO_PASSWORD_FILE. Setting JUMP or VIA=direct skips `lab up`.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pymongo
import pymysql
import pytest
import yaml
from labkit import ROOT, VAULT_PASSWORD

pytestmark = pytest.mark.integration

SCRATCH = "followup_migtest"
LOCK = "followup_migrate." + SCRATCH
# The migrate account's rights (roles/mysql/vars/main.yml), on the scratch database.
MIGRATE_PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, "
    "CREATE TEMPORARY TABLES, LOCK TABLES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE, EVENT"
)
DRIVER = (
    f"import sys, ansible.module_utils; sys.path.insert(0, {str(ROOT / 'library')!r}); "
    f"ansible.module_utils.__path__.append({str(ROOT / 'module_utils')!r}); "
    "import followup_migrate; followup_migrate.main()"
)


def figure(name, seconds):
    """What the tests measure, printed (pytest -s shows it) for the record in docs and reports."""
    sys.stdout.write(f"\nfigure: {name}: {seconds:.1f} s\n")


# --- where the databases are -----------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout, what):
    """Poll CHECK until it is true; return the seconds it took."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Target:
    mysql: tuple
    mysql_container: str
    mysql_client: str
    mysql_password: str
    mongo: tuple
    mongo_user: str
    mongo_password: str
    tunnels: list = field(default_factory=list)

    def mysql_args(self, directory, endpoint=None, **extra):
        host, port = endpoint or self.mysql
        return dict(
            {
                "engine": "mysql",
                "database": SCRATCH,
                "migrations_dir": str(directory),
                "release": "9.9.9",
                "login_host": host,
                "login_port": port,
                "login_user": "followup_migrate",
                "login_password": self.mysql_password,
            },
            **extra,
        )

    def mongo_uri(self, endpoint=None):
        host, port = endpoint or self.mongo
        password = urllib.parse.quote(self.mongo_password, safe="")
        source = "cdr" if self.mongo_user == "cdr_app" else "admin"
        return (
            f"mongodb://{self.mongo_user}:{password}@{host}:{port}/{SCRATCH}"
            f"?authSource={source}&authMechanism=PLAIN&directConnection=true"
        )

    def mongo_args(self, directory, endpoint=None, **extra):
        return dict(
            {
                "engine": "mongodb",
                "database": SCRATCH,
                "migrations_dir": str(directory),
                "release": "9.9.9",
                "uri": self.mongo_uri(endpoint),
            },
            **extra,
        )

    def root_sql(self, sql):
        proc = subprocess.run(
            ["docker", "exec", "-i", self.mysql_container, "mariadb"], input=sql, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr

    def monitor(self):
        host, port = self.mysql
        return pymysql.connect(
            host=host,
            port=port,
            user="followup_migrate",
            password=self.mysql_password,
            database=SCRATCH,
            autocommit=True,
            connect_timeout=10,
        )

    def mongo_db(self):
        return pymongo.MongoClient(self.mongo_uri(), serverSelectionTimeoutMS=10000)[SCRATCH]


def lab_secrets():
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(VAULT_PASSWORD.read_text().strip().encode())
    data = VaultLib([("default", secret)]).decrypt((ROOT / "inventories/lab/group_vars/all/vault.yml").read_bytes())
    return yaml.safe_load(data)


def tunnel(jump, local_port, remote):
    """ssh -L through the app host (JUMP: user@address, key, known_hosts): the databases see the app host connect."""
    user_host, key, known_hosts = jump
    proc = subprocess.Popen(
        [
            "ssh",
            "-N",
            "-i",
            key,
            "-o",
            "UserKnownHostsFile=" + known_hosts,
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ServerAliveInterval=10",
            "-L",
            f"127.0.0.1:{local_port}:{remote}",
            user_host,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: reachable("127.0.0.1", local_port) or proc.poll() is not None, 20, "the SSH tunnel to " + remote)
    assert proc.poll() is None, proc.stderr.read().decode()
    return proc


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def setting(name, default=None):
    value = os.environ.get("FOLLOWUP_MIGTEST_" + name, default)
    if value is None:
        pytest.fail(f"FOLLOWUP_MIGTEST_{name} is not set (see the docstring of {__name__})")
    return value


def secret(name, lab_key):
    path = os.environ.get(f"FOLLOWUP_MIGTEST_{name}_PASSWORD_FILE")
    return Path(path).read_text().strip() if path else lab_secrets()[lab_key]


@pytest.fixture(scope="module")
def target(request):
    """The lab (default: through app1, after `lab up` and a deploy), or the servers the environment names."""
    via = setting("VIA", "ssh")
    if via == "ssh" and "FOLLOWUP_MIGTEST_JUMP" not in os.environ:
        request.getfixturevalue("lab")
    mysql, mongo = endpoint(setting("MYSQL", "10.89.50.21:3306")), endpoint(setting("MONGO", "10.89.50.22:27017"))
    tunnels = []
    client = setting("MYSQL_CLIENT", None if via == "direct" else "10.89.50.12")
    if via == "ssh":
        if shutil.which("ssh") is None:
            pytest.fail("ssh is missing on the control node")
        jump = (
            setting("JUMP", "ops@10.89.50.12"),
            setting("SSH_KEY", str(ROOT / ".lab/ssh/id_ed25519")),
            setting("KNOWN_HOSTS", str(ROOT / ".lab/known_hosts")),
        )
        ports = free_port(), free_port()
        tunnels = [
            tunnel(jump, port, f"{remote[0]}:{remote[1]}") for port, remote in zip(ports, (mysql, mongo), strict=True)
        ]
        mysql, mongo = ("127.0.0.1", ports[0]), ("127.0.0.1", ports[1])
    yield Target(
        mysql=mysql,
        mysql_container=setting("MYSQL_CONTAINER", "followup-lab-mysql1"),
        mysql_client=client,
        mysql_password=secret("MYSQL", "vault_mysql_migrate_password"),
        mongo=mongo,
        mongo_user=setting("MONGO_USER", "followup_admin"),
        mongo_password=secret("MONGO", "vault_mongodb_admin_password"),
        tunnels=tunnels,
    )
    for proc in tunnels:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def mysql_scratch(target):
    account = f"'followup_migrate'@'{target.mysql_client}'"
    target.root_sql(
        f"DROP DATABASE IF EXISTS {SCRATCH}; CREATE DATABASE {SCRATCH} CHARACTER SET utf8mb4; "
        f"GRANT {MIGRATE_PRIVILEGES} ON {SCRATCH}.* TO {account};"
    )
    yield target
    target.root_sql(f"DROP DATABASE IF EXISTS {SCRATCH}; REVOKE ALL PRIVILEGES ON {SCRATCH}.* FROM {account};")


@pytest.fixture
def mongo_scratch(target):
    db = target.mongo_db()
    db.client.drop_database(SCRATCH)
    yield target
    db.client.drop_database(SCRATCH)
    db.client.close()


# --- running the module as a process -----------------------------------------------------------------------------


class Run:
    """The module in a process of its own, its arguments (with the password) on stdin, never on a command line."""

    def __init__(self, args):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.out = self.err = None
        self.thread = threading.Thread(target=self._talk, args=(json.dumps({"ANSIBLE_MODULE_ARGS": args}),))
        self.thread.start()

    def _talk(self, text):
        self.out, self.err = self.proc.communicate(text)

    def result(self, timeout=180):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the migration run did not end"
        assert self.out, f"no result (exit {self.proc.returncode}): {(self.err or '')[-2000:]}"
        return json.loads(self.out)

    def kill(self):
        self.proc.kill()  # SIGKILL: no handler, no cleanup, exactly a killed run
        self.thread.join(30)


def run(args, timeout=180):
    return Run(args).result(timeout)


def one_line(msg):
    assert "\n" not in msg and msg.strip() == msg
    return msg


# --- a TCP proxy whose connections can be cut --------------------------------------------------------------------


class Proxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = ("127.0.0.1", self.listener.getsockname()[1])
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass

    def cut(self):
        """The network goes away: no new connections, every open one closed."""
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


# --- MySQL ---------------------------------------------------------------------------------------------------------

MYSQL_SCRIPTS = {
    "V001__create_calls.sql": "-- 通话 calls\nCREATE TABLE calls (id INT PRIMARY KEY, n INT) ENGINE=InnoDB;\n"
    "INSERT INTO calls VALUES (1, 10), (2, 20), (3, 30);\n",
    "V002__slow_backfill.sql": "-- 慢 a slow migration\nALTER TABLE calls ADD COLUMN c INT NULL;\n"
    "UPDATE calls SET c = n;\nDO SLEEP(8);\nUPDATE calls SET c = c + 1;\n",
    "V003__later.sql": "CREATE TABLE later (id INT PRIMARY KEY) /*!50100 ENGINE=InnoDB */;\n",
}


def write_scripts(directory, scripts):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (directory / name).write_text(text)
    return directory


def query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def history(conn):
    return [
        (v, s) for v, s in query(conn, "SELECT version, state FROM followup_schema_history ORDER BY installed_rank")
    ]


def sleeping(conn):
    rows = query(conn, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DO SLEEP%%'")
    return rows[0][0] > 0


def test_a_mysql_migration_killed_halfway_is_refused_repaired_and_then_applied(mysql_scratch, tmp_path):
    target = mysql_scratch
    scripts = write_scripts(tmp_path / "mysql", MYSQL_SCRIPTS)
    args = target.mysql_args(scripts)
    monitor = target.monitor()
    first = Run(args)
    wait_for(lambda: sleeping(monitor), 60, "V002 to reach its slow statement")
    assert history(monitor) == [(1, "success"), (2, "running")]

    # A second run meanwhile waits for the lock, then names its holder.
    second = run(target.mysql_args(scripts, lock_timeout=2))
    assert second["failed"] and second["state"] == "in_progress"
    msg = one_line(second["msg"])
    assert f"{SCRATCH}: another migration run holds the lock {LOCK}: MySQL connection " in msg
    assert "followup_migrate from " in msg and "applying V002__slow_backfill.sql (started " in msg

    first.kill()
    killed = time.monotonic()
    released = wait_for(lambda: query(monitor, "SELECT IS_FREE_LOCK(%s)", (LOCK,))[0][0] == 1, 60, "the lock")
    figure("MySQL lock free after the SIGKILL", released)

    again = run(target.mysql_args(scripts, lock_timeout=60))
    figure("MySQL SIGKILL to the rerun's refusal", time.monotonic() - killed)
    assert again["failed"] and again["state"] == "interrupted" and again["changed"] is False
    msg = one_line(again["msg"])
    assert re.match(
        rf"{SCRATCH}: migration V002__slow_backfill\.sql was interrupted \(started \d{{4}}-\d\d-\d\d [\d:]+ UTC by "
        rf"[^ ]+:{first.proc.pid} and never finished: the run was killed or lost its connection",
        msg,
    ), msg
    assert f"restore {SCRATCH} from the backup taken before the migration" in msg
    assert f"followup-ops migrations repair -i INVENTORY --engine mysql --database {SCRATCH} --version 2" in msg
    assert again["blocking"]["script"] == "V002__slow_backfill.sql" and again["blocking"]["state"] == "running"
    # What the killed run left: its DDL (MySQL commits it), not its data changes, nothing of V003.
    columns = [r[0] for r in query(monitor, "SHOW COLUMNS FROM calls")]
    assert "c" in columns and query(monitor, "SELECT COUNT(*) FROM calls WHERE c IS NOT NULL")[0][0] == 0
    assert query(monitor, "SHOW TABLES LIKE 'later'") == ()
    assert history(monitor) == [(1, "success"), (2, "running")]

    inspected = run(target.mysql_args(scripts, operation="inspect"))
    assert not inspected.get("failed") and inspected["state"] == "interrupted" and inspected["refused"] == [msg]

    repair = {"version": 2, "resolution": "not_applied", "reason": "column c dropped by hand", "approved_by": ""}
    refused = run(target.mysql_args(scripts, operation="repair", repair=repair))
    assert refused["failed"] and refused["msg"].startswith("repair.approved_by is empty")

    query(monitor, "ALTER TABLE calls DROP COLUMN c")  # the manual fix: undo what the killed run kept
    repair.update(approved_by="Wang Li (IT)", repaired_by="Zhang Wei")
    repaired = run(target.mysql_args(scripts, operation="repair", repair=repair))
    assert not repaired.get("failed") and repaired["changed"] and repaired["state"] == "clean"
    assert repaired["repair"]["state_before"] == "running"
    assert query(
        monitor, "SELECT version, state_before, state_after, approved_by, repaired_by FROM followup_schema_repairs"
    ) == ((2, "running", "repaired_not_applied", "Wang Li (IT)", "Zhang Wei"),)

    done = run(args)
    assert not done.get("failed") and done["state"] == "clean" and done["schema_version"] == 3
    assert [a["script"] for a in done["applied"]] == ["V002__slow_backfill.sql", "V003__later.sql"]
    assert history(monitor) == [(1, "success"), (2, "repaired_not_applied"), (2, "success"), (3, "success")]
    assert query(monitor, "SELECT SUM(c) FROM calls")[0][0] == 63
    unchanged = run(args)
    assert unchanged["changed"] is False and unchanged["applied"] == []
    monitor.close()


def test_a_cut_mysql_connection_ends_in_one_line_and_leaves_the_migration_running(mysql_scratch, tmp_path):
    target = mysql_scratch
    scripts = write_scripts(tmp_path / "mysql", MYSQL_SCRIPTS)
    proxy = Proxy(target.mysql)
    monitor = target.monitor()
    cut = Run(target.mysql_args(scripts, endpoint=proxy.address))
    wait_for(lambda: sleeping(monitor), 60, "V002 to reach its slow statement")
    proxy.cut()
    result = cut.result(60)
    msg = one_line(result["msg"])
    assert result["failed"] and result["state"] == "interrupted"
    assert msg.startswith(
        f"{SCRATCH}: lost the connection to MySQL while V002__slow_backfill.sql ran "
        f"(at {scripts / 'V002__slow_backfill.sql'}:4, statement 3 of 4; MySQL error 2013"
    ), msg
    assert "its history row stays running" in msg
    assert history(monitor) == [(1, "success"), (2, "running")]
    monitor.close()


FIRST_FORMAT = (
    "CREATE TABLE followup_schema_history (installed_rank INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " version INT NOT NULL, description VARCHAR(200) NOT NULL, script VARCHAR(255) NOT NULL,"
    " checksum CHAR(64) NOT NULL,"
    " release_version VARCHAR(32) NULL, installed_by VARCHAR(128) NOT NULL,"
    " installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_ms INT NOT NULL,"
    " success TINYINT(1) NOT NULL, KEY ix_version (version)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)


def test_a_history_table_of_the_first_format_is_read_and_brought_forward(mysql_scratch, tmp_path):
    from ansible.module_utils.followup_migrations import checksum

    target = mysql_scratch
    scripts = write_scripts(tmp_path / "mysql", {k: v for k, v in MYSQL_SCRIPTS.items() if "slow" not in k})
    monitor = target.monitor()
    query(monitor, FIRST_FORMAT)
    query(
        monitor,
        "INSERT INTO followup_schema_history (version, description, script, checksum, release_version, installed_by,"
        " execution_ms, success) VALUES (1, 'create calls', 'V001__create_calls.sql', %s, '1.0.0', 'x', 5, 1)",
        (checksum((scripts / "V001__create_calls.sql").read_bytes()),),
    )
    before = run(target.mysql_args(scripts, operation="inspect"))
    assert before["state"] == "clean" and before["pending"] == ["V003__later.sql"] and before["refused"] == []
    assert "state" not in [r[0] for r in query(monitor, "SHOW COLUMNS FROM followup_schema_history")]
    done = run(target.mysql_args(scripts))
    assert done["applied"][0]["script"] == "V003__later.sql" and done["history_upgraded"] is True
    assert history(monitor) == [(1, "success"), (3, "success")]
    monitor.close()


# --- MongoDB -------------------------------------------------------------------------------------------------------

MONGO_SCRIPTS = {
    "V001__create_calls.yml": "description: 通话 calls\noperations:\n  - create_collection: {name: calls}\n"
    "  - create_index: {collection: calls, keys: [[task_id, 1]], name: ix_task, unique: true}\n",
    "V002__slow_backfill.py": "import time\n\n\ndef up(db):\n"
    "    db.calls.insert_many([{'task_id': i, 'n': i} for i in range(20)])\n"
    "    time.sleep(8)\n"
    "    db.calls.update_many({}, {'$set': {'done': True}})\n",
    "V003__index_done.yml": "operations:\n  - create_index: {collection: calls, keys: [[done, 1]], name: ix_done}\n",
}


def mongo_history(db):
    return [(d["version"], d["state"]) for d in db.followup_schema_history.find(sort=[("installed_on", 1)])]


def test_a_mongodb_migration_killed_halfway_is_refused_repaired_and_then_applied(mongo_scratch, tmp_path):
    target = mongo_scratch
    scripts = write_scripts(tmp_path / "mongo", MONGO_SCRIPTS)
    db = target.mongo_db()
    first = Run(target.mongo_args(scripts))
    wait_for(lambda: db.calls.count_documents({}) == 20, 60, "V002 to insert its documents")
    assert mongo_history(db) == [(1, "success"), (2, "running")]

    second = run(target.mongo_args(scripts, lock_timeout=2))
    assert second["failed"] and second["state"] == "in_progress"
    msg = one_line(second["msg"])
    assert f"{SCRATCH}: another migration run holds the lock: " in msg and f":{first.proc.pid} (taken " in msg
    assert "applying V002__slow_backfill.py" in msg

    first.kill()
    killed = time.monotonic()
    again = run(target.mongo_args(scripts, lock_timeout=90))
    figure("MongoDB SIGKILL to the rerun's refusal (the dead run's lease taken over)", time.monotonic() - killed)
    assert time.monotonic() - killed < 30, "the dead run's lease, on this host, is taken at once"
    assert again["failed"] and again["state"] == "interrupted"
    msg = one_line(again["msg"])
    assert msg.startswith(f"{SCRATCH}: migration V002__slow_backfill.py was interrupted (started ")
    assert f"--engine mongodb --database {SCRATCH} --version 2" in msg
    assert db.calls.count_documents({"done": True}) == 0 and "ix_done" not in db.calls.index_information()

    inspected = run(target.mongo_args(scripts, operation="inspect"))
    assert inspected["state"] == "interrupted" and inspected["refused"] == [msg]

    db.calls.delete_many({})  # the manual fix: undo what the killed run inserted
    repair = {"version": 2, "resolution": "not_applied", "reason": "20 documents removed", "approved_by": "Wang Li"}
    repaired = run(target.mongo_args(scripts, operation="repair", repair=repair))
    assert not repaired.get("failed") and repaired["state"] == "clean"
    (record,) = list(db.followup_schema_repairs.find())
    assert (record["state_before"], record["state_after"], record["approved_by"]) == (
        "running",
        "repaired_not_applied",
        "Wang Li",
    )

    done = run(target.mongo_args(scripts))
    assert not done.get("failed") and [a["script"] for a in done["applied"]] == [
        "V002__slow_backfill.py",
        "V003__index_done.yml",
    ]
    assert mongo_history(db) == [(1, "success"), (2, "repaired_not_applied"), (2, "success"), (3, "success")]
    assert db.calls.count_documents({"done": True}) == 20 and list(db.followup_migration_lock.find()) == []
    assert run(target.mongo_args(scripts))["changed"] is False
    db.client.close()


def test_a_cut_mongodb_connection_ends_in_one_line_and_leaves_the_migration_running(mongo_scratch, tmp_path):
    target = mongo_scratch
    scripts = write_scripts(tmp_path / "mongo", MONGO_SCRIPTS)
    proxy = Proxy(target.mongo)
    db = target.mongo_db()
    cut = Run(target.mongo_args(scripts, endpoint=proxy.address))
    wait_for(lambda: db.calls.count_documents({}) == 20, 60, "V002 to insert its documents")
    proxy.cut()
    result = cut.result(90)
    msg = one_line(result["msg"])
    assert result["failed"] and result["state"] == "interrupted", msg
    assert msg.startswith(f"{SCRATCH}: lost the connection to MongoDB while V002__slow_backfill.py ran"), msg
    assert "its history row stays running" in msg
    assert mongo_history(db) == [(1, "success"), (2, "running")]
    db.client.close()
