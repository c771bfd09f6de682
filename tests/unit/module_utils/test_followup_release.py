"""The release verification of module_utils/followup_release.py: a signed index, one streamed read of the tarball,
a strict manifest. Every way a release can be wrong is refused with a ReleaseError naming the file and field."""

import copy
import gzip
import io
import tarfile

import pytest
import yaml
from ansible.module_utils.followup_release import (
    MIGRATION_RE,
    ReleaseError,
    check_release,
    component_checks,
    parse_index,
    parse_listen,
    parse_start,
    read_signed_index,
    scan_tarball,
    validate_manifest,
    verify_tarball,
)
from releasekit import (
    DEFAULT_FILES,
    index_entry,
    make_repository,
    manifest_for,
    sha,
    sign_index,
    signer_line,
    signers,
    write_index,
    write_tarball,
)


def tarball_with(tmp_path, files=None, manifest=None, version="1.0.0", **kwargs):
    files = dict(DEFAULT_FILES) if files is None else files
    manifest = manifest_for(version, files) if manifest is None else manifest
    return write_tarball(tmp_path / f"followup-{version}.tar.gz", version, files, manifest, **kwargs)


def verify(tarball, version="1.0.0"):
    return verify_tarball(str(tarball), sha(tarball.read_bytes()), version)


# --- The signed index ----------------------------------------------------------------------------------------------


def test_a_good_signed_release_passes_and_returns_its_manifest_and_signer(tmp_path):
    make_repository(tmp_path)
    entry, manifest, releases, signer = check_release(str(tmp_path), signers(), "1.1.0")
    assert entry["version"] == "1.1.0" and entry["path"] == str(tmp_path / "followup-1.1.0.tar.gz")
    assert manifest["components"]["app"] == {
        "start": "/usr/bin/python3 -m followup_app",
        "port": 8080,
        "health": {"type": "http", "path": "/health"},
    }
    assert [r["version"] for r in releases] == ["1.0.0", "1.1.0"]
    assert signer["principal"] == "vendor@releases.test" and signer["key"].startswith("ED25519 key SHA256:")


def test_an_unsigned_index_is_refused(tmp_path):
    make_repository(tmp_path, key=None)
    with pytest.raises(ReleaseError, match=r"index\.yml\.sig is missing: the release index is not signed"):
        read_signed_index(str(tmp_path), signers())


def test_an_index_signed_by_another_key_is_refused(tmp_path):
    make_repository(tmp_path, key="intruder")
    with pytest.raises(ReleaseError, match=r"index\.yml is signed by a key that is not in followup_release_signers"):
        read_signed_index(str(tmp_path), signers())


def test_an_index_modified_after_signing_is_refused(tmp_path):
    paths = make_repository(tmp_path)
    index = tmp_path / "index.yml"
    forged = index.read_text().replace(sha(paths["1.0.0"].read_bytes()), "0" * 64)
    index.write_text(forged)
    with pytest.raises(ReleaseError, match=r"does not match .*index\.yml: it was changed after it was signed"):
        read_signed_index(str(tmp_path), signers())


def test_an_index_resigned_by_an_untrusted_key_after_a_change_is_refused(tmp_path):
    make_repository(tmp_path)
    index = tmp_path / "index.yml"
    index.write_text(index.read_text() + "# changed\n")
    sign_index(tmp_path, key="intruder")
    with pytest.raises(ReleaseError, match=r"not in followup_release_signers"):
        read_signed_index(str(tmp_path), signers())


def test_a_signature_made_for_another_namespace_is_refused(tmp_path):
    make_repository(tmp_path)
    sign_index(tmp_path, namespace="followup-approval")
    with pytest.raises(ReleaseError, match=r'not made for namespace "followup-release"'):
        read_signed_index(str(tmp_path), signers())


def test_a_second_trusted_signer_is_accepted_during_a_key_change(tmp_path):
    make_repository(tmp_path, key="next-vendor-key")
    releases, signer = read_signed_index(str(tmp_path), signers("vendor", "next-vendor-key"))
    assert signer["principal"] == "next-vendor-key@releases.test" and len(releases) == 2


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([], "followup_release_signers is empty"),
        (["CHANGE-ME"], "followup_release_signers[0] is still the placeholder CHANGE-ME"),
        (None, "followup_release_signers is not set"),
        ("vendor ssh-ed25519 AAAA", "must be a list of allowed_signers lines"),
        ([42], "followup_release_signers[0] must be a text line"),
        (["vendor@x ssh-ed25519"], "is not an allowed_signers line"),
        (['vendor@x namespaces="followup-release" ssh-ed25519 bm90IGEga2V5'], "not a valid ssh-ed25519 public key"),
    ],
)
def test_an_unusable_signer_list_is_refused_naming_the_variable(tmp_path, value, words):
    make_repository(tmp_path)
    with pytest.raises(ReleaseError) as caught:
        read_signed_index(str(tmp_path), value)
    assert words in str(caught.value) and "set followup_release_signers in the inventory" in str(caught.value)


def test_a_signer_not_restricted_to_the_release_namespace_is_refused(tmp_path):
    make_repository(tmp_path)
    for options, words in [("", "unrestricted"), ('namespaces="followup-release,file"', "it is namespaces=")]:
        with pytest.raises(ReleaseError, match=words):
            read_signed_index(str(tmp_path), [signer_line(options=options)])


def test_a_newline_in_a_signer_line_cannot_add_a_signer(tmp_path):
    make_repository(tmp_path, key="intruder")
    smuggled = signer_line("vendor") + "\n" + signer_line("intruder")
    with pytest.raises(ReleaseError, match=r"control character \(a newline would add another signer\)"):
        read_signed_index(str(tmp_path), [smuggled])


def test_a_release_missing_from_the_index_is_refused_with_the_available_ones(tmp_path):
    make_repository(tmp_path)
    with pytest.raises(ReleaseError, match=r"release 9\.9\.9 is not in .*index\.yml \(available: 1\.0\.0, 1\.1\.0\)"):
        check_release(str(tmp_path), signers(), "9.9.9")


def test_index_is_sorted_by_version_not_by_text(tmp_path):
    make_repository(tmp_path, versions=("1.10.0", "1.9.0"), dates=("2026-06-01", "2026-03-01"))
    releases, _ = read_signed_index(str(tmp_path), signers())
    assert [r["version"] for r in releases] == ["1.9.0", "1.10.0"]


def test_a_missing_repository_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match=r"does not exist"):
        read_signed_index(str(tmp_path / "nowhere"), signers())


def index_bytes(**entry):
    base = {"version": "1.0.0", "release_date": "2026-02-02", "file": "followup-1.0.0.tar.gz", "sha256": "a" * 64}
    base.update(entry)
    base = {k: v for k, v in base.items() if v is not None}
    return yaml.safe_dump({"format": 1, "product": "followup", "releases": [base]}).encode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (index_bytes(sha256=None), "releases[0] lacks 'sha256'"),
        (index_bytes(sha256="A" * 64), "not 64 lower-case hex digits"),
        (index_bytes(version="1.0.0\n"), "is not MAJOR.MINOR.PATCH"),
        (index_bytes(version="١.٠.٠"), "is not MAJOR.MINOR.PATCH"),
        (index_bytes(version=1.0), "must be quoted text"),
        (index_bytes(file="../followup-1.0.0.tar.gz"), "must be followup-1.0.0.tar.gz"),
        (index_bytes(release_date="2026-02-30"), "is not a date"),
        (index_bytes(release_date="٢٠٢٦-٠٢-٠٢"), "is not a date"),
        (index_bytes(extra="x"), "unknown field 'extra'"),
        (b"format: 1\nproduct: followup\nproduct: other\nreleases: []\n", "key 'product' is given twice"),
        (b"format: 2\nproduct: followup\nreleases: []\n", "format must be 1"),
        (b"- just a list\n", "must be a YAML mapping"),
    ],
)
def test_a_wrongly_shaped_index_is_refused_naming_the_field(data, words):
    with pytest.raises(ReleaseError) as caught:
        parse_index(data, "index.yml")
    assert words in str(caught.value)


def test_a_tarball_whose_sha256_differs_from_the_signed_index_is_refused_naming_it(tmp_path):
    paths = make_repository(tmp_path)
    with open(paths["1.0.0"], "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ReleaseError, match=r"followup-1\.0\.0\.tar\.gz: sha256 [0-9a-f]{64} differs from the index"):
        check_release(str(tmp_path), signers(), "1.0.0")


def test_a_missing_tarball_is_refused(tmp_path):
    paths = make_repository(tmp_path)
    paths["1.1.0"].unlink()
    with pytest.raises(ReleaseError, match=r"followup-1\.1\.0\.tar\.gz is missing"):
        check_release(str(tmp_path), signers(), "1.1.0")


def test_a_release_date_differing_between_index_and_manifest_is_refused(tmp_path):
    paths = make_repository(tmp_path)
    entry = index_entry(paths["1.0.0"], "1.0.0", "2026-01-01")
    write_index(tmp_path, [entry])
    with pytest.raises(ReleaseError, match=r"release_date 2026-02-02 differs from index.yml"):
        check_release(str(tmp_path), signers(), "1.0.0")


# --- One streamed read of the tarball ------------------------------------------------------------------------------


class SeekCountingFile(io.BytesIO):
    """An in-memory file that counts seeks: one streamed read of the tarball never seeks back."""

    seeks = 0

    def seek(self, *args):
        self.seeks += 1
        return super().seek(*args)


def test_the_tarball_is_hashed_and_parsed_from_one_read_without_seeking(tmp_path):
    tarball = tarball_with(tmp_path)
    handle = SeekCountingFile(tarball.read_bytes())
    manifest = scan_tarball(handle, sha(tarball.read_bytes()), "1.0.0", tarball.name)
    assert manifest["version"] == "1.0.0"
    assert handle.seeks == 0 and handle.tell() == len(tarball.read_bytes())


def test_nothing_is_trusted_before_the_digest_matches(tmp_path):
    """A tampered tarball whose manifest is broken is reported as tampered (digest first), not as a bad manifest."""
    tarball = tarball_with(tmp_path, manifest=b"version: [broken\n")
    with pytest.raises(ReleaseError, match=r"differs from the index"):
        verify_tarball(str(tarball), "0" * 64, "1.0.0")
    with pytest.raises(ReleaseError, match=r"is not valid YAML"):
        verify(tarball)


def test_a_file_that_is_not_a_tarball_is_refused(tmp_path):
    garbage = tmp_path / "followup-1.0.0.tar.gz"
    garbage.write_bytes(b"not a tarball at all")
    with pytest.raises(ReleaseError, match=r"is not a gzip-compressed tar archive"):
        verify(garbage)
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(tarball_with(tmp_path).read_bytes()[:200])
    with pytest.raises(ReleaseError, match=r"is not a gzip-compressed tar archive"):
        verify(truncated)


@pytest.mark.parametrize("evil_first", [False, True])
def test_a_tarball_with_duplicate_member_names_is_refused(tmp_path, evil_first):
    """Whichever copy a reader keeps (the gate once kept the last, the host the first), two copies are refused."""
    good, evil = b"print('app')\n", b"print('evil')\n"
    name = "components/app/followup_app/__main__.py"
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    manifest["files"][name] = sha(evil if evil_first else good)
    tarball = tmp_path / "followup-1.0.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for member, data in [
            ("manifest.yml", yaml.safe_dump(manifest).encode()),
            *sorted(DEFAULT_FILES.items()),
            (name, evil),
        ]:
            if member == name and evil_first:
                data = evil if data == good else good
            info = tarfile.TarInfo(f"followup-1.0.0/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(ReleaseError, match=r"member .*__main__\.py' appears twice"):
        verify(tarball)


def test_a_duplicate_manifest_member_is_refused(tmp_path):
    second = tarfile.TarInfo("followup-1.0.0/manifest.yml")
    data = yaml.safe_dump(manifest_for("1.0.0", DEFAULT_FILES)).encode()
    second.size = len(data)
    tarball = tarball_with(tmp_path, extra_members=[(second, data)])
    with pytest.raises(ReleaseError, match=r"manifest\.yml' appears twice"):
        verify(tarball)


def test_a_file_whose_sha256_differs_from_the_manifest_is_refused_naming_the_file(tmp_path):
    files = dict(DEFAULT_FILES)
    files["components/fep/followup_fep/__main__.py"] = b"print('evil')\n"
    tarball = tarball_with(tmp_path, files, manifest_for("1.0.0", DEFAULT_FILES))
    with pytest.raises(
        ReleaseError, match=r"file followup-1\.0\.0/components/fep/followup_fep/__main__\.py has sha256"
    ):
        verify(tarball)


def test_a_file_not_listed_in_the_manifest_is_refused(tmp_path):
    files = dict(DEFAULT_FILES, **{"components/app/extra.py": b"x = 1\n"})
    tarball = tarball_with(tmp_path, files, manifest_for("1.0.0", DEFAULT_FILES))
    with pytest.raises(ReleaseError, match=r"components/app/extra.py is not listed in the manifest"):
        verify(tarball)


def test_a_listed_file_missing_from_the_tarball_is_refused(tmp_path):
    files = dict(DEFAULT_FILES)
    del files["components/voice/followup_voice/__main__.py"]
    tarball = tarball_with(tmp_path, files, manifest_for("1.0.0", DEFAULT_FILES))
    with pytest.raises(ReleaseError, match=r"followup_voice/__main__.py is listed in the manifest but missing"):
        verify(tarball)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_links_and_special_files_are_refused(tmp_path, kind):
    link = tarfile.TarInfo("followup-1.0.0/components/app/passwd")
    link.type = kind
    link.linkname = "/etc/passwd"
    tarball = tarball_with(tmp_path, extra_members=[(link, None)])
    with pytest.raises(ReleaseError, match=r"is a link or special file"):
        verify(tarball)


@pytest.mark.parametrize(
    "name", ["followup-1.0.0/../../etc/cron.d/x", "/etc/cron.d/x", "other/x", "followup-1.0.0//x", "followup-1.0.0"]
)
def test_members_outside_the_release_folder_are_refused(tmp_path, name):
    outside = tarfile.TarInfo(name)
    outside.size = 1
    tarball = tarball_with(tmp_path, extra_members=[(outside, b"x")])
    with pytest.raises(ReleaseError, match=r"lies outside followup-1.0.0/|must be the release's top folder"):
        verify(tarball)


def test_a_member_name_with_a_newline_is_refused(tmp_path):
    odd = tarfile.TarInfo("followup-1.0.0/components/app/a\nb")
    odd.size = 1
    tarball = tarball_with(tmp_path, extra_members=[(odd, b"x")])
    with pytest.raises(ReleaseError, match=r"holds a control character"):
        verify(tarball)


def test_a_manifest_naming_another_version_is_refused(tmp_path):
    tarball = tarball_with(tmp_path, manifest=manifest_for("1.0.1", DEFAULT_FILES))
    with pytest.raises(ReleaseError, match=r"version 1.0.1 does not match the requested release 1.0.0"):
        verify(tarball)


def test_a_manifest_that_is_not_yaml_or_repeats_a_key_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match=r"is not valid YAML"):
        verify(tarball_with(tmp_path, manifest=b"version: [1.0.0\n"))
    text = yaml.safe_dump(manifest_for("1.0.0", DEFAULT_FILES)) + "version: 1.0.0\n"
    with pytest.raises(ReleaseError, match=r"key 'version' is given twice"):
        verify(tarball_with(tmp_path, manifest=text.encode()))


def test_a_manifest_missing_from_the_tarball_is_refused(tmp_path):
    tarball = write_tarball(tmp_path / "followup-1.0.0.tar.gz", "1.0.0", DEFAULT_FILES, None)
    with pytest.raises(ReleaseError, match=r"followup-1\.0\.0/manifest\.yml is missing"):
        verify(tarball)


def test_a_tar_inside_gzip_with_trailing_bytes_is_hashed_completely(tmp_path):
    """Bytes after the end of the tar archive are part of the signed digest: appending any changes it."""
    tarball = tarball_with(tmp_path)
    good = sha(tarball.read_bytes())
    with open(tarball, "ab") as handle:
        handle.write(gzip.compress(b"\0" * 1024))
    with pytest.raises(ReleaseError, match=r"differs from the index"):
        verify_tarball(str(tarball), good, "1.0.0")


# --- The strict manifest -------------------------------------------------------------------------------------------


def good_manifest():
    return manifest_for("1.0.0", DEFAULT_FILES)


def edited(path, value):
    """A good manifest with the field at PATH (a tuple of keys) set to VALUE (or removed for DELETE)."""
    manifest = good_manifest()
    target = manifest
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return manifest


DELETE = object()

BAD_MANIFESTS = [
    # field, value, words of the refusal
    (("format",), True, "format True is not supported"),
    (("format",), "1", "format '1' is not supported"),
    (("product",), ["followup"], "product ['followup'] is not 'followup'"),
    (("version",), 1.0, "version 1.0 is not quoted text MAJOR.MINOR.PATCH"),
    (("version",), "1.0.0\n", "version '1.0.0\\n' is not quoted text"),
    (("version",), "١.٠.٠", "is not quoted text MAJOR.MINOR.PATCH"),
    (("release_date",), 20260202, "release_date must be a date YYYY-MM-DD"),
    (("release_date",), "2026-02-02\n", "is not a date YYYY-MM-DD"),
    (("release_date",), "2026-02-31", "is not a date YYYY-MM-DD"),
    (("description",), {"zh": "x"}, "description must be text"),
    (("surprise",), 1, "unknown field 'surprise'"),
    (("components",), ["app"], "'components' must be a mapping"),
    (("components", "app"), "start", "component app must be a mapping"),
    (("components", "extra"), {}, "unknown field 'extra'"),
    (("components", "voice"), DELETE, "lacks the component 'voice'"),
    (("components", "voice", "port"), DELETE, "component voice lacks 'port'"),
    (("components", "app", "port"), "8080", "port '8080' is not a TCP port"),
    (("components", "app", "port"), True, "port True is not a TCP port"),
    (("components", "app", "port"), 0, "port 0 is not a TCP port"),
    (("components", "app", "port"), 65536, "port 65536 is not a TCP port"),
    (("components", "app", "user"), "root", "unknown field 'user'"),
    (("components", "app", "start"), ["/usr/bin/python3"], "start must be text"),
    (("components", "app", "start"), "/usr/bin/python3 -m x\nUser=root", "holds a control character"),
    (("components", "app", "start"), "/usr/bin/python3\tx", "holds a control character"),
    (("components", "app", "start"), "python3 -m followup_app", "must begin with the absolute path"),
    (("components", "app", "start"), "-/usr/bin/python3 -m x", "must begin with the absolute path"),
    (("components", "app", "start"), "+/usr/bin/python3 -m x", "must begin with the absolute path"),
    (("components", "app", "start"), "@/usr/bin/python3 x", "must begin with the absolute path"),
    (("components", "app", "start"), "/usr/../bin/sh -c id", "must begin with the absolute path"),
    (("components", "app", "start"), "/usr/bin/python3 -m x%n", "argument 'x%n' may hold only"),
    (("components", "app", "start"), "/usr/bin/python3 $HOME", "argument '$HOME' may hold only"),
    (("components", "app", "start"), "/usr/bin/python3 ; /bin/sh", "argument ';' may hold only"),
    (("components", "app", "start"), "/usr/bin/python3 a\\nb", "may hold only"),
    (("components", "app", "start"), "/usr/bin/python3 'a b'", "may hold only"),
    (("components", "app", "start"), "/usr/bin/python3 –m", "may hold only"),
    (("components", "app", "health"), "http", "health must be a mapping"),
    (("components", "app", "health", "type"), "grpc", "health.type must be one of http, tcp, sip"),
    (("components", "app", "health", "path"), "health", "health.path must be a path like /health"),
    (("components", "app", "health", "path"), "/health?x=%0a", "health.path must be a path like /health"),
    (("components", "app", "health", "path"), 5, "health.path must be a path like /health"),
    (("components", "app", "health", "timeout"), 5, "unknown field 'timeout'"),
    (("migrations",), ["V001__a.sql"], "'migrations' must be a mapping"),
    (("migrations", "postgres"), {}, "migrations engine 'postgres' is neither mysql nor mongodb"),
    (("migrations", "mysql"), ["x"], "migrations.mysql must be a mapping"),
    (("migrations", "mysql", "cloud_followup"), "V001__create_core_tables.sql", "must be a list of scripts"),
    (("migrations", "mysql", "cloud_followup"), [1], "migration 1 is not named V<NNN>"),
    (("migrations", "mysql", "cloud_followup"), ["V001__x.sql\n"], "is not named V<NNN>"),
    (("migrations", "mysql", "cloud_followup"), ["V٠٠١__x.sql"], "is not named V<NNN>"),
    (("migrations", "mysql", "cloud_followup"), ["V001__create_core_tables.yml"], "must end in .sql for mysql"),
    (("migrations", "mysql", "../x"), [], "database '../x' must be letters, digits and _"),
    (("migrations", "mysql", "cloud_followup"), ["V002__b.sql"], "migrations/mysql/cloud_followup/V002__b.sql is not"),
    (("files",), [], "'files' must map each file to its sha256"),
    (("files",), {}, "'files' must map each file to its sha256"),
    (("files", "components/app/followup_app/__init__.py"), "ABC", "is not 64 lower-case hex digits"),
    (("files", "components/app/followup_app/__init__.py"), None, "is not 64 lower-case hex digits"),
    (("files", 7), "a" * 64, "file path 7 must be relative"),
]


@pytest.mark.parametrize(("path", "value", "words"), BAD_MANIFESTS, ids=[str(b[:2])[:60] for b in BAD_MANIFESTS])
def test_a_wrongly_typed_or_shaped_manifest_field_is_a_refusal_naming_it(path, value, words):
    with pytest.raises(ReleaseError) as caught:
        validate_manifest(edited(path, value), "1.0.0", "followup-1.0.0.tar.gz: manifest.yml")
    message = str(caught.value)
    assert words in message and message.startswith("followup-1.0.0.tar.gz: manifest.yml")
    assert "\n" not in message


@pytest.mark.parametrize("field", ["version", "release_date", "components", "files", "migrations", "format"])
def test_a_manifest_missing_a_required_field_is_refused_naming_the_field(tmp_path, field):
    manifest = good_manifest()
    del manifest[field]
    with pytest.raises(ReleaseError, match=rf"manifest.yml lacks the required field '{field}'"):
        verify(tarball_with(tmp_path, manifest=manifest))


def test_a_good_manifest_is_normalised_and_not_changed_in_place():
    manifest = good_manifest()
    manifest["components"]["app"]["start"] = "/usr/bin/python3  -m   followup_app"
    before = copy.deepcopy(manifest)
    result = validate_manifest(manifest, "1.0.0")
    assert manifest == before
    assert result["components"]["app"]["start"] == "/usr/bin/python3 -m followup_app"


def test_a_tcp_or_sip_health_check_takes_no_path():
    manifest = good_manifest()
    manifest["components"]["voice"]["health"] = {"type": "sip"}
    assert validate_manifest(manifest)["components"]["voice"]["health"] == {"type": "sip"}
    manifest["components"]["voice"]["health"] = {"type": "tcp", "path": "/health"}
    with pytest.raises(ReleaseError, match=r"health.path is only for type http"):
        validate_manifest(manifest)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("components/app/migrations/mysql/cloud_followup/V009__evil.sql", "which would land in the release's"),
        ("components/app/.release.json", "which would overwrite the install record"),
        ("components/fep/.release.json", "which would overwrite the install record"),
        ("migrations/mysql/cloud_followup/V002__not_listed.sql", "is not in the manifest's migrations lists"),
        ("migrations/mysql/README.md", "is not migrations/<mysql|mongodb>/<database>/<script>"),
        ("components/other/x.py", "lies neither under components/"),
        ("README.md", "lies neither under components/"),
        ("components/app/cafe\u0301.py", "is not in Unicode normal form NFC"),
        ("components/app/a\x1bb.py", "holds a control character"),
    ],
)
def test_files_that_would_land_where_they_must_not_are_refused(tmp_path, path, words):
    files = dict(DEFAULT_FILES, **{path: b"x\n"})
    manifest = good_manifest()
    manifest["files"][path] = sha(b"x\n")
    with pytest.raises(ReleaseError) as caught:
        validate_manifest(manifest, "1.0.0")
    assert words in str(caught.value)
    if "\x1b" not in path and "\u0301" not in path:
        with pytest.raises(ReleaseError, match=words.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
            verify(tarball_with(tmp_path, files, manifest))


def test_the_gate_refuses_a_newline_in_start_and_a_component_file_under_migrations(tmp_path):
    """The two cases of the issue, end to end through a signed repository."""

    def newline(manifest):
        manifest["components"]["app"]["start"] = "/usr/bin/python3 -m followup_app\nUser=root\nExecStartPre=+/bin/sh"

    make_repository(tmp_path, manifests={"1.0.0": newline})
    with pytest.raises(ReleaseError, match=r"component app.start .* holds a control character"):
        check_release(str(tmp_path), signers(), "1.0.0")
    files = dict(DEFAULT_FILES, **{"components/app/migrations/mysql/cloud_followup/V002__evil.sql": b"DROP x;\n"})
    make_repository(tmp_path / "b", files=files)
    with pytest.raises(ReleaseError, match=r"lies under components/app/migrations/"):
        check_release(str(tmp_path / "b"), signers(), "1.1.0")


def test_a_migration_in_a_component_folder_deeper_down_is_only_a_component_file():
    manifest = good_manifest()
    manifest["files"]["components/app/followup_app/migrations/0001_initial.py"] = sha(b"x")
    assert "components/app/followup_app/migrations/0001_initial.py" in validate_manifest(manifest)["files"]


def test_migrations_must_be_listed_in_ascending_order_without_repeats():
    manifest = good_manifest()
    for name in ("V002__b.sql", "V003__c.sql"):
        manifest["files"][f"migrations/mysql/cloud_followup/{name}"] = sha(name.encode())
    manifest["migrations"]["mysql"]["cloud_followup"] = ["V001__create_core_tables.sql", "V003__c.sql", "V002__b.sql"]
    with pytest.raises(ReleaseError, match=r"V002__b.sql is out of order or repeats a version"):
        validate_manifest(manifest)
    manifest["migrations"]["mysql"]["cloud_followup"] = ["V001__create_core_tables.sql", "V002__b.sql", "V003__c.sql"]
    assert validate_manifest(manifest)["migrations"]["mysql"]["cloud_followup"][-1] == "V003__c.sql"


@pytest.mark.parametrize(
    "evil", ["components/app//tmp/x", "components/app/./x", "components/app/../../etc/x", "/etc/cron.d/x", ""]
)
def test_paths_that_could_leave_the_release_directory_are_refused(tmp_path, evil):
    files = dict(DEFAULT_FILES, **{evil: b"x\n"}) if evil else dict(DEFAULT_FILES)
    manifest = manifest_for("1.0.0", DEFAULT_FILES)
    manifest["files"][evil] = sha(b"x\n")
    with pytest.raises(ReleaseError, match=r"must be relative|lies outside"):
        verify(tarball_with(tmp_path, files, manifest))


def test_is_plain_relative():
    from ansible.module_utils.followup_release import is_plain_relative

    assert is_plain_relative("components/app/a.py")
    for bad in ("", "/a", "a//b", "a/./b", "a/../b", "a/", "a\\b", None, 3):
        assert not is_plain_relative(bad), bad


def test_start_commands_that_systemd_runs_as_written_pass():
    assert parse_start("/usr/bin/python3 -m followup_app", "start") == "/usr/bin/python3 -m followup_app"
    assert parse_start("/opt/x/bin/run --port=8080 --conf=/etc/x,y@z:1+2", "s").endswith("--conf=/etc/x,y@z:1+2")


def test_the_one_migration_name_pattern_is_anchored_and_ascii():
    assert MIGRATION_RE.match("V001__create_core_tables.sql")
    for bad in ("V001__x.sql\n", "V01__x.sql", "V001__x.sh", "V٠٠١__x.sql", "xV001__x.sql", "V001__a-b.sql"):
        assert not MIGRATION_RE.match(bad), bad


def test_listen_addresses_are_parsed_strictly():
    assert parse_listen("10.89.50.12:8080") == ("10.89.50.12", 8080)
    assert parse_listen("[::1]:8081") == ("::1", 8081)
    for bad in ("10.89.50.12", "10.89.50.12:0", "host:99999", "a b:80", ":80", "x:80\n", 8080):
        with pytest.raises(ReleaseError, match=r"is not host:port|must be host:port"):
            parse_listen(bad)


def test_the_health_check_uses_the_listen_host_and_the_manifest_port():
    manifest = validate_manifest(good_manifest())
    checks, fact = component_checks("app", manifest, "10.89.50.12:8080", "/opt/followup/app")
    assert checks == [{"name": "followup-app", "type": "http", "host": "10.89.50.12", "port": 8080, "path": "/health"}]
    assert fact == {
        "component": "app",
        "root": "/opt/followup/app",
        "unit": "followup-app",
        "listen": "10.89.50.12:8080",
        "services": ["followup-app"],
        "checks": checks,
    }
    assert component_checks("fep", manifest, "0.0.0.0:8081", "/r")[0][0]["host"] == "127.0.0.1"
    with pytest.raises(ReleaseError, match=r"listen 10.89.50.12:9090: its port differs from the port 8080"):
        component_checks("app", manifest, "10.89.50.12:9090", "/opt/followup/app")
