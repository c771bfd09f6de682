# -*- coding: utf-8 -*-
# followup-ops: the MySQL/MariaDB side of a database move (docs/migration.md): the server's facts, the move account,
# the seed (a consistent dump with its GTID/binlog position, streamed from the source into the target), replication
# and its lag, the switch of the primary (old read-only, last transaction, promotion, the old replicating from the
# new) and chunked content checksums at one consistent point on both servers, in the manner of pt-table-checksum.
#
# Every function takes Server objects (a PyMySQL connection and what the server is), so the unit tests give them
# fakes. MariaDB is what the lab proves; the MySQL 5.7/8.0 statements are built by the same functions and unit-tested,
# never run here (docs/migration.md, "What the lab proves").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import re
import subprocess
import threading
import time

from ansible.module_utils.followup_dbmove import (
    MYSQL_SYSTEM_DATABASES,
    MoveError,
    flavour_of,
    parse_version,
)

try:
    import pymysql
    import pymysql.cursors

    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    pymysql = None
    HAS_PYMYSQL = False

MOVE_USER = "followup_dbmove"
SECRET_DIR = "/etc/followup-dbmove"  # noqa: S105 - a directory, not a secret
SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/var/lib/mysql/mysql.sock", "/tmp/mysql.sock")  # noqa: S108


class Server(object):
    """One MySQL/MariaDB server as a move sees it: a connection, a name for messages, its version and flavour."""

    def __init__(self, conn, name):
        self.conn = conn
        self.name = name
        self._version = None

    @property
    def version(self):
        if self._version is None:
            self._version = str(self.value("SELECT VERSION()"))
        return self._version

    @property
    def flavour(self):
        return flavour_of(self.version)

    @property
    def vtuple(self):
        return parse_version(self.version) or (0, 0, 0)

    def rows(self, sql, args=None):
        cur = self.conn.cursor(pymysql.cursors.DictCursor) if pymysql else self.conn.cursor()
        try:
            cur.execute(sql, args)
            return list(cur.fetchall() or [])
        finally:
            cur.close()

    def execute(self, sql, args=None):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, args)
        finally:
            cur.close()

    def one(self, sql, args=None):
        rows = self.rows(sql, args)
        return rows[0] if rows else None

    def value(self, sql, args=None):
        row = self.one(sql, args)
        if row is None:
            return None
        return next(iter(row.values()))

    def close(self):
        # Closing a broken connection is not worth an error.
        with contextlib.suppress(Exception):
            self.conn.close()


def _check_lib():
    if not HAS_PYMYSQL:
        raise MoveError("PyMySQL is missing on this host: install python3-pymysql (the mysql role does)")


def local_server(socket=None, timeout=10):
    """Root over the unix socket (unix_socket/auth_socket), else with root's password from /root/.my.cnf (the mysql
    role keeps it there when root logs in with a password)."""
    _check_lib()
    sockets = [socket] if socket else [s for s in SOCKETS if os.path.exists(s)]
    if not sockets:
        raise MoveError("no MySQL socket found (%s): is the server running on this host?" % ", ".join(SOCKETS))
    last = None
    for path in sockets:
        for extra in ({}, {"read_default_file": "/root/.my.cnf"}):
            if extra and not os.path.exists("/root/.my.cnf"):
                continue
            try:
                conn = pymysql.connect(
                    unix_socket=path, user="root", charset="utf8mb4", autocommit=True, connect_timeout=timeout, **extra
                )
                return Server(conn, "this host")
            except pymysql.MySQLError as err:
                last = err
    raise MoveError(
        "cannot log in to MySQL as root over %s (%s): the mysql role sets up root's login"
        % (", ".join(sockets), last.args[-1] if last and last.args else last)
    )


def peer_server(host, port, password, name, ssl=False, timeout=10, user=MOVE_USER):
    """The other server of the move, over TCP as the move account (TLS when the server offers it)."""
    _check_lib()
    kwargs = dict(
        host=host,
        port=int(port),
        user=user,
        password=password,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=timeout,
        read_timeout=3600,
        write_timeout=3600,
    )
    if ssl:
        # Encryption on the wire; the server's certificate comes from a CA of its own host (mysql_hardening), which
        # this host does not hold, so it is not verified (docs/migration.md, "Security").
        import ssl as ssllib

        ctx = ssllib.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssllib.CERT_NONE
        kwargs["ssl"] = ctx
    try:
        return Server(pymysql.connect(**kwargs), name)
    except pymysql.MySQLError as err:
        raise MoveError(
            "cannot connect to MySQL on %s (%s:%s) as %s (%s): check that the server is up, that port %s "
            "is open between the two hosts and that prepare ran (it creates the account)"
            % (name, host, port, user, err.args[-1] if err.args else err, port)
        )


# -- the secret of the move account --------------------------------------------------------------------------------
def secret_path(migration):
    return os.path.join(SECRET_DIR, "%s.json" % re.sub(r"[^A-Za-z0-9_.-]", "_", migration))


def read_secret(migration):
    path = secret_path(migration)
    try:
        with open(path) as handle:
            return json.load(handle)["password"]
    except (OSError, IOError, ValueError, KeyError):
        raise MoveError(
            "the move account's password of migration %s is missing on this host (%s): run prepare "
            "again" % (migration, path)
        )


def write_secret(migration, password):
    """Keep the move account's password in a root-only file (never on the control node's disk)."""
    if not os.path.isdir(SECRET_DIR):
        os.makedirs(SECRET_DIR, 0o700)
    os.chmod(SECRET_DIR, 0o700)
    path = secret_path(migration)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"password": password}, handle)
    os.rename(tmp, path)
    return path


def client_option_file(migration, password):
    """A [client] option file for the dump tool (0600, beside the secret), so the password is on no command line."""
    path = secret_path(migration)[: -len(".json")] + ".cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        # The password alphabet (followup_dbmove.new_password) needs no quoting in an option file.
        handle.write("[client]\npassword=%s\n" % password)
    return path


# -- facts ---------------------------------------------------------------------------------------------------------
def engine_facts(server):
    """What a probe reports about a server: version, flavour, binary log, ids, sizes, databases that hold data."""
    v = server.one(
        "SELECT VERSION() AS version, @@server_id AS server_id, @@log_bin AS log_bin, @@binlog_format AS binlog_format,"
        " @@read_only AS read_only, @@datadir AS datadir, @@port AS port, @@have_ssl AS have_ssl,"
        " @@log_slave_updates AS log_slave_updates"
    )
    sizes = server.rows(
        "SELECT TABLE_SCHEMA AS db, COUNT(*) AS tables, COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS bytes,"
        " COALESCE(SUM(TABLE_ROWS), 0) AS rows_estimate FROM information_schema.TABLES"
        " WHERE TABLE_TYPE = 'BASE TABLE' GROUP BY TABLE_SCHEMA"
    )
    dbs = [r["Database"] if "Database" in r else next(iter(r.values())) for r in server.rows("SHOW DATABASES")]
    per_db = dict(
        (r["db"], {"tables": int(r["tables"]), "bytes": int(r["bytes"]), "rows_estimate": int(r["rows_estimate"])})
        for r in sizes
    )
    user_dbs = sorted(d for d in dbs if d not in MYSQL_SYSTEM_DATABASES)
    gtid = None
    if flavour_of(v["version"]) == "mariadb":
        gtid = {
            "binlog_pos": server.value("SELECT @@gtid_binlog_pos"),
            "slave_pos": server.value("SELECT @@gtid_slave_pos"),
        }
        gtid_mode = "mariadb"
    else:
        mode = server.value("SELECT @@gtid_mode") if parse_version(v["version"]) >= (5, 6, 5) else "OFF"
        gtid_mode = "on" if str(mode).upper() == "ON" else "off"
        if gtid_mode == "on":
            gtid = {"executed": server.value("SELECT @@gtid_executed")}
    return {
        "running": True,
        "version": v["version"],
        "flavour": flavour_of(v["version"]),
        "server_id": int(v["server_id"]),
        "log_bin": str(v["log_bin"]) in ("1", "ON"),
        "log_slave_updates": str(v["log_slave_updates"]) in ("1", "ON"),
        "binlog_format": v["binlog_format"],
        "read_only": str(v["read_only"]) in ("1", "ON"),
        "datadir": v["datadir"],
        "port": int(v["port"]),
        "have_ssl": str(v["have_ssl"]).upper() == "YES",
        "gtid_mode": gtid_mode,
        "gtid": gtid,
        "databases": dict((d, per_db.get(d, {"tables": 0, "bytes": 0, "rows_estimate": 0})) for d in user_dbs),
        "user_data": [d for d in user_dbs if per_db.get(d, {}).get("tables")],
        "data_bytes": sum(per_db.get(d, {}).get("bytes", 0) for d in user_dbs),
        "replica": replica_status(server),
        # Who is connected, by account and client address (no statement text): the proof that the applications
        # use this server after a cutover.
        "sessions": sessions(server),
    }


def sessions(server):
    out = {}
    for row in server.rows("SELECT USER AS user, HOST AS host FROM information_schema.PROCESSLIST"):
        host = str(row.get("host") or "")
        addr = host.rsplit(":", 1)[0] if ":" in host else host
        key = "%s@%s" % (row.get("user"), addr)
        out[key] = out.get(key, 0) + 1
    return out


# -- replication ---------------------------------------------------------------------------------------------------
def _new_words(server):
    """MySQL >= 8.0.22 says REPLICA/SOURCE; MariaDB and older MySQL say SLAVE/MASTER."""
    return server.flavour == "mysql" and server.vtuple >= (8, 0, 22)


def replica_status(server):
    """The replica side, normalised over SHOW SLAVE STATUS / SHOW REPLICA STATUS."""
    new = _new_words(server)
    row = server.one("SHOW REPLICA STATUS" if new else "SHOW SLAVE STATUS")
    if not row:
        return {"configured": False}

    def get(*names):
        for name in names:
            if name in row:
                return row[name]
        return None

    behind = get("Seconds_Behind_Master", "Seconds_Behind_Source")
    return {
        "configured": True,
        "source_host": get("Master_Host", "Source_Host"),
        "source_port": get("Master_Port", "Source_Port"),
        "io_running": str(get("Slave_IO_Running", "Replica_IO_Running")) == "Yes",
        "sql_running": str(get("Slave_SQL_Running", "Replica_SQL_Running")) == "Yes",
        "seconds_behind": int(behind) if behind is not None and str(behind) != "" else None,
        "last_error": (get("Last_SQL_Error") or get("Last_IO_Error") or get("Last_Error") or "") or None,
        "using_gtid": get("Using_Gtid", "Auto_Position"),
        "gtid_io_pos": get("Gtid_IO_Pos", "Retrieved_Gtid_Set"),
        "source_log_file": get("Relay_Master_Log_File", "Relay_Source_Log_File"),
        "exec_source_log_pos": get("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"),
    }


def primary_position(server):
    """Where the server's binary log stands: {gtid, file, pos} (gtid None without GTIDs)."""
    new = server.flavour == "mysql" and server.vtuple >= (8, 2, 0)
    status = server.one("SHOW BINARY LOG STATUS" if new else "SHOW MASTER STATUS") or {}
    pos = {"file": status.get("File"), "pos": int(status["Position"]) if status.get("Position") is not None else None}
    if server.flavour == "mariadb":
        pos["gtid"] = server.value("SELECT @@gtid_binlog_pos") or ""
    else:
        executed = status.get("Executed_Gtid_Set")
        pos["gtid"] = executed.replace("\n", "") if executed else None
    return pos


def stop_replica(server):
    server.execute("STOP REPLICA" if _new_words(server) else "STOP SLAVE")


def start_replica(server):
    server.execute("START REPLICA" if _new_words(server) else "START SLAVE")


def reset_replica(server):
    server.execute("RESET REPLICA ALL" if _new_words(server) else "RESET SLAVE ALL")


def change_source_sql(server, host, port, user, password, position, ssl=False):
    """The CHANGE MASTER / CHANGE REPLICATION SOURCE statement and its arguments (the password is an argument, so
    it never appears in a statement text that could be logged)."""
    args = [host, int(port), user, password]
    if server.flavour == "mariadb":
        sql = (
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
            "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5"
        )
        if ssl:
            sql += ", MASTER_SSL = 1"
        return sql, args
    new = server.vtuple >= (8, 0, 23)
    words = ("SOURCE", "CHANGE REPLICATION SOURCE TO") if new else ("MASTER", "CHANGE MASTER TO")
    sql = "%s %s_HOST = %%s, %s_PORT = %%s, %s_USER = %%s, %s_PASSWORD = %%s, %s_CONNECT_RETRY = 5" % (
        words[1],
        words[0],
        words[0],
        words[0],
        words[0],
        words[0],
    )
    if position.get("auto"):
        sql += ", %s_AUTO_POSITION = 1" % words[0]
    else:
        sql += ", %s_LOG_FILE = %%s, %s_LOG_POS = %%s" % (words[0], words[0])
        args += [position["file"], int(position["pos"])]
    if ssl:
        sql += ", %s_SSL = 1" % words[0]
    if new:
        # MySQL 8.0.23+: the move account authenticates with caching_sha2_password; fetch the key over TLS or not.
        sql += ", GET_%s_PUBLIC_KEY = 1" % words[0]
    return sql, args


def replicate_from(replica, source_host, source_port, password, position, ssl=False):
    """Make REPLICA replicate from SOURCE_HOST starting after POSITION ({gtid} on MariaDB, {auto} or {file, pos} on
    MySQL) and start it."""
    status = replica_status(replica)
    if status.get("configured"):
        stop_replica(replica)
        reset_replica(replica)
    if replica.flavour == "mariadb":
        replica.execute("SET GLOBAL gtid_slave_pos = %s", (position.get("gtid") or "",))
    sql, args = change_source_sql(replica, source_host, source_port, MOVE_USER, password, position, ssl)
    replica.execute(sql, args)
    start_replica(replica)


def wait_for_position(replica, position, timeout):
    """True when REPLICA has applied POSITION within TIMEOUT seconds (False on a timeout)."""
    timeout = max(int(timeout), 0)
    if replica.flavour == "mariadb":
        if not position.get("gtid"):
            return True
        return replica.value("SELECT MASTER_GTID_WAIT(%s, %s)", (position["gtid"], timeout)) == 0
    if position.get("gtid"):
        return replica.value("SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)", (position["gtid"], timeout)) == 0
    fn = "SOURCE_POS_WAIT" if replica.vtuple >= (8, 0, 26) else "MASTER_POS_WAIT"
    result = replica.value("SELECT %s(%%s, %%s, %%s)" % fn, (position["file"], int(position["pos"]), timeout))
    return result is not None and int(result) >= 0


def lag(replica, primary, wait_s=0, poll_s=0.5, clock=time.monotonic, sleep=time.sleep):
    """Wait up to WAIT_S for REPLICA to reach where PRIMARY stands now; the replica's status and whether it did."""
    deadline = clock() + float(wait_s)
    while True:
        status = replica_status(replica)
        target = primary_position(primary)
        status["primary_position"] = target
        if not status.get("configured"):
            status.update(caught_up=False, reason="the target does not replicate")
            return status
        if not (status["io_running"] and status["sql_running"]):
            status.update(
                caught_up=False,
                reason="replication is stopped%s" % ((": " + status["last_error"]) if status.get("last_error") else ""),
            )
        elif wait_for_position(replica, target, 0) and (status.get("seconds_behind") or 0) == 0:
            status.update(caught_up=True, reason=None)
            return status
        else:
            status.update(caught_up=False, reason="transactions still to apply")
        if clock() >= deadline:
            return status
        sleep(poll_s)


def set_read_only(server, on, lock_wait_timeout=5):
    """Make SERVER read-only (or writable). On MySQL super_read_only keeps root out too. Setting read-only waits for
    running writes at most LOCK_WAIT_TIMEOUT seconds; a server busier than that is left as it was (MoveError)."""
    if on:
        server.execute("SET SESSION lock_wait_timeout = %s", (int(lock_wait_timeout),))
        try:
            server.execute("SET GLOBAL read_only = ON")
            if server.flavour == "mysql" and server.vtuple >= (5, 7, 8):
                server.execute("SET GLOBAL super_read_only = ON")
        except Exception as err:
            raise MoveError(
                "%s could not be made read-only within %s s (%s): long transactions hold it; retry when "
                "they end" % (server.name, lock_wait_timeout, err)
            )
    else:
        if server.flavour == "mysql" and server.vtuple >= (5, 7, 8):
            server.execute("SET GLOBAL super_read_only = OFF")
        server.execute("SET GLOBAL read_only = OFF")


def switch(
    old, new, new_address, new_port, password, catchup_timeout=10, lock_wait_timeout=5, ssl=False, clock=time.monotonic
):
    """Move the primary from OLD to NEW (NEW replicates from OLD now): OLD read-only, NEW applies the last
    transaction, NEW stops replicating and takes writes, OLD replicates from NEW. Returns the timings (seconds from
    the moment writes stopped) and the positions.

    When NEW does not reach OLD's last transaction within CATCHUP_TIMEOUT, OLD is made writable again and
    MoveError says so: nothing changed for the applications."""
    t0 = clock()
    set_read_only(old, True, lock_wait_timeout)
    t_read_only = clock()
    read_only_at = time.time()
    last = primary_position(old)
    if not wait_for_position(new, last, catchup_timeout):
        set_read_only(old, False)
        raise MoveError(
            "%s did not apply %s's last transaction (%s) within %s s after %s became read-only; %s is "
            "writable again and nothing else changed: check the replication (sync), then retry"
            % (
                new.name,
                old.name,
                last.get("gtid") or "%s:%s" % (last.get("file"), last.get("pos")),
                catchup_timeout,
                old.name,
                old.name,
            )
        )
    t_caught_up = clock()
    stop_replica(new)
    reset_replica(new)
    # Where the new primary's log stands now: the old one replicates from there on (its gtid_current_pos includes
    # the transactions it replicated; the new server logs them because log_slave_updates is on).
    if new.flavour == "mariadb":
        start = {"gtid": new.value("SELECT @@gtid_current_pos") or ""}
    elif new.value("SELECT @@gtid_mode") == "ON":
        start = {"auto": True}
    else:
        start = primary_position(new)
    set_read_only(new, False)
    t_writable = clock()
    writable_at = time.time()
    replicate_from(old, new_address, new_port, password, start, ssl=ssl)
    t_reverse = clock()
    return {
        "old_position": last,
        "new_position": start,
        "read_only_s": round(t_read_only - t0, 3),
        "catch_up_s": round(t_caught_up - t_read_only, 3),
        "promote_s": round(t_writable - t_caught_up, 3),
        "writes_stopped_s": round(t_writable - t_read_only, 3),
        "reverse_replication_s": round(t_reverse - t_writable, 3),
        # Wall-clock times (the hosts' clocks are kept in sync), for the downtime across hosts.
        "read_only_at": round(read_only_at, 3),
        "writable_at": round(writable_at, 3),
    }


# -- the move account ----------------------------------------------------------------------------------------------
def move_grants(server):
    """The move account's rights: read both databases for the seed and the checksums, replicate, and switch the
    primary (read_only, replication control). MariaDB >= 10.5 has the fine-grained rights; others need SUPER."""
    base = ["SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES", "RELOAD", "PROCESS", "REPLICATION SLAVE"]
    if server.flavour == "mariadb" and server.vtuple >= (10, 5, 2):
        return [
            *base,
            "BINLOG MONITOR",
            "READ_ONLY ADMIN",
            "REPLICATION SLAVE ADMIN",
            "SLAVE MONITOR",
            "CONNECTION ADMIN",
        ]
    if server.flavour == "mysql" and server.vtuple >= (8, 0, 0):
        return [
            *base,
            "REPLICATION CLIENT",
            "SYSTEM_VARIABLES_ADMIN",
            "REPLICATION_SLAVE_ADMIN",
            "CONNECTION_ADMIN",
            "BACKUP_ADMIN",
        ]
    return [*base, "REPLICATION CLIENT", "SUPER"]


def ensure_move_account(server, peer_address, password, check_mode=False):
    """The move account for PEER_ADDRESS with its password and rights; not written to the binary log (each server
    has its own, for the other's address). Returns True when something changed."""
    exists = server.value("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s", (MOVE_USER, peer_address))
    if check_mode:
        return not exists
    server.execute("SET SESSION sql_log_bin = 0")
    try:
        if exists:
            server.execute("ALTER USER %s@%s IDENTIFIED BY %s", (MOVE_USER, peer_address, password))
        else:
            server.execute("CREATE USER %s@%s IDENTIFIED BY %s", (MOVE_USER, peer_address, password))
        server.execute("GRANT %s ON *.* TO %%s@%%s" % ", ".join(move_grants(server)), (MOVE_USER, peer_address))
    finally:
        server.execute("SET SESSION sql_log_bin = 1")
    return not exists


def drop_move_accounts(server, check_mode=False):
    hosts = [r["Host"] for r in server.rows("SELECT Host FROM mysql.user WHERE User = %s", (MOVE_USER,))]
    if check_mode or not hosts:
        return hosts
    server.execute("SET SESSION sql_log_bin = 0")
    try:
        for host in hosts:
            server.execute("DROP USER %s@%s", (MOVE_USER, host))
    finally:
        server.execute("SET SESSION sql_log_bin = 1")
    return hosts


# -- users and grants ----------------------------------------------------------------------------------------------
AUTH_RE = re.compile(
    r"\s+IDENTIFIED\s+(BY\s+PASSWORD\s+'[^']*'|VIA\s+.*?(USING\s+'[^']*')?(?=\s+(WITH|REQUIRE)\b|$)|"
    r"WITH\s+\S+\s+AS\s+'[^']*'|BY\s+'[^']*')",
    re.I,
)


def users_and_grants(server, pattern="followup\\_%"):
    """The follow-up system's accounts and their rights, without secrets: {user@host: {grants: [...],
    auth: sha256 of the authentication string}}. The move account itself is left out (each server has its own)."""
    accounts = {}
    for row in server.rows("SELECT User, Host FROM mysql.user WHERE User LIKE %s ORDER BY User, Host", (pattern,)):
        if row["User"] == MOVE_USER:
            continue
        key = "%s@%s" % (row["User"], row["Host"])
        grants, auth = [], []
        for g in server.rows("SHOW GRANTS FOR %s@%s", (row["User"], row["Host"])):
            text = next(iter(g.values()))
            for m in AUTH_RE.finditer(text):
                auth.append(m.group(0).strip())
            grants.append(re.sub(r"\s+", " ", AUTH_RE.sub("", text)).strip())
        # Salted hashes (caching_sha2_password, sha256_password) differ for the same password: not compared.
        salted = any(re.search(r"caching_sha2|sha256_password|ed25519|parsec", a, re.I) for a in auth)
        accounts[key] = {
            "grants": sorted(grants),
            "auth": hashlib.sha256("\n".join(auth).encode("utf-8")).hexdigest() if auth and not salted else None,
        }
    return accounts


# -- the seed ------------------------------------------------------------------------------------------------------
POSITION_PATTERNS = (
    ("gtid", re.compile(rb"SET GLOBAL gtid_slave_pos\s*=\s*'([^']*)'")),
    (
        "file_pos",
        re.compile(
            rb"CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE='([^']+)',\s*"
            rb"(?:MASTER|SOURCE)_LOG_POS=(\d+)"
        ),
    ),
    ("gtid_purged", re.compile(rb"SET @@GLOBAL\.GTID_PURGED\s*=\s*(?:/\*!80000 '\+'\*/\s*)?'([^']*)'")),
)


def dump_command(tool, source_host, source_port, option_file, databases, source_flavour, source_version, ssl=False):
    """The dump of a consistent seed, run on the target against the source: a single transaction with the binary
    log position (and GTID state) it was taken at, routines, triggers and events. The password is in OPTION_FILE."""
    cmd = [
        tool,
        "--defaults-extra-file=%s" % option_file,
        "--host=%s" % source_host,
        "--port=%s" % int(source_port),
        "--user=%s" % MOVE_USER,
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
    ]
    if source_flavour == "mariadb":
        cmd += ["--master-data=2", "--gtid"]
    else:
        v = parse_version(source_version) or (0, 0, 0)
        cmd += ["--source-data=2" if v >= (8, 0, 26) else "--master-data=2", "--set-gtid-purged=AUTO"]
    if ssl:
        cmd += ["--ssl"]
    cmd += ["--databases", *list(databases)]
    return cmd


def client_command(tool):
    """The load into the target as root over its socket, outside its binary log (the seed is the source's data
    already; only what replication applies afterwards is logged, so the old server can follow the new one later)."""
    return [tool, "--binary-mode", "--init-command=SET SESSION sql_log_bin = 0"]


def scan_positions(data, found):
    for key, pattern in POSITION_PATTERNS:
        m = pattern.search(data)
        if m:
            found[key] = [g.decode("utf-8", "replace") for g in m.groups()]


def stream_seed(dump_cmd, load_cmd, chunk=1 << 20, clock=time.monotonic):
    """Run DUMP_CMD | LOAD_CMD through this process (counting bytes and picking the position out of the stream);
    returns {bytes, seconds, mb_s, position}. Nothing is written to disk. MoveError names the side that failed."""
    started = clock()
    dump = subprocess.Popen(dump_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.Popen(load_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errs = {}

    def drain(name, stream):
        errs[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=("dump", dump.stderr)),
        threading.Thread(target=drain, args=("load", load.stderr)),
        threading.Thread(target=drain, args=("load_out", load.stdout)),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    total, tail, found = 0, b"", {}
    broken = None
    try:
        while True:
            data = dump.stdout.read(chunk)
            if not data:
                break
            total += len(data)
            scan_positions(tail + data, found)
            tail = data[-4096:]
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
    seconds = max(clock() - started, 1e-6)

    def last(name):
        text = (errs.get(name) or b"").decode("utf-8", "replace").strip().splitlines()
        return text[-1] if text else "no message"

    if dump.returncode != 0:
        raise MoveError(
            "the dump of the source failed (%s exited %s: %s)"
            % (os.path.basename(dump_cmd[0]), dump.returncode, last("dump"))
        )
    if load.returncode != 0 or broken:
        raise MoveError(
            "loading the seed into this host failed (%s exited %s: %s)"
            % (os.path.basename(load_cmd[0]), load.returncode, last("load"))
        )
    position = {}
    if "gtid" in found:
        position["gtid"] = found["gtid"][0]
    if "file_pos" in found:
        position["file"], position["pos"] = found["file_pos"][0], int(found["file_pos"][1])
    if "gtid_purged" in found:
        position["gtid_purged"] = found["gtid_purged"][0]
    if not position:
        raise MoveError("the dump carried no binary log position: is log_bin on at the source?")
    return {"bytes": total, "seconds": round(seconds, 2), "mb_s": round(total / 1e6 / seconds, 2), "position": position}


# -- checksums -----------------------------------------------------------------------------------------------------
def q(name):
    return "`%s`" % str(name).replace("`", "``")


def catalog(server, databases):
    """Tables of DATABASES with their columns, key for chunking and indexes: {db.table: {...}}."""
    if not databases:
        return {}
    marks = ", ".join(["%s"] * len(databases))
    tables = server.rows(
        "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, ENGINE AS engine FROM information_schema.TABLES"  # noqa: S608
        " WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN (%s) ORDER BY 1, 2" % marks,
        tuple(databases),
    )
    columns = server.rows(
        "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, COLUMN_NAME AS col, COLUMN_TYPE AS type,"  # noqa: S608
        " IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA IN (%s) ORDER BY 1, 2, ORDINAL_POSITION" % marks,
        tuple(databases),
    )
    stats = server.rows(
        "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, INDEX_NAME AS idx, NON_UNIQUE AS non_unique,"  # noqa: S608
        " SEQ_IN_INDEX AS seq, COLUMN_NAME AS col, SUB_PART AS sub_part, INDEX_TYPE AS type, NULLABLE AS nullable"
        " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN (%s) ORDER BY 1, 2, 3, 5" % marks,
        tuple(databases),
    )
    out = {}
    for t in tables:
        out["%s.%s" % (t["db"], t["name"])] = {
            "db": t["db"],
            "name": t["name"],
            "engine": t["engine"],
            "columns": [],
            "indexes": {},
        }
    for c in columns:
        key = "%s.%s" % (c["db"], c["name"])
        if key in out:
            out[key]["columns"].append(
                {
                    "name": c["col"],
                    "type": c["type"],
                    "nullable": c["nullable"] == "YES",
                    "default": None if c["dflt"] is None else str(c["dflt"]),
                    "extra": c["extra"] or "",
                }
            )
    for s in stats:
        key = "%s.%s" % (s["db"], s["name"])
        if key not in out:
            continue
        idx = out[key]["indexes"].setdefault(
            s["idx"], {"unique": not int(s["non_unique"]), "type": s["type"], "columns": []}
        )
        idx["columns"].append(s["col"] + ("(%s)" % s["sub_part"] if s["sub_part"] else ""))
        idx.setdefault("nullable", False)
        idx["nullable"] = idx["nullable"] or s["nullable"] == "YES"
    for info in out.values():
        info["key"] = chunk_key(info)
    return out


def chunk_key(info):
    """The columns chunks are cut along: the primary key, else the first unique index without NULLs, else none."""
    idx = info["indexes"]
    if "PRIMARY" in idx:
        return [c for c in idx["PRIMARY"]["columns"]]
    for name in sorted(idx):
        if idx[name]["unique"] and not idx[name].get("nullable") and all("(" not in c for c in idx[name]["columns"]):
            return list(idx[name]["columns"])
    return []


def row_expression(columns):
    """pt-table-checksum's row checksum: MD5 over the columns joined with '#', and which of them are NULL (CONCAT_WS
    skips NULLs); the first 64 bits of it, summed per chunk with BIT_XOR (order does not matter)."""
    cols = [q(c["name"]) for c in columns]
    nulls = [q(c["name"]) for c in columns if c["nullable"]]
    parts = cols + (["CONCAT(%s)" % ", ".join("ISNULL(%s)" % n for n in nulls)] if nulls else [])
    return "CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', %s)), 1, 16), 16, 10) AS UNSIGNED)" % ", ".join(parts)


def _bound_sql(key, op, n):
    if len(key) == 1:
        return "%s %s %%s" % (q(key[0]), op), 1
    return "(%s) %s (%s)" % (", ".join(q(k) for k in key), op, ", ".join(["%s"] * len(key))), n


def chunk_where(key, lower, upper):
    """WHERE of a chunk (LOWER, UPPER] along KEY (either end may be open); its SQL and arguments."""
    parts, args = [], []
    if lower is not None:
        sql, _ = _bound_sql(key, ">", len(key))
        parts.append(sql)
        args += list(lower)
    if upper is not None:
        sql, _ = _bound_sql(key, "<=", len(key))
        parts.append(sql)
        args += list(upper)
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


def checksum_sql(info, lower=None, upper=None):
    where, args = chunk_where(info["key"], lower, upper) if info["key"] else ("", [])
    sql = "SELECT COUNT(*) AS cnt, COALESCE(BIT_XOR(%s), 0) AS crc FROM %s.%s%s" % (  # noqa: S608 - quoted names
        row_expression(info["columns"]),
        q(info["db"]),
        q(info["name"]),
        where,
    )
    return sql, args


def next_boundary(server, info, lower, chunk_rows):
    """The key of the CHUNK_ROWS-th row after LOWER (None when fewer rows are left: the last chunk)."""
    key = info["key"]
    where, args = chunk_where(key, lower, None)
    sql = "SELECT %s FROM %s.%s%s ORDER BY %s LIMIT 1 OFFSET %d" % (  # noqa: S608 - quoted names
        ", ".join(q(k) for k in key),
        q(info["db"]),
        q(info["name"]),
        where,
        ", ".join(q(k) for k in key),
        int(chunk_rows) - 1,
    )
    row = server.one(sql, tuple(args))
    if not row:
        return None
    return tuple(row[k] for k in key)


def _text(value):
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def checksum_table(primary, replica, info, chunk_rows, results, errors):
    """Checksum one table chunk by chunk on both servers: the primary cuts the chunks, the replica computes the same
    chunks in another thread. Fills RESULTS[table]."""
    import queue

    name = "%s.%s" % (info["db"], info["name"])
    todo = queue.Queue()
    theirs = []

    def replica_worker():
        try:
            while True:
                item = todo.get()
                if item is None:
                    return
                lower, upper = item
                sql, args = checksum_sql(info, lower, upper)
                row = replica.one(sql, tuple(args))
                theirs.append((int(row["cnt"]), str(row["crc"])))
        except Exception as err:  # reported with the table's name
            errors.append("%s on %s: %s" % (name, replica.name, err))

    worker = threading.Thread(target=replica_worker)
    worker.daemon = True
    worker.start()
    ours, ranges = [], []
    try:
        lower = None
        while True:
            upper = next_boundary(primary, info, lower, chunk_rows) if info["key"] else None
            todo.put((lower, upper))
            sql, args = checksum_sql(info, lower, upper)
            row = primary.one(sql, tuple(args))
            ours.append((int(row["cnt"]), str(row["crc"])))
            ranges.append((lower, upper))
            if upper is None:
                break
            lower = upper
    finally:
        todo.put(None)
        worker.join()
    differ = []
    for i, (mine, other) in enumerate(zip(ours, theirs, strict=False)):
        if mine != other:
            lo, hi = ranges[i]
            differ.append(
                {
                    "chunk": i + 1,
                    "range": "%s < %s <= %s"
                    % (
                        "-inf" if lo is None else ",".join(_text(v) for v in lo),
                        ",".join(info["key"]) or "row",
                        "+inf" if hi is None else ",".join(_text(v) for v in hi),
                    ),
                    "rows": [mine[0], other[0]],
                }
            )
    counts = [sum(c for c, _ in ours), sum(c for c, _ in theirs)]
    results[name] = {
        "equal": not differ and len(ours) == len(theirs),
        "counts": counts,
        "chunks": len(ours),
        "chunks_differ": differ,
        "key": info["key"],
    }


def consistent_point(primary, replica, timeout=120, poll_s=0.1, clock=time.monotonic, sleep=time.sleep):
    """Hold PRIMARY in a consistent snapshot at a binary log position and stop REPLICA exactly there, so both hold the
    same data while they are compared. Returns the position. The caller must call release()."""
    stop_replica(replica)
    if primary.flavour == "mariadb":
        primary.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        primary.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        snap = dict((r["Variable_name"], r["Value"]) for r in primary.rows("SHOW STATUS LIKE 'binlog_snapshot_%'"))
        gtid = primary.value(
            "SELECT BINLOG_GTID_POS(%s, %s)", (snap["Binlog_snapshot_file"], int(snap["Binlog_snapshot_position"]))
        )
        position = {
            "gtid": gtid or "",
            "file": snap["Binlog_snapshot_file"],
            "pos": int(snap["Binlog_snapshot_position"]),
        }
        replica.execute("START SLAVE UNTIL master_gtid_pos = %s", (position["gtid"],))
    else:
        # MySQL reports no snapshot position: a global read lock for the moment the snapshot and position are taken.
        primary.execute("SET SESSION lock_wait_timeout = 10")
        primary.execute("FLUSH TABLES WITH READ LOCK")
        try:
            primary.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            primary.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            position = primary_position(primary)
        finally:
            primary.execute("UNLOCK TABLES")
        new = _new_words(replica)
        if position.get("gtid"):
            replica.execute(
                "START %s UNTIL SQL_AFTER_GTIDS = %%s" % ("REPLICA" if new else "SLAVE"), (position["gtid"],)
            )
        else:
            replica.execute(
                "START %s UNTIL %s_LOG_FILE = %%s, %s_LOG_POS = %%s"
                % (("REPLICA", "SOURCE", "SOURCE") if new else ("SLAVE", "MASTER", "MASTER")),
                (position["file"], int(position["pos"])),
            )
    deadline = clock() + timeout
    while True:
        status = replica_status(replica)
        if not status.get("sql_running"):
            if status.get("last_error"):
                raise MoveError(
                    "replication on %s stopped with an error while verifying: %s" % (replica.name, status["last_error"])
                )
            break
        if clock() > deadline:
            raise MoveError(
                "%s did not reach the verification point %s within %s s: it is too far behind; run sync and "
                "retry when the lag is small" % (replica.name, position.get("gtid") or position, timeout)
            )
        sleep(poll_s)
    if not wait_for_position(replica, position, 0):
        raise MoveError(
            "%s stopped before the verification point %s: check its replication"
            % (replica.name, position.get("gtid") or position)
        )
    return position


def release(primary, replica):
    try:
        primary.execute("COMMIT")
    finally:
        start_replica(replica)


def compare_catalogs(ours, theirs):
    """Differences of tables, columns and indexes between the primary's and the replica's catalogs."""
    tables, indexes = {}, []
    for name in sorted(set(ours) | set(theirs)):
        a, b = ours.get(name), theirs.get(name)
        if a is None or b is None:
            tables[name] = {"equal": False, "missing": "source" if a is None else "target"}
            continue
        if [(c["name"], c["type"], c["nullable"], c["default"]) for c in a["columns"]] != [
            (c["name"], c["type"], c["nullable"], c["default"]) for c in b["columns"]
        ]:
            tables[name] = {"equal": False, "columns_differ": True}
        for idx in sorted(set(a["indexes"]) | set(b["indexes"])):
            if a["indexes"].get(idx) != b["indexes"].get(idx):
                where = (
                    "only on the source"
                    if idx not in b["indexes"]
                    else ("only on the target" if idx not in a["indexes"] else "defined differently")
                )
                indexes.append("%s index %s %s" % (name, idx, where))
    return tables, indexes


def verify(primary, replica, databases, chunk_rows=10000, timeout=120, clock=time.monotonic):
    """Compare DATABASES on PRIMARY and REPLICA at one consistent point: tables, columns, indexes, and per table the
    row counts and chunked content checksums. Returns {position, tables, indexes, rows, seconds, equal}."""
    started = clock()
    for server in (primary, replica):
        server.execute("SET NAMES utf8mb4")
        server.execute("SET SESSION time_zone = '+00:00'")
    position = consistent_point(primary, replica, timeout=timeout)
    try:
        ours, theirs = catalog(primary, databases), catalog(replica, databases)
        tables, indexes = compare_catalogs(ours, theirs)
        errors = []
        results = {}
        for name in sorted(ours):
            if name in tables:
                continue
            checksum_table(primary, replica, ours[name], chunk_rows, results, errors)
            if errors:
                raise MoveError("checksum failed: %s" % errors[0])
        tables.update(results)
    finally:
        release(primary, replica)
    rows = sum((t.get("counts") or [0])[0] for t in tables.values())
    seconds = clock() - started
    return {
        "position": position,
        "tables": tables,
        "indexes": {"differ": indexes},
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds, 1) if seconds > 0 else None,
        "equal": all(t.get("equal") for t in tables.values()) and not indexes,
    }
