"""Verify roles/mysql on the Molecule host: a running MariaDB with the contract's databases and accounts.

The passwords are the scenario's throwaway test passwords (group_vars/all.yml).
"""

import json
import shlex
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://molecule-mysql"]

INPUTS = yaml.safe_load((Path(__file__).parents[1] / "group_vars" / "all.yml").read_text())
APP_PW = INPUTS["mysql_app_password"]
INTERFACE_PW = INPUTS["mysql_interface_password"]
MIGRATE_PW = INPUTS["mysql_migrate_password"]
BACKUP_PW = INPUTS["mysql_backup_password"]
BIND = INPUTS["mysql_bind_address"]


def root_sql(host, sql):
    """Run SQL as root over the unix socket (no password: unix_socket authentication)."""
    result = host.run("mariadb -N -B -e %s", sql)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def user_sql(host, user, password, sql, via="127.0.0.1"):
    """Run SQL as an application account over TCP, password in the environment (not on the command line)."""
    client = f"mariadb -N -B --protocol=TCP -h {via} -P 3306 -u {user}"
    return host.run(f"MYSQL_PWD={shlex.quote(password)} {client} -e {shlex.quote(sql)}")


def test_server_running_and_enabled(host):
    service = host.service("mariadb")
    assert service.is_running
    assert service.is_enabled


def test_server_settings_from_the_dropin(host):
    values = root_sql(
        host, "SELECT @@bind_address, @@port, @@character_set_server, @@collation_server, @@skip_name_resolve"
    ).split("\t")
    assert values == [BIND, "3306", "utf8mb4", "utf8mb4_unicode_ci", "1"]
    assert host.socket(f"tcp://{BIND}:3306").is_listening


def test_dropin_checker_rejects_a_bad_option(host):
    """The command the role uses as validate: really fails on an unknown option."""
    host.run("printf '[mysqld]\\nbind-adress = 0.0.0.0\\n' > /tmp/bad.cnf")
    assert host.run("mariadbd --defaults-file=/tmp/bad.cnf --help --verbose").rc != 0
    good = host.run("mariadbd --defaults-file=/etc/mysql/mariadb.conf.d/60-followup.cnf --help --verbose")
    assert good.rc == 0


@pytest.mark.parametrize("database", ["cloud_followup", "interface_data"])
def test_databases_utf8mb4(host, database):
    rows = root_sql(
        host, "SELECT schema_name, default_character_set_name, default_collation_name FROM information_schema.schemata"
    )
    assert f"{database}\tutf8mb4\tutf8mb4_unicode_ci" in rows.splitlines()


def test_fresh_install_leftovers_removed(host):
    assert root_sql(host, "SELECT COUNT(*) FROM mysql.user WHERE user = ''") == "0"
    assert root_sql(host, "SHOW DATABASES LIKE 'test'") == ""
    assert root_sql(host, "SELECT COUNT(*) FROM mysql.user WHERE user = 'root' AND host <> 'localhost'") == "0"


def test_accounts_only_from_their_client_addresses(host):
    accounts = root_sql(host, "SELECT CONCAT(user, '@', host) FROM mysql.user WHERE user LIKE 'followup%' ORDER BY 1")
    assert accounts.split("\n") == [
        "followup_app@127.0.0.1",
        "followup_backup@localhost",
        "followup_interface@192.0.2.11",
        "followup_migrate@127.0.0.1",
    ]


def test_root_only_by_socket(host):
    assert root_sql(host, "SELECT CURRENT_USER()") == "root@localhost"
    over_tcp = host.run("mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'SELECT 1'")
    assert over_tcp.rc != 0


def test_app_account_reads_and_writes_its_database(host):
    root_sql(host, "CREATE TABLE IF NOT EXISTS cloud_followup.molecule_probe (id INT PRIMARY KEY, note VARCHAR(20))")
    write = user_sql(
        host,
        "followup_app",
        APP_PW,
        "REPLACE INTO cloud_followup.molecule_probe VALUES (1, '随访'); "
        "SELECT note FROM cloud_followup.molecule_probe WHERE id = 1",
    )
    assert write.rc == 0, write.stderr
    assert write.stdout.strip() == "随访"


def test_app_account_denied_outside_its_rights(host):
    ddl = user_sql(host, "followup_app", APP_PW, "CREATE TABLE cloud_followup.not_allowed (id INT)")
    assert ddl.rc != 0
    assert "command denied" in ddl.stderr
    # The DROP granted by hand before the role ran was revoked.
    drop = user_sql(host, "followup_app", APP_PW, "DROP TABLE cloud_followup.molecule_probe")
    assert drop.rc != 0
    other = user_sql(host, "followup_app", APP_PW, "SELECT 1 FROM interface_data.anything")
    assert other.rc != 0
    assert "denied" in other.stderr
    wrong = user_sql(host, "followup_app", "wrong-password", "SELECT 1")
    assert wrong.rc != 0


def test_interface_account_refused_from_a_host_outside_fep(host):
    refused = user_sql(host, "followup_interface", INTERFACE_PW, "SELECT 1")
    assert refused.rc != 0
    assert "Access denied for user 'followup_interface'@'127.0.0.1'" in refused.stderr


def test_migrate_account_ddl_on_both_databases_but_no_grant(host):
    for database in ("cloud_followup", "interface_data"):
        ddl = user_sql(
            host,
            "followup_migrate",
            MIGRATE_PW,
            f"CREATE TABLE {database}.molecule_migrate (id INT); ALTER TABLE {database}.molecule_migrate ADD c INT; "
            f"DROP TABLE {database}.molecule_migrate",
        )
        assert ddl.rc == 0, ddl.stderr
    grants = user_sql(host, "followup_migrate", MIGRATE_PW, "SHOW GRANTS").stdout
    assert "GRANT OPTION" not in grants
    assert "GRANT USAGE ON *.*" in grants
    grant = "GRANT SELECT ON cloud_followup.* TO 'followup_app'@'127.0.0.1'"
    escalate = user_sql(host, "followup_migrate", MIGRATE_PW, grant)
    assert escalate.rc != 0


def test_backup_account_rights(host):
    grants = root_sql(host, "SHOW GRANTS FOR 'followup_backup'@'localhost'")
    for right in ("SELECT", "RELOAD", "PROCESS", "LOCK TABLES", "SHOW VIEW", "EVENT", "TRIGGER"):
        assert right in grants
    assert "INSERT" not in grants
    # Over the unix socket: followup_backup@localhost is meant for backups run on the database host.
    count = shlex.quote("SELECT COUNT(*) FROM cloud_followup.molecule_probe")
    read = host.run(f"MYSQL_PWD={shlex.quote(BACKUP_PW)} mariadb -N -B -u followup_backup -e {count}")
    assert read.rc == 0, read.stderr


def test_local_fact_for_other_roles(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/mysql.fact").content_string)
    assert fact["flavour"] == "mariadb"
    assert fact["version"].startswith("10.11.")
    assert fact["port"] == 3306
    assert fact["socket"] == "/run/mysqld/mysqld.sock"
    seen = host.ansible("setup", "filter=ansible_local", check=False)["ansible_facts"]["ansible_local"]["mysql"]
    assert seen["flavour"] == "mariadb"


def test_local_fact_tells_status_what_to_check(host):
    """services and checks are what playbooks/status.yml reads: the unit must be active and the check must connect."""
    fact = json.loads(host.file("/etc/ansible/facts.d/mysql.fact").content_string)
    assert fact["services"] == ["mariadb"]
    # The server binds every address (group_vars/all.yml): clients use the host's own (ansible_host).
    assert fact["checks"] == [{"name": "mysql", "type": "tcp", "host": "molecule-mysql", "port": 3306}]
    for unit in fact["services"]:
        assert host.service(unit).is_running, unit
    for check in fact["checks"]:
        probe = f"import socket; socket.create_connection(({check['host']!r}, {check['port']}), 5).close()"
        connect = host.run(f"python3 -c {shlex.quote(probe)}")
        assert connect.rc == 0, connect.stderr
