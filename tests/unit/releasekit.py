"""Build small release tarballs and signed release repositories for tests, following docs/releases.md, with knobs
to break them. Signing keys are throwaway ed25519 keys made once per test session with ssh-keygen."""

import atexit
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile

import yaml
from ansible.module_utils.followup_release import NAMESPACE
from ansible.module_utils.followup_sshsig import sign

COMPONENTS = {
    "app": {"start": "/usr/bin/python3 -m followup_app", "port": 8080, "health": {"type": "http", "path": "/health"}},
    "fep": {"start": "/usr/bin/python3 -m followup_fep", "port": 8081, "health": {"type": "http", "path": "/health"}},
    "voice": {
        "start": "/usr/bin/python3 -m followup_voice",
        "port": 8090,
        "health": {"type": "http", "path": "/health"},
    },
}

DEFAULT_FILES = {
    "components/app/followup_app/__init__.py": b"VERSION = 'x'\n",
    "components/app/followup_app/__main__.py": b"print('app')\n",
    "components/fep/followup_fep/__main__.py": b"print('fep')\n",
    "components/voice/followup_voice/__main__.py": b"print('voice')\n",
    "migrations/mysql/cloud_followup/V001__create_core_tables.sql": b"CREATE TABLE patients (id INT PRIMARY KEY);\n",
    "migrations/mongodb/cdr/V001__create_collections.yml": (
        b"operations:\n  - create_collection: {name: call_records}\n"
    ),
}

_KEYS = {}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def release_key(name="vendor"):
    """Path of the private half of a throwaway ed25519 key pair NAME (its public half is PATH.pub)."""
    if name not in _KEYS:
        directory = tempfile.mkdtemp(prefix="releasekit-")
        atexit.register(shutil.rmtree, directory, True)
        path = os.path.join(directory, name)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name} test release key", "-f", path],
            check=True,
            capture_output=True,
        )
        _KEYS[name] = path
    return _KEYS[name]


def signer_line(name="vendor", principal=None, options=f'namespaces="{NAMESPACE}"'):
    """The allowed_signers line of key NAME, restricted to the release namespace unless OPTIONS says otherwise."""
    with open(release_key(name) + ".pub") as handle:
        key_type, key = handle.read().split()[:2]
    return " ".join(part for part in (principal or f"{name}@releases.test", options, key_type, key) if part)


def signers(*names):
    """followup_release_signers for the keys NAMES (default: the vendor's)."""
    return [signer_line(name) for name in names or ("vendor",)]


def sign_index(root, key="vendor", namespace=NAMESPACE):
    """(Re-)sign ROOT/index.yml with key KEY, writing ROOT/index.yml.sig."""
    data = (root / "index.yml").read_bytes()
    (root / "index.yml.sig").write_bytes(sign(data, release_key(key), namespace))


def manifest_for(version, files, release_date="2026-02-02"):
    migrations = {"mysql": {}, "mongodb": {}}
    for path in sorted(files):
        parts = path.split("/")
        if parts[0] == "migrations" and len(parts) == 4:
            migrations[parts[1]].setdefault(parts[2], []).append(parts[3])
    return {
        "format": 1,
        "product": "followup",
        "version": version,
        "release_date": release_date,
        "components": {k: {**v, "health": dict(v["health"])} for k, v in COMPONENTS.items()},
        "migrations": migrations,
        "files": {path: sha(data) for path, data in sorted(files.items())},
    }


def write_tarball(path, version, files, manifest, extra_members=(), top=None):
    """Write a .tar.gz with FILES and MANIFEST under followup-<version>/ (or TOP); MANIFEST may be raw bytes."""
    top = top or f"followup-{version}"
    with tarfile.open(path, "w:gz") as archive:

        def add(name, data, mode=0o644):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))

        if manifest is not None:
            add(
                "manifest.yml",
                yaml.safe_dump(manifest, allow_unicode=True).encode() if isinstance(manifest, dict) else manifest,
            )
        for name, data in sorted(files.items()):
            add(name, data, 0o755 if name.endswith(".sh") else 0o644)
        for member, data in extra_members:
            archive.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def write_index(root, entries, key="vendor"):
    """Write ROOT/index.yml listing ENTRIES and sign it with KEY (None: leave it unsigned)."""
    (root / "index.yml").write_text(yaml.safe_dump({"format": 1, "product": "followup", "releases": entries}))
    signature = root / "index.yml.sig"
    if signature.exists():
        signature.unlink()
    if key is not None:
        sign_index(root, key)


def index_entry(tarball, version, day):
    return {"version": version, "release_date": day, "file": tarball.name, "sha256": sha(tarball.read_bytes())}


def make_repository(
    root, versions=("1.0.0", "1.1.0"), dates=("2026-02-02", "2026-05-18"), files=None, key="vendor", manifests=None
):
    """A release repository with index.yml signed by KEY; returns {version: tarball path}.

    MANIFESTS may map a version to a function that edits its manifest (a dict) before the tarball is written.
    """
    root.mkdir(parents=True, exist_ok=True)
    entries, paths = [], {}
    for version, day in zip(versions, dates, strict=True):
        payload = dict(files or DEFAULT_FILES)
        payload["components/app/followup_app/__init__.py"] = f"VERSION = '{version}'\n".encode()
        manifest = manifest_for(version, payload, day)
        if manifests and version in manifests:
            manifests[version](manifest)
        tarball = root / f"followup-{version}.tar.gz"
        write_tarball(tarball, version, payload, manifest)
        entries.append(index_entry(tarball, version, day))
        paths[version] = tarball
    write_index(root, entries, key)
    return paths
