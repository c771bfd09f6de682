"""roles/mysql: the server drop-in, the account host computation and the choice of config checker."""

import configparser

import followup_mysql
import pytest

F = followup_mysql.FilterModule().filters()

PASSWORDS = {
    "mysql_app_password": "unit-test-only",
    "mysql_interface_password": "unit-test-only",
    "mysql_migrate_password": "unit-test-only",
    "mysql_backup_password": "unit-test-only",
}

INVENTORY = {
    "groups": {
        "all": ["app1", "app2", "fep1", "mysql"],
        "app": ["app1", "app2"],
        "fep": ["fep1"],
        "mysql": ["mysql"],
    },
    "hostvars": {
        "app1": {"ansible_host": "10.89.50.12"},
        "app2": {},  # no ansible_host: its inventory name is used
        "fep1": {"ansible_host": "10.89.50.11"},
        "mysql": {"ansible_host": "10.89.50.21"},
    },
}


def mysql(render, flavour_file="Debian-mariadb.yml", **overrides):
    return render("mysql", [flavour_file], **{**PASSWORDS, **INVENTORY, **overrides})


def parse_cnf(text):
    parser = configparser.ConfigParser(allow_no_value=True, delimiters=("=",), comment_prefixes=("#",))
    parser.read_string(text)
    return parser["mysqld"]


def test_dropin_sets_address_port_and_utf8mb4(render):
    section = parse_cnf(mysql(render, mysql_bind_address="10.89.50.21", mysql_port=3307).template("followup.cnf.j2"))
    assert section["bind-address"] == "10.89.50.21"
    assert section["port"] == "3307"
    assert section["character-set-server"] == "utf8mb4"
    assert section["collation-server"] == "utf8mb4_unicode_ci"
    assert "skip-name-resolve" in section


def test_dropin_extra_options_and_bare_flags(render):
    text = mysql(render, mysql_server_options={"slow_query_log": 1, "log-bin": True}).template("followup.cnf.j2")
    section = parse_cnf(text)
    assert section["slow_query_log"] == "1"
    assert "log-bin" in section
    assert section["log-bin"] is None


def test_accounts_get_the_addresses_of_their_client_groups(render):
    entries = mysql(render).var("__mysql_account_entries")
    pairs = sorted((e["name"], e["host"]) for e in entries)
    assert pairs == [
        ("followup_app", "10.89.50.12"),
        ("followup_app", "app2"),
        ("followup_backup", "localhost"),
        ("followup_interface", "10.89.50.11"),
        ("followup_migrate", "10.89.50.12"),
        ("followup_migrate", "app2"),
    ]


def test_extra_client_hosts_are_added_once(render):
    entries = mysql(
        render,
        mysql_account_client_hosts={"followup_app": ["10.89.50.12", "10.0.0.9"], "followup_backup": ["localhost"]},
    ).var("__mysql_account_entries")
    app_hosts = [e["host"] for e in entries if e["name"] == "followup_app"]
    assert app_hosts == ["10.89.50.12", "app2", "10.0.0.9"]


def test_least_privilege_of_the_accounts(render):
    accounts = {a["name"]: a["priv"] for a in mysql(render).var("__mysql_accounts")}
    assert accounts["followup_app"] == {"cloud_followup.*": "SELECT,INSERT,UPDATE,DELETE"}
    assert accounts["followup_interface"] == {"interface_data.*": "SELECT,INSERT,UPDATE,DELETE"}
    assert set(accounts["followup_migrate"]) == {"cloud_followup.*", "interface_data.*"}
    assert "GRANT" not in accounts["followup_migrate"]["cloud_followup.*"]
    assert accounts["followup_backup"] == {"*.*": "SELECT,SHOW VIEW,TRIGGER,EVENT,LOCK TABLES,PROCESS,RELOAD"}


@pytest.mark.parametrize(
    ("flavour", "flavour_file", "daemon", "probe", "expected"),
    [
        (
            "mariadb",
            "Debian-mariadb.yml",
            "/usr/sbin/mariadbd",
            "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu",
            "/usr/sbin/mariadbd --defaults-file=%s --help --verbose",
        ),
        (
            "mysql",
            "Debian-mysql.yml",
            "/usr/sbin/mysqld",
            "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
            "/usr/sbin/mysqld --defaults-file=%s --validate-config",
        ),
        (
            "mysql",
            "RedHat-mysql.yml",
            "/usr/libexec/mysqld",
            "/usr/libexec/mysqld  Ver 5.7.44 for Linux on x86_64 (MySQL Community Server (GPL))",
            "/usr/libexec/mysqld --defaults-file=%s --help --verbose",
        ),
    ],
)
def test_config_checker_follows_flavour_and_version(render, flavour, flavour_file, daemon, probe, expected):
    """The role hands the binary install.yml found and the version it read to the checker's filter."""
    renderer = mysql(
        render,
        flavour_file,
        mysql_flavour=flavour,
        __mysql_daemon=daemon,
        __mysql_version_probe={"stdout": probe},
    )
    assert renderer.var("__mysql_validate_command") == expected


@pytest.mark.parametrize(
    ("flavour", "probe", "expected"),
    [
        ("mariadb", "mariadbd  Ver 10.11.19-MariaDB", "socket"),
        ("mariadb", "mysqld  Ver 10.3.39-MariaDB", "password"),
        ("mariadb", "", "socket"),  # check mode on a fresh host: version unknown
        ("mysql", "mysqld  Ver 8.0.36 for Linux", "password"),
    ],
)
def test_root_login_method(render, flavour, probe, expected):
    renderer = mysql(render, mysql_flavour=flavour, __mysql_version_probe={"stdout": probe})
    assert renderer.var("__mysql_root_auth_resolved").strip() == expected


def test_root_option_file_holds_password_and_socket(render):
    text = mysql(render, mysql_root_password="unit-test-only-root").template("root-my.cnf.j2")
    parser = configparser.ConfigParser(comment_prefixes=("#",))
    parser.read_string(text)
    assert parser["client"]["user"] == "root"
    assert parser["client"]["password"] == '"unit-test-only-root"'
    assert parser["client"]["socket"] == "/run/mysqld/mysqld.sock"


# Both quotes, backslashes (\s would read as a space if left alone), a #, and spaces at both ends.
AWKWARD_ROOT_PASSWORD = " unit \"test\" only\\s #root 'pw' \\ "


def test_root_option_file_escapes_an_awkward_password_as_mysql_reads_it(render):
    text = mysql(render, mysql_root_password=AWKWARD_ROOT_PASSWORD).template("root-my.cnf.j2")
    assert '\npassword = " unit \\"test\\" only\\\\s #root \'pw\' \\\\ "\n' in text
    # Read back with the MySQL rules (filter_plugins/followup_mysql.py, checked against the real MariaDB client in
    # molecule/mysql): the password exactly.
    assert F["followup_mysql_option_file_value"](text, "client", "password") == AWKWARD_ROOT_PASSWORD
    assert F["followup_mysql_option_file_value"](text, "client", "user") == "root"


def test_dropin_quotes_a_value_that_would_be_cut_at_a_hash(render):
    section = parse_cnf(
        mysql(render, mysql_server_options={"init_connect": "SET NAMES utf8mb4 # x"}).template("followup.cnf.j2")
    )
    assert section["init_connect"] == '"SET NAMES utf8mb4 # x"'


@pytest.mark.parametrize(
    ("flavour_file", "service"),
    [
        ("Debian-mariadb.yml", "mariadb"),
        ("Debian-mysql.yml", "mysql"),
        ("RedHat-mariadb.yml", "mariadb"),
        ("RedHat-mysql.yml", "mysqld"),
    ],
)
def test_local_fact_names_the_unit_of_flavour_and_os(render, flavour_file, service):
    assert mysql(render, flavour_file).var("__mysql_services") == [service]


@pytest.mark.parametrize(
    ("bind", "host"),
    [("10.89.50.21", "10.89.50.21"), ("0.0.0.0", "10.89.50.21"), ("127.0.0.1", "127.0.0.1")],  # noqa: S104
)
def test_local_fact_checks_the_port_on_the_address_clients_use(render, bind, host):
    checks = mysql(render, mysql_bind_address=bind, mysql_port=3307, ansible_host="10.89.50.21").var("__mysql_checks")
    assert checks == [{"name": "mysql", "type": "tcp", "host": host, "port": 3307}]


def test_placeholder_passwords_are_named_by_the_assert(render):
    renderer = mysql(render, mysql_interface_password="CHANGE-ME", mysql_backup_password="")
    assert renderer.var("__mysql_secrets | followup_bad_secrets") == [
        "mysql_backup_password",
        "mysql_interface_password",
    ]
    assert mysql(render).var("__mysql_secrets | followup_bad_secrets") == []


def test_the_renderer_refuses_an_input_that_role_vars_would_beat(render):
    """A play would ignore an inventory value of a name set in vars/: the renderer does not pretend otherwise."""
    with pytest.raises(ValueError, match="__mysql_service: set in roles/mysql/vars/"):
        mysql(render, __mysql_service="mysqld")
