"""What the inspection reads on a host, with the host faked: /proc, statvfs, journalctl, certificates, chrony, HTTP."""

import datetime
import io
import json
import os
from types import SimpleNamespace

import pytest
from ansible.module_utils import followup_inspect_host as h

MARKER_NAME = "测试患者甲"
MARKER_PHONE = "13800138000"


def test_masking_hides_quoted_values_phones_ids_emails_and_chinese_names_keeps_ports_and_versions():
    line = (
        f"Duplicate entry '{MARKER_PHONE}' for key; patient {MARKER_NAME} phone 138 0013 8000 id "
        "44080219900101123X mail zhang@example.com at 10.89.50.21:3306 release 1.2.0 pid 4711"
    )
    masked = h.mask(line)
    for secret in (MARKER_PHONE, MARKER_NAME, "138 0013 8000", "4408021990", "zhang@example.com"):
        assert secret not in masked, secret
    assert "10.89.50.21:3306" in masked and "1.2.0" in masked and "pid 4711" in masked
    assert len(h.mask("x" * 500)) == 200 and h.mask(None) is None
    assert "\n" not in h.mask("one\ntwo")


def test_cpu_busy_share_from_two_reads_of_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    reads = iter(["cpu  100 0 100 800 0 0 0 0 0 0\n", "cpu  160 0 140 900 0 0 0 0 0 0\n"])

    def sleep(_seconds):
        stat.write_text(next(reads))

    stat.write_text(next(reads))
    # 200 ticks passed, 100 of them idle
    assert h.cpu_percent(0, proc=str(tmp_path), sleep=sleep) == 50.0


def test_memory_uses_memavailable_and_swap(tmp_path):
    (tmp_path / "meminfo").write_text(
        "MemTotal:       8000000 kB\nMemFree:  100000 kB\nMemAvailable:   2000000 kB\n"
        "SwapTotal:      1000000 kB\nSwapFree:        250000 kB\n"
    )
    mem = h.meminfo(str(tmp_path))
    assert mem["percent"] == 75.0 and mem["swap_percent"] == 75.0 and mem["total"] == 8000000 * 1024


def test_mounts_skip_kernel_file_systems_bind_mounted_files_and_duplicates(tmp_path):
    (tmp_path / "mounts").write_text(
        "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
        "/dev/vda /etc/hosts ext4 rw 0 0\ntmpfs /proc/acpi tmpfs ro 0 0\n/dev/vdb /srv/data ext4 rw 0 0\n"
        "/dev/vdb /srv/data/again ext4 rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
        "/dev/vdc /srv/with\\040space xfs rw 0 0\n"
    )
    devices = {"/": 1, "/run": 2, "/srv/data": 3, "/srv/data/again": 3, "/srv/with space": 4}

    def statvfs(path):
        return SimpleNamespace(f_blocks=1000, f_frsize=4096, f_bfree=100, f_bavail=50, f_files=100, f_ffree=10)

    found = h.mounts(
        str(tmp_path),
        statvfs=statvfs,
        stat=lambda p: SimpleNamespace(st_dev=devices[p]),
        isdir=lambda p: p != "/etc/hosts",
    )
    assert [m["mount"] for m in found] == ["/", "/run", "/srv/data", "/srv/with space"]
    root = found[0]
    # used 900 blocks, usable = used + avail = 950 (root's reserve is not usable): 94.7 %
    assert root["percent"] == 94.7 and root["inode_percent"] == 90.0 and root["avail"] == 50 * 4096


def _journal_line(cursor, message, unit="followup-fep.service", stamp=1796160000000000):
    return (
        json.dumps(
            {
                "__CURSOR": cursor,
                "MESSAGE": message,
                "_SYSTEMD_UNIT": unit,
                "PRIORITY": "3",
                "__REALTIME_TIMESTAMP": str(stamp),
            }
        )
        + "\n"
    )


def test_journal_reads_after_the_cursor_counts_by_unit_quotes_the_last_lines_masked():
    seen = []

    def runner(argv, max_lines):
        seen.append(argv)
        lines = [_journal_line(f"s=1;i={i}", f"cycle failed for '{MARKER_NAME}' {MARKER_PHONE}") for i in range(12)]
        lines.append(_journal_line("s=1;i=99", "mariadb: Aborted connection", unit="mariadb.service"))
        return 0, lines, ""

    result = h.journal_errors(cursor="s=1;i=0", quote=3, runner=runner)
    assert seen[0][-1] == "--after-cursor=s=1;i=0" and "--priority=3" in seen[0]
    assert result["count"] == 13 and result["by_unit"] == {"followup-fep.service": 12, "mariadb.service": 1}
    assert result["cursor"] == "s=1;i=99" and result["since"] == {"cursor": "s=1;i=0"}
    assert len(result["lines"]) == 3 and result["lines"][-1]["unit"] == "mariadb.service"
    text = json.dumps(result, ensure_ascii=False)
    assert MARKER_NAME not in text and MARKER_PHONE not in text


def test_journal_falls_back_to_the_time_when_the_cursor_is_refused_and_keeps_it_when_nothing_is_new():
    calls = []

    def runner(argv, max_lines):
        calls.append(argv[-1])
        if argv[-1].startswith("--after-cursor"):
            return 1, [], "Failed to seek to cursor: Invalid argument\n"
        return 0, [], ""

    result = h.journal_errors(cursor="garbage", since_epoch=1796160000, runner=runner)
    assert calls == ["--after-cursor=garbage", "--since=@1796160000"]
    assert result["count"] == 0 and result["error"] is None and result["cursor"] == "garbage"
    first = h.journal_errors(window_hours=24, runner=lambda argv, n: (0, [], ""))
    assert first["since"]["time"].endswith("Z")


def test_journal_that_cannot_be_read_says_why():
    result = h.journal_errors(runner=lambda argv, n: (1, [], "No journal files were found.\n"))
    assert result["error"] == "No journal files were found."


def _certificate(path, days):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fep1.lab")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_certificate_expiry_in_days_and_errors_for_missing_or_broken_files(tmp_path):
    cert = h.certificate(str(_certificate(tmp_path / "soon.crt", 3)))
    assert 2.9 < cert["days_left"] <= 3.0 and cert["subject"] == "fep1.lab" and cert["error"] is None
    expired = h.certificate(str(_certificate(tmp_path / "old.crt", -2)))
    assert expired["days_left"] < -1.9
    assert h.certificate(str(tmp_path / "none.crt"))["error"] == "no such file"
    (tmp_path / "bad.crt").write_text("not a certificate")
    assert h.certificate(str(tmp_path / "bad.crt"))["error"].startswith("not a PEM certificate")


def test_chrony_tracking_is_parsed_and_timedatectl_is_the_fallback():
    text = (
        "Reference ID    : 0A59FA01 (10.89.250.1)\nSystem time     : 0.001234000 seconds slow of NTP time\n"
        "Leap status     : Normal\n"
    )
    assert h.parse_chrony_tracking(text) == (True, 1.234, "0A59FA01 (10.89.250.1)")
    assert h.parse_chrony_tracking("Leap status     : Not synchronised\n")[0] is False

    def runner(argv):
        if argv[0] == "chronyc":
            return 1, "", "506 Cannot talk to daemon"
        return 0, "no\n", ""

    ts = h.timesync(runner)
    assert ts["synchronized"] is False and ts["source"] == "timedatectl NTPSynchronized"
    broken = h.timesync(lambda argv: (127, "", "not found"))
    assert broken["error"].startswith("neither chronyc nor timedatectl answered")


class _Response(io.BytesIO):
    def __init__(self, body, code=200):
        super().__init__(json.dumps(body).encode())
        self.code = code

    def getcode(self):
        return self.code


def test_interface_state_reads_backlog_and_last_cycle_of_the_interface_service():
    now = 1796159400.0  # 21:10Z
    answers = {
        "http://127.0.0.1:8081/health": _Response({"status": "UP", "checks": {"app": "UP"}, "backlog": 42}),
        "http://127.0.0.1:8081/api/exchange/stats": _Response(
            {"worker": {"last_cycle_at": "2026-12-01T21:00:00", "last_error": None, "cycles": 9}}
        ),
    }
    info = h.interface_state("0.0.0.0:8081", "/api/exchange/stats", now=now, opener=lambda url, timeout: answers[url])
    assert info["backlog"] == 42 and info["status"] == "UP" and info["last_cycle_age_min"] == 10.0
    assert info["error"] is None and info["stats_error"] is None


def test_interface_state_names_what_does_not_answer():
    def refuse(url, timeout):
        raise OSError("Connection refused")

    info = h.interface_state("127.0.0.1:8081", "/api/exchange/stats", opener=refuse)
    assert info["error"] == "GET /health: Connection refused"


def test_trunk_state_from_the_voice_role_command(tmp_path):
    command = tmp_path / "followup-voice-trunks"
    command.write_text("#!/bin/sh\n")
    os.chmod(command, 0o700)
    out = json.dumps(
        {
            "trunks": [
                {"name": "trunk1", "uri": "sip:x", "state": "up"},
                {"name": "trunk2", "uri": "sip:y", "state": "down"},
            ]
        }
    )
    info = h.trunk_state(str(command), runner=lambda argv: (0, out, ""))
    assert info["up"] == 1 and info["down"] == 1 and info["error"] is None
    assert h.trunk_state("/nowhere/trunks")["error"].endswith("is missing or not executable")
    assert "gave no JSON" in h.trunk_state(str(command), runner=lambda argv: (2, "", "kamcmd: no socket"))["error"]


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-12-01T21:00:00Z", 1796158800),
        ("2026-12-01T21:00:00", 1796158800),
        ("2026-12-01 21:00:00.5+00:00", 1796158800),
        ("yesterday", None),
    ],
)
def test_iso_times_are_read_as_utc(text, epoch):
    assert h.parse_iso_utc(text) == epoch
