"""The application server after converge (1.0.0) and the side effect (upgrade to 1.1.0, whose migrations change
existing data): the service, its health, the schema history in both databases, and the migrated data."""

import json
import socket
import tarfile
from pathlib import Path

import yaml

testinfra_hosts = ["ansible://molecule-app"]
REPO = Path(__file__).resolve().parents[3] / "build" / "releases"
MYSQL = "MYSQL_PWD=molecule-test-only-migrate mariadb -h 10.89.61.21 -u followup_migrate -N -B -e"


def migrations(version, engine, database):
    with tarfile.open(REPO / f"followup-{version}.tar.gz") as archive:
        manifest = yaml.safe_load(archive.extractfile(f"followup-{version}/manifest.yml").read())
    return manifest["migrations"][engine][database]


def test_the_application_runs_release_1_1_0_and_is_healthy(host):
    assert host.service("followup-app").is_running and host.service("followup-app").is_enabled
    health = json.loads(host.check_output("curl -fsS http://10.89.61.12:8080/health"))
    assert health["status"] == "UP" and health["version"] == "1.1.0"
    assert health["checks"] == {"mysql": "UP", "mongodb": "UP"}
    assert host.file("/opt/followup/app/current").linked_to == "/opt/followup/app/releases/1.1.0"


def test_every_mysql_migration_of_the_release_is_recorded_once_and_succeeded(host):
    for database in ("cloud_followup", "interface_data"):
        expected = migrations("1.1.0", "mysql", database)
        rows = host.check_output(
            f"{MYSQL} 'SELECT script, success, release_version "
            f"FROM {database}.followup_schema_history ORDER BY version'"
        ).splitlines()
        assert [r.split("\t")[0] for r in rows] == expected
        assert all(r.split("\t")[1] == "1" for r in rows)
        assert rows[0].split("\t")[2] == "1.0.0" and rows[-1].split("\t")[2] == "1.1.0"


def test_the_mongodb_migrations_are_recorded(host):
    script = (
        "import pymongo; db = pymongo.MongoClient('mongodb://cdr_app:molecule-test-only-app@10.89.61.22:27017/cdr"
        "?authSource=cdr&authMechanism=PLAIN')['cdr']; "
        "print([d['script'] for d in db.followup_schema_history.find({'success': True}).sort('version', 1)])"
    )
    applied = host.check_output(f'python3 -c "{script}"')
    assert applied == str(migrations("1.1.0", "mongodb", "cdr"))


def test_existing_tasks_were_migrated_to_status_codes(host):
    rows = host.check_output(f"{MYSQL} 'SELECT status, status_code FROM cloud_followup.followup_tasks'").splitlines()
    assert rows, "the side effect wrote a task before the upgrade"
    assert all(r.split("\t")[1] == "pending" for r in rows)


def test_the_application_account_cannot_change_the_schema(host):
    denied = host.run(
        "MYSQL_PWD=molecule-test-only-app mariadb -h 10.89.61.21 -u followup_app cloud_followup "
        "-e 'DROP TABLE patients'"
    )
    assert denied.rc != 0 and "denied" in denied.stderr


def test_settings_hold_the_passwords_but_no_command_line_does(host):
    env = host.file("/opt/followup/app/shared/app.env")
    assert env.mode == 0o640 and env.group == "followup"
    assert env.contains("FOLLOWUP_MYSQL_PASSWORD=")
    assert "molecule-test-only" not in host.check_output("ps -eo args")


def test_the_application_listens_on_its_own_address_only(host):
    listening = host.check_output("ss -Htln 'sport = :8080'")
    assert "10.89.61.12:8080" in listening and "0.0.0.0:8080" not in listening and "*:8080" not in listening


def test_no_host_but_its_clients_reaches_the_plain_http_port():
    """From the control node (10.89.61.1, not a front-end server) the port does not answer: the IP access list
    drops the packets, so there is no way around the front-end's TLS."""
    with socket.socket() as probe:
        probe.settimeout(3)
        try:
            probe.connect(("10.89.61.12", 8080))
        except OSError:
            return
    raise AssertionError("the control node reached the application's plain-HTTP port")


def test_the_service_runs_sandboxed_with_the_signed_start_command(host):
    shown = host.check_output(
        "systemctl show followup-app -p ExecStart -p CapabilityBoundingSet -p SystemCallFilter -p UMask "
        "-p ProtectClock -p ProtectHostname -p IPAddressDeny"
    )
    assert "argv[]=/usr/bin/python3 -m followup_app ;" in shown
    assert "CapabilityBoundingSet=\n" in shown + "\n" and "UMask=0027" in shown and "ProtectClock=yes" in shown
    deny = next(line for line in shown.splitlines() if line.startswith("IPAddressDeny="))
    assert set(deny.split("=", 1)[1].split()) == {"0.0.0.0/0", "::/0"} and "SystemCallFilter=" in shown
    unit = host.file("/etc/systemd/system/followup-app.service").content_string
    assert "ExecStart" not in unit
    assert "IPAddressAllow=localhost 10.89.61.21 10.89.61.22 10.89.61.12" in unit


def test_the_local_fact_names_the_service_and_its_health_check(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/followup_component_app.fact").content_string)
    assert fact["services"] == ["followup-app"] and fact["listen"] == "10.89.61.12:8080"
    assert fact["checks"] == [
        {"name": "followup-app", "type": "http", "host": "10.89.61.12", "port": 8080, "path": "/health"}
    ]


def test_the_release_carries_exactly_the_migrations_its_manifest_lists(host):
    for engine, databases in (("mysql", ("cloud_followup", "interface_data")), ("mongodb", ("cdr",))):
        for database in databases:
            folder = f"/opt/followup/app/releases/1.1.0/migrations/{engine}/{database}"
            assert sorted(host.file(folder).listdir()) == migrations("1.1.0", engine, database)
