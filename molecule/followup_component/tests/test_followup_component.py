"""After converge (1.0.0) and the side effect (1.1.0): verified files, atomic switch, settings, unit."""

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
import yaml

testinfra_hosts = ["ansible://molecule-component"]
ROOT = "/opt/followup/voice"
REPO = Path(__file__).resolve().parents[3] / "build" / "releases"


def manifest(version):
    with tarfile.open(REPO / f"followup-{version}.tar.gz") as archive:
        return yaml.safe_load(archive.extractfile(f"followup-{version}/manifest.yml").read())


def test_current_points_at_the_newer_release_and_the_previous_stays(host):
    current = host.file(f"{ROOT}/current")
    assert current.is_symlink and current.linked_to == f"{ROOT}/releases/1.1.0"
    assert sorted(host.file(f"{ROOT}/releases").listdir()) == ["1.0.0", "1.1.0"]


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_installed_files_match_the_manifest(host, version):
    files = manifest(version)["files"]
    prefix = "components/voice/"
    expected = {k[len(prefix) :]: v for k, v in files.items() if k.startswith(prefix)}
    assert expected
    for rel, digest in expected.items():
        assert host.file(f"{ROOT}/releases/{version}/{rel}").sha256sum == digest, rel
    record = json.loads(host.file(f"{ROOT}/releases/{version}/.release.json").content_string)
    sha = hashlib.sha256((REPO / f"followup-{version}.tar.gz").read_bytes()).hexdigest()
    assert record["version"] == version and record["sha256"] == sha and record["port"] == 8090


def test_release_files_belong_to_root_and_are_not_writable_by_the_service(host):
    release = host.file(f"{ROOT}/releases/1.1.0")
    assert release.user == "root" and release.mode == 0o755
    assert host.run(f"find {ROOT}/releases -perm /022 -type f").stdout == ""


def test_settings_file_is_readable_by_the_service_only(host):
    env = host.file(f"{ROOT}/shared/voice.env")
    assert env.user == "root" and env.group == "followup" and env.mode == 0o640
    assert 'FOLLOWUP_SIP_PROXY="127.0.0.1:5060"' in env.content_string


def test_unit_runs_the_manifest_command_as_the_service_account_sandboxed(host):
    unit = host.file("/etc/systemd/system/followup-voice.service").content_string
    assert "ExecStart" not in unit, "the start command comes only from the signed manifest, through the drop-in"
    assert "User=followup" in unit and f"WorkingDirectory={ROOT}/current" in unit
    assert f"EnvironmentFile={ROOT}/shared/voice.env" in unit
    for line in (
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "ProtectClock=yes",
        "ProtectKernelLogs=yes",
        "ProtectHostname=yes",
        "UMask=0027",
    ):
        assert f"\n{line}\n" in unit, line


def test_the_start_command_is_the_signed_manifests_and_systemd_runs_it(host):
    start = manifest("1.1.0")["components"]["voice"]["start"]
    dropin = host.file("/etc/systemd/system/followup-voice.service.d/start.conf")
    assert dropin.user == "root" and dropin.mode == 0o644
    assert dropin.content_string.endswith(f"[Service]\nExecStart=\nExecStart={start}\n")
    sha = hashlib.sha256((REPO / "followup-1.1.0.tar.gz").read_bytes()).hexdigest()
    assert f"release 1.1.0\n# (tarball sha256 {sha})" in dropin.content_string
    shown = host.check_output("systemctl show followup-voice -p ExecStart --value")
    assert f"path={start.split()[0]} ; argv[]={start} ;" in shown
    verify = host.run("systemd-analyze verify /etc/systemd/system/followup-voice.service")
    assert verify.rc == 0, verify.stderr


def test_the_ip_access_list_holds_the_peers_and_the_listen_address(host):
    unit = host.file("/etc/systemd/system/followup-voice.service").content_string
    assert "\nIPAddressDeny=any\nIPAddressAllow=localhost 192.0.2.10 192.0.2.128/25 127.0.0.1\n" in unit
    shown = host.check_output("systemctl show followup-voice -p IPAddressDeny -p IPAddressAllow")
    deny = next(line for line in shown.splitlines() if line.startswith("IPAddressDeny="))
    assert set(deny.split("=", 1)[1].split()) == {"0.0.0.0/0", "::/0"}
    assert "192.0.2.128/25" in shown and "192.0.2.10/32" in shown and "127.0.0.0/8" in shown


def test_the_local_fact_names_the_service_and_its_health_check(host):
    fact = json.loads(host.file("/etc/ansible/facts.d/followup_component_voice.fact").content_string)
    assert fact == {
        "component": "voice",
        "root": ROOT,
        "unit": "followup-voice",
        "listen": "127.0.0.1:8090",
        "services": ["followup-voice"],
        "checks": [{"name": "followup-voice", "type": "http", "host": "127.0.0.1", "port": 8090, "path": "/health"}],
    }


def test_service_account_cannot_log_in(host):
    user = host.user("followup")
    assert user.shell == "/usr/sbin/nologin"
    assert not host.service("followup-voice").is_running


def test_tarballs_are_kept_for_reinstall_and_rollback(host):
    for version in ("1.0.0", "1.1.0"):
        tarball = host.file(f"/opt/followup/.releases/followup-{version}.tar.gz")
        assert tarball.mode == 0o640
        assert tarball.sha256sum == hashlib.sha256((REPO / f"followup-{version}.tar.gz").read_bytes()).hexdigest()


def test_the_service_may_write_only_its_data_directory(host):
    data = host.file(f"{ROOT}/shared/data")
    assert data.user == "followup" and data.group == "followup" and data.mode == 0o750
    shared = host.file(f"{ROOT}/shared")
    assert shared.user == "root" and shared.mode == 0o750
    unit = host.file("/etc/systemd/system/followup-voice.service").content_string
    assert f"ReadWritePaths={ROOT}/shared/data" in unit
