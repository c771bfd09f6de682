"""Verify roles/mongodb (FerretDB engine) on the Molecule host: MongoDB clients authenticate with the
credentials of PostgreSQL roles, unauthenticated clients are refused, rights follow the contract.

The passwords are the scenario's throwaway test passwords (group_vars/all.yml). The checks run pymongo inside
the container, i.e. a real MongoDB wire-protocol client.
"""

import json
import shlex
import textwrap
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://molecule-mongodb"]

INPUTS = yaml.safe_load((Path(__file__).parents[1] / "group_vars" / "all.yml").read_text())
PASSWORDS = {
    "followup_admin": INPUTS["mongodb_admin_password"],
    "cdr_app": INPUTS["mongodb_app_password"],
    "cdr_backup": INPUTS["mongodb_backup_password"],
}

# pymongo script run in the container: prints one JSON line {"ok": bool, "result"|"error": ...}.
CLIENT = textwrap.dedent(
    """
    import json, sys
    import pymongo
    from pymongo.errors import PyMongoError
    uri, action = sys.argv[1], sys.argv[2]
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        if action == "ping":
            result = client.admin.command("ping")["ok"]
        elif action == "write":
            client.cdr.molecule_probe.replace_one({"_id": 1}, {"_id": 1, "note": "随访"}, upsert=True)
            result = client.cdr.molecule_probe.find_one({"_id": 1})["note"]
        elif action == "read":
            result = client.cdr.molecule_probe.find_one({"_id": 1})["note"]
        elif action == "insert":
            result = str(client.cdr.molecule_probe.insert_one({"note": "new"}).inserted_id)
        elif action == "write-other":
            result = str(client.otherdb.probe.insert_one({"a": 1}).inserted_id)
        elif action == "list":
            result = sorted(client.cdr.list_collection_names())
        print(json.dumps({"ok": True, "result": result}, ensure_ascii=False))
    except PyMongoError as exc:
        print(json.dumps({"ok": False, "error": str(exc)[-300:]}))
    """
)


def mongo(host, action, user=None, password=None, mechanism="PLAIN"):
    auth = f"{user}:{password}@" if user else ""
    params = f"?authSource=cdr&authMechanism={mechanism}" if user else ""
    uri = f"mongodb://{auth}127.0.0.1:27017/cdr{params}"
    result = host.run(f"python3 - '{uri}' {action} <<'PY'\n{CLIENT}\nPY")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_services_running_and_enabled(host):
    for name in ("postgresql", "ferretdb"):
        assert host.service(name).is_running, name
        assert host.service(name).is_enabled, name


def test_ferretdb_listens_on_its_address_and_postgresql_on_loopback_only(host):
    assert host.socket(f"tcp://{INPUTS['mongodb_bind_address']}:27017").is_listening
    assert host.socket("tcp://127.0.0.1:5432").is_listening
    # Nothing but loopback: no PostgreSQL socket on any other address.
    postgresql = [s for s in host.socket.get_listening_sockets() if s.endswith(":5432")]
    assert postgresql and all(s.startswith(("tcp://127.0.0.1:", "tcp://::1:", "unix://")) for s in postgresql)
    # FerretDB's debug endpoint stays on loopback.
    assert host.socket("tcp://127.0.0.1:8088").is_listening


def test_no_credentials_on_the_command_line_or_in_settings(host):
    cmdline = host.run("ps -o args= -C ferretdb").stdout
    assert "ferretdb" in cmdline
    assert "postgres" not in cmdline
    settings = host.file("/etc/ferretdb/ferretdb.env")
    assert settings.mode == 0o640
    assert "FERRETDB_POSTGRESQL_URL=postgres://127.0.0.1:5432/ferretdb\n" in settings.content_string
    assert "FERRETDB_TELEMETRY=disable" in settings.content_string
    assert "@" not in settings.content_string
    assert host.process.get(comm="ferretdb").user == "ferretdb"


@pytest.mark.parametrize("user", ["cdr_app", "cdr_backup", "followup_admin"])
def test_authenticated_ping(host, user):
    answer = mongo(host, "ping", user, PASSWORDS[user])
    assert answer == {"ok": True, "result": 1.0}


def test_unauthenticated_client_refused(host):
    answer = mongo(host, "ping")
    assert not answer["ok"]
    assert "no pg_hba.conf entry" in answer["error"] or "authentication failed" in answer["error"]
    listing = mongo(host, "list")
    assert not listing["ok"]


def test_wrong_password_refused(host):
    answer = mongo(host, "ping", "cdr_app", "wrong-password")
    assert not answer["ok"]
    assert "password authentication failed" in answer["error"]


def test_only_plain_is_offered(host):
    answer = mongo(host, "ping", "cdr_app", PASSWORDS["cdr_app"], mechanism="SCRAM-SHA-256")
    assert not answer["ok"]
    assert "Unsupported authentication mechanism" in answer["error"]


def test_app_reads_and_writes_cdr(host):
    assert mongo(host, "write", "cdr_app", PASSWORDS["cdr_app"]) == {"ok": True, "result": "随访"}
    assert "molecule_probe" in mongo(host, "list", "cdr_app", PASSWORDS["cdr_app"])["result"]


def test_app_cannot_create_another_database(host):
    answer = mongo(host, "write-other", "cdr_app", PASSWORDS["cdr_app"])
    assert not answer["ok"]
    assert "permission denied" in answer["error"]


def test_backup_reads_but_cannot_write(host):
    mongo(host, "write", "cdr_app", PASSWORDS["cdr_app"])
    assert mongo(host, "read", "cdr_backup", PASSWORDS["cdr_backup"]) == {"ok": True, "result": "随访"}
    # A new document (a replace with identical content would be a no-op and prove nothing).
    answer = mongo(host, "insert", "cdr_backup", PASSWORDS["cdr_backup"])
    assert not answer["ok"]
    assert "permission denied" in answer["error"]


def test_postgresql_refuses_direct_logins_outside_ferretdb(host):
    # The MongoDB accounts may only reach the FerretDB database; no other database admits them.
    direct = host.run(f"PGPASSWORD={PASSWORDS['cdr_app']} psql -h 127.0.0.1 -U cdr_app -d postgres -c 'SELECT 1'")
    assert direct.rc != 0
    assert "no pg_hba.conf entry" in direct.stderr


def test_mongodump_as_backup_user_without_password_on_the_command_line(host):
    mongo(host, "write", "cdr_app", PASSWORDS["cdr_app"])
    # mongodump reads the password from a 0600 file (--config), never from its command line.
    host.run(
        "install -m 0600 /dev/null /root/dump.conf && printf 'password: %s\\n' "
        f"{PASSWORDS['cdr_backup']} > /root/dump.conf"
    )
    uri = "mongodb://cdr_backup@127.0.0.1:27017/cdr?authSource=cdr&authMechanism=PLAIN"
    dump = host.run(f"rm -rf /root/dump && mongodump --config=/root/dump.conf --uri='{uri}' --out=/root/dump")
    assert dump.rc == 0, dump.stderr
    assert host.file("/root/dump/cdr/molecule_probe.bson").exists
    assert host.file("/usr/local/bin/mongorestore").mode == 0o755


def test_local_fact_for_other_roles(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/mongodb.fact").content_string)
    assert fact["engine"] == "ferretdb"
    assert fact["version"] == "1.24.2"
    assert fact["port"] == 27017
    assert fact["auth_mechanism"] == "PLAIN"
    assert fact["uri_options"] == "authSource=cdr&authMechanism=PLAIN"
    seen = host.ansible("setup", "filter=ansible_local", check=False)["ansible_facts"]["ansible_local"]["mongodb"]
    assert seen["engine"] == "ferretdb"


def test_local_fact_tells_status_what_to_check(host):
    """services and checks are what playbooks/status.yml reads: the units must be active and the check must connect."""
    fact = json.loads(host.file("/etc/ansible/facts.d/mongodb.fact").content_string)
    assert fact["services"] == ["ferretdb", "postgresql"]
    # FerretDB binds every address (group_vars/all.yml): clients use the host's own (ansible_host).
    assert fact["checks"] == [{"name": "mongodb", "type": "tcp", "host": "molecule-mongodb", "port": 27017}]
    for unit in fact["services"]:
        assert host.service(unit).is_running, unit
    for check in fact["checks"]:
        probe = f"import socket; socket.create_connection(({check['host']!r}, {check['port']}), 5).close()"
        connect = host.run(f"python3 -c {shlex.quote(probe)}")
        assert connect.rc == 0, connect.stderr
