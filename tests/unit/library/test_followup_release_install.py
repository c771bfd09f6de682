"""followup_release_install (the host half) on a real filesystem, called with what its action plugin passes: verified
install from one open file, start drop-in from the verified manifest, atomic switch, rollback target, idempotence."""

import json
import os

import followup_release_install as module
import pytest
from modulekit import run_module
from releasekit import DEFAULT_FILES, make_repository, manifest_for, sha, write_tarball


@pytest.fixture
def repo(tmp_path):
    paths = make_repository(
        tmp_path / "repo", versions=("1.0.0", "1.1.0", "1.2.0"), dates=("2026-02-02", "2026-05-18", "2026-09-07")
    )
    return {v: (str(p), sha(p.read_bytes())) for v, p in paths.items()}


def args_for(repo, version, tmp_path, **extra):
    tarball, digest = repo[version]
    args = dict(
        component="app",
        version=version,
        tarball=tarball,
        sha256=digest,
        root=str(tmp_path / "app"),
        unit_dir=str(tmp_path / "units"),
    )
    args.update(extra)
    return args


def dropin(tmp_path, component="app"):
    return tmp_path / "units" / f"followup-{component}.service.d" / "start.conf"


def test_install_writes_verified_files_and_a_release_record(repo, tmp_path):
    result = run_module(module, args_for(repo, "1.0.0", tmp_path, with_migrations=True))
    assert result["changed"] and result["installed"] and not result["switched"] and not result["start_changed"]
    release = tmp_path / "app" / "releases" / "1.0.0"
    assert (release / "followup_app" / "__init__.py").read_text() == "VERSION = '1.0.0'\n"
    assert (release / "migrations" / "mysql" / "cloud_followup" / "V001__create_core_tables.sql").is_file()
    assert not (release / "followup_fep").exists()
    record = json.loads((release / ".release.json").read_text())
    assert record["version"] == "1.0.0" and record["sha256"] == repo["1.0.0"][1] and record["port"] == 8080
    assert not (tmp_path / "app" / "current").exists() and not dropin(tmp_path).exists()
    assert result["migrations"] == {
        "mysql": {"cloud_followup": ["V001__create_core_tables.sql"]},
        "mongodb": {"cdr": ["V001__create_collections.yml"]},
    }
    assert not [n for n in os.listdir(tmp_path / "app" / "releases") if n.startswith(".")]


def test_second_install_changes_nothing(repo, tmp_path):
    run_module(module, args_for(repo, "1.0.0", tmp_path))
    again = run_module(module, args_for(repo, "1.0.0", tmp_path))
    assert again["changed"] is False and again["installed"] is False


def test_a_damaged_installed_release_is_reinstalled(repo, tmp_path):
    run_module(module, args_for(repo, "1.0.0", tmp_path))
    victim = tmp_path / "app" / "releases" / "1.0.0" / "followup_app" / "__main__.py"
    victim.write_text("print('tampered')\n")
    result = run_module(module, args_for(repo, "1.0.0", tmp_path))
    assert result["changed"] and result["installed"]
    assert victim.read_text() == "print('app')\n"


def test_the_switch_writes_the_start_command_from_the_verified_manifest(repo, tmp_path):
    result = run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"))
    assert result["start_changed"] and result["dropin"] == str(dropin(tmp_path))
    text = dropin(tmp_path).read_text()
    assert text.splitlines()[-3:] == ["[Service]", "ExecStart=", "ExecStart=/usr/bin/python3 -m followup_app"]
    assert repo["1.0.0"][1] in text and oct(dropin(tmp_path).stat().st_mode & 0o777) == "0o644"
    again = run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"))
    assert again["changed"] is False and again["start_changed"] is False


def test_a_changed_drop_in_is_put_back(repo, tmp_path):
    run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"))
    dropin(tmp_path).write_text("[Service]\nExecStart=\nExecStart=/bin/sh -c 'id > /tmp/x'\n")
    result = run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"), diff=True)
    assert result["changed"] and result["start_changed"] and not result["switched"]
    assert "ExecStart=/usr/bin/python3 -m followup_app" in dropin(tmp_path).read_text()
    assert "/bin/sh" in result["diff"]["before"]["start"] and "/bin/sh" not in result["diff"]["after"]["start"]


def test_switch_is_atomic_and_reports_the_previous_release(repo, tmp_path):
    root = tmp_path / "app"
    first = run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"))
    assert first["switched"] and first["previous_version"] is None and first["current_version"] == "1.0.0"
    assert os.readlink(root / "current") == "releases/1.0.0"
    second = run_module(module, args_for(repo, "1.1.0", tmp_path, state="current"), diff=True)
    assert second["switched"] and second["previous_version"] == "1.0.0"
    assert os.readlink(root / "current") == "releases/1.1.0"
    assert second["diff"]["before"]["current"] == "1.0.0" and second["diff"]["after"]["current"] == "1.1.0"
    assert not [n for n in os.listdir(root) if n.startswith(".current")]
    third = run_module(module, args_for(repo, "1.1.0", tmp_path, state="current"))
    assert third["changed"] is False


def test_check_mode_changes_nothing(repo, tmp_path):
    result = run_module(module, args_for(repo, "1.0.0", tmp_path, state="current"), check_mode=True)
    assert result["changed"] and result["installed"] and result["switched"] and result["start_changed"]
    assert not (tmp_path / "app").exists() and not (tmp_path / "units").exists()


def test_check_mode_before_the_tarball_is_copied_reports_a_change_from_the_layout(tmp_path):
    args = dict(
        component="app",
        version="1.0.0",
        tarball=str(tmp_path / "missing.tar.gz"),
        sha256="0" * 64,
        root=str(tmp_path / "a"),
        tarball_pending=True,
        state="current",
    )
    result = run_module(module, args, check_mode=True)
    assert result["changed"] is True and result["switched"] and not result.get("failed")
    assert "not on the host yet" in result["msg"]


def test_tarball_pending_outside_check_mode_is_refused(tmp_path):
    args = dict(component="app", version="1.0.0", tarball=str(tmp_path / "x"), sha256="0" * 64, tarball_pending=True)
    result = run_module(module, args)
    assert result["failed"] and "check mode only" in result["msg"]


def test_without_its_action_plugin_the_module_says_how_to_configure_it(tmp_path):
    result = run_module(module, dict(component="app", version="1.0.0", root=str(tmp_path)))
    assert result["failed"] and "set only by the action plugin" in result["msg"] and "action_plugins" in result["msg"]


def test_a_tarball_that_differs_from_the_signed_index_is_refused_and_nothing_is_written(repo, tmp_path):
    args = args_for(repo, "1.0.0", tmp_path, state="current")
    args["sha256"] = "f" * 64
    result = run_module(module, args)
    assert result["failed"] and "differs from the index" in result["msg"]
    assert not (tmp_path / "app" / "releases" / "1.0.0").exists() and not dropin(tmp_path).exists()


def test_a_tarball_of_another_version_is_refused(repo, tmp_path):
    args = args_for(repo, "1.0.0", tmp_path)
    args["version"] = "1.1.0"
    result = run_module(module, args)
    assert result["failed"] and "lies outside followup-1.1.0/" in result["msg"]


def test_old_releases_are_removed_but_current_and_previous_stay(repo, tmp_path):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        run_module(module, args_for(repo, version, tmp_path, state="current", keep_releases=2))
    assert sorted(os.listdir(tmp_path / "app" / "releases")) == ["1.1.0", "1.2.0"]


def test_keep_releases_below_two_is_refused(repo, tmp_path):
    result = run_module(module, args_for(repo, "1.0.0", tmp_path, keep_releases=1))
    assert result["failed"] and "at least 2" in result["msg"]


def one_release(tmp_path, files=None, edit=None):
    files = dict(DEFAULT_FILES) if files is None else files
    manifest = manifest_for("1.0.0", files)
    if edit:
        edit(manifest)
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest)
    return dict(
        component="app",
        version="1.0.0",
        tarball=str(tarball),
        sha256=sha(tarball.read_bytes()),
        root=str(tmp_path / "app"),
        unit_dir=str(tmp_path / "units"),
        with_migrations=True,
        state="current",
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("components/app//tmp/evil.txt", "lies outside followup-1.0.0/"),
        ("components/app/migrations/mysql/cloud_followup/V002__evil.sql", "lies under components/app/migrations/"),
        ("components/app/.release.json", "would overwrite the install record"),
        ("migrations/mysql/cloud_followup/V002__unlisted.sql", "not in the manifest's migrations lists"),
    ],
)
def test_files_that_could_land_outside_their_place_are_refused_on_the_host(tmp_path, path, words):
    files = dict(DEFAULT_FILES, **{path: b"x\n"})

    def unlist(manifest):
        migrations = manifest["migrations"]["mysql"]["cloud_followup"]
        if path.endswith("__unlisted.sql"):
            migrations.remove("V002__unlisted.sql")

    result = run_module(module, one_release(tmp_path, files, unlist))
    assert result["failed"] and words in result["msg"]
    assert not (tmp_path / "app" / "releases" / "1.0.0").exists() and not (tmp_path / "tmp").exists()
    assert not dropin(tmp_path).exists()


def test_a_newline_in_the_start_command_never_reaches_the_unit(tmp_path):
    def smuggle(manifest):
        manifest["components"]["app"]["start"] = "/usr/bin/python3 -m followup_app\nUser=root"

    result = run_module(module, one_release(tmp_path, edit=smuggle))
    assert result["failed"] and "holds a control character" in result["msg"]
    assert not dropin(tmp_path).exists()


def test_a_start_executable_missing_on_the_host_is_refused_before_the_switch(tmp_path):
    def elsewhere(manifest):
        manifest["components"]["app"]["start"] = "/opt/nowhere/bin/run --serve"

    result = run_module(module, one_release(tmp_path, edit=elsewhere))
    assert result["failed"] and "runs /opt/nowhere/bin/run, which is not an executable on this host" in result["msg"]
    assert not (tmp_path / "app" / "current").exists()


def test_the_listen_port_must_be_the_manifest_port_and_names_the_health_check(repo, tmp_path):
    good = run_module(module, args_for(repo, "1.0.0", tmp_path, listen="10.89.50.12:8080"))
    assert good["checks"] == [
        {"name": "followup-app", "type": "http", "host": "10.89.50.12", "port": 8080, "path": "/health"}
    ]
    assert good["local_fact"]["services"] == ["followup-app"] and good["local_fact"]["listen"] == "10.89.50.12:8080"
    bad = run_module(module, args_for(repo, "1.0.0", tmp_path, listen="10.89.50.12:9999"))
    assert bad["failed"] and "its port differs from the port 8080" in bad["msg"]


def test_a_tarball_replaced_by_a_link_is_refused(repo, tmp_path):
    link = tmp_path / "link.tar.gz"
    link.symlink_to(repo["1.0.0"][0])
    args = args_for(repo, "1.0.0", tmp_path)
    args["tarball"] = str(link)
    result = run_module(module, args)
    assert result["failed"] and "installing app failed" in result["msg"]


def test_installed_directories_are_readable_whatever_the_umask(repo, tmp_path):
    old = os.umask(0o077)
    try:
        run_module(module, args_for(repo, "1.0.0", tmp_path))
    finally:
        os.umask(old)
    release = tmp_path / "app" / "releases" / "1.0.0"
    assert (release.stat().st_mode & 0o777) == 0o755
    assert ((release / "followup_app").stat().st_mode & 0o777) == 0o755
    assert ((release / "followup_app" / "__main__.py").stat().st_mode & 0o777) == 0o644
