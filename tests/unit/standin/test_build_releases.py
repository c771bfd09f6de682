"""tools/build_releases.py: reproducible tarballs, complete manifests, index, refusal of bad catalogues."""

import hashlib
import io
import shutil
import tarfile
from datetime import UTC, datetime

import build_releases
import pytest
import yaml
from standin_paths import STANDIN


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output = tmp_path_factory.mktemp("releases")
    build_releases.build(STANDIN, output, out=io.StringIO())
    return output


def catalogue():
    return yaml.safe_load((STANDIN / "releases.yml").read_text(encoding="utf-8"))


def read_tar(path):
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
        files = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
    return members, files


def test_catalogue_has_the_three_releases():
    releases = {r["version"]: r["release_date"] for r in catalogue()["releases"]}
    assert releases == {"1.0.0": "2026-02-02", "1.1.0": "2026-05-18", "1.2.0": "2026-09-07"}


def test_building_twice_gives_identical_bytes(built, tmp_path):
    build_releases.build(STANDIN, tmp_path, out=io.StringIO())
    for release in catalogue()["releases"]:
        name = f"followup-{release['version']}.tar.gz"
        assert (tmp_path / name).read_bytes() == (built / name).read_bytes(), name
    assert (tmp_path / "index.yml").read_bytes() == (built / "index.yml").read_bytes()


def test_caches_in_the_source_do_not_change_the_tarball(built, tmp_path):
    source = tmp_path / "standin"
    shutil.copytree(STANDIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    cache = source / "components" / "app" / "followup_app" / "__pycache__"
    cache.mkdir()
    (cache / "api.cpython-311.pyc").write_bytes(b"junk")
    (source / "common" / "followup_common" / "stray.pyc").write_bytes(b"junk")
    (source / "components" / "app" / "followup_app" / "_release.py").write_text("VERSION = 'dev'\n")
    output = tmp_path / "out"
    build_releases.build(source, output, out=io.StringIO())
    assert (output / "followup-1.2.0.tar.gz").read_bytes() == (built / "followup-1.2.0.tar.gz").read_bytes()


def test_a_changed_source_byte_changes_the_tarball(built, tmp_path):
    source = tmp_path / "standin"
    shutil.copytree(STANDIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    init = source / "components" / "voice" / "followup_voice" / "__init__.py"
    init.write_text(init.read_text() + "\n")
    build_releases.build(source, tmp_path / "out", only="1.0.0", out=io.StringIO())
    assert (tmp_path / "out" / "followup-1.0.0.tar.gz").read_bytes() != (built / "followup-1.0.0.tar.gz").read_bytes()


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0"])
def test_tar_entries_are_normalised(built, version):
    path = built / f"followup-{version}.tar.gz"
    raw = path.read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00", "gzip header mtime must be 0"
    release = next(r for r in catalogue()["releases"] if r["version"] == version)
    midnight = int(datetime.fromisoformat(release["release_date"]).replace(tzinfo=UTC).timestamp())
    members, _ = read_tar(path)
    names = [m.name.rstrip("/") for m in members]
    assert names == sorted(names)
    for member in members:
        assert member.name.startswith(f"followup-{version}/") or member.name == f"followup-{version}"
        assert member.isfile() or member.isdir(), member.name
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == midnight
        assert member.mode in (0o644, 0o755)
        if member.isdir():
            assert member.mode == 0o755
        assert "__pycache__" not in member.name and not member.name.endswith(".pyc")
        assert ".." not in member.name.split("/") and not member.name.startswith("/")


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0"])
def test_manifest_lists_every_file_with_its_sha256(built, version):
    _, files = read_tar(built / f"followup-{version}.tar.gz")
    top = f"followup-{version}/"
    manifest = yaml.safe_load(files.pop(top + "manifest.yml"))
    assert manifest["format"] == 1 and manifest["product"] == "followup"
    assert manifest["version"] == version
    assert isinstance(manifest["release_date"], str)
    payload = {name[len(top) :]: data for name, data in files.items()}
    assert set(manifest["files"]) == set(payload)
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256(payload[rel]).hexdigest() == digest, rel
    release_py = payload["components/app/followup_app/_release.py"].decode()
    assert f'VERSION = "{version}"' in release_py and "RELEASE_DATE" in release_py
    for name in ("app", "fep", "voice"):
        assert f"components/{name}/followup_{name}/__main__.py" in payload
        assert f"components/{name}/followup_common/httpd.py" in payload


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.2.0"])
def test_manifest_components_and_migrations(built, version):
    _, files = read_tar(built / f"followup-{version}.tar.gz")
    manifest = yaml.safe_load(files[f"followup-{version}/manifest.yml"])
    assert manifest["components"] == {
        "app": {
            "start": "/usr/bin/python3 -m followup_app",
            "port": 8080,
            "health": {"type": "http", "path": "/health"},
        },
        "fep": {
            "start": "/usr/bin/python3 -m followup_fep",
            "port": 8081,
            "health": {"type": "http", "path": "/health"},
        },
        "voice": {
            "start": "/usr/bin/python3 -m followup_voice",
            "port": 8090,
            "health": {"type": "http", "path": "/health"},
        },
    }
    release = next(r for r in catalogue()["releases"] if r["version"] == version)
    for engine, databases in release["schema"].items():
        for database, level in databases.items():
            listed = manifest["migrations"][engine][database]
            assert [int(name[1:4]) for name in listed] == list(range(1, level + 1))
            for name in listed:
                assert f"migrations/{engine}/{database}/{name}" in manifest["files"]


def test_index_names_each_tarball_with_its_sha256(built):
    index = yaml.safe_load((built / "index.yml").read_text(encoding="utf-8"))
    assert index["format"] == 1 and index["product"] == "followup"
    assert [entry["version"] for entry in index["releases"]] == ["1.0.0", "1.1.0", "1.2.0"]
    for entry in index["releases"]:
        assert entry["file"] == f"followup-{entry['version']}.tar.gz"
        assert hashlib.sha256((built / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert '"2026-02-02"' in (built / "index.yml").read_text(encoding="utf-8")


def test_only_builds_one_release_and_indexes_what_is_present(tmp_path, capsys):
    assert build_releases.main(["--source", str(STANDIN), "--output", str(tmp_path), "--only", "1.1.0"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.tar.gz")) == ["followup-1.1.0.tar.gz"]
    index = yaml.safe_load((tmp_path / "index.yml").read_text(encoding="utf-8"))
    assert [entry["version"] for entry in index["releases"]] == ["1.1.0"]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("followup-1.1.0.tar.gz sha256=")


def bad_source(tmp_path, edit):
    source = tmp_path / "standin"
    shutil.copytree(STANDIN, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    data = yaml.safe_load((source / "releases.yml").read_text(encoding="utf-8"))
    edit(data, source)
    (source / "releases.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return source


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d, s: d["releases"][0].update(version="1.0"), "MAJOR.MINOR.PATCH"),
        (lambda d, s: d["releases"][1].update(version="1.0.0"), "appears twice"),
        (lambda d, s: d["releases"][0].update(release_date="2026-13-01"), "release_date"),
        (lambda d, s: d["releases"][2]["schema"]["mysql"].update(cloud_followup=99), "lacks V007"),
        (lambda d, s: d["releases"][2]["schema"]["mongodb"].update(cdr=1), "goes down"),
        (lambda d, s: d["components"].pop("voice"), "components"),
        (lambda d, s: (s / "migrations/mysql/cloud_followup/V02__bad name.sql").write_text("x"), "migration name"),
        (lambda d, s: (s / "migrations/mysql/cloud_followup/V002__again.sql").write_text("x"), "already used"),
    ],
)
def test_bad_catalogue_is_refused_with_one_line(tmp_path, capsys, edit, words):
    source = bad_source(tmp_path, edit)
    assert build_releases.main(["--source", str(source), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("build_releases: error:") and words in err
    assert not list((tmp_path / "out").glob("*.tar.gz")) if (tmp_path / "out").exists() else True


def test_unknown_only_version_is_refused(tmp_path, capsys):
    assert build_releases.main(["--source", str(STANDIN), "--output", str(tmp_path), "--only", "9.9.9"]) == 1
    assert "known: 1.0.0, 1.1.0, 1.2.0" in capsys.readouterr().err


def test_the_builder_uses_the_one_migration_name_pattern_of_the_release_format():
    from ansible.module_utils import followup_release

    assert build_releases.MIGRATION_RE is followup_release.MIGRATION_RE
    assert build_releases.VERSION_RE.match("1.0.0") and not build_releases.VERSION_RE.match("1.0.0\n")


def test_a_signed_build_passes_the_release_gate_with_the_signers_it_writes(tmp_path, capsys):
    key = tmp_path / "lab" / "release-key"
    signers_file = tmp_path / "inventory" / "release_signers.yml"
    output = tmp_path / "releases"
    argv = ["--source", str(STANDIN), "--output", str(output), "--sign-key", str(key), "--signers-file"]
    assert build_releases.main([*argv, str(signers_file)]) == 0
    assert oct(key.stat().st_mode)[-3:] == "600" and oct(key.parent.stat().st_mode)[-3:] == "700"
    assert "index.yml.sig signed by lab-release@followup-ops.lab" in capsys.readouterr().out
    from ansible.module_utils.followup_release import check_release

    listed = yaml.safe_load(signers_file.read_text())["followup_release_signers"]
    assert len(listed) == 1 and listed[0].startswith('lab-release@followup-ops.lab namespaces="followup-release" ')
    entry, manifest, releases, signer = check_release(str(output), listed, "1.2.0")
    assert entry["file"] == "followup-1.2.0.tar.gz"
    assert signer["principal"] == "lab-release@followup-ops.lab" and manifest["version"] == "1.2.0"
    assert [r["version"] for r in releases] == ["1.0.0", "1.1.0", "1.2.0"]
    first_key = key.read_bytes()
    assert build_releases.main([*argv, str(signers_file)]) == 0
    assert key.read_bytes() == first_key, "an existing key is kept"


def test_an_unsigned_build_removes_a_stale_signature(tmp_path, capsys):
    key = tmp_path / "release-key"
    argv = ["--source", str(STANDIN), "--output", str(tmp_path / "out"), "--only", "1.0.0"]
    assert build_releases.main([*argv, "--sign-key", str(key)]) == 0
    assert (tmp_path / "out" / "index.yml.sig").is_file()
    assert build_releases.main(argv) == 0
    assert not (tmp_path / "out" / "index.yml.sig").exists()
    assert "index.yml is not signed: the release gate refuses it" in capsys.readouterr().err


def test_a_signing_key_readable_by_others_is_refused(tmp_path, capsys):
    key = tmp_path / "release-key"
    argv = ["--source", str(STANDIN), "--output", str(tmp_path / "out"), "--only", "1.0.0", "--sign-key", str(key)]
    assert build_releases.main(argv) == 0
    key.chmod(0o644)
    assert build_releases.main(argv) == 1
    assert "readable by its owner only (chmod 600" in capsys.readouterr().err
