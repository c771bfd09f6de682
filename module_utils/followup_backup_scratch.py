# -*- coding: utf-8 -*-
# followup-ops backups: temporary scratch instances for restore drills (docs/backup.md, "Restore drills").
#
# A drill restores a backup into an instance that exists only for the drill: a second mariadbd (MySQL) or a
# PostgreSQL cluster with FerretDB in front (FerretDB), or a mongod, each with its own data directory under the
# drill's work directory, listening on a unix socket or on 127.0.0.1 only, started and stopped by this process.
# stop() always runs (the drill module calls it in `finally`), and start() first removes what an earlier drill
# that was killed may have left, so no drill leaves an instance or its data behind.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import subprocess
import time

try:
    from ansible.module_utils.followup_backup import BackupError
except ImportError:  # pragma: no cover
    from followup_backup import BackupError  # type: ignore[no-redef]


def _run(argv, what, timeout=300):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise BackupError("%s failed (exit %d): %s" % (what, proc.returncode, tail[0]))
    return proc.stdout.decode("utf-8", "replace")


def _wait(check, what, timeout=90, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BackupError("%s stopped at once (exit %s)%s" % (what, proc.returncode, _log_tail(log)))
        if check():
            return
        time.sleep(0.5)
    raise BackupError("%s did not start within %ds%s" % (what, timeout, _log_tail(log)))


def _log_tail(path):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as handle:
            lines = [x.strip() for x in handle.read().splitlines() if x.strip()]
        return ": " + lines[-1] if lines else ""
    except OSError:
        return ""


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _log(path):
    """A log file for a child process (the child keeps its own descriptor; this one closes with the object)."""
    return open(path, "ab")


def _chown(path, user):
    import pwd

    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class Scratch(object):
    """Base: a work directory that is removed on stop(), and the processes started in it."""

    kind = ""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, self.kind)
        self.procs = []

    def clear(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        self.clear()
        return not os.path.exists(self.dir)


class MysqlScratch(Scratch):
    """A temporary mariadbd/mysqld: own datadir, unix socket only (skip-networking), root over the socket."""

    kind = "mysql"

    def __init__(self, workdir, server="mariadbd", install_db="mariadb-install-db", user="mysql"):
        super().__init__(workdir)
        self.server, self.install_db, self.user = server, install_db, user
        self.socket = os.path.join(self.dir, "mysqld.sock")

    def start(self):
        self.clear()
        data = os.path.join(self.dir, "data")
        os.makedirs(data, mode=0o700)
        _chown(self.dir, self.user)
        log = os.path.join(self.dir, "error.log")
        _run(
            [
                self.install_db,
                "--no-defaults",
                "--datadir=%s" % data,
                "--user=%s" % self.user,
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            "initialising the scratch MySQL data directory",
        )
        self.procs.append(
            subprocess.Popen(
                [
                    self.server,
                    "--no-defaults",
                    "--datadir=%s" % data,
                    "--socket=%s" % self.socket,
                    "--skip-networking",
                    "--user=%s" % self.user,
                    "--log-error=%s" % log,
                    "--pid-file=%s" % os.path.join(self.dir, "mysqld.pid"),
                    "--innodb-buffer-pool-size=128M",
                    "--skip-log-bin",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

        def ready():
            return (
                subprocess.run(
                    ["mysqladmin", "--no-defaults", "--socket=%s" % self.socket, "--user=root", "ping"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ).returncode
                == 0
            )

        _wait(ready, "the scratch MySQL server", proc=self.procs[0], log=log)
        return {"socket": self.socket}


class FerretdbScratch(Scratch):
    """A temporary PostgreSQL cluster (unix socket only) with FerretDB on 127.0.0.1:PORT in front of it."""

    kind = "ferretdb"

    def __init__(
        self, workdir, ferretdb, pg_bindir="/usr/lib/postgresql/15/bin", port=27099, pg_port=55432, user="postgres"
    ):
        super().__init__(workdir)
        self.ferretdb, self.pg_bindir, self.port, self.pg_port, self.user = ferretdb, pg_bindir, port, pg_port, user

    def start(self):
        self.clear()
        pg = os.path.join(self.dir, "pg")
        os.makedirs(os.path.join(self.dir, "state"), mode=0o700)
        _chown(self.dir, self.user)
        as_user = ["runuser", "-u", self.user, "--"]
        _run(
            [
                *as_user,
                os.path.join(self.pg_bindir, "initdb"),
                "-D",
                pg,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ],
            "initialising the scratch PostgreSQL cluster",
        )
        log = os.path.join(self.dir, "postgres.log")
        self.procs.append(
            subprocess.Popen(
                [
                    *as_user,
                    os.path.join(self.pg_bindir, "postgres"),
                    "-D",
                    pg,
                    "-k",
                    self.dir,
                    "-p",
                    str(self.pg_port),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "logging_collector=off",
                ],
                stdout=_log(log),
                stderr=subprocess.STDOUT,
            )
        )

        def pg_ready():
            return (
                subprocess.run(
                    [*as_user, os.path.join(self.pg_bindir, "pg_isready"), "-h", self.dir, "-p", str(self.pg_port)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ).returncode
                == 0
            )

        _wait(pg_ready, "the scratch PostgreSQL", proc=self.procs[0], log=log)
        _run(
            [
                *as_user,
                os.path.join(self.pg_bindir, "createdb"),
                "-h",
                self.dir,
                "-p",
                str(self.pg_port),
                "-U",
                "postgres",
                "ferretdb",
            ],
            "creating the scratch FerretDB database",
        )
        if _port_open(self.port):
            raise BackupError(
                "port %d on 127.0.0.1 is in use: another drill runs, or set backup_drill_mongodb_port" % self.port
            )
        flog = os.path.join(self.dir, "ferretdb.log")
        env = dict(
            os.environ,
            FERRETDB_HANDLER="postgresql",
            FERRETDB_POSTGRESQL_URL="postgres://postgres@/ferretdb?host=%s&port=%d" % (self.dir, self.pg_port),
            FERRETDB_LISTEN_ADDR="127.0.0.1:%d" % self.port,
            FERRETDB_STATE_DIR=os.path.join(self.dir, "state"),
            FERRETDB_TELEMETRY="disable",
            FERRETDB_DEBUG_ADDR="-",
            FERRETDB_LOG_LEVEL="WARN",
        )
        self.procs.append(
            subprocess.Popen(
                as_user
                + ["env"]
                + ["%s=%s" % (k, v) for k, v in env.items() if k.startswith("FERRETDB_")]
                + [self.ferretdb],
                stdout=_log(flog),
                stderr=subprocess.STDOUT,
            )
        )
        _wait(lambda: _port_open(self.port), "the scratch FerretDB", proc=self.procs[-1], log=flog)
        return {"uri": "mongodb://127.0.0.1:%d/" % self.port}


class MongodScratch(Scratch):
    """A temporary mongod on 127.0.0.1:PORT with its own dbpath (no authentication: it is reached from here only)."""

    kind = "mongod"

    def __init__(self, workdir, mongod="mongod", port=27099, user="mongodb"):
        super().__init__(workdir)
        self.mongod, self.port, self.user = mongod, port, user

    def start(self):
        self.clear()
        os.makedirs(os.path.join(self.dir, "db"), mode=0o700)
        log = os.path.join(self.dir, "mongod.log")
        self.procs.append(
            subprocess.Popen(
                [
                    self.mongod,
                    "--dbpath",
                    os.path.join(self.dir, "db"),
                    "--bind_ip",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--logpath",
                    log,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(lambda: _port_open(self.port), "the scratch mongod", proc=self.procs[0], log=log)
        return {"uri": "mongodb://127.0.0.1:%d/" % self.port}
