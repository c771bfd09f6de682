"""filter_plugins/followup_mysql.py: accounts from the inventory, version decisions, option-file values."""

import followup_mysql
import pytest
from ansible.errors import AnsibleFilterError

F = followup_mysql.FilterModule().filters()

ACCOUNTS = [
    {"name": "followup_app", "priv": {"cloud_followup.*": "SELECT,INSERT,UPDATE,DELETE"}},
    {"name": "followup_interface", "priv": {"interface_data.*": "SELECT,INSERT,UPDATE,DELETE"}},
    {"name": "followup_backup", "priv": {"*.*": "SELECT,RELOAD"}},
]
GROUPS = {"all": ["app1", "app2", "fep1"], "app": ["app1", "app2"], "fep": ["fep1"]}
HOSTVARS = {"app1": {"ansible_host": "10.89.50.12"}, "app2": {}, "fep1": {"ansible_host": "10.89.50.11"}}


def entries(client_groups, client_hosts, groups=GROUPS):
    return F["followup_mysql_account_entries"](ACCOUNTS, client_groups, client_hosts, groups, HOSTVARS)


def test_each_account_gets_the_addresses_of_its_groups_then_its_extra_hosts():
    found = entries(
        {"followup_app": ["app"], "followup_interface": ["fep"], "followup_backup": []},
        {"followup_app": ["10.0.0.9"], "followup_backup": ["localhost"]},
    )
    assert [(e["name"], e["host"]) for e in found] == [
        ("followup_app", "10.89.50.12"),
        ("followup_app", "app2"),  # no ansible_host: the inventory name
        ("followup_app", "10.0.0.9"),
        ("followup_interface", "10.89.50.11"),
        ("followup_backup", "localhost"),
    ]
    assert found[0]["priv"] == {"cloud_followup.*": "SELECT,INSERT,UPDATE,DELETE"}
    assert found[-1]["priv"] == {"*.*": "SELECT,RELOAD"}


def test_an_address_listed_twice_gives_one_account():
    found = entries({"followup_app": ["app", "app"]}, {"followup_app": ["10.89.50.12", "app2"]})
    assert [e["host"] for e in found] == ["10.89.50.12", "app2"]


def test_a_group_absent_from_the_inventory_gives_no_account():
    assert entries({"followup_app": ["nowhere"]}, {}) == []
    assert F["followup_mysql_accounts_without_hosts"](ACCOUNTS, []) == [
        "followup_app",
        "followup_interface",
        "followup_backup",
    ]


def test_accounts_without_hosts_are_named():
    found = entries({"followup_app": ["app"]}, {"followup_backup": ["localhost"]})
    assert F["followup_mysql_accounts_without_hosts"](ACCOUNTS, found) == ["followup_interface"]


def test_a_group_written_as_a_string_is_refused_not_read_letter_by_letter():
    with pytest.raises(AnsibleFilterError, match=r"mysql_account_client_groups.followup_app must be a list, got 'app'"):
        entries({"followup_app": "app"}, {})


def test_an_unknown_account_name_is_refused():
    with pytest.raises(
        AnsibleFilterError, match="mysql_account_client_hosts names followup_ap, which is not an account"
    ):
        entries({}, {"followup_ap": ["10.0.0.1"]})


def test_stale_accounts_are_the_managed_users_from_hosts_no_longer_listed():
    users = {
        "localhost": {"root": {}, "followup_backup": {}},
        "10.89.50.12": {"followup_app": {}},
        "10.99.99.99": {"followup_app": {}, "someone_else": {}},
        "127.0.0.1": {"followup_app": {}},
    }
    wanted = [{"name": "followup_app", "host": "10.89.50.12"}, {"name": "followup_backup", "host": "localhost"}]
    assert F["followup_mysql_stale_accounts"](users, wanted, ACCOUNTS) == [
        {"name": "followup_app", "host": "10.99.99.99"},
        {"name": "followup_app", "host": "127.0.0.1"},
    ]
    assert F["followup_mysql_stale_accounts"]({}, wanted, ACCOUNTS) == []


@pytest.mark.parametrize(
    ("probe", "version"),
    [
        ("mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu", "10.11.19"),
        ("/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)", "8.0.36"),
        ("", "unknown"),
        (None, "unknown"),
        ("mysqld  Ver \u0668.\u0660.\u0663\u0666", "unknown"),  # Arabic-Indic digits are no version
    ],
)
def test_server_version_from_the_binary(probe, version):
    assert F["followup_mysql_version"](probe) == version


@pytest.mark.parametrize(
    ("requested", "flavour", "version", "expected"),
    [
        ("auto", "mariadb", "10.11.19", "socket"),
        ("auto", "mariadb", "10.4.0", "socket"),
        ("auto", "mariadb", "10.3.39", "password"),
        ("auto", "mariadb", "unknown", "socket"),  # check mode on a fresh host
        ("auto", "mysql", "8.0.36", "password"),
        ("auto", "mysql", "unknown", "password"),
        ("socket", "mysql", "8.0.36", "socket"),
        ("password", "mariadb", "10.11.19", "password"),
    ],
)
def test_root_login_method(requested, flavour, version, expected):
    assert F["followup_mysql_root_auth"](requested, flavour, version) == expected


def test_an_unknown_root_login_method_is_refused():
    with pytest.raises(AnsibleFilterError, match="mysql_root_auth is 'sockets': use auto, socket or password"):
        F["followup_mysql_root_auth"]("sockets", "mariadb", "10.11.19")


@pytest.mark.parametrize(
    ("flavour", "version", "expected"),
    [
        ("mariadb", "10.11.19", "/usr/sbin/x --defaults-file=%s --help --verbose"),
        ("mysql", "8.0.36", "/usr/sbin/x --defaults-file=%s --validate-config"),
        ("mysql", "8.0.16", "/usr/sbin/x --defaults-file=%s --validate-config"),
        ("mysql", "8.0.15", "/usr/sbin/x --defaults-file=%s --help --verbose"),
        ("mysql", "5.7.44", "/usr/sbin/x --defaults-file=%s --help --verbose"),
        ("mysql", "unknown", "/usr/sbin/x --defaults-file=%s --help --verbose"),
    ],
)
def test_config_checker_follows_flavour_and_version(flavour, version, expected):
    assert F["followup_mysql_validate_command"]("/usr/sbin/x", flavour, version) == expected


# A password with everything that breaks a naive option file: both quotes, backslashes (one before a letter the
# parser would read as an escape: \s is a space, \n a newline), a # that would start a comment, and spaces at both
# ends.
AWKWARD = " pa\"ss\\word \\s #1 'x' \\ "
AWKWARD_WRITTEN = '" pa\\"ss\\\\word \\\\s #1 \'x\' \\\\ "'


def test_an_awkward_password_is_quoted_and_escaped_as_the_mysql_parser_reads_it():
    assert F["followup_mysql_option_value"](AWKWARD, quote=True) == AWKWARD_WRITTEN


@pytest.mark.parametrize("value", ["127.0.0.1", "utf8mb4_unicode_ci", "256M", 500, "/run/mysqld/mysqld.sock"])
def test_plain_values_stay_bare(value):
    assert F["followup_mysql_option_value"](value) == str(value)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a#b", '"a#b"'),
        ("it's", '"it\'s"'),
        ('say "x"', '"say \\"x\\""'),
        ("C:\\dir", '"C:\\\\dir"'),
        (" lead", '" lead"'),
        ("", '""'),
        ("two\nlines", '"two\\nlines"'),
        ("tab\there", '"tab\\there"'),
    ],
)
def test_values_that_would_change_are_quoted(value, written):
    assert F["followup_mysql_option_value"](value) == written


def test_a_nul_character_is_refused():
    with pytest.raises(AnsibleFilterError, match="NUL"):
        F["followup_mysql_option_value"]("a\x00b")


def test_reading_back_what_was_written_gives_the_value():
    for value in (AWKWARD, "plain", "a#b", 'q"', "back\\", "", "tab\tnew\nline"):
        text = "[client]\nuser = root\npassword = {}\n".format(F["followup_mysql_option_value"](value, quote=True))
        assert F["followup_mysql_option_file_value"](text, "client", "password") == value


def test_reading_follows_the_parser_rules():
    text = (
        "# comment\n"
        "[mysqld]\n"
        "password = server-side\n"
        "[client]\n"
        "user = root  # a comment after a bare value\n"
        "password = 'first'\n"
        'password = "a\\sb#c"  # the last one wins; \\s is a space\n'
        "socket=/run/mysqld/mysqld.sock\n"
        "ssl_ca = /etc/ca.pem\n"
    )
    read = F["followup_mysql_option_file_value"]
    assert read(text, "client", "password") == "a b#c"
    assert read(text, "client", "user") == "root"
    assert read(text, "client", "socket") == "/run/mysqld/mysqld.sock"
    assert read(text, "client", "ssl-ca") == "/etc/ca.pem"  # - and _ are one
    assert read(text, "mysqld", "password") == "server-side"
    assert read(text, "client", "host", default="none") == "none"
    assert read("", "client", "password", default="from-vault") == "from-vault"
