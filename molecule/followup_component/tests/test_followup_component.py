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
    assert f"ExecStart={manifest('1.1.0')['components']['voice']['start']}" in unit
    assert "User=followup" in unit and f"WorkingDirectory={ROOT}/current" in unit
    assert "ProtectSystem=strict" in unit and "NoNewPrivileges=yes" in unit
    assert f"EnvironmentFile={ROOT}/shared/voice.env" in unit


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
