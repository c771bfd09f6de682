"""Build small release tarballs for tests, following docs/releases.md, with knobs to break them."""

import hashlib
import io
import tarfile

import yaml

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


def sha(data):
    return hashlib.sha256(data).hexdigest()


def manifest_for(version, files, release_date="2026-02-02"):
    migrations = {"mysql": {}, "mongodb": {}}
    for path in sorted(files):
        parts = path.split("/")
        if parts[0] == "migrations":
            migrations[parts[1]].setdefault(parts[2], []).append(parts[3])
    return {
        "format": 1,
        "product": "followup",
        "version": version,
        "release_date": release_date,
        "components": {k: dict(v) for k, v in COMPONENTS.items()},
        "migrations": migrations,
        "files": {path: sha(data) for path, data in sorted(files.items())},
    }


def write_tarball(path, version, files, manifest, extra_members=(), top=None):
    """Write a .tar.gz with FILES and MANIFEST under followup-<version>/ (or TOP)."""
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


def make_repository(root, versions=("1.0.0", "1.1.0"), dates=("2026-02-02", "2026-05-18"), files=None):
    """A release repository with index.yml; returns {version: tarball path}."""
    root.mkdir(parents=True, exist_ok=True)
    entries, paths = [], {}
    for version, day in zip(versions, dates, strict=True):
        payload = dict(files or DEFAULT_FILES)
        payload["components/app/followup_app/__init__.py"] = f"VERSION = '{version}'\n".encode()
        tarball = root / f"followup-{version}.tar.gz"
        write_tarball(tarball, version, payload, manifest_for(version, payload, day))
        entries.append(
            {"version": version, "release_date": day, "file": tarball.name, "sha256": sha(tarball.read_bytes())}
        )
        paths[version] = tarball
    (root / "index.yml").write_text(yaml.safe_dump({"format": 1, "product": "followup", "releases": entries}))
    return paths
