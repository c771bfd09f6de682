# -*- coding: utf-8 -*-
# Release repositories and release tarballs of the follow-up system: reading and verifying them.
# The format is fixed in docs/releases.md. Pure Python (PyYAML only), so the same code serves the
# Ansible modules (imported as ansible.module_utils.followup_release) and the followup-ops command line.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import hashlib
import os
import re
import tarfile

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    HAS_YAML = False

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MIGRATION_RE = re.compile(r"^V(\d{3,})__([A-Za-z0-9_]+)\.(sql|yml|py)$")
COMPONENTS = ("app", "fep", "voice")
MANIFEST = "manifest.yml"
INDEX = "index.yml"
HEALTH_TYPES = ("http", "tcp", "sip")
CHUNK = 1024 * 1024


class ReleaseError(Exception):
    """A release or repository that does not meet docs/releases.md. The message names the file."""


def is_plain_relative(path):
    """A relative path with no empty, '.' or '..' part: it cannot name anything outside its base directory."""
    if not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def version_key(version):
    match = VERSION_RE.match(str(version))
    if not match:
        raise ReleaseError("'%s' is not a release version (MAJOR.MINOR.PATCH, digits only)" % version)
    return tuple(int(x) for x in match.groups())


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_yaml(text, name):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = " line %d" % (mark.line + 1) if mark else ""
        raise ReleaseError("%s is not valid YAML%s" % (name, where))
    if not isinstance(data, dict):
        raise ReleaseError("%s must be a YAML mapping" % name)
    return data


def _date(value, where):
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if not DATE_RE.match(text):
        raise ReleaseError("%s: release_date '%s' is not an ISO date (YYYY-MM-DD)" % (where, value))
    return text


def read_index(repository):
    """Read <repository>/index.yml; return its releases sorted oldest first, each with an absolute `path`."""
    index_path = os.path.join(repository, INDEX)
    if not os.path.isdir(repository):
        raise ReleaseError("release repository %s does not exist or is not a directory" % repository)
    if not os.path.isfile(index_path):
        raise ReleaseError("%s is missing: the release repository has no index" % index_path)
    with open(index_path, "rb") as handle:
        data = _load_yaml(handle.read(), index_path)
    releases = data.get("releases")
    if not isinstance(releases, list) or not releases:
        raise ReleaseError("%s: 'releases' must be a non-empty list" % index_path)
    seen = set()
    result = []
    for i, entry in enumerate(releases):
        where = "%s: releases[%d]" % (index_path, i)
        if not isinstance(entry, dict):
            raise ReleaseError("%s must be a mapping" % where)
        for key in ("version", "release_date", "file", "sha256"):
            if key not in entry or entry[key] in (None, ""):
                raise ReleaseError("%s lacks '%s'" % (where, key))
        version = str(entry["version"])
        version_key(version)
        if version in seen:
            raise ReleaseError("%s: version %s is listed twice" % (where, version))
        seen.add(version)
        sha = str(entry["sha256"]).lower()
        if not SHA256_RE.match(sha):
            raise ReleaseError("%s: sha256 of %s is not 64 hex digits" % (where, entry["file"]))
        name = str(entry["file"])
        if os.path.basename(name) != name:
            raise ReleaseError("%s: file '%s' must be a plain file name inside the repository" % (where, name))
        result.append(
            {
                "version": version,
                "release_date": _date(entry["release_date"], where),
                "file": name,
                "sha256": sha,
                "path": os.path.join(os.path.abspath(repository), name),
            }
        )
    result.sort(key=lambda r: version_key(r["version"]))
    return result


def find_release(releases, version, index_path="index.yml"):
    for entry in releases:
        if entry["version"] == str(version):
            return entry
    raise ReleaseError(
        "release %s is not in %s (available: %s)"
        % (version, index_path, ", ".join(r["version"] for r in releases) or "none")
    )


def validate_manifest(manifest, version=None, where=MANIFEST):
    """Check the required fields of a manifest (docs/releases.md); raise ReleaseError naming the field."""
    for key in ("format", "product", "version", "release_date", "components", "migrations", "files"):
        if key not in manifest or manifest[key] is None:
            raise ReleaseError("%s lacks the required field '%s'" % (where, key))
    if manifest["format"] != 1:
        raise ReleaseError(
            "%s: format %s is not supported (this followup-ops reads format 1)" % (where, manifest["format"])
        )
    if manifest["product"] != "followup":
        raise ReleaseError("%s: product '%s' is not 'followup'" % (where, manifest["product"]))
    version_key(manifest["version"])
    if version is not None and str(manifest["version"]) != str(version):
        raise ReleaseError(
            "%s: version %s does not match the requested release %s" % (where, manifest["version"], version)
        )
    manifest["release_date"] = _date(manifest["release_date"], where)
    components = manifest["components"]
    if not isinstance(components, dict):
        raise ReleaseError("%s: 'components' must be a mapping" % where)
    for name in COMPONENTS:
        comp = components.get(name)
        if not isinstance(comp, dict):
            raise ReleaseError("%s lacks the component '%s'" % (where, name))
        for key in ("start", "port", "health"):
            if key not in comp or comp[key] in (None, ""):
                raise ReleaseError("%s: component %s lacks '%s'" % (where, name, key))
        port = comp["port"]
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ReleaseError("%s: component %s port '%s' is not a TCP port (1-65535)" % (where, name, port))
        health = comp["health"]
        if not isinstance(health, dict) or health.get("type") not in HEALTH_TYPES:
            raise ReleaseError(
                "%s: component %s health.type must be one of %s" % (where, name, ", ".join(HEALTH_TYPES))
            )
        if health["type"] == "http" and not str(health.get("path", "")).startswith("/"):
            raise ReleaseError("%s: component %s health.path must start with '/'" % (where, name))
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise ReleaseError("%s: 'files' must map each file to its sha256" % where)
    for path, sha in files.items():
        if not SHA256_RE.match(str(sha)):
            raise ReleaseError("%s: sha256 of %s is not 64 lower-case hex digits" % (where, path))
        if not is_plain_relative(path):
            raise ReleaseError("%s: file path %s must be relative, without '..', '.' or empty parts" % (where, path))
    migrations = manifest["migrations"]
    if not isinstance(migrations, dict):
        raise ReleaseError("%s: 'migrations' must be a mapping of engine to databases" % where)
    for engine, databases in migrations.items():
        if engine not in ("mysql", "mongodb"):
            raise ReleaseError("%s: migrations engine '%s' is neither mysql nor mongodb" % (where, engine))
        for database, scripts in (databases or {}).items():
            for script in scripts or []:
                if not MIGRATION_RE.match(str(script)):
                    raise ReleaseError(
                        "%s: migration %s/%s is not named V<NNN>__<description>.<sql|yml|py>"
                        % (where, database, script)
                    )
                path = "migrations/%s/%s/%s" % (engine, database, script)
                if path not in files:
                    raise ReleaseError("%s: migration %s is not listed in files" % (where, path))
    return manifest


def verify_tarball(path, expected_sha256=None, version=None):
    """Verify a release tarball completely; return its manifest (dict).

    Checks the tarball's sha256 (when given), the member names, the manifest fields and the sha256 of every file.
    Raises ReleaseError naming the file at fault.
    """
    if not os.path.isfile(path):
        raise ReleaseError("release tarball %s is missing" % path)
    name = os.path.basename(path)
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            raise ReleaseError(
                "%s: sha256 %s differs from the index (%s); the file is damaged or not the published one"
                % (name, actual, expected_sha256)
            )
    try:
        archive = tarfile.open(path, "r:gz")  # noqa: SIM115 - closed by the with-block below
    except (tarfile.TarError, OSError) as err:
        raise ReleaseError("%s is not a gzip-compressed tar archive (%s)" % (name, err))
    with archive:
        members = archive.getmembers()
        if not members:
            raise ReleaseError("%s is empty" % name)
        top = members[0].name.split("/", 1)[0]
        if version is not None and top != "followup-%s" % version:
            raise ReleaseError("%s: its top folder is '%s', not 'followup-%s'" % (name, top, version))
        hashes = {}
        manifest_text = None
        for member in members:
            parts = member.name.rstrip("/").split("/") if member.isdir() else member.name.split("/")
            if not is_plain_relative(member.name.rstrip("/") if member.isdir() else member.name) or parts[0] != top:
                raise ReleaseError("%s: member %s lies outside %s/" % (name, member.name, top))
            if not (member.isfile() or member.isdir()):
                raise ReleaseError(
                    "%s: member %s is a link or special file, which releases may not hold" % (name, member.name)
                )
            if not member.isfile():
                continue
            rel = "/".join(parts[1:])
            handle = archive.extractfile(member)
            if rel == MANIFEST:
                manifest_text = handle.read()
                continue
            digest = hashlib.sha256()
            for block in iter(functools.partial(handle.read, CHUNK), b""):
                digest.update(block)
            hashes[rel] = digest.hexdigest()
    if manifest_text is None:
        raise ReleaseError("%s: %s/%s is missing" % (name, top, MANIFEST))
    where = "%s: %s/%s" % (name, top, MANIFEST)
    manifest = validate_manifest(_load_yaml(manifest_text, where), version, where)
    listed = manifest["files"]
    for rel, digest in sorted(hashes.items()):
        if rel not in listed:
            raise ReleaseError("%s: file %s/%s is not listed in the manifest" % (name, top, rel))
        if listed[rel] != digest:
            raise ReleaseError(
                "%s: file %s/%s has sha256 %s, the manifest says %s" % (name, top, rel, digest, listed[rel])
            )
    for rel in sorted(listed):
        if rel not in hashes:
            raise ReleaseError("%s: file %s/%s is listed in the manifest but missing" % (name, top, rel))
    return manifest


def check_release(repository, version):
    """The release gate: the index entry, the tarball and its manifest. Returns (entry, manifest, releases)."""
    releases = read_index(repository)
    entry = find_release(releases, version, os.path.join(repository, INDEX))
    manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
    if manifest["release_date"] != entry["release_date"]:
        raise ReleaseError(
            "%s: manifest release_date %s differs from index.yml (%s)"
            % (entry["file"], manifest["release_date"], entry["release_date"])
        )
    return entry, manifest, releases


def read_manifest_from_tarball(path):
    """Read manifest.yml of a tarball without checking the rest (for hosts that verify file by file)."""
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == MANIFEST and member.isfile():
                return _load_yaml(archive.extractfile(member).read(), "%s: %s" % (os.path.basename(path), member.name))
    raise ReleaseError("%s: manifest.yml is missing" % os.path.basename(path))


def iter_component_members(archive, top, component, with_migrations=False):
    """Yield (member, path relative to the release directory) of one component's payload."""
    prefix = "%s/components/%s/" % (top, component)
    mig_prefix = "%s/migrations/" % top
    for member in archive.getmembers():
        if member.name.startswith(prefix) and member.isfile():
            yield member, member.name[len(prefix) :]
        elif with_migrations and member.name.startswith(mig_prefix) and member.isfile():
            yield member, "migrations/" + member.name[len(mig_prefix) :]
