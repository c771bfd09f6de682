"""followup_release_install on a real filesystem: verified install, atomic switch, rollback target, idempotence."""

import json
import os

import followup_release_install as module
import pytest
from modulekit import run_module
from releasekit import make_repository, sha


@pytest.fixture
def repo(tmp_path):
    paths = make_repository(
        tmp_path / "repo", versions=("1.0.0", "1.1.0", "1.2.0"), dates=("2026-02-02", "2026-05-18", "2026-09-07")
    )
    return {v: (str(p), sha(p.read_bytes())) for v, p in paths.items()}


def args_for(repo, version, root, **extra):
    tarball, digest = repo[version]
    return dict(component="app", tarball=tarball, sha256=digest, root=str(root), **extra)


def test_install_writes_verified_files_and_a_release_record(repo, tmp_path):
    root = tmp_path / "app"
    result = run_module(module, args_for(repo, "1.0.0", root, with_migrations=True))
    assert result["changed"] and result["installed"] and not result["switched"]
    release = root / "releases" / "1.0.0"
    assert (release / "followup_app" / "__init__.py").read_text() == "VERSION = '1.0.0'\n"
    assert (release / "migrations" / "mysql" / "cloud_followup" / "V001__create_core_tables.sql").is_file()
    assert not (release / "followup_fep").exists()
    record = json.loads((release / ".release.json").read_text())
    assert record["version"] == "1.0.0" and record["sha256"] == repo["1.0.0"][1] and record["port"] == 8080
    assert not (root / "current").exists()


def test_second_install_changes_nothing(repo, tmp_path):
    root = tmp_path / "app"
    run_module(module, args_for(repo, "1.0.0", root))
    again = run_module(module, args_for(repo, "1.0.0", root))
    assert again["changed"] is False and again["installed"] is False


def test_a_damaged_installed_release_is_reinstalled(repo, tmp_path):
    root = tmp_path / "app"
    run_module(module, args_for(repo, "1.0.0", root))
    victim = root / "releases" / "1.0.0" / "followup_app" / "__main__.py"
    victim.write_text("print('tampered')\n")
    result = run_module(module, args_for(repo, "1.0.0", root))
    assert result["changed"] and result["installed"]
    assert victim.read_text() == "print('app')\n"


def test_switch_is_atomic_and_reports_the_previous_release(repo, tmp_path):
    root = tmp_path / "app"
    first = run_module(module, args_for(repo, "1.0.0", root, state="current"))
    assert first["switched"] and first["previous_version"] is None and first["current_version"] == "1.0.0"
    assert os.readlink(root / "current") == "releases/1.0.0"
    second = run_module(module, args_for(repo, "1.1.0", root, state="current"), diff=True)
    assert second["switched"] and second["previous_version"] == "1.0.0"
    assert os.readlink(root / "current") == "releases/1.1.0"
    assert second["diff"]["before"]["current"] == "1.0.0" and second["diff"]["after"]["current"] == "1.1.0"
    assert not [n for n in os.listdir(root) if n.startswith(".current")]
    third = run_module(module, args_for(repo, "1.1.0", root, state="current"))
    assert third["changed"] is False


def test_check_mode_changes_nothing(repo, tmp_path):
    root = tmp_path / "app"
    result = run_module(module, args_for(repo, "1.0.0", root, state="current"), check_mode=True)
    assert result["changed"] and result["installed"] and result["switched"]
    assert not root.exists()


def test_check_mode_before_the_tarball_is_copied_reports_a_change(tmp_path):
    result = run_module(
        module,
        dict(component="app", tarball=str(tmp_path / "missing.tar.gz"), sha256="0" * 64, root=str(tmp_path / "a")),
        check_mode=True,
    )
    assert result["changed"] is True and not result.get("failed")


def test_a_tarball_that_differs_from_the_index_is_refused_and_nothing_is_written(repo, tmp_path):
    root = tmp_path / "app"
    args = args_for(repo, "1.0.0", root)
    args["sha256"] = "f" * 64
    result = run_module(module, args)
    assert result["failed"] and "differs from the release index" in result["msg"]
    assert not (root / "releases" / "1.0.0").exists()


def test_old_releases_are_removed_but_current_and_previous_stay(repo, tmp_path):
    root = tmp_path / "app"
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        run_module(module, args_for(repo, version, root, state="current", keep_releases=2))
    assert sorted(os.listdir(root / "releases")) == ["1.1.0", "1.2.0"]


def test_keep_releases_below_two_is_refused(repo, tmp_path):
    result = run_module(module, args_for(repo, "1.0.0", tmp_path / "app", keep_releases=1))
    assert result["failed"] and "at least 2" in result["msg"]


def test_a_release_whose_manifest_names_a_path_outside_is_refused_and_nothing_is_written(tmp_path):
    from releasekit import DEFAULT_FILES, manifest_for, write_tarball

    files = dict(DEFAULT_FILES, **{"components/app//tmp/evil.txt": b"x\n"})
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest_for("1.0.0", files))
    root = tmp_path / "app"
    result = run_module(
        module, dict(component="app", tarball=str(tarball), sha256=sha(tarball.read_bytes()), root=str(root))
    )
    assert result["failed"] and "must be relative" in result["msg"]
    assert not (root / "releases" / "1.0.0").exists() and not (tmp_path / "tmp").exists()


def test_installed_directories_are_readable_whatever_the_umask(repo, tmp_path):
    old = os.umask(0o077)
    try:
        run_module(module, args_for(repo, "1.0.0", tmp_path / "app"))
    finally:
        os.umask(old)
    release = tmp_path / "app" / "releases" / "1.0.0"
    assert (release.stat().st_mode & 0o777) == 0o755
    assert ((release / "followup_app").stat().st_mode & 0o777) == 0o755
