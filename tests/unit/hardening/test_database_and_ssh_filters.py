"""The decisions of ssh_hardening, mysql_hardening and mongodb_hardening (their filter plugins)."""

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

WEAK_CIPHERS = ["3des-cbc", "aes128-cbc", "aes256-cbc", "arcfour"]
WEAK_MACS = ["hmac-md5", "hmac-sha1", "umac-64@openssh.com"]
WEAK_KEX = ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"]


@pytest.fixture(scope="module")
def ssh(role_filters):
    return role_filters("ssh_hardening")


@pytest.fixture(scope="module")
def mysql(role_filters):
    return role_filters("mysql_hardening")


@pytest.fixture(scope="module")
def mongo(role_filters):
    return role_filters("mongodb_hardening")


# --- ssh_hardening ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "version"),
    [("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.20", [9, 2]), ("OpenSSH_7.4p1, OpenSSL 1.0.2k-fips", [7, 4])],
)
def test_ssh_version_from_ssh_v(ssh, text, version):
    assert ssh.ssh_hardening_version(text) == version


def test_ssh_version_refuses_output_without_one(ssh):
    with pytest.raises(AnsibleFilterError, match="cannot tell the OpenSSH version"):
        ssh.ssh_hardening_version("bash: ssh: command not found")


def test_crypto_for_openssh_7_4_has_no_name_it_does_not_know(ssh):
    crypto = ssh.ssh_hardening_crypto([7, 4], WEAK_CIPHERS, WEAK_MACS, WEAK_KEX)
    assert "sntrup761x25519-sha512@openssh.com" not in crypto["kex"]
    assert "mlkem768x25519-sha256" not in crypto["kex"]
    assert "curve25519-sha256" in crypto["kex"]


def test_crypto_for_openssh_9_2_offers_the_post_quantum_kex_and_nothing_weak(ssh):
    crypto = ssh.ssh_hardening_crypto([9, 2], WEAK_CIPHERS, WEAK_MACS, WEAK_KEX)
    assert crypto["kex"][0] == "sntrup761x25519-sha512@openssh.com"
    assert not set(crypto["ciphers"]) & set(WEAK_CIPHERS)
    assert not set(crypto["macs"]) & set(WEAK_MACS)
    assert not set(crypto["kex"]) & set(WEAK_KEX)


def test_crypto_refuses_a_weak_list_that_leaves_nothing(ssh):
    everything = [name for name, _ in ssh.CIPHERS]
    with pytest.raises(AnsibleFilterError, match="no ciphers is left"):
        ssh.ssh_hardening_crypto([9, 2], everything, [], [])


def test_dropin_needs_8_2_and_the_include(ssh):
    config = "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n"
    assert ssh.ssh_hardening_dropin_supported([9, 2], config)
    assert not ssh.ssh_hardening_dropin_supported([8, 0], config)
    assert not ssh.ssh_hardening_dropin_supported([9, 2], "Port 22\n")


def test_pending_compares_sha1_of_what_would_be_written(ssh):
    text = "MaxAuthTries 4\n"
    assert not ssh.ssh_hardening_pending(hashlib.sha1(text.encode()).hexdigest(), text)  # noqa: S324
    assert ssh.ssh_hardening_pending(None, text)
    block = "MaxAuthTries 4"
    config = f"# BEGIN m\n{block}\n# END m\nPort 22\n"
    assert not ssh.ssh_hardening_block_pending(config, block + "\n", "m")
    assert ssh.ssh_hardening_block_pending(config, "MaxAuthTries 3\n", "m")


def test_checksums_from_sha1sum(ssh):
    out = "OpenSSH_9.2p1\n" + "a" * 40 + "  /etc/issue.net\n"
    assert ssh.ssh_hardening_checksums(out) == {"/etc/issue.net": "a" * 40}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"user": "ops", "allow_enabled": True, "allow_users": [], "allow_groups": []}, "sshd would admit nobody"),
        ({"user": "ops", "allow_enabled": True, "allow_users": ["alice"], "allow_groups": []}, "do not admit ops"),
        ({"user": "ops", "mfa_enabled": True, "has_password": False}, "Ansible would be locked out"),
    ],
)
def test_refusals_of_opt_ins_that_lock_ansible_out(ssh, settings, message):
    reasons = ssh.ssh_hardening_refusals(settings)
    assert len(reasons) == 1 and message in reasons[0]


def test_no_refusal_when_ops_is_admitted_by_name_or_group(ssh):
    assert ssh.ssh_hardening_refusals({"user": "ops", "allow_enabled": True, "allow_users": ["ops@10.0.0.1"]}) == []
    assert (
        ssh.ssh_hardening_refusals(
            {"user": "ops", "allow_enabled": True, "allow_groups": ["admins"], "user_groups": ["ops", "admins"]}
        )
        == []
    )


# --- mysql_hardening -----------------------------------------------------------------------------------------------
BASE = {
    "password_policy": True, "min_length": 8, "digits": 1, "mixed_case": 1, "special": 1, "policy": "MEDIUM",
    "audit": True, "audit_events": ["CONNECT", "QUERY_DDL", "QUERY_DCL"], "audit_file": "/var/log/mysql/a.log",
    "audit_rotate_size": 1000, "audit_rotations": 3, "tls": True, "tls_protocols": ["TLSv1.2", "TLSv1.3"],
    "tls_ca": "/t/ca.crt", "tls_cert": "/t/s.crt", "tls_key": "/t/s.key", "options": True,
    "secure_file_priv": "/var/lib/mysql-files",
}  # fmt: skip


def options(mysql, **overrides):
    return dict(mysql.mysql_hardening_options(dict(BASE, **overrides)))


def test_mariadb_gets_its_own_plugins_permanent(mysql):
    opts = mysql.mysql_hardening_options(dict(BASE, flavour="mariadb", version="10.11.19"))
    names = [o[0] for o in opts]
    assert ["plugin_load_add", "simple_password_check"] in opts and ["plugin_load_add", "server_audit"] in opts
    assert dict(opts)["server_audit"] == "FORCE_PLUS_PERMANENT"
    assert dict(opts)["simple_password_check_minimal_length"] == 8
    assert dict(opts)["tls_version"] == "TLSv1.2,TLSv1.3"
    assert not any(n.startswith("validate_password") for n in names)
    assert dict(opts)["local_infile"] == 0 and dict(opts)["symbolic_links"] == 0


def test_mysql_8_uses_the_component_and_has_no_audit_plugin(mysql):
    opts = options(mysql, flavour="mysql", version="8.0.36")
    assert opts["loose_validate_password.length"] == 8
    assert "server_audit" not in opts and "symbolic_links" not in opts


def test_mysql_5_7_uses_the_plugin(mysql):
    opts = options(mysql, flavour="mysql", version="5.7.44")
    assert opts["validate_password"] == "FORCE_PLUS_PERMANENT" and opts["validate_password_policy"] == "MEDIUM"


def test_opt_ins_add_their_options(mysql):
    opts = options(
        mysql, flavour="mariadb", version="10.11.19", require_tls=True, password_lifetime=True, lifetime_days=90,
        login_failure=True, max_password_errors=5, timeouts=True, timeout=300,
    )  # fmt: skip
    assert opts["require_secure_transport"] == "ON" and opts["default_password_lifetime"] == 90
    assert opts["max_password_errors"] == 5 and opts["wait_timeout"] == 300 and opts["interactive_timeout"] == 300
    mysql8 = options(mysql, flavour="mysql", version="8.0.36", login_failure=True, cc_threshold=5, cc_min_delay=60000)
    assert mysql8["connection_control_min_connection_delay"] == 60000


@pytest.mark.parametrize(("flavour", "version"), [("mariadb", "10.4.30"), ("mysql", "5.7.7")])
def test_tls_only_is_refused_where_the_server_cannot_do_it(mysql, flavour, version):
    with pytest.raises(AnsibleFilterError, match="has no require_secure_transport"):
        options(mysql, flavour=flavour, version=version, require_tls=True)


def test_options_need_the_mysql_fact(mysql):
    with pytest.raises(AnsibleFilterError, match="run the mysql role first"):
        options(mysql, flavour="mariadb", version="")


ROWS = [
    {"user": "mariadb.sys", "host": "localhost", "plugin": "mysql_native_password", "empty_auth": 1, "locked": 1},
    {"user": "root", "host": "localhost", "plugin": "mysql_native_password", "empty_auth": 0, "socket_only": 0},
    {"user": "nopass", "host": "10.0.0.5", "plugin": "mysql_native_password", "empty_auth": 1, "locked": None},
    {"user": "sock", "host": "localhost", "plugin": "unix_socket", "empty_auth": 1, "locked": None},
    {"user": "followup_app", "host": "10.0.0.12", "plugin": "mysql_native_password", "empty_auth": 0, "lifetime": None},
    {"user": "followup_backup", "host": "localhost", "plugin": "mysql_native_password", "empty_auth": 0, "lifetime": 0},
]  # fmt: skip


def test_accounts_without_password_are_locked_but_socket_accounts_are_not(mysql):
    statements = mysql.mysql_hardening_account_statements(ROWS, {"accounts": True})
    assert statements == ["ALTER USER 'nopass'@'10.0.0.5' ACCOUNT LOCK"]


def test_service_accounts_never_expire_and_the_statement_is_not_repeated(mysql):
    statements = mysql.mysql_hardening_account_statements(
        ROWS, {"lifetime": True, "lifetime_exempt": ["followup_app", "followup_backup"]}
    )
    assert statements == ["ALTER USER 'followup_app'@'10.0.0.12' PASSWORD EXPIRE NEVER"]


def test_root_by_socket_only(mysql):
    assert mysql.mysql_hardening_account_statements(ROWS, {"root_socket": True, "flavour": "mariadb"}) == [
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket"
    ]
    done = [dict(ROWS[1], socket_only=1)]
    assert mysql.mysql_hardening_account_statements(done, {"root_socket": True, "flavour": "mariadb"}) == []


def test_global_privileges_are_revoked_from_accounts_not_allowed(mysql):
    rows = [
        {"GRANTEE": "'followup_backup'@'localhost'", "PRIVILEGE_TYPE": "RELOAD"},
        {"GRANTEE": "'intruder'@'%'", "PRIVILEGE_TYPE": "SUPER"},
        {"GRANTEE": "'intruder'@'%'", "PRIVILEGE_TYPE": "USAGE"},
    ]
    assert mysql.mysql_hardening_revocations(rows, ["followup_backup", "root"]) == [
        "REVOKE SUPER ON *.* FROM 'intruder'@'%'"
    ]


def test_the_accounts_query_never_selects_a_hash(mysql):
    for flavour in ("mariadb", "mysql"):
        query = mysql.mysql_hardening_accounts_query(flavour)
        assert "authentication_string" in query  # only compared with ''
        assert "authentication_string AS" not in query and ", authentication_string," not in query


# --- mongodb_hardening ---------------------------------------------------------------------------------------------
UNIT = "[Service]\nUser=mongodb\nExecStart=/usr/local/bin/mongod --config /etc/mongod.conf\nRestart=on-failure\n"
SETTINGS = {
    "auth": True, "mechanisms": ["SCRAM-SHA-256"], "session_timeout": 30, "bind": True, "bind_address": "10.0.0.22",
    "port": 27017, "tls": True, "tls_mode": "requireTLS", "tls_port": 27018, "tls_pem": "/t/s.pem",
    "tls_ca": "/t/ca.crt", "tls_cert": "/t/s.crt", "tls_key": "/t/s.key", "tls_protocols": ["TLSv1.2", "TLSv1.3"],
    "no_javascript": True,
}  # fmt: skip


def test_mongod_command_line_is_the_units_plus_the_hardening(mongo):
    base = mongo.mongodb_hardening_unit_execstart(UNIT)
    assert base == ["/usr/local/bin/mongod", "--config", "/etc/mongod.conf"]
    line = mongo.mongodb_hardening_mongod_argv(base, SETTINGS)
    assert line.startswith("/usr/local/bin/mongod --config /etc/mongod.conf --auth ")
    for part in (
        "enableLocalhostAuthBypass=false",
        "authenticationMechanisms=SCRAM-SHA-256",
        "--bind_ip 127.0.0.1,10.0.0.22",
        "--tlsMode requireTLS",
        "--tlsDisabledProtocols TLS1_0,TLS1_1",
        "--noscripting",
    ):
        assert part in line


def test_mongod_unit_without_execstart_is_refused(mongo):
    with pytest.raises(AnsibleFilterError, match="no ExecStart line"):
        mongo.mongodb_hardening_unit_execstart("[Service]\nUser=mongodb\n")


def test_ferretdb_tls_only_turns_the_plain_listener_off(mongo):
    env = mongo.mongodb_hardening_ferretdb_env(SETTINGS)
    assert env["FERRETDB_LISTEN_ADDR"] == ""
    assert env["FERRETDB_LISTEN_TLS"] == "10.0.0.22:27017"
    assert env["FERRETDB_LISTEN_TLS_CERT_FILE"] == "/t/s.crt"


def test_ferretdb_prefer_tls_keeps_plain_and_adds_tls_on_its_own_port(mongo):
    env = mongo.mongodb_hardening_ferretdb_env(dict(SETTINGS, tls_mode="preferTLS"))
    assert env["FERRETDB_LISTEN_ADDR"] == "10.0.0.22:27017" and env["FERRETDB_LISTEN_TLS"] == "10.0.0.22:27018"


def test_ferretdb_bind_only(mongo):
    assert mongo.mongodb_hardening_ferretdb_env(dict(SETTINGS, tls=False)) == {
        "FERRETDB_LISTEN_ADDR": "10.0.0.22:27017"
    }


def test_a_bad_tls_mode_is_refused(mongo):
    with pytest.raises(AnsibleFilterError, match="use one of"):
        mongo.mongodb_hardening_ferretdb_env(dict(SETTINGS, tls_mode="sometimes"))
