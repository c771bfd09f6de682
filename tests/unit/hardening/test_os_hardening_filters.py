"""roles/os_hardening/filter_plugins/os_hardening.py: the role's decisions."""

import hashlib

import pytest
from ansible.errors import AnsibleFilterError


@pytest.fixture(scope="module")
def f(role_filters):
    return role_filters("os_hardening")


def test_sysctl_writes_the_first_accepted_value_and_extra_keys_win(f):
    out = f.os_hardening_sysctl(
        {"net.ipv4.conf.all.rp_filter": [1, 2], "net.ipv4.tcp_syncookies": 1}, {"net.ipv4.tcp_syncookies": 0}
    )
    assert out == [
        {"name": "net.ipv4.conf.all.rp_filter", "value": "1"},
        {"name": "net.ipv4.tcp_syncookies", "value": "0"},
    ]


def test_sysctl_leaves_ip_forward_alone_unless_managed(f):
    assert "net.ipv4.ip_forward" not in [s["name"] for s in f.os_hardening_sysctl({}, {}, None)]
    assert f.os_hardening_sysctl({}, {}, 0)[0] == {"name": "net.ipv4.ip_forward", "value": "0"}
    assert f.os_hardening_sysctl({}, {}, 1)[0] == {"name": "net.ipv4.ip_forward", "value": "1"}
    with pytest.raises(AnsibleFilterError, match="use 0 or 1"):
        f.os_hardening_sysctl({}, {}, 2)


def test_sysctl_refuses_a_bad_key(f):
    with pytest.raises(AnsibleFilterError, match="os_hardening_sysctl_extra has a bad key"):
        f.os_hardening_sysctl({}, {"vm swappiness": 1})


@pytest.mark.parametrize(
    ("found", "module"),
    [
        (
            ["/lib/x86_64-linux-gnu/security/pam_faillock.so", "/lib/x86_64-linux-gnu/security/pam_tally2.so"],
            "faillock",
        ),
        (["/lib/security/pam_tally2.so"], "tally2"),
        ([], ""),
    ],
)
def test_faillock_is_preferred_to_pam_tally2(f, found, module):
    assert f.os_hardening_lockout_module(found) == module


def test_profiles_for_history_and_lockout(f):
    assert f.os_hardening_pam_profiles(5, False, "faillock") == ["followup-pwhistory"]
    assert f.os_hardening_pam_profiles(0, True, "faillock") == [
        "followup-faillock-preauth",
        "followup-faillock",
        "followup-faillock-authsucc",
    ]
    assert f.os_hardening_pam_profiles(0, True, "tally2") == ["followup-tally2"]
    with pytest.raises(AnsibleFilterError, match="neither pam_faillock nor pam_tally2"):
        f.os_hardening_pam_profiles(5, True, "")


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - as find reports it


def test_pam_plan_does_nothing_when_stacks_and_profiles_are_in_place(f):
    texts = {"followup-pwhistory": "P"}
    present = [{"path": "/usr/share/pam-configs/followup-pwhistory", "checksum": sha1("P")}]
    plan = f.os_hardening_pam_plan(
        "password requisite pam_pwhistory.so remember=5", ["followup-pwhistory"], present, texts
    )
    assert plan == {"enable": [], "remove": [], "write": [], "run": False}


def test_pam_plan_enables_a_missing_profile_and_rewrites_a_changed_one(f):
    texts = {"followup-pwhistory": "P2"}
    present = [{"path": "/usr/share/pam-configs/followup-pwhistory", "checksum": sha1("P")}]
    plan = f.os_hardening_pam_plan(
        "password requisite pam_pwhistory.so remember=5", ["followup-pwhistory"], present, texts
    )
    assert plan["write"] == ["followup-pwhistory"] and plan["enable"] == ["followup-pwhistory"] and plan["run"]


def test_pam_plan_removes_a_lockout_no_longer_wanted(f):
    present = [{"path": "/usr/share/pam-configs/followup-faillock", "checksum": "x"}]
    stacks = "auth [default=die] pam_faillock.so authfail\nauth requisite pam_faillock.so preauth"
    plan = f.os_hardening_pam_plan(stacks, [], present, {})
    assert plan["remove"] == ["followup-faillock", "followup-faillock-preauth"]
    assert plan["run"]


def test_authselect_plan(f):
    assert f.os_hardening_authselect_plan("", ["with-faillock"])["managed"] is False
    plan = f.os_hardening_authselect_plan("sssd with-faillock with-mkhomedir", ["with-pwhistory"])
    assert plan == {"managed": True, "profile": "sssd", "enable": ["with-pwhistory"], "disable": ["with-faillock"]}


@pytest.mark.parametrize(("days", "period", "count"), [(180, "weekly", 27), (182, "weekly", 27), (180, "daily", 181)])
def test_logrotate_keeps_at_least_the_retention(f, days, period, count):
    assert f.os_hardening_logrotate_count(days, period) == count


def test_unit_names_and_what_to_mask(f):
    assert f.os_hardening_unit_names(["rsync", "cups.socket", "rsync.service"], ["rsync"]) == ["cups.socket"]
    listing = "cups.socket enabled enabled\nrsync.service masked enabled\navahi-daemon.service disabled enabled\n"
    assert f.os_hardening_units_to_mask(listing) == ["cups.socket", "avahi-daemon.service"]


def test_installed_packages_from_dpkg_and_rpm(f):
    assert f.os_hardening_installed_packages("aide installed\nauditd installed\ntelnetd not-installed\n") == [
        "aide",
        "auditd",
    ]
    assert f.os_hardening_installed_packages("audit installed\npackage telnet-server is not installed\n") == ["audit"]


def test_pam_read_splits_modules_profiles_and_stacks(f):
    out = "\n".join(
        [
            "/lib/x86_64-linux-gnu/security/pam_faillock.so",
            "--- profiles",
            "a" * 40 + "  /usr/share/pam-configs/followup-pwhistory",
            "--- stacks",
            "auth required pam_unix.so",
            "--- not a marker",
        ]
    )
    state = f.os_hardening_pam_read(out)
    assert state["modules"] == ["/lib/x86_64-linux-gnu/security/pam_faillock.so"]
    assert state["profiles"] == [{"path": "/usr/share/pam-configs/followup-pwhistory", "checksum": "a" * 40}]
    assert state["stacks"] == "auth required pam_unix.so\n--- not a marker"


def test_admin_members_and_audit_group(f):
    assert f.os_hardening_admin_members({"secadmin": ["li"], "sysadmin": ["ops", "wang"]}) == [
        {"group": "secadmin", "member": "li"},
        {"group": "sysadmin", "member": "ops"},
        {"group": "sysadmin", "member": "wang"},
    ]
    with pytest.raises(AnsibleFilterError, match="must be a list of account names"):
        f.os_hardening_admin_members({"sysadmin": "ops"})
    settings = f.os_hardening_auditd_settings({"num_logs": 5}, ["sysadmin", "secadmin", "auditadmin"], True)
    assert settings == {"num_logs": 5, "log_group": "auditadmin"}
    assert "log_group" not in f.os_hardening_auditd_settings({}, ["a"], False)


def test_container_detection(f):
    assert f.os_hardening_in_container({"virtualization_role": "guest", "virtualization_type": "docker"})
    assert not f.os_hardening_in_container({"virtualization_role": "host", "virtualization_type": "kvm"})
    assert not f.os_hardening_in_container({"virtualization_role": "guest", "virtualization_type": "kvm"})


def test_units_ok_needs_enabled_and_active(f):
    out = (
        "Id=a.timer\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=b.timer\nActiveState=inactive\nUnitFileState=enabled\n\n"
        "Id=c.timer\nActiveState=active\nUnitFileState=disabled\n"
    )
    assert f.os_hardening_units_ok(out) == {"a.timer": True, "b.timer": False, "c.timer": False}
    assert f.os_hardening_units_ok("") == {}
