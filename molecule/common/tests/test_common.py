"""Verify roles/common on the Molecule host: real outcomes, not just files."""

import re

RETENTION_DAYS = 186


def test_python_yaml_importable(host):
    assert host.run("python3 -c 'import yaml'").rc == 0


def test_acl_tools_present(host):
    assert host.exists("setfacl")


def test_sudoers_dropin_is_valid_and_passwordless(host):
    rule = host.file("/etc/sudoers.d/ops")
    assert rule.mode == 0o440
    assert rule.user == "root"
    assert "ops ALL=(ALL:ALL) NOPASSWD: ALL" in rule.content_string
    assert host.run("visudo -c").rc == 0


def test_only_the_listed_key_is_authorized(host):
    keys = host.file("/home/ops/.ssh/authorized_keys").content_string
    assert "molecule common test key" in keys
    assert "stray@example" not in keys


def test_ops_can_log_in_over_ssh_and_sudo(host):
    # A real login with the key the role installed, host key pinned (no trust on first use).
    pinned = host.run(
        "printf '127.0.0.1 %s\\n' \"$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)\" > /root/known_hosts_test"
    )
    assert pinned.rc == 0
    login = host.run(
        "ssh -i /root/ops_test_key -o UserKnownHostsFile=/root/known_hosts_test -o StrictHostKeyChecking=yes "
        "-o BatchMode=yes ops@127.0.0.1 'sudo -n id -u'"
    )
    assert login.rc == 0, login.stderr
    assert login.stdout.strip() == "0"


def test_timezone_is_shanghai(host):
    assert host.file("/etc/localtime").linked_to.endswith("Asia/Shanghai")
    assert host.run("date +%z").stdout.strip() == "+0800"


def test_locales_generated(host):
    locales = host.run("locale -a").stdout.lower()
    assert "zh_cn.utf8" in locales
    assert "en_us.utf8" in locales


def test_chrony_runs_without_clock_control(host):
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled
    assert "-x" in host.file("/etc/default/chrony").content_string.split("DAEMON_OPTS=")[1]
    sources = host.run("chronyc -n sources")
    assert sources.rc == 0
    assert "192.0.2.123" in sources.stdout
    assert "Disabled control of system clock" in host.run("journalctl -u chrony -b --no-pager").stdout


def test_journald_dropin_in_effect(host):
    merged = host.run("systemd-analyze cat-config systemd/journald.conf").stdout
    assert "Storage=persistent" in merged
    assert f"MaxRetentionSec={RETENTION_DAYS}day" in merged
    assert "SystemMaxUse=2G" in merged
    # journald reports its limit when it (re)starts: the running daemon uses the drop-in's SystemMaxUse.
    log = host.run("journalctl -u systemd-journald -b --no-pager -o cat").stdout
    limits = re.findall(r"System Journal \((/var/log/journal/[^)]+)\) is [^,]+, max ([^,]+),", log)
    assert limits, log
    assert limits[-1][1] == "2.0G"
    assert host.file(limits[-1][0]).is_directory
