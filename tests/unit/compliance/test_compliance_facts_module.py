"""library/followup_compliance_facts.py and its collectors: read-only (changed false, check mode identical, files
untouched), file:line and sha256 evidence, secrets and password hashes never returned, bad input refused."""

import hashlib
import json
import os

import followup_compliance_facts as module
import pytest
from ansible.module_utils import followup_compliance_facts as facts
from modulekit import run_module

HASH = "$6$rounds=656000$abcdefgh$" + "Q" * 86


@pytest.fixture
def tree(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "login.defs").write_text("# comment\nPASS_MAX_DAYS\t99999\n\nUMASK 022\n")
    (conf / "app.env").write_text(f"FOLLOWUP_MYSQL_PASSWORD=hunter2\nHASH={HASH}\nURI=mongodb://u:s3cret@db/x\nX=1\n")
    (conf / "secret.key").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n")
    os.chmod(conf / "secret.key", 0o600)
    return conf


def test_files_come_with_line_numbers_sha256_and_masked_secrets(tree):
    result = run_module(
        module, {"read": [str(tree / "*.env"), str(tree / "login.defs")], "stat": [str(tree / "secret.key")]}
    )
    assert result["changed"] is False
    files = result["evidence"]["files"]
    login = files[str(tree / "login.defs")]
    assert login["lines"] == [[2, "PASS_MAX_DAYS\t99999"], [4, "UMASK 022"]]
    assert login["sha256"] == hashlib.sha256((tree / "login.defs").read_bytes()).hexdigest()
    dumped = json.dumps(result)
    assert "hunter2" not in dumped and "s3cret" not in dumped and "Q" * 20 not in dumped and "MIIE" not in dumped
    env_lines = dict(files[str(tree / "app.env")]["lines"])
    assert env_lines[1] == "FOLLOWUP_MYSQL_PASSWORD=********" and env_lines[4] == "X=1"
    key = files[str(tree / "secret.key")]
    assert key["mode"] == "0600" and "lines" not in key and "sha256" not in key
    assert result["evidence"]["globs"][str(tree / "*.env")] == [str(tree / "app.env")]


def test_check_mode_returns_the_same_and_nothing_on_disk_changes(tree):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tree.iterdir()}
    args = {"read": [str(tree / "*")], "sections": ["accounts", "sysctl"], "sysctl": ["kernel.pid_max"]}
    normal = run_module(module, args)["evidence"]
    check = run_module(module, args, check_mode=True)["evidence"]
    for data in (normal, check):
        for key in ("duration_s", "timings", "commands"):
            data.pop(key)
        data["host"].pop("time")
    assert normal == check
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tree.iterdir()} == before
    assert "kernel.pid_max" in normal["sysctl"]["runtime"]


def test_accounts_carry_a_status_and_a_prefix_never_the_hash(tmp_path):
    (tmp_path / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nops:x:1000:1000::/home/ops:/bin/bash\n"
        "nobody:x:65534:65534::/:/usr/sbin/nologin\n"
    )
    (tmp_path / "shadow").write_text(f"root:{HASH}:19000:0:99999:7:::\nops:!:19000:0:90:7:::\nnobody::19000::::::\n")
    (tmp_path / "group").write_text("root:x:0:\nsudo:x:27:ops\n")
    data = facts.collect_accounts(str(tmp_path / "passwd"), str(tmp_path / "shadow"), str(tmp_path / "group"))
    users = {u["name"]: u for u in data["users"]}
    assert users["root"]["password"] == "set" and users["root"]["hash_prefix"] == "$6$"
    assert users["ops"]["password"] == "locked" and users["ops"]["max_days"] == 90
    assert users["nobody"]["password"] == "empty" and users["nobody"]["shadow_line"] == 3
    assert HASH[10:30] not in json.dumps(data)
    assert {g["name"]: g["members"] for g in data["groups"]}["sudo"] == ["ops"]


@pytest.mark.parametrize(
    "field, status, prefix",
    [
        ("", "empty", None),
        ("!", "locked", None),
        ("*", "locked", None),
        ("!$y$j9T$abc$def", "locked", "$y$"),
        (HASH, "set", "$6$"),
        ("abcdefghijklm", "set", "des"),
    ],
)
def test_shadow_fields_become_a_status(field, status, prefix):
    assert facts.shadow_status(field) == (status, prefix)


def test_bad_input_is_refused_before_anything_is_read():
    result = run_module(module, {"read": ["etc/login.defs"]})
    assert result["failed"] and "is not an absolute path" in result["msg"]
    result = run_module(module, {"sections": ["accounts", "kernel"]})
    assert result["failed"] and "sections: kernel not one of" in result["msg"]
    result = run_module(module, {"sysctl": ["../../etc/shadow"]})
    assert result["failed"] and "is not a kernel parameter name" in result["msg"]


def test_ss_output_is_parsed_into_listening_sockets():
    text = (
        'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))\n'
        'tcp LISTEN 0 80 [::]:3306 [::]:* users:(("mariadbd",pid=9,fd=20))\n'
        "udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*\n"
        "tcp ESTAB 0 0 10.0.0.1:22 10.0.0.2:5000\n"
    )
    sockets = facts.parse_ss(text)
    assert sockets == [
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},  # noqa: S104 - parsed text
        {"proto": "tcp", "address": "::", "port": 3306, "process": "mariadbd"},
        {"proto": "udp", "address": "127.0.0.53", "port": 53, "process": None},
    ]


def test_chrony_tracking_is_read_as_synchronised_or_not():
    synced = facts.parse_chrony_tracking(
        "Reference ID    : C0A80101 (ntp1)\nSystem time     : 0.000012 seconds slow of "
        "NTP time\nLeap status     : Normal\n"
    )
    assert synced["synchronised"] and synced["offset_seconds"] == 0.000012
    lost = facts.parse_chrony_tracking("Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n")
    assert not lost["synchronised"]


def test_nginx_is_parsed_with_includes_contexts_and_lines_without_running_it(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_text(
        "user www-data;\nhttp {\n    server_tokens off; # hide\n    include conf.d/*.conf;\n}\n"
    )
    (tmp_path / "conf.d" / "site.conf").write_text(
        'server {\n  listen 443 ssl;\n  add_header X-Frame-Options "DENY" always;\n  location / { deny all; }\n}\n'
    )
    parsed = facts.parse_nginx(str(tmp_path / "nginx.conf"))
    names = [(d["name"], d["ctx"], d["line"]) for d in parsed["directives"]]
    assert ("server_tokens", ["http"], 3) in names
    assert ("listen", ["http", "server#1"], 2) in names
    assert ("deny", ["http", "server#1", "location /"], 4) in names
    header = next(d for d in parsed["directives"] if d["name"] == "add_header")
    assert header["args"] == ["X-Frame-Options", "DENY", "always"] and header["file"].endswith("site.conf")
    assert set(parsed["files"]) == {str(tmp_path / "nginx.conf"), str(tmp_path / "conf.d" / "site.conf")}


def test_a_mysql_server_that_cannot_be_reached_is_an_error_in_its_section_not_a_failure(tmp_path):
    data = facts.collect_mysql({"socket": str(tmp_path / "nowhere.sock")}, {})
    assert "cannot connect to MySQL" in data["error"] and "users" not in data


class FakeCursor:
    """Answers the collector's queries as MariaDB 10.11 does (JSON_VALUE gives '1' for a JSON true)."""

    def __init__(self, seen):
        self.seen = seen
        self.rows = []

    def execute(self, sql, args=None):
        self.seen.append(sql)
        if sql.startswith("SELECT VERSION()"):
            self.rows = [("10.11.6-MariaDB-0+deb12u1",)]
        elif sql.startswith("SHOW GLOBAL VARIABLES"):
            self.rows = [("have_ssl", "DISABLED"), ("wsrep_sst_auth", "sst:secret"), ("datadir", "/nonexistent/")]
        elif "information_schema.PLUGINS" in sql:
            self.rows = [("unix_socket", "ACTIVE", "AUTHENTICATION", "ON")]
        elif "information_schema.COLUMNS" in sql:
            self.rows = [("user",), ("priv",)]
        elif "mysql.global_priv" in sql:
            self.rows = [("mariadb.sys", "localhost", "mysql_native_password", 1, 0, "[]", "1", None, 1, "0")]
        elif "USER_PRIVILEGES" in sql:
            self.rows = [("'root'@'localhost'", "SUPER", "YES")]
        elif sql.startswith("SHOW DATABASES"):
            self.rows = [("mysql",)]
        else:
            self.rows = []

    def fetchall(self):
        return self.rows


class FakeConnection:
    def __init__(self, seen):
        self.seen = seen

    def cursor(self):
        return FakeCursor(self.seen)

    def close(self):
        pass


def test_mariadb_accounts_are_read_in_a_read_only_transaction_without_hashes(monkeypatch):
    import sys
    import types

    seen = []
    fake = types.SimpleNamespace(connect=lambda **kw: FakeConnection(seen), MySQLError=Exception)
    monkeypatch.setitem(sys.modules, "pymysql", fake)
    data = facts.collect_mysql({"socket": "/run/mysqld/mysqld.sock"}, {})
    assert seen[0] == "START TRANSACTION READ ONLY" and seen[-1] == "ROLLBACK"
    assert not any("authentication_string FROM" in q or q.strip().endswith("Password") for q in seen)
    (sys_account,) = data["users"]
    assert sys_account["locked"] is True and sys_account["no_password"] is True
    assert data["variables"]["wsrep_sst_auth"] == "********" and data["variables"]["have_ssl"] == "DISABLED"
    assert data["global_privileges"] == {"'root'@'localhost'": ["SUPER", "GRANT OPTION"]}
