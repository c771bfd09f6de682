"""The release gate's verification: every way a release can be wrong is refused, naming the file."""

import tarfile

import pytest
import yaml
from ansible.module_utils.followup_release import ReleaseError, check_release, read_index, verify_tarball
from releasekit import DEFAULT_FILES, make_repository, manifest_for, sha, write_tarball


def test_a_good_release_passes_and_returns_its_manifest(tmp_path):
    make_repository(tmp_path)
    entry, manifest, releases = check_release(str(tmp_path), "1.1.0")
    assert entry["version"] == "1.1.0"
    assert manifest["components"]["app"]["port"] == 8080
    assert [r["version"] for r in releases] == ["1.0.0", "1.1.0"]


def test_index_is_sorted_by_version_not_by_text(tmp_path):
    make_repository(tmp_path, versions=("1.10.0", "1.9.0"), dates=("2026-06-01", "2026-03-01"))
    assert [r["version"] for r in read_index(str(tmp_path))] == ["1.9.0", "1.10.0"]


def test_a_release_missing_from_the_index_is_refused_with_the_available_ones(tmp_path):
    make_repository(tmp_path)
    with pytest.raises(ReleaseError, match=r"release 9\.9\.9 is not in .*index\.yml \(available: 1\.0\.0, 1\.1\.0\)"):
        check_release(str(tmp_path), "9.9.9")


def test_a_missing_repository_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match=r"does not exist"):
        read_index(str(tmp_path / "nowhere"))


def test_a_tarball_whose_sha256_differs_from_the_index_is_refused_naming_it(tmp_path):
    paths = make_repository(tmp_path)
    with open(paths["1.0.0"], "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ReleaseError, match=r"followup-1\.0\.0\.tar\.gz: sha256 [0-9a-f]{64} differs from the index"):
        check_release(str(tmp_path), "1.0.0")


def test_a_missing_tarball_is_refused(tmp_path):
    paths = make_repository(tmp_path)
    paths["1.1.0"].unlink()
    with pytest.raises(ReleaseError, match=r"followup-1\.1\.0\.tar\.gz is missing"):
        check_release(str(tmp_path), "1.1.0")


@pytest.mark.parametrize("field", ["version", "release_date", "components", "files", "migrations", "format"])
def test_a_manifest_missing_a_required_field_is_refused_naming_the_field(tmp_path, field):
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    del manifest[field]
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", DEFAULT_FILES, manifest)
    with pytest.raises(ReleaseError, match=rf"manifest.yml lacks the required field '{field}'"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_component_without_a_port_is_refused(tmp_path):
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    del manifest["components"]["voice"]["port"]
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", DEFAULT_FILES, manifest)
    with pytest.raises(ReleaseError, match=r"component voice lacks 'port'"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_file_whose_sha256_differs_from_the_manifest_is_refused_naming_the_file(tmp_path):
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    files = dict(DEFAULT_FILES)
    files["components/fep/followup_fep/__main__.py"] = b"print('evil')\n"
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest)
    with pytest.raises(
        ReleaseError, match=r"file followup-1\.0\.0/components/fep/followup_fep/__main__\.py has sha256"
    ):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_file_not_listed_in_the_manifest_is_refused(tmp_path):
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    files = dict(DEFAULT_FILES, **{"components/app/extra.py": b"x = 1\n"})
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest)
    with pytest.raises(ReleaseError, match=r"components/app/extra.py is not listed in the manifest"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_listed_file_missing_from_the_tarball_is_refused(tmp_path):
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    files = dict(DEFAULT_FILES)
    del files["components/voice/followup_voice/__main__.py"]
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest)
    with pytest.raises(ReleaseError, match=r"followup_voice/__main__.py is listed in the manifest but missing"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_symlink_member_is_refused(tmp_path):
    link = tarfile.TarInfo("followup-1.0.0/components/app/passwd")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tarball = write_tarball(
        tmp_path / "followup-1.0.0.tar.gz",
        "1.0.0",
        DEFAULT_FILES,
        manifest_for("1.0.0", DEFAULT_FILES),
        extra_members=[(link, None)],
    )
    with pytest.raises(ReleaseError, match=r"is a link or special file"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_member_outside_the_release_folder_is_refused(tmp_path):
    outside = tarfile.TarInfo("followup-1.0.0/../../etc/cron.d/x")
    outside.size = 1
    tarball = write_tarball(
        tmp_path / "followup-1.0.0.tar.gz",
        "1.0.0",
        DEFAULT_FILES,
        manifest_for("1.0.0", DEFAULT_FILES),
        extra_members=[(outside, b"x")],
    )
    with pytest.raises(ReleaseError, match=r"lies outside followup-1.0.0/"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_manifest_naming_another_version_is_refused(tmp_path):
    tarball = write_tarball(
        tmp_path / "followup-1.0.0.tar.gz", "1.0.0", DEFAULT_FILES, manifest_for("1.0.1", DEFAULT_FILES)
    )
    with pytest.raises(ReleaseError, match=r"version 1.0.1 does not match the requested release 1.0.0"):
        verify_tarball(str(tarball), version="1.0.0")


def test_a_manifest_that_is_not_yaml_is_refused(tmp_path):
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", DEFAULT_FILES, b"version: [1.0.0\n")
    with pytest.raises(ReleaseError, match=r"is not valid YAML"):
        verify_tarball(str(tarball), version="1.0.0")


def test_an_index_entry_without_sha256_is_refused(tmp_path):
    make_repository(tmp_path)
    index = yaml.safe_load((tmp_path / "index.yml").read_text())
    del index["releases"][0]["sha256"]
    (tmp_path / "index.yml").write_text(yaml.safe_dump(index))
    with pytest.raises(ReleaseError, match=r"releases\[0\] lacks 'sha256'"):
        read_index(str(tmp_path))


def test_a_release_date_differing_between_index_and_manifest_is_refused(tmp_path):
    make_repository(tmp_path)
    index = yaml.safe_load((tmp_path / "index.yml").read_text())
    index["releases"][0]["release_date"] = "2026-01-01"
    (tmp_path / "index.yml").write_text(yaml.safe_dump(index))
    with pytest.raises(ReleaseError, match=r"release_date 2026-02-02 differs from index.yml"):
        check_release(str(tmp_path), "1.0.0")


def test_a_migration_not_named_by_the_rules_is_refused(tmp_path):
    files = dict(DEFAULT_FILES, **{"migrations/mysql/cloud_followup/2_add.sql": b"SELECT 1;\n"})
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest_for("1.0.0", files))
    with pytest.raises(ReleaseError, match=r"is not named V<NNN>__<description>"):
        verify_tarball(str(tarball), version="1.0.0")


def test_sha_helper_matches_hashlib():
    assert sha(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    "evil", ["components/app//tmp/x", "components/app/./x", "components/app/../../etc/x", "/etc/cron.d/x", ""]
)
def test_paths_that_could_leave_the_release_directory_are_refused(tmp_path, evil):
    files = dict(DEFAULT_FILES, **{evil: b"x\n"}) if evil else dict(DEFAULT_FILES)
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    manifest["files"][evil] = sha(b"x\n")
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", files, manifest)
    with pytest.raises(ReleaseError, match=r"must be relative|lies outside"):
        verify_tarball(str(tarball), version="1.0.0")


def test_is_plain_relative():
    from ansible.module_utils.followup_release import is_plain_relative

    assert is_plain_relative("components/app/a.py")
    for bad in ("", "/a", "a//b", "a/./b", "a/../b", "a/", "a\\b"):
        assert not is_plain_relative(bad), bad
