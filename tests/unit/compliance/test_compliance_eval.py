"""The evaluator: a table of evidence → status per control family, with the evidence each finding cites, secrets
masked, containers judged by configuration, and nothing that could not be checked ever reported as 符合."""

import json

import pytest
from ansible.module_utils import followup_compliance_catalogue as cat
from ansible.module_utils import followup_compliance_eval as ev
from evidencekit import CATALOGUE, accounts, evidence, file_entry, judge, user

PARAMS = cat.defaults(CATALOGUE)
ANY = "0.0.0.0"  # noqa: S104 - an address in evidence, nothing binds
HASH = "$6$rounds=5000$saltsalt$" + "x" * 86


def services(**states):
    out = {}
    for unit, (active, enabled) in states.items():
        out[unit] = {
            "unit": unit + ".service",
            "load_state": "loaded" if active != "missing" else "not-found",
            "active_state": active if active != "missing" else "inactive",
            "unit_file_state": enabled,
            "refuse_manual_stop": False,
        }
    return out


def sshd(**values):
    base = {
        "maxauthtries": "6",
        "logingracetime": "120",
        "clientaliveinterval": "0",
        "clientalivecountmax": "3",
        "permitrootlogin": "without-password",
        "passwordauthentication": "yes",
        "pubkeyauthentication": "yes",
        "kbdinteractiveauthentication": "no",
        "authenticationmethods": "any",
        "loglevel": "INFO",
        "ciphers": "chacha20-poly1305@openssh.com,aes128-ctr",
        "macs": "hmac-sha2-256-etm@openssh.com,hmac-sha1,umac-64@openssh.com",
        "kexalgorithms": "curve25519-sha256,diffie-hellman-group14-sha256",
    }
    base.update(values)
    return {
        "ssh": {
            "version": "9.2",
            "sshd": base,
            "sshd_lines": {k: i for i, k in enumerate(base, 1)},
            "sshd_sha256": "ee" * 32,
        },
        "commands": {"sshd -T": {"argv": ["sshd", "-T"], "rc": 0, "sha256": "ee" * 32}},
    }


# --- settings, PAM --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "login_defs, status",
    [
        ("PASS_MAX_DAYS\t90\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n", "pass"),
        ("PASS_MAX_DAYS 99999\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n", "partial"),
        ("PASS_MAX_DAYS 99999\nPASS_MIN_DAYS 0\nPASS_WARN_AGE 3\n", "fail"),
        ("# PASS_MAX_DAYS 90 is only a comment\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n", "partial"),
        ("PASS_MAX_DAYS 0\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n", "partial"),
    ],
)
def test_password_ageing_in_login_defs(login_defs, status):
    finding = judge("LNX-PWD-02", evidence({"/etc/login.defs": login_defs}))
    assert finding["status"] == status, finding["actual"]
    assert "/etc/login.defs" in finding["evidence"] and "sha256" in finding["evidence"]


def test_a_setting_cites_its_file_line_and_sha256():
    text = "# comment\n\nPASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n"
    finding = judge("LNX-PWD-02", evidence({"/etc/login.defs": text}))
    item = finding["evidence_items"][0]
    assert item["path"] == "/etc/login.defs" and item["line"] == 3 and len(item["sha256"]) == 64
    assert finding["expected"] == "PASS_MAX_DAYS ≤ 90; PASS_MIN_DAYS ≥ 1; PASS_WARN_AGE ≥ 7"


def test_a_missing_configuration_file_fails_rather_than_passing_on_defaults():
    assert judge("LNX-PWD-02", evidence({}))["status"] == "fail"


PAM_OK = (
    "password requisite pam_pwquality.so retry=3 minlen=8 minclass=3 enforce_for_root\n"
    "password [success=1] pam_unix.so yescrypt remember=5\n"
)


@pytest.mark.parametrize(
    "common_password, pwquality, status",
    [
        (PAM_OK, "", "pass"),
        ("password requisite pam_pwquality.so retry=3\n", "minlen = 10\nminclass = 3\nenforce_for_root\n", "pass"),
        ("password requisite pam_pwquality.so minlen=6\n", "minlen = 12\nminclass = 3\nenforce_for_root\n", "partial"),
        (
            "password requisite pam_pwquality.so\n",
            "dcredit = -1\nucredit = -1\nlcredit = -1\nenforce_for_root\n",
            "pass",
        ),
        ("password [success=1] pam_unix.so yescrypt\n", "minlen = 12\nminclass = 4\nenforce_for_root\n", "fail"),
    ],
)
def test_password_complexity_reads_the_pam_line_over_pwquality_conf(common_password, pwquality, status):
    files = {"/etc/pam.d/common-password": common_password, "/etc/security/pwquality.conf": pwquality}
    finding = judge("LNX-PWD-01", evidence(files))
    assert finding["status"] == status, finding["actual"]


def test_pam_includes_are_followed_and_redhat_reads_system_auth():
    files = {"/etc/pam.d/system-auth": "password include common-x\n", "/etc/pam.d/common-x": PAM_OK}
    assert judge("LNX-PWD-01", evidence(files, family="redhat"))["status"] == "pass"
    assert judge("LNX-PWD-01", evidence(files, family="debian"))["status"] != "pass"


FAILLOCK_AUTH = (
    "auth required pam_faillock.so preauth\nauth [success=1] pam_unix.so\nauth [default=die] pam_faillock.so authfail\n"
)


@pytest.mark.parametrize(
    "auth, account, conf, status",
    [
        (FAILLOCK_AUTH, "account required pam_faillock.so\n", "deny = 5\nunlock_time = 600\n", "pass"),
        (FAILLOCK_AUTH, "account required pam_faillock.so\n", "deny = 5\nunlock_time = 0\n", "pass"),
        (FAILLOCK_AUTH, "account required pam_faillock.so\n", "deny = 10\nunlock_time = 600\n", "partial"),
        ("auth [success=1] pam_unix.so\n", "account required pam_unix.so\n", "deny = 5\nunlock_time = 600\n", "fail"),
        ("auth required pam_tally2.so deny=5 unlock_time=900\n", "account required pam_unix.so\n", "", "pass"),
        ("auth required pam_tally2.so deny=9 unlock_time=900\n", "account required pam_unix.so\n", "", "fail"),
    ],
)
def test_login_failure_lockout_needs_the_stacks_and_faillock_conf(auth, account, conf, status):
    files = {"/etc/pam.d/common-auth": auth, "/etc/pam.d/common-account": account, "/etc/security/faillock.conf": conf}
    finding = judge("LNX-LCK-01", evidence(files))
    assert finding["status"] == status, finding["actual"]


@pytest.mark.parametrize(
    "profile, status",
    [
        ("TMOUT=600\nreadonly TMOUT\nexport TMOUT\n", "pass"),
        ("declare -r TMOUT=300\n", "pass"),
        ("export TMOUT=600\n", "partial"),
        ("readonly TMOUT=1800\n", "fail"),
        ("# TMOUT=600\n", "fail"),
    ],
)
def test_idle_shell_timeout(profile, status):
    finding = judge("LNX-TMO-01", evidence({"/etc/profile.d/tmout.sh": profile, "/etc/profile": "umask 022\n"}))
    assert finding["status"] == status, finding["actual"]


def test_umask_must_be_at_least_as_strict_everywhere():
    good = {"/etc/login.defs": "UMASK 027\n", "/etc/profile": "umask 077\n"}
    loose = {"/etc/login.defs": "UMASK 027\n", "/etc/bash.bashrc": "umask 022\n"}
    assert judge("LNX-PRM-02", evidence(good))["status"] == "pass"
    finding = judge("LNX-PRM-02", evidence(loose))
    assert finding["status"] == "fail" and "/etc/bash.bashrc:1 umask 022" in finding["actual"]


# --- accounts (never a hash) ----------------------------------------------------------------------------------------
def test_an_empty_password_fails_and_the_evidence_cites_the_shadow_line_without_any_hash():
    data = evidence(
        accounts=accounts(user("root", 0, "/bin/bash", "set", "$6$"), user("guest", 1001, "/bin/sh", "empty", line=27))
    )
    finding = judge("LNX-ACC-01", data)
    assert finding["status"] == "fail" and "guest" in finding["actual"]
    item = finding["evidence_items"][0]
    assert item["path"] == "/etc/shadow" and item["line"] == 27 and "$6$" not in json.dumps(finding)


@pytest.mark.parametrize(
    "users, control, status, word",
    [
        ([user("root", 0, "/bin/bash"), user("toor", 0, "/bin/bash")], "LNX-ACC-02", "fail", "toor has UID 0"),
        ([user("root", 0, "/bin/bash"), user("ops", 1000, "/bin/bash")], "LNX-ACC-02", "pass", "only root"),
        ([user("postgres", 105, "/bin/bash")], "LNX-ACC-03", "fail", "postgres (/bin/bash)"),
        ([user("mysql", 102, "/bin/false"), user("sync", 4, "/bin/sync")], "LNX-ACC-03", "pass", "non-login"),
        ([user("games", 5, password="set", prefix="$6$")], "LNX-ACC-04", "fail", "not locked: games"),
        ([user("ops", 1000, "/bin/bash", "set", "$1$")], "LNX-PWD-05", "partial", "ops ($1$)"),
        ([user("ops", 1000, "/bin/bash", "set", "$y$", max_days=99999)], "LNX-PWD-03", "fail", "ops (99999)"),
        ([user("ops", 1000, "/bin/bash", "locked", max_days=99999)], "LNX-PWD-03", "pass", "key-only"),
        ([user("zhang", 1001, "/bin/bash")], "LNX-ACC-05", "fail", "zhang"),
    ],
)
def test_account_rules(users, control, status, word):
    files = {"/etc/login.defs": "ENCRYPT_METHOD SHA512\n"}
    finding = judge(control, evidence(files, accounts=accounts(*users)))
    assert finding["status"] == status and word in finding["actual"], finding["actual"]


def test_separation_of_duties_groups_need_members():
    groups = [
        {"name": "sysadmin", "gid": 2001, "members": ["li"], "group_line": 40},
        {"name": "secadmin", "gid": 2002, "members": [], "group_line": 41},
    ]
    finding = judge("LNX-ACC-07", evidence(accounts=accounts(user("li", 1001, "/bin/bash"), groups=groups)))
    assert finding["status"] == "partial"
    assert "missing: auditadmin" in finding["actual"] and "without members: secadmin" in finding["actual"]


@pytest.mark.parametrize(
    "sudoers, allowed, status",
    [
        ("ops ALL=(ALL) NOPASSWD: ALL\n", [], "fail"),
        ("ops ALL=(ALL) NOPASSWD: ALL\n", ["ops"], "pass"),
        ("%wheel ALL=(ALL) ALL\nbackup ALL=(root) NOPASSWD: /usr/bin/rsync\n", [], "pass"),
        ("Defaults use_pty\n%admin ALL=(ALL:ALL) NOPASSWD: ALL\n", [], "fail"),
    ],
)
def test_passwordless_sudo_to_all(sudoers, allowed, status):
    params = dict(PARAMS, sudo_nopasswd_allowed=allowed)
    finding = judge(
        "LNX-ACC-09", evidence({"/etc/sudoers.d/ops": sudoers, "/etc/sudoers": "root ALL=(ALL) ALL\n"}), params
    )
    assert finding["status"] == status, finding["actual"]


# --- ssh ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "control, values, status",
    [
        ("SSH-AUTH-01", {"maxauthtries": "6"}, "fail"),
        ("SSH-AUTH-01", {"maxauthtries": "3"}, "pass"),
        ("SSH-SESS-01", {"clientaliveinterval": "0"}, "partial"),
        ("SSH-SESS-01", {"clientaliveinterval": "300", "clientalivecountmax": "0"}, "partial"),
        ("SSH-SESS-01", {"clientaliveinterval": "300", "clientalivecountmax": "2"}, "pass"),
        ("SSH-AUTH-03", {"permitrootlogin": "no"}, "pass"),
        ("SSH-CRY-01", {}, "partial"),
        ("SSH-CRY-01", {"macs": "hmac-sha2-512-etm@openssh.com"}, "pass"),
        (
            "SSH-CRY-01",
            {"ciphers": "aes128-cbc,aes128-ctr", "macs": "hmac-md5", "kexalgorithms": "diffie-hellman-group1-sha1"},
            "fail",
        ),
        ("SSH-AUTH-05", {}, "manual"),
        ("SSH-AUTH-05", {"authenticationmethods": "publickey,password"}, "pass"),
        ("SSH-ACL-01", {"allowgroups": "ops"}, "pass"),
    ],
)
def test_sshd_settings_from_sshd_t(control, values, status):
    finding = judge(control, evidence(**sshd(**values)))
    assert finding["status"] == status, finding["actual"]
    if status != "manual":
        assert "sshd -T" in finding["evidence"]


def test_weak_macs_are_named():
    finding = judge("SSH-CRY-01", evidence(**sshd()))
    assert "offers hmac-sha1, umac-64@openssh.com" in finding["actual"]


def test_sshd_that_cannot_be_read_is_a_check_error_never_a_pass():
    finding = judge("SSH-AUTH-01", evidence(ssh={"sshd_error": "Missing privilege separation directory: /run/sshd"}))
    assert finding["status"] == "error" and "privilege separation" in finding["actual"]


# --- kernel, services, ports, containers ----------------------------------------------------------------------------
def sysctl(runtime=None, config=None):
    return {
        "sysctl": {
            "runtime": runtime or {},
            "config": {
                k: {"value": v, "file": "/etc/sysctl.d/60-djbh.conf", "line": i, "sha256": "aa" * 32}
                for i, (k, v) in enumerate((config or {}).items(), 1)
            },
        }
    }


@pytest.mark.parametrize(
    "container, runtime, config, status",
    [
        (None, {"net.ipv4.ip_forward": "0"}, {"net.ipv4.ip_forward": "0"}, "pass"),
        (None, {"net.ipv4.ip_forward": "0"}, {}, "partial"),
        (None, {"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": "0"}, "fail"),
        ("docker", {"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": "0"}, "pass"),
        ("docker", {"net.ipv4.ip_forward": "0"}, {}, "fail"),
    ],
)
def test_kernel_parameters_running_and_persistent_or_by_configuration_in_a_container(
    container, runtime, config, status
):
    finding = judge("LNX-NET-03", evidence(container=container, **sysctl(runtime, config)))
    assert finding["status"] == status, finding["actual"]
    assert finding["basis"] == ("configuration" if container else "runtime")


def test_a_gateway_that_must_forward_sets_the_parameter_per_host():
    params = cat.effective_parameters(CATALOGUE, {}, {"ip_forward": 1})
    data = evidence(**sysctl({"net.ipv4.ip_forward": "1"}, {"net.ipv4.ip_forward": "1"}))
    assert judge("LNX-NET-03", data, params)["status"] == "pass"


def test_auditd_in_a_container_is_verified_by_configuration_and_says_so():
    data = evidence(
        container="docker",
        packages={"installed": {"auditd": "1:3.0.9-1"}, "tool": "dpkg-query"},
        services=services(auditd=("failed", "enabled")),
    )
    finding = judge("LNX-AUD-01", data)
    assert finding["status"] == "pass" and finding["basis"] == "configuration"
    assert any("container" in n for n in finding["notes"])
    on_a_vm = judge("LNX-AUD-01", dict(data, host=dict(data["host"], container=None)))
    assert on_a_vm["status"] == "partial" and "auditd failed" in on_a_vm["actual"]


def test_a_runtime_only_control_in_a_container_is_a_manual_check_not_a_pass():
    finding = judge("LNX-TIM-02", evidence(container="docker", time={"synchronised": False}))
    assert finding["status"] == "manual" and "container" in finding["actual"]
    assert judge("LNX-TIM-02", evidence(time={"synchronised": False, "leap": "Not synchronised"}))["status"] == "fail"
    synced = {"synchronised": True, "offset_seconds": 0.0004, "leap": "Normal"}
    assert judge("LNX-TIM-02", evidence(time=synced))["status"] == "pass"


def test_unneeded_services_are_named_when_enabled():
    units = {u: ("inactive", "disabled") for u in PARAMS["denied_services"]}
    units["cups"] = ("active", "enabled")
    finding = judge("LNX-SVC-02", evidence(services=services(**units)))
    assert finding["status"] == "fail" and "cups (active/enabled)" in finding["actual"]


def test_high_risk_and_database_ports():
    sockets = [
        {"proto": "tcp", "address": ANY, "port": 3306, "process": "mariadbd"},
        {"proto": "tcp", "address": ANY, "port": 22, "process": "sshd"},
    ]
    data = evidence(listening={"sockets": sockets})
    assert judge("LNX-NET-02", data, targets=("linux", "ssh", "app"))["status"] == "partial"
    assert judge("LNX-NET-02", data, targets=("linux", "ssh", "mysql"))["status"] == "pass"
    sockets.append({"proto": "tcp", "address": ANY, "port": 6379, "process": "redis"})
    assert "6379/tcp" in judge("LNX-NET-01", data)["actual"]


def test_file_modes_owner_and_group():
    files = {
        "/etc/shadow": file_entry(None, "0640", "root", "shadow"),
        "/etc/passwd": file_entry(None, "0644"),
        "/etc/ssh/sshd_config": file_entry(None, "0644"),
    }
    finding = judge("LNX-PRM-01", evidence(files))
    assert finding["status"] == "partial" and "/etc/ssh/sshd_config mode 0644 (at most 0600)" in finding["actual"]
    files["/etc/ssh/sshd_config"] = file_entry(None, "0600")
    files["/etc/shadow"] = file_entry(None, "0640", "root", "users")
    assert "group users" in judge("LNX-PRM-01", evidence(files))["actual"]


def test_the_firewall_needs_default_deny_and_ssh_from_given_addresses():
    conf = (
        "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        "  tcp dport 22 ip saddr 10.89.50.1 accept\n }\n}\n"
    )
    container = evidence({"/etc/nftables.conf": conf}, container="docker")
    assert judge("LNX-NET-05", container)["status"] == "pass"
    open_ssh = evidence({"/etc/nftables.conf": conf.replace(" ip saddr 10.89.50.1", "")}, container="docker")
    assert judge("LNX-NET-05", open_ssh)["status"] == "partial"
    vm = evidence(
        {"/etc/nftables.conf": conf},
        commands={"nft": {"argv": ["nft", "list", "ruleset"], "rc": 1, "error": "Operation not permitted"}},
    )
    assert judge("LNX-NET-05", vm)["status"] == "error"


def test_pending_updates_without_package_lists_is_an_error_not_a_pass():
    finding = judge("LNX-PAT-01", evidence(updates={"error": "no apt package lists on the host"}))
    assert finding["status"] == "error"
    assert judge("LNX-PAT-01", evidence(updates={"pending_security": 0, "tool": "apt"}))["status"] == "pass"


def test_an_unsupported_operating_system_release_fails():
    assert judge("LNX-OSV-01", evidence(os_id="centos", version="7"))["status"] == "fail"
    assert judge("LNX-OSV-01", evidence(os_id="debian", version="12"))["status"] == "pass"
    assert judge("LNX-OSV-01", evidence(os_id="rocky", version="9.3"))["status"] == "pass"
    assert judge("LNX-OSV-01", evidence(os_id="hypothetical", version="1"))["status"] == "manual"


def test_journal_retention():
    conf = "[Journal]\nStorage=persistent\nMaxRetentionSec=186day\nSystemMaxUse=8G\n"
    files = {"/etc/systemd/journald.conf.d/followup.conf": conf}
    assert judge("LNX-AUD-07", evidence(files))["status"] == "pass"
    short = {"/etc/systemd/journald.conf.d/followup.conf": conf.replace("186day", "1month")}
    assert judge("LNX-AUD-07", evidence(short))["status"] == "fail"
    unset = {"/etc/systemd/journald.conf": "[Journal]\nStorage=persistent\n"}
    assert judge("LNX-AUD-07", evidence(unset))["status"] == "partial"
    assert ev.duration_seconds("1y 2d") == 31557600 + 2 * 86400 and ev.duration_seconds("15552000") == 15552000


def test_audit_rules_in_files_are_matched_path_by_path():
    rules = "\n".join(f"-w {p} -p wa -k djbh" for p in PARAMS["audit_watch_paths"][:-1])
    finding = judge("LNX-AUD-03", evidence({"/etc/audit/rules.d/50-djbh.rules": rules}, container="docker"))
    assert finding["status"] == "partial" and "rules files: missing: /etc/audit;" in finding["actual"]


# --- MySQL ----------------------------------------------------------------------------------------------------------
def mysql(**over):
    data = {
        "flavour": "mariadb",
        "version": "10.11.6-MariaDB-0+deb12u1",
        "via": "unix socket /run/mysqld/mysqld.sock",
        "variables": {
            "have_ssl": "DISABLED",
            "tls_version": "TLSv1.1,TLSv1.2,TLSv1.3",
            "local_infile": "ON",
            "have_symlink": "YES",
            "secure_file_priv": "",
            "general_log": "OFF",
            "wait_timeout": "28800",
            "interactive_timeout": "28800",
            "max_password_errors": "4294967295",
            "default_password_lifetime": "0",
            "binlog_checksum": "CRC32",
            "bind_address": "10.89.50.21",
            "log_error": "",
            "datadir": "/var/lib/mysql/",
        },
        "plugins": [{"name": "unix_socket", "status": "ACTIVE", "type": "AUTHENTICATION", "load_option": "ON"}],
        "users": [
            {
                "user": "root",
                "host": "localhost",
                "plugin": "mysql_native_password",
                "no_password": False,
                "password_invalid": True,
                "alternative_plugins": ["unix_socket"],
                "locked": False,
                "is_role": False,
            },
            {
                "user": "mariadb.sys",
                "host": "localhost",
                "plugin": "mysql_native_password",
                "no_password": True,
                "password_invalid": False,
                "alternative_plugins": [],
                "locked": True,
                "is_role": False,
            },
            {
                "user": "followup_app",
                "host": "10.89.50.12",
                "plugin": "mysql_native_password",
                "no_password": False,
                "password_invalid": False,
                "alternative_plugins": [],
                "locked": False,
                "is_role": False,
            },
        ],
        "global_privileges": {
            "'root'@'localhost'": ["SUPER", "FILE"],
            "'followup_app'@'10.89.50.12'": ["USAGE"],
            "'followup_backup'@'localhost'": ["SELECT", "PROCESS", "RELOAD"],
        },
        "databases": ["cloud_followup", "information_schema", "interface_data", "mysql"],
        "paths": {"datadir": {"exists": True, "path": "/var/lib/mysql", "mode": "0755", "owner": "mysql"}},
        "process_user": "mysql",
    }
    for key, value in over.items():
        if key == "variables":
            data["variables"] = dict(data["variables"], **value)
        else:
            data[key] = value
    return {"mysql": data}


@pytest.mark.parametrize(
    "control, change, status",
    [
        ("MYS-IA-01", {}, "pass"),
        (
            "MYS-IA-01",
            {
                "users": [
                    {
                        "user": "x",
                        "host": "%",
                        "plugin": "mysql_native_password",
                        "no_password": True,
                        "locked": False,
                        "is_role": False,
                    }
                ]
            },
            "fail",
        ),
        ("MYS-AC-01", {"users": [{"user": "", "host": "localhost", "plugin": "", "no_password": True}]}, "fail"),
        ("MYS-AC-01", {}, "pass"),
        ("MYS-AC-02", {"databases": ["test", "mysql"]}, "fail"),
        ("MYS-AC-03", {"users": [{"user": "root", "host": "%", "plugin": "mysql_native_password"}]}, "fail"),
        ("MYS-AC-04", {}, "partial"),
        ("MYS-AC-05", {"users": [{"user": "followup_app", "host": "10.89.50.%", "plugin": "x"}]}, "fail"),
        ("MYS-AC-06", {}, "pass"),
        ("MYS-AC-06", {"global_privileges": {"'followup_app'@'10.89.50.12'": ["SELECT", "FILE"]}}, "fail"),
        ("MYS-IA-04", {}, "fail"),
        ("MYS-IA-04", {"variables": {"max_password_errors": "5"}}, "pass"),
        ("MYS-IA-05", {"variables": {"wait_timeout": "300"}}, "partial"),
        ("MYS-TLS-01", {}, "fail"),
        ("MYS-TLS-01", {"variables": {"have_ssl": "YES", "tls_version": "TLSv1.2,TLSv1.3"}}, "pass"),
        ("MYS-TLS-02", {"variables": {"require_secure_transport": "ON"}}, "pass"),
        ("MYS-AC-08", {}, "fail"),
        ("MYS-AU-01", {}, "fail"),
        ("MYS-AU-01", {"variables": {"general_log": "ON"}}, "partial"),
        ("MYS-IP-01", {}, "pass"),
        ("MYS-IP-02", {}, "pass"),
        ("MYS-IP-02", {"version": "5.7.44", "flavour": "mysql"}, "fail"),
        ("MYS-OS-01", {}, "fail"),
        ("MYS-AU-02", {}, "na"),
    ],
)
def test_mysql_controls(control, change, status):
    finding = judge(control, evidence(**mysql(**change)))
    assert finding["status"] == status, finding["actual"]


def test_mariadb_password_policy_and_audit_plugins():
    plugins = [
        {"name": "simple_password_check", "status": "ACTIVE", "type": "PASSWORD VALIDATION", "load_option": "ON"},
        {"name": "SERVER_AUDIT", "status": "ACTIVE", "type": "AUDIT", "load_option": "FORCE_PLUS_PERMANENT"},
    ]
    variables = {
        "simple_password_check_minimal_length": "8",
        "simple_password_check_digits": "1",
        "simple_password_check_letters_same_case": "1",
        "simple_password_check_other_characters": "1",
        "server_audit_logging": "ON",
        "server_audit_events": "CONNECT,QUERY_DDL,QUERY_DCL",
    }
    data = evidence(**mysql(plugins=plugins, variables=variables))
    assert judge("MYS-IA-02", data)["status"] == "pass"
    assert judge("MYS-AU-01", data)["status"] == "pass"
    assert judge("MYS-AU-03", data)["status"] == "pass"
    weak = evidence(**mysql(plugins=plugins, variables=dict(variables, simple_password_check_minimal_length="6")))
    assert judge("MYS-IA-02", weak)["status"] == "partial"


def test_mysql_8_validate_password_component_and_lockout():
    variables = {
        "validate_password.length": "8",
        "validate_password.number_count": "1",
        "validate_password.mixed_case_count": "1",
        "validate_password.special_char_count": "1",
        "validate_password.policy": "MEDIUM",
    }
    users = [
        {
            "user": "dba",
            "host": "localhost",
            "plugin": "caching_sha2_password",
            "no_password": False,
            "failed_login_attempts": 5,
        }
    ]
    data = evidence(**mysql(flavour="mysql", version="8.0.36", variables=variables, users=users))
    assert judge("MYS-IA-02", data)["status"] == "pass"
    assert judge("MYS-IA-04", data)["status"] == "pass"


def test_a_database_that_cannot_be_read_makes_every_mysql_control_an_error():
    data = evidence(mysql={"error": "cannot connect to MySQL on /run/mysqld/mysqld.sock as root"})
    for control in ("MYS-IA-01", "MYS-AC-01", "MYS-TLS-01", "MYS-AU-01"):
        finding = judge(control, data)
        assert finding["status"] == "error" and "cannot connect" in finding["actual"], control


# --- MongoDB --------------------------------------------------------------------------------------------------------
def ferretdb(env=None, hba=None, roles=None):
    env = env or {"FERRETDB_LISTEN_ADDR": "10.89.50.22:27017", "FERRETDB_HANDLER": "postgresql"}
    hba_text = hba or "local all postgres peer\nhost ferretdb followup_admin,cdr_app 127.0.0.1/32 scram-sha-256\n"
    return {
        "mongodb": {
            "engine": "ferretdb",
            "fact": {"auth_mechanism": "PLAIN", "engine": "ferretdb"},
            "env_path": "/etc/ferretdb/ferretdb.env",
            "env": {"values": env, "lines": {k: i for i, k in enumerate(env, 1)}},
            "pg_hba": {"/etc/postgresql/15/main/pg_hba.conf": file_entry(hba_text)},
            "pg": {
                "roles": roles
                if roles is not None
                else [
                    {"name": "postgres", "superuser": True, "createrole": True, "createdb": True, "login": True},
                    {"name": "cdr_app", "superuser": False, "createrole": False, "createdb": False, "login": True},
                ]
            },
        }
    }


def mongod(config, live=None):
    return {
        "mongodb": {
            "engine": "mongod",
            "fact": {"engine": "mongod"},
            "config": config,
            "config_source": "file",
            "config_path": "/etc/mongod.conf",
            "live": live or {},
            "version": "7.0.14",
            "parameters": dict(config.get("setParameter") or {}),
        }
    }


@pytest.mark.parametrize(
    "control, data, status",
    [
        ("MGO-IA-01", ferretdb(), "pass"),
        ("MGO-IA-01", ferretdb(hba="host all all 0.0.0.0/0 trust\n"), "fail"),
        ("MGO-IA-01", mongod({"security": {"authorization": "enabled"}}), "pass"),
        ("MGO-IA-01", mongod({"security": {}}), "fail"),
        ("MGO-IA-02", ferretdb(), "na"),
        ("MGO-IA-02", mongod({"setParameter": {"enableLocalhostAuthBypass": False}}), "pass"),
        ("MGO-IA-02", mongod({}), "fail"),
        ("MGO-IA-03", ferretdb(), "fail"),
        ("MGO-IA-03", mongod({"setParameter": {"authenticationMechanisms": "SCRAM-SHA-256"}}), "pass"),
        ("MGO-IA-03", mongod({}), "fail"),
        ("MGO-TLS-01", ferretdb(), "fail"),
        ("MGO-TLS-01", ferretdb({"FERRETDB_LISTEN_TLS": "10.89.50.22:27018", "FERRETDB_LISTEN_ADDR": ""}), "pass"),
        ("MGO-TLS-01", mongod({"net": {"tls": {"mode": "requireTLS"}}}), "pass"),
        ("MGO-AC-01", ferretdb(), "pass"),
        ("MGO-AC-01", ferretdb({"FERRETDB_LISTEN_ADDR": "0.0.0.0:27017"}), "fail"),
        ("MGO-AC-01", mongod({"net": {"bindIp": "127.0.0.1,0.0.0.0"}}), "fail"),
        ("MGO-AC-02", ferretdb(), "pass"),
        ("MGO-AC-02", ferretdb(roles=[{"name": "cdr_app", "superuser": True, "login": True}]), "fail"),
        ("MGO-AC-02", mongod({}), "error"),
        ("MGO-AC-05", ferretdb(), "pass"),
        ("MGO-AU-01", ferretdb(), "fail"),
        ("MGO-AU-01", mongod({"auditLog": {"destination": "file"}}), "pass"),
        ("MGO-IP-01", mongod({}), "pass"),
    ],
)
def test_mongodb_controls_per_engine(control, data, status):
    finding = judge(control, evidence(**data))
    assert finding["status"] == status, finding["actual"]


def test_mongod_users_without_a_monitoring_account_say_how_to_get_one():
    finding = judge("MGO-AC-02", evidence(**mongod({})))
    assert "followup_djbh_mongodb_uri" in finding["actual"]
    live = {"users": {"users": [{"user": "cdr_app", "db": "cdr", "roles": [{"role": "dbOwner", "db": "cdr"}]}]}}
    assert judge("MGO-AC-02", evidence(**mongod({}, live)))["status"] == "fail"


# --- nginx ----------------------------------------------------------------------------------------------------------
def nginx(*servers, http=(), version="1.22.1", certs=None):
    directives = []
    for name, args in http:
        directives.append({"file": "/etc/nginx/nginx.conf", "line": 10, "ctx": ["http"], "name": name, "args": args})
    for n, server in enumerate(servers, 1):
        label = f"server#{n}"
        directives.append(
            {
                "file": "/etc/nginx/conf.d/followup.conf",
                "line": n * 20,
                "ctx": ["http"],
                "name": "server",
                "args": [],
                "block": label,
            }
        )
        for item in server:
            ctx = ["http", label] + (["location /"] if item[0] in ("location_deny",) else [])
            name = "deny" if item[0] == "location_deny" else item[0]
            directives.append(
                {
                    "file": "/etc/nginx/conf.d/followup.conf",
                    "line": n * 20 + 1,
                    "ctx": ctx,
                    "name": name,
                    "args": item[1],
                }
            )
    return {
        "nginx": {
            "directives": directives,
            "files": {"/etc/nginx/conf.d/followup.conf": "ff" * 32},
            "version": version,
            "certificates": certs or {},
        }
    }


TLS_SERVER = [
    ("listen", ["443", "ssl"]),
    ("ssl_protocols", ["TLSv1.2", "TLSv1.3"]),
    ("ssl_certificate", ["/etc/nginx/tls/fep.crt"]),
]


@pytest.mark.parametrize(
    "control, data, status",
    [
        ("NGX-TLS-01", nginx([("listen", ["80"])]), "fail"),
        ("NGX-TLS-01", nginx(TLS_SERVER), "pass"),
        ("NGX-TLS-01", nginx([("listen", ["443", "ssl"])], version="1.22.1"), "fail"),
        ("NGX-TLS-01", nginx([("listen", ["443", "ssl"])], version="1.24.0"), "pass"),
        ("NGX-TLS-01", nginx([("listen", ["443", "ssl"])], http=[("ssl_protocols", ["TLSv1", "TLSv1.2"])]), "fail"),
        ("NGX-TLS-02", nginx([*TLS_SERVER, ("ssl_ciphers", ["HIGH:!aNULL:!MD5"])]), "pass"),
        ("NGX-TLS-02", nginx([*TLS_SERVER, ("ssl_ciphers", ["ECDHE-RSA-AES128-GCM-SHA256:DES-CBC3-SHA"])]), "fail"),
        (
            "NGX-TLS-03",
            nginx(TLS_SERVER, [("listen", ["80"]), ("return", ["301", "https://$host$request_uri"])]),
            "pass",
        ),
        ("NGX-TLS-03", nginx(TLS_SERVER, [("listen", ["80"]), ("root", ["/var/www/html"])]), "fail"),
        ("NGX-HDR-01", nginx(TLS_SERVER, http=[("server_tokens", ["off"])]), "pass"),
        ("NGX-HDR-01", nginx(TLS_SERVER), "fail"),
        ("NGX-HDR-02", nginx([*TLS_SERVER, ("add_header", ["Strict-Transport-Security", "max-age=63072000"])]), "fail"),
        ("NGX-ACL-01", nginx([*TLS_SERVER, ("allow", ["10.89.50.0/24"]), ("deny", ["all"])]), "pass"),
        ("NGX-ACL-01", nginx([*TLS_SERVER, ("ssl_verify_client", ["on"])]), "pass"),
        ("NGX-ACL-01", nginx(TLS_SERVER), "fail"),
        ("NGX-ACL-01", nginx([*TLS_SERVER, ("location_deny", ["all"])]), "pass"),
    ],
)
def test_nginx_controls(control, data, status):
    finding = judge(control, evidence(**data))
    assert finding["status"] == status, finding["actual"]


def test_a_certificate_close_to_expiry_fails():
    certs = {"/etc/nginx/tls/fep.crt": {"not_after": "Dec 20 00:00:00 2026 GMT", "subject": "fep1"}}
    assert judge("NGX-CRT-01", evidence(**nginx(TLS_SERVER, certs=certs)))["status"] == "fail"
    certs = {"/etc/nginx/tls/fep.crt": {"not_after": "Dec  1 00:00:00 2027 GMT", "subject": "fep1"}}
    assert judge("NGX-CRT-01", evidence(**nginx(TLS_SERVER, certs=certs)))["status"] == "pass"


# --- the follow-up application --------------------------------------------------------------------------------------
INDEX = {
    "releases": [
        {"version": "1.0.0", "release_date": "2026-02-02"},
        {"version": "1.1.0", "release_date": "2026-05-18"},
        {"version": "1.2.0", "release_date": "2026-09-07"},
    ]
}


def release(version="1.0.0", approval=None):
    info = {
        "root": "/opt/followup/app",
        "version": version,
        "ports": [8080],
        "record_path": f"/opt/followup/app/releases/{version}/.release.json",
    }
    if approval:
        info["approval"] = approval
    return {"release": {"components": {"app": info}}}


def test_release_currency_and_approval():
    extra = {"release_index": INDEX}
    assert judge("APP-REL-01", evidence(**release("1.0.0")), extra=extra)["status"] == "fail"
    assert judge("APP-REL-01", evidence(**release("1.2.0")), extra=extra)["status"] == "pass"
    # the newest release, but more than 90 days without a newer one: the vendor owes an update (R-CURRENT)
    only = {"release_index": {"releases": INDEX["releases"][:2]}}
    assert judge("APP-REL-01", evidence(**release("1.1.0")), extra=only)["status"] == "warn"
    assert (
        judge("APP-REL-01", evidence(**release("1.0.0")), extra={"release_index": {"error": "bad signature"}})["status"]
        == "error"
    )
    assert judge("APP-REL-02", evidence(**release("1.1.0")))["status"] == "warn"
    strict = dict(PARAMS, release_approval_missing_status="fail")
    assert judge("APP-REL-02", evidence(**release("1.1.0")), strict)["status"] == "fail"
    assert judge("APP-REL-02", evidence(**release("1.1.0", {"id": "A-1"})), strict)["status"] == "pass"


def test_application_ports_on_every_address_fail_unless_the_firewall_limits_them():
    data = evidence(listening={"sockets": [{"proto": "tcp", "address": ANY, "port": 8080}]}, **release())
    assert judge("APP-NET-01", data)["status"] == "fail"
    assert judge("APP-NET-01", data, results={"LNX-NET-05": "pass"})["status"] == "pass"


# --- derived, errors, unreachable hosts, masking --------------------------------------------------------------------
def test_derived_controls_combine_the_others_on_the_host():
    finding = judge("LNX-INT-01", evidence(), results={"LNX-SVC-01": "pass", "SSH-CRY-01": "partial"})
    assert finding["status"] == "partial" and "SSH-CRY-01 部分符合" in finding["actual"]
    assert judge("LNX-INT-01", evidence(), results={"LNX-SVC-01": "pass"})["status"] == "pass"


def test_an_evaluator_crash_on_odd_evidence_is_a_check_error_not_a_pass():
    data = evidence(accounts={"users": "not a list"})
    finding = judge("LNX-ACC-01", data)
    assert finding["status"] == "error" and "evaluator error" in finding["actual"]


def test_an_unreachable_host_has_every_control_in_error_and_none_passing():
    findings = ev.unreachable_findings(CATALOGUE, "app1", ["linux", "ssh", "app"], "ssh: connect to host: timed out")
    assert findings and {f["status"] for f in findings.values()} == {"error"}
    assert len(findings) == len([c for c in CATALOGUE["controls"] if c["target"] in ("linux", "ssh", "app")])
    assert "timed out" in findings["app1/LNX-ACC-01"]["actual"]


def test_secrets_in_evidence_are_masked_in_items_actual_and_summary():
    text = f"FOLLOWUP_MYSQL_PASSWORD=hunter2\nroot:{HASH}:19000\nuri=mongodb://cdr_app:s3cret@db/cdr\nTMOUT=600\n"
    data = evidence({"/etc/profile.d/tmout.sh": text})
    data["files"]["/etc/profile.d/tmout.sh"]["lines"] = [[n, line] for n, line in enumerate(text.splitlines(), 1)]
    ctx = ev.Context(data, PARAMS, "h1", ["linux"], CATALOGUE)
    result = ev.Result(
        "fail",
        f"saw {HASH} and password=hunter2 and mongodb://u:s3cret@h",
        [
            ev.file_item(ctx, "/etc/profile.d/tmout.sh", n, t)
            for n, t in data["files"]["/etc/profile.d/tmout.sh"]["lines"]
        ],
    )
    finding = ev.finding_for(CATALOGUE["by_id"]["LNX-TMO-01"], "h1", result.status, result.actual, result.evidence)
    dumped = json.dumps(finding)
    assert "hunter2" not in dumped and "s3cret" not in dumped and "xxxxxxxx" not in dumped
    assert "********" in finding["actual"] and "TMOUT=600" in dumped


def test_scores_count_partial_as_half_and_leave_out_waived_manual_and_na():
    rows = [
        {"status": s, "host": "h", "control": c, "control_point": "身份鉴别", "target": "linux", "risk": "L"}
        for s, c in (("pass", "A"), ("partial", "B"), ("fail", "C"), ("manual", "D"), ("na", "E"))
    ]
    rows.append(
        {
            "status": "fail",
            "host": "h",
            "control": "F",
            "control_point": "身份鉴别",
            "target": "linux",
            "risk": "H",
            "waiver": {"active": True},
        }
    )
    summary = ev.summarise(rows)
    assert summary["score"] == 50.0 and summary["counts"]["waived"] == 1 and summary["counted"] == 3
    assert summary["failing"] == 2 and not summary["compliant"] and summary["high_risk_failing"] == []
    assert ev.summarise([rows[0], rows[3]])["compliant"]


def test_the_whole_catalogue_evaluates_on_empty_evidence_without_a_single_pass_that_is_not_earned():
    findings = ev.evaluate_host(
        CATALOGUE, evidence(), PARAMS, "h1", ["linux", "ssh", "mysql", "mongodb", "nginx", "app"]
    )
    assert len(findings) == len([c for c in CATALOGUE["controls"] if c["target"] != "central"])
    passing = sorted(f["control"] for f in findings.values() if f["status"] == "pass")
    # Without evidence nothing may pass but what the host summary itself proves (its OS release).
    assert passing == ["LNX-OSV-01"], passing
    assert {f["status"] for f in findings.values()} <= {"pass", "error", "fail", "manual", "na"}
