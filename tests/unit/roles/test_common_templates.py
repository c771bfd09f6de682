"""roles/common templates: sudoers rule, chrony.conf, journald retention."""


def common(render, **overrides):
    return render("common", ["Debian.yml"], common_chrony_servers=["10.1.1.1", "10.1.1.2"], **overrides)


def test_sudoers_rule_asks_for_a_password_by_default(render):
    text = common(render).template("sudoers.j2")
    assert text.splitlines()[-1] == "ops ALL=(ALL:ALL) ALL"


def test_sudoers_rule_without_password_when_asked(render):
    text = common(render, common_ops_sudo_nopasswd=True).template("sudoers.j2")
    assert text.splitlines()[-1] == "ops ALL=(ALL:ALL) NOPASSWD: ALL"


def test_chrony_follows_every_listed_server(render):
    text = common(render).template("chrony.conf.j2")
    assert "server 10.1.1.1 iburst\nserver 10.1.1.2 iburst\n" in text
    assert "pool " not in text


def test_chrony_touches_the_rtc_only_with_clock_control(render):
    assert "\nrtcsync\n" in common(render).template("chrony.conf.j2")
    assert "rtcsync" not in common(render, common_chrony_clock_control=False).template("chrony.conf.j2")


def test_journald_keeps_logs_persistently_for_at_least_180_days(render):
    text = common(render).template("journald.conf.j2")
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert lines["Storage"] == "persistent"
    assert lines["MaxRetentionSec"] == "186day"
    assert int(lines["MaxRetentionSec"].removesuffix("day")) >= 180
    assert lines["SystemMaxUse"] == "8G"
