"""Lab images: the mirror comes from this machine's apt sources, and tags change exactly with their inputs."""

import pytest

from followup_ops.errors import OpsError
from followup_ops.lab import images


def write_apt(tmp_path, sources_list="", sources=None):
    (tmp_path / "sources.list.d").mkdir(parents=True)
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in (sources or {}).items():
        (tmp_path / "sources.list.d" / name).write_text(text)
    return str(tmp_path)


def test_mirrors_are_read_from_deb822_sources(tmp_path):
    apt = write_apt(
        tmp_path,
        sources={
            "debian.sources": "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
            "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
            "Suites: bookworm-security\nComponents: main\n"
        },
    )
    assert images.apt_mirrors(apt) == ("http://mirror.example/debian", "http://mirror.example/debian-security")


def test_mirrors_are_read_from_one_line_sources_with_options(tmp_path):
    apt = write_apt(tmp_path, "# comment\ndeb [signed-by=/k.gpg arch=amd64] http://m.example/debian bookworm main\n")
    assert images.apt_mirrors(apt) == ("http://m.example/debian", None)


def test_disabled_entries_and_other_suites_are_ignored(tmp_path):
    apt = write_apt(
        tmp_path,
        sources={
            "a.sources": "Types: deb\nURIs: http://old.example/debian\nSuites: bullseye\nComponents: main\n",
            "b.sources": "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n",
        },
    )
    with pytest.raises(OpsError, match="no Debian bookworm mirror in this machine's apt sources"):
        images.apt_mirrors(apt)


def test_sources_list_for_the_image_has_security_only_when_known():
    assert "bookworm-security" not in images.apt_sources_list("http://m/debian", None)
    text = images.apt_sources_list("http://m/debian", "http://m/security")
    assert text.splitlines() == [
        "deb http://m/debian bookworm main",
        "deb http://m/debian bookworm-updates main",
        "deb http://m/security bookworm-security main",
    ]


def test_node_tag_changes_when_an_input_file_changes(tmp_path, monkeypatch):
    context = tmp_path / "node"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM x\n")
    monkeypatch.setattr(images, "node_context", lambda: context)
    first = images.node_tag()
    assert first == images.node_tag()
    (context / "packages.txt").write_text("nginx\n")
    second = images.node_tag()
    assert second != first and second.startswith("followup-lab/node:")


def test_docker_missing_is_one_line_with_the_fix(monkeypatch):
    from followup_ops.lab import docker

    monkeypatch.setattr(docker.shutil, "which", lambda _name: None)
    with pytest.raises(OpsError, match=r"^Docker is not installed: run 'make bootstrap' as root"):
        docker.ensure_engine()


def test_no_engine_answering_is_one_line_with_the_fix(monkeypatch, tmp_path):
    from followup_ops.lab import docker

    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(docker.shutil, "which", lambda _name: str(fake))
    with pytest.raises(OpsError, match=r"no Docker engine answers on this machine: run 'make bootstrap'"):
        docker.ensure_engine()


def test_lab_containers_run_systemd_without_privileged_and_carry_their_lab_identity():
    from followup_ops.lab import lab

    args = lab.run_args("c", "h", "img:1", "10.89.50.11", labels={lab.IDENTITY_LABEL: "abc"})
    assert "--privileged" not in args and args[-1] == "img:1"
    joined = " ".join(args)
    for flag in (
        "--cap-add SYS_ADMIN",
        "--security-opt seccomp=unconfined",
        "--cgroupns host",
        "--volume /sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs /run",
        "--tmpfs /run/lock",
        "--ip 10.89.50.11",
        f"--label {lab.IDENTITY_LABEL}=abc",
    ):
        assert flag in joined, flag


def test_lab_hosts_come_from_the_lab_inventory():
    from followup_ops.lab import lab

    hosts = {h.name: h for h in lab.lab_hosts()}
    assert set(hosts) == {
        "fep1",
        "app1",
        "voice1",
        "mysql1",
        "mongo1",
        "carrier1",
        "backup1",
        "app2",
        "fep2",
        "voice2",
        "mysql2",
        "mongo2",
    }
    assert hosts["mysql1"].address == "10.89.50.21" and not hosts["mysql1"].spare
    assert hosts["app2"].spare and "followup" in hosts["fep1"].groups
