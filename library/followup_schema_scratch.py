#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the schema a release's migrations produce, built in a scratch database server that is removed after.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_schema_scratch
short_description: Document the schema a release's migrations produce, in a scratch server removed afterwards
description:
  - Verifies the release tarball against the sha256 of the signed index (hashing the one file it then reads),
    takes from it only the migration scripts the verified manifest lists for the engine, starts a private scratch
    server on this host, applies the scripts one by one with the follow-up system's own migration runner, reads the
    schema after each (so a document can say what each migration changed), stops the server and removes every file
    it made, also when something fails.
  - For MySQL/MariaDB, a second C(mariadbd)/C(mysqld) with its own data directory in a private temporary directory,
    unix socket only (C(--skip-networking)), no grant tables, a 16 MB buffer pool. For MongoDB, FerretDB with its
    SQLite handler (the lab's engine), or C(mongod), on a free 127.0.0.1 port with its own data directory.
  - The live databases are never touched and nothing stays on the host. Check mode reports what would be built
    and builds nothing.
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: Which migrations to apply.
    type: str
    required: true
    choices: [mysql, mongodb]
  tarball:
    description: The release tarball on this host (copied here by the playbook).
    type: path
    required: true
  sha256:
    description: The tarball's sha256 from the signed release index; anything else is refused.
    type: str
    required: true
  release:
    description: The release version (the tarball's top directory is C(followup-<release>)).
    type: str
    required: true
  migrations:
    description: The verified manifest's migrations for O(engine), by database, in apply order.
    type: dict
    required: true
  character_set:
    description:
      - The scratch MySQL server's default character set; default the live server's (C(mysql.fact)), else utf8mb4.
    type: str
  collation:
    description: The scratch MySQL server's default collation; default the live server's, else utf8mb4_unicode_ci.
    type: str
  facts_dir:
    description: Directory of the local facts the roles write (C(mysql.fact) gives the live server's character set).
    type: path
    default: /etc/ansible/facts.d
  server:
    description:
      - The server binary. Default for mysql the first of C(mariadbd), C(mysqld) found; for mongodb
        C(/usr/local/bin/ferretdb) when it exists, else C(mongod).
    type: path
  work_dir:
    description: Where the private temporary directory is made.
    type: path
    default: /var/tmp
  sample:
    description: Documents sampled per collection for the fields (a scratch database holds few or none).
    type: int
    default: 50
  timeout:
    description: Seconds allowed to the scratch server to start.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    details: Builds nothing in check mode; reports the scripts it would apply.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - the database server binaries on the host, PyMySQL or pymongo, PyYAML for MongoDB migrations
seealso:
  - module: followup_schema_facts
  - module: followup_migrate
"""

EXAMPLES = r"""
- name: Build the schema of release 1.1.0 in a scratch server
  followup_schema_scratch:
    engine: mysql
    tarball: /var/tmp/followup-schema-1.1.0.tar.gz
    sha256: 064c1826d5f1e27dd9613da3b7549d4c0e00c1be4c9eca8024c27a7d39bc3082
    release: 1.1.0
    migrations: {cloud_followup: [V001__create_core_tables.sql], interface_data: [V001__create_exchange.sql]}
"""

RETURN = r"""
schema:
  description: The schema after the release's last migration (the same shape as followup_schema_facts gives).
  returned: unless in check mode
  type: dict
  sample: {engine: mysql, databases: {cloud_followup: {tables: {}, history: []}}}
steps:
  description: Per database, the schema after each migration, in apply order.
  returned: unless in check mode
  type: dict
  sample: {cloud_followup: [{version: 1, script: V001__create_core_tables.sql, schema: {tables: {}, history: []}}]}
scripts:
  description: The scripts applied (or that would be, in check mode), per database.
  returned: always
  type: dict
  sample: {cloud_followup: [V001__create_core_tables.sql]}
seconds:
  description: How long the build took.
  returned: always
  type: float
  sample: 6.4
"""

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils import followup_schema as schemamod
    from ansible.module_utils.followup_migrations import MigrationError, check_name, load_scripts

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False

KINDS = {"mysql": ("sql",), "mongodb": ("yml", "py")}


class ScratchError(Exception):
    """The scratch build cannot go on; the message names what and the fix."""


def extract(tarball, sha256, release, engine, migrations, dest):
    """Hash TARBALL while reading it once; extract only the listed migration files of ENGINE into DEST/<db>/.

    Nothing extracted is trusted until the digest matches the signed index's sha256 (then the files are kept).
    """
    prefix = "followup-%s/migrations/%s/" % (release, engine)
    wanted = {}
    for db, names in migrations.items():
        check_name("database", db)
        for name in names or []:
            if os.path.basename(name) != name or name.startswith("."):
                raise ScratchError("the manifest's migration name %r is not a plain file name" % name)
            wanted[prefix + "%s/%s" % (db, name)] = (db, name)
    digest = hashlib.sha256()

    class Hashing(object):
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            data = self.handle.read(size)
            digest.update(data)
            return data

    found = {}
    with open(tarball, "rb") as raw:
        reader = Hashing(raw)
        with tarfile.open(fileobj=reader, mode="r|gz") as archive:
            for member in archive:
                if member.name in wanted:
                    if not member.isfile() or member.name in found:
                        raise ScratchError("%s in the tarball is not one regular file" % member.name)
                    db, name = wanted[member.name]
                    if not os.path.isdir(os.path.join(dest, db)):
                        os.makedirs(os.path.join(dest, db), 0o700)
                    data = archive.extractfile(member).read()
                    with open(os.path.join(dest, db, name), "wb") as out:
                        out.write(data)
                    found[member.name] = True
        while reader.read(1 << 20):
            pass
    if digest.hexdigest() != sha256.lower():
        raise ScratchError(
            "the tarball's sha256 %s differs from the signed index's %s: copy it again" % (digest.hexdigest(), sha256)
        )
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ScratchError("the tarball lacks %s, which its manifest lists: the release is damaged" % missing[0])
    for db in migrations:
        if not os.path.isdir(os.path.join(dest, db)):
            os.makedirs(os.path.join(dest, db), 0o700)


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def find_binary(candidates):
    for name in candidates:
        path = name if os.path.isabs(name) else shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class Scratch(object):
    """A private database server in its own directory; stop() removes everything, whatever happened."""

    def __init__(self, module, root):
        self.module = module
        self.root = root
        self.proc = None

    def _wait(self, ready, what):
        deadline = time.time() + self.module.params["timeout"]
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ScratchError(
                    "the scratch %s exited at once (rc %s): %s" % (what, self.proc.returncode, self._log_tail())
                )
            if ready():
                return
            time.sleep(0.3)
        raise ScratchError(
            "the scratch %s did not start within %ds: %s" % (what, self.module.params["timeout"], self._log_tail())
        )

    def _log_tail(self):
        path = os.path.join(self.root, "server.log")
        try:
            with open(path, errors="replace") as handle:
                lines = [x.strip() for x in handle.read().splitlines() if x.strip()]
        except (OSError, IOError):
            return "no log"
        return lines[-1][:200] if lines else "no log"

    def start_mysql(self, server, charset, collation):
        data = os.path.join(self.root, "data")
        account = pwd.getpwnam("mysql") if _has_user("mysql") else None
        if account:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        user = ["--user=mysql"] if account else []
        init = find_binary(["mariadb-install-db", "mysql_install_db"]) if "mariadb" in server else None
        if init:
            argv = [init, "--no-defaults", "--datadir=" + data, "--skip-test-db"]
            argv += ["--auth-root-authentication-method=socket", *user]
        else:
            argv = [server, "--no-defaults", "--initialize-insecure", "--datadir=" + data, *user]
        self.socket = os.path.join(self.root, "mysqld.sock")
        serve = [server, "--no-defaults", "--datadir=" + data, "--socket=" + self.socket, "--skip-networking"]
        serve += ["--skip-grant-tables", "--pid-file=" + os.path.join(self.root, "mysqld.pid")]
        serve += ["--log-error=" + os.path.join(self.root, "server.log"), "--innodb-buffer-pool-size=16M"]
        serve += ["--character-set-server=" + charset, "--collation-server=" + collation, *user]
        with open(os.path.join(self.root, "server.log"), "ab") as log:
            rc = subprocess.call(argv, stdout=log, stderr=log)
            if rc != 0:
                raise ScratchError(
                    "initialising the scratch data directory failed (rc %d): %s" % (rc, self._log_tail())
                )
            self.proc = subprocess.Popen(serve, stdout=log, stderr=log, start_new_session=True)
        self._wait(lambda: os.path.exists(self.socket), "MySQL server %s" % server)

    def start_mongodb(self, server):
        self.port = free_port()
        data = os.path.join(self.root, "data")
        os.makedirs(data, 0o700)
        if os.path.basename(server).startswith("ferretdb"):
            argv = [
                server,
                "--handler=sqlite",
                "--sqlite-url=file:%s/" % data,
                "--listen-addr=127.0.0.1:%d" % self.port,
            ]
            argv += ["--state-dir=" + self.root, "--debug-addr=-", "--telemetry=disable", "--log-level=warn"]
        else:
            argv = [server, "--dbpath", data, "--port", str(self.port), "--bind_ip", "127.0.0.1", "--nounixsocket"]
        with open(os.path.join(self.root, "server.log"), "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.root, start_new_session=True)

        def ready():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(0.5)
            try:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0
            finally:
                sock.close()

        self._wait(ready, "MongoDB server %s" % server)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            deadline = time.time() + 30
            while self.proc.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            if self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def build_mysql(module, scratch, scripts_dir):
    from ansible.module_utils.followup_inspect_db import mysql_root_connect
    from ansible.module_utils.followup_migrate_mysql import MySQLRunner

    p = module.params
    server = p["server"] or find_binary(["mariadbd", "mysqld"])
    if not server:
        raise ScratchError("no MySQL server binary (mariadbd, mysqld) on this host: give server")
    scratch.start_mysql(server, p["character_set"], p["collation"])
    conn = mysql_root_connect(scratch.socket, None)
    steps, names = {}, list(p["migrations"])
    try:
        with conn.cursor() as cur:
            for db in names:
                cur.execute(
                    "CREATE DATABASE `%s` CHARACTER SET %s COLLATE %s"
                    % (db, _word(p["character_set"]), _word(p["collation"]))
                )
        params = {
            "login_user": "root",
            "login_password": None,
            "login_unix_socket": scratch.socket,
            "login_host": "127.0.0.1",
            "login_port": 3306,
        }
        for db in names:
            steps[db] = []
            scripts = load_scripts(os.path.join(scripts_dir, db), KINDS["mysql"], p["migrations"][db])
            runner = MySQLRunner(db, params)
            try:
                runner.ensure_history()
                runner.lock()
                for script in scripts:
                    script.prepare()
                    runner.apply(script, p["release"])
                    one = schemamod.mysql_schema(conn, [db])["databases"][db]
                    steps[db].append({"version": script.version, "script": script.name, "schema": one})
                runner.unlock()
            finally:
                runner.close()
        schema = schemamod.mysql_schema(conn, names)
    finally:
        conn.close()
    schema["server_version"] = "scratch %s" % schema.get("server_version")
    return schema, steps


def build_mongodb(module, scratch, scripts_dir):
    import pymongo
    from ansible.module_utils.followup_migrate_mongodb import MongoRunner

    p = module.params
    server = p["server"] or find_binary(["/usr/local/bin/ferretdb", "ferretdb", "mongod"])
    if not server:
        raise ScratchError("no MongoDB server binary (ferretdb, mongod) on this host: give server")
    scratch.start_mongodb(server)
    uri = "mongodb://127.0.0.1:%d/" % scratch.port
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    steps = {}
    try:
        for db in p["migrations"]:
            steps[db] = []
            scripts = load_scripts(os.path.join(scripts_dir, db), KINDS["mongodb"], p["migrations"][db])
            runner = MongoRunner(uri + db, db)
            try:
                runner.ensure_history()
                runner.lock()
                for script in scripts:
                    script.prepare()
                    runner.apply(script, p["release"])
                    one = schemamod.mongodb_schema(client, [db], p["sample"])["databases"][db]
                    steps[db].append({"version": script.version, "script": script.name, "schema": one})
                runner.unlock()
            finally:
                runner.close()
        schema = schemamod.mongodb_schema(client, list(p["migrations"]), p["sample"])
    finally:
        client.close()
    schema["server_version"] = "scratch %s" % (schema.get("server_version") or os.path.basename(server))
    return schema, steps


def _word(text):
    if not text or not all(c.isalnum() or c == "_" for c in text):
        raise ScratchError("character set / collation %r is not a plain name" % text)
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            tarball=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            release=dict(type="str", required=True),
            migrations=dict(type="dict", required=True),
            character_set=dict(type="str"),
            collation=dict(type="str"),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            server=dict(type="path"),
            work_dir=dict(type="path", default="/var/tmp"),  # noqa: S108 - a private mkdtemp directory is made in it
            sample=dict(type="int", default=50),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(
            msg="module_utils/followup_schema.py or followup_migrations.py is missing: run from followup-ops"
        )
    p = module.params
    started = time.time()
    if schemamod.version_key(p["release"]) is None:
        module.fail_json(msg="release %r is not MAJOR.MINOR.PATCH" % p["release"])
    scripts = dict((db, list(names or [])) for db, names in p["migrations"].items())
    fact = {}
    try:
        with open(os.path.join(p["facts_dir"], "mysql.fact")) as handle:
            fact = json.load(handle)
    except (OSError, IOError, ValueError):
        fact = {}
    p["character_set"] = p["character_set"] or fact.get("character_set") or "utf8mb4"
    p["collation"] = p["collation"] or fact.get("collation") or "utf8mb4_unicode_ci"
    if module.check_mode:
        module.exit_json(changed=False, scripts=scripts, seconds=0.0)
    root = tempfile.mkdtemp(prefix="followup-schema-", dir=p["work_dir"])
    os.chmod(root, 0o700)
    scratch = Scratch(module, root)
    try:
        scripts_dir = os.path.join(root, "migrations")
        os.makedirs(scripts_dir, 0o700)
        extract(p["tarball"], p["sha256"], p["release"], p["engine"], p["migrations"], scripts_dir)
        if p["engine"] == "mysql":
            schema, steps = build_mysql(module, scratch, scripts_dir)
        else:
            schema, steps = build_mongodb(module, scratch, scripts_dir)
    except (ScratchError, MigrationError) as err:
        module.fail_json(msg="building the schema of release %s failed: %s" % (p["release"], to_native(err)))
    except (OSError, IOError, tarfile.TarError) as err:
        module.fail_json(msg="building the schema of release %s failed: %s" % (p["release"], to_native(err)))
    finally:
        scratch.stop()
    # The scratch server is gone and so are its files: nothing on the host changed.
    module.exit_json(
        changed=False, schema=schema, steps=steps, scripts=scripts, seconds=round(time.time() - started, 1)
    )


if __name__ == "__main__":
    main()
