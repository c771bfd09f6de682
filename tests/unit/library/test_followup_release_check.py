"""The release gate module: the gate contract (a refusal is `refused`, never a failure) on signed repositories."""

import followup_release_check as module
import pytest
import yaml
from modulekit import run_module
from releasekit import make_repository, sign_index, signers


def gate(repo, version=None, signer_list=None, **extra):
    args = dict(repository=str(repo), signers=signers() if signer_list is None else signer_list, **extra)
    if version is not None:
        args["version"] = version
    return run_module(module, args)


def test_a_signed_release_passes_with_its_data(tmp_path):
    make_repository(tmp_path, versions=("1.0.0", "1.1.0", "1.2.0"), dates=("2026-02-02", "2026-05-18", "2026-09-07"))
    result = gate(tmp_path, "1.1.0")
    assert not result.get("failed") and result["changed"] is False and result["refused"] == []
    assert result["release"]["version"] == "1.1.0" and result["release"]["path"].endswith("followup-1.1.0.tar.gz")
    assert result["components"]["fep"]["port"] == 8081
    assert result["migrations"]["mysql"] == {"cloud_followup": ["V001__create_core_tables.sql"]}
    assert result["newest"]["version"] == "1.2.0" and [r["version"] for r in result["releases"]] == [
        "1.0.0",
        "1.1.0",
        "1.2.0",
    ]
    assert result["signer"]["principal"] == "vendor@releases.test"


def test_without_a_version_only_the_signed_index_is_read(tmp_path):
    paths = make_repository(tmp_path)
    paths["1.1.0"].write_bytes(b"damaged, but not asked for")
    result = gate(tmp_path)
    assert result["refused"] == [] and result["newest"]["version"] == "1.1.0" and "release" not in result
    assert result["signer"]["principal"] == "vendor@releases.test"


@pytest.mark.parametrize("version", [None, "1.0.0"])
def test_an_unsigned_index_is_a_refusal_not_a_failure(tmp_path, version):
    make_repository(tmp_path, key=None)
    result = gate(tmp_path, version)
    assert not result.get("failed") and result["changed"] is False
    assert len(result["refused"]) == 1 and "index.yml.sig is missing" in result["refused"][0]
    assert result["releases"] == [] and result["newest"] is None and result["signer"] is None
    assert "release" not in result and "components" not in result


def test_a_resigned_index_is_refused(tmp_path):
    make_repository(tmp_path)
    index = tmp_path / "index.yml"
    data = yaml.safe_load(index.read_text())
    data["releases"][0]["sha256"] = "0" * 64
    index.write_text(yaml.safe_dump(data))
    sign_index(tmp_path, key="intruder")
    result = gate(tmp_path, "1.0.0")
    assert result["refused"] == [f"{tmp_path}/index.yml is signed by a key that is not in followup_release_signers"]


@pytest.mark.parametrize(
    ("signer_list", "words"),
    [([], "followup_release_signers is empty"), (["CHANGE-ME"], "still the placeholder CHANGE-ME"), ([{}], "text")],
)
def test_unusable_signers_are_refusals(tmp_path, signer_list, words):
    make_repository(tmp_path)
    result = gate(tmp_path, "1.0.0", signer_list)
    assert not result.get("failed") and words in result["refused"][0]


def test_a_release_the_index_lacks_is_refused_with_the_signed_list_returned(tmp_path):
    make_repository(tmp_path)
    result = gate(tmp_path, "9.9.9")
    assert not result.get("failed")
    assert "release 9.9.9 is not in" in result["refused"][0] and "available: 1.0.0, 1.1.0" in result["refused"][0]
    assert [r["version"] for r in result["releases"]] == ["1.0.0", "1.1.0"] and "release" not in result


def test_a_wrongly_typed_manifest_is_a_refusal_not_a_traceback(tmp_path):
    def bad(manifest):
        manifest["components"]["app"]["port"] = {"a": 1}
        manifest["components"]["app"]["start"] = ["not", "text"]

    make_repository(tmp_path, manifests={"1.1.0": bad})
    result = gate(tmp_path, "1.1.0")
    assert not result.get("failed")
    assert result["refused"] == [
        "followup-1.1.0.tar.gz: followup-1.1.0/manifest.yml: component app.port {'a': 1} is not a TCP port "
        "(an integer 1-65535)"
    ]


def test_a_tampered_tarball_is_refused_naming_it(tmp_path):
    paths = make_repository(tmp_path)
    with open(paths["1.0.0"], "ab") as handle:
        handle.write(b"\0")
    result = gate(tmp_path, "1.0.0")
    assert "followup-1.0.0.tar.gz: sha256" in result["refused"][0] and "differs from the index" in result["refused"][0]


def test_bad_module_input_fails(tmp_path):
    result = run_module(module, dict(repository=str(tmp_path)))
    assert result["failed"] and "signers" in result["msg"]


def test_check_mode_gives_the_same_answer(tmp_path):
    make_repository(tmp_path)
    args = dict(repository=str(tmp_path), signers=signers(), version="1.0.0")
    assert run_module(module, args, check_mode=True)["release"] == run_module(module, args)["release"]


def test_an_older_signed_index_put_back_is_refused_against_the_record(tmp_path):
    repo, old = tmp_path / "releases", tmp_path / "old"
    make_repository(repo, versions=("1.0.0", "1.1.0", "1.2.0"), dates=("2026-02-02", "2026-05-18", "2026-09-07"))
    make_repository(old)
    seen = tmp_path / "records" / "releases-seen.json"
    assert gate(repo, seen_file=str(seen))["refused"] == [] and not seen.exists()  # status reads, does not record
    assert gate(repo, seen_file=str(seen), record_seen=True)["refused"] == [] and seen.exists()
    for name in ("index.yml", "index.yml.sig"):
        (repo / name).write_bytes((old / name).read_bytes())
    assert gate(repo)["newest"]["version"] == "1.1.0"  # without the record the old index passes
    result = gate(repo, seen_file=str(seen))
    assert len(result["refused"]) == 1 and "lists 1.1.0 as the newest release" in result["refused"][0]
    assert result["releases"] == [] and result["newest"] is None
