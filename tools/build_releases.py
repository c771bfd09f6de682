#!/usr/bin/env python3
"""构建随访系统替身的发布包 Build the stand-in follow-up releases reproducibly (docs/releases.md).

    python3 tools/build_releases.py [--source standin] [--output build/releases] [--only VERSION]
                                    [--sign-key .lab/release-key [--signers-file FILE] [--principal NAME]]

Reads <source>/releases.yml and writes <output>/followup-<version>.tar.gz for each release plus <output>/index.yml.
The same source gives byte-identical tarballs: sorted entries, uid/gid 0, no owner names, modes 0644/0755,
every mtime at the release date 00:00 UTC, gzip header mtime 0, no __pycache__ or *.pyc.
With --sign-key, signs index.yml as the vendor does (ssh-keygen -Y sign -n followup-release, into index.yml.sig),
making the ed25519 key (0600) when it is missing, and with --signers-file writes the allowed_signers line of that
key as the inventory variable followup_release_signers. Without it, index.yml stays unsigned (and a stale
index.yml.sig is removed): the release gate refuses an unsigned index.
Exit 0 when built, 1 with a one-line error on a bad catalogue, source tree or key.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import ansible.module_utils
import yaml

REPO = Path(__file__).resolve().parent.parent
# The release format's own rules (module_utils/followup_release.py): one migration name pattern, one signature
# namespace, one version pattern for the whole repository.
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
from ansible.module_utils.followup_release import (  # noqa: E402
    MIGRATION_EXTENSIONS,
    MIGRATION_RE,
    NAMESPACE,
    SIGNATURE,
    SIGNERS_VAR,
    VERSION_RE,
)
from ansible.module_utils.followup_sshsig import (  # noqa: E402
    SignatureError,
    check_signers,
    sign,
    signers_yaml,
    verify,
)

COMPONENTS = ("app", "fep", "voice")
DATABASES = (("mysql", "cloud_followup"), ("mysql", "interface_data"), ("mongodb", "cdr"))
LAB_PRINCIPAL = "lab-release@followup-ops.lab"
PACKAGE_RE = re.compile(r"[a-z_][a-z0-9_]*")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
COMMON_PACKAGE = "followup_common"


class BuildError(Exception):
    """A problem with the catalogue or the source tree; the message is one line."""


def version_key(version):
    return tuple(int(part) for part in VERSION_RE.match(version).groups())


def load_catalogue(source):
    path = source / "releases.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path}: not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BuildError(f"{path}:{where} not valid YAML") from None
    if not isinstance(data, dict):
        raise BuildError(f"{path}: must be a mapping")
    if data.get("format") != 1:
        raise BuildError(f"{path}: format must be 1")
    if data.get("product") != "followup":
        raise BuildError(f"{path}: product must be followup")
    components = data.get("components")
    if not isinstance(components, dict) or set(components) != set(COMPONENTS):
        raise BuildError(f"{path}: components must be exactly {', '.join(COMPONENTS)}")
    for name in COMPONENTS:
        spec = components[name]
        if not isinstance(spec, dict):
            raise BuildError(f"{path}: components.{name} must be a mapping")
        if not isinstance(spec.get("package"), str) or not PACKAGE_RE.fullmatch(spec["package"]):
            raise BuildError(f"{path}: components.{name}.package must be a Python package name")
        port = spec.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise BuildError(f"{path}: components.{name}.port must be 1-65535")
        if not isinstance(spec.get("health_path"), str) or not spec["health_path"].startswith("/"):
            raise BuildError(f"{path}: components.{name}.health_path must start with /")
    releases = data.get("releases")
    if not isinstance(releases, list) or not releases:
        raise BuildError(f"{path}: releases must be a non-empty list")
    seen = set()
    for index, release in enumerate(releases):
        where = f"{path}: releases[{index}]"
        if not isinstance(release, dict):
            raise BuildError(f"{where} must be a mapping")
        version = release.get("version")
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise BuildError(f"{where}.version must be MAJOR.MINOR.PATCH (quote it)")
        if version in seen:
            raise BuildError(f"{where}: version {version} appears twice")
        seen.add(version)
        release_date = release.get("release_date")
        if isinstance(release_date, datetime.date):
            release_date = release_date.isoformat()
        try:
            datetime.date.fromisoformat(str(release_date))
        except ValueError:
            raise BuildError(f"{where}.release_date must be an ISO date YYYY-MM-DD") from None
        release["release_date"] = str(release_date)
        if "description" in release and not isinstance(release["description"], str):
            raise BuildError(f"{where}.description must be text")
        schema = release.get("schema")
        if not isinstance(schema, dict):
            raise BuildError(f"{where}.schema must be a mapping")
        for engine, database in DATABASES:
            level = (schema.get(engine) or {}).get(database) if isinstance(schema.get(engine), dict) else None
            if not isinstance(level, int) or isinstance(level, bool) or level < 0:
                raise BuildError(f"{where}.schema.{engine}.{database} must be a migration version (integer >= 0)")
    ordered = sorted(releases, key=lambda item: version_key(item["version"]))
    for engine, database in DATABASES:
        levels = [release["schema"][engine][database] for release in ordered]
        if levels != sorted(levels):
            raise BuildError(f"{path}: schema.{engine}.{database} goes down between releases")
    data["releases"] = ordered
    return data


def scan_migrations(source):
    """{(engine, database): {version: filename}}, checking names, extensions and uniqueness."""
    found = {}
    for engine, database in DATABASES:
        folder = source / "migrations" / engine / database
        versions = {}
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.name in SKIP_DIRS or entry.name.endswith(SKIP_SUFFIXES):
                    continue
                match = MIGRATION_RE.match(entry.name)
                if not entry.is_file() or not match or match.group(3) not in MIGRATION_EXTENSIONS[engine]:
                    extensions = "|".join(MIGRATION_EXTENSIONS[engine])
                    raise BuildError(f"{entry}: not a migration name V<NNN>__<description>.<{extensions}>")
                number = int(match.group(1))
                if number in versions:
                    raise BuildError(f"{entry}: version {number} already used by {versions[number]}")
                versions[number] = entry.name
        found[(engine, database)] = versions
    return found


def migrations_for(release, available):
    selected = {}
    for engine, database in DATABASES:
        level = release["schema"][engine][database]
        versions = available[(engine, database)]
        missing = [number for number in range(1, level + 1) if number not in versions]
        if missing:
            raise BuildError(
                f"release {release['version']}: migrations/{engine}/{database} lacks V{missing[0]:03d} "
                f"(schema level {level})"
            )
        selected[(engine, database)] = [versions[number] for number in range(1, level + 1)]
    return selected


def _walk(folder):
    """Regular files under folder (relative paths, sorted), skipping caches; refuses links and special files."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if name not in SKIP_DIRS)
        for directory in dirs:
            if (Path(root) / directory).is_symlink():
                raise BuildError(f"{Path(root) / directory}: links may not go into a release")
        for name in sorted(names):
            full = Path(root) / name
            if name.endswith(SKIP_SUFFIXES) or name == "_release.py":
                continue
            if full.is_symlink() or not full.is_file():
                raise BuildError(f"{full}: only regular files may go into a release")
            files.append(full)
    return files


def release_py(release):
    major, minor, patch = version_key(release["version"])
    return (
        "# Generated by tools/build_releases.py; do not edit.\n"
        f'VERSION = "{release["version"]}"\n'
        f"VERSION_INFO = ({major}, {minor}, {patch})\n"
        f'RELEASE_DATE = "{release["release_date"]}"\n'
    ).encode()


def collect_payload(source, catalogue, release, selected):
    """{relative path inside followup-<version>/: (bytes, executable)} for every file except manifest.yml."""
    payload = {}
    common = source / "common" / COMMON_PACKAGE
    if not common.is_dir():
        raise BuildError(f"{common}: shared package missing")
    for name in COMPONENTS:
        package = catalogue["components"][name]["package"]
        package_dir = source / "components" / name / package
        if not (package_dir / "__main__.py").is_file():
            raise BuildError(f"{package_dir}: no __main__.py (component {name} cannot start)")
        for base, prefix in (
            (package_dir, f"components/{name}/{package}"),
            (common, f"components/{name}/{COMMON_PACKAGE}"),
        ):
            for full in _walk(base):
                rel = f"{prefix}/{full.relative_to(base).as_posix()}"
                payload[rel] = (full.read_bytes(), os.access(full, os.X_OK))
        payload[f"components/{name}/{package}/_release.py"] = (release_py(release), False)
    for (engine, database), names in selected.items():
        for filename in names:
            full = source / "migrations" / engine / database / filename
            payload[f"migrations/{engine}/{database}/{filename}"] = (full.read_bytes(), False)
    for rel in payload:
        if not rel.isascii() or len(f"followup-{release['version']}/{rel}") > 250:
            raise BuildError(f"{rel}: file names in a release must be ASCII and short")
    return payload


def manifest_bytes(catalogue, release, selected, payload):
    components = {}
    for name in COMPONENTS:
        spec = catalogue["components"][name]
        components[name] = {
            "start": f"/usr/bin/python3 -m {spec['package']}",
            "port": spec["port"],
            "health": {"type": "http", "path": spec["health_path"]},
        }
    migrations = {"mysql": {}, "mongodb": {}}
    for (engine, database), names in selected.items():
        migrations[engine][database] = list(names)
    manifest = {
        "format": 1,
        "product": "followup",
        "version": release["version"],
        "release_date": release["release_date"],
    }
    if release.get("description"):
        manifest["description"] = release["description"].strip()
    manifest["components"] = components
    manifest["migrations"] = migrations
    manifest["files"] = {rel: hashlib.sha256(payload[rel][0]).hexdigest() for rel in sorted(payload)}
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    # The contract shows release_date double-quoted; keep it so even for readers that take YAML dates.
    text = text.replace(f"release_date: '{release['release_date']}'", f'release_date: "{release["release_date"]}"')
    return ("# 随访系统替身发布清单 Stand-in follow-up release manifest (generated)\n" + text).encode("utf-8")


def _tarinfo(name, mtime, size=0, directory=False, executable=False):
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = mtime
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if executable else 0o644
        info.size = size
    return info


def tarball_bytes(release, files):
    """files: {relative path: (bytes, executable)}, including manifest.yml."""
    top = f"followup-{release['version']}"
    date = datetime.date.fromisoformat(release["release_date"])
    mtime = int(datetime.datetime(date.year, date.month, date.day, tzinfo=datetime.UTC).timestamp())
    directories = {top}
    for rel in files:
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directories.add(f"{top}/{'/'.join(parts[:depth])}")
    entries = [(name, None) for name in directories]
    entries += [(f"{top}/{rel}", rel) for rel in files]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, rel in sorted(entries):
            if rel is None:
                tar.addfile(_tarinfo(name + "/", mtime, directory=True))
            else:
                data, executable = files[rel]
                tar.addfile(_tarinfo(name, mtime, len(data), executable=executable), io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def build_release(source, catalogue, release, available):
    selected = migrations_for(release, available)
    payload = collect_payload(source, catalogue, release, selected)
    files = dict(payload)
    files["manifest.yml"] = (manifest_bytes(catalogue, release, selected, payload), False)
    return tarball_bytes(release, files), len(files)


def _write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def index_bytes(catalogue, output):
    entries = []
    for release in catalogue["releases"]:
        filename = f"followup-{release['version']}.tar.gz"
        path = output / filename
        if not path.is_file():
            continue
        entries.append(
            {
                "version": release["version"],
                "release_date": release["release_date"],
                "file": filename,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
        )
    text = yaml.safe_dump(
        {"format": 1, "product": "followup", "releases": entries}, sort_keys=False, default_flow_style=False
    )
    text = re.sub(r"release_date: '(\d{4}-\d{2}-\d{2})'", r'release_date: "\1"', text)
    return ("# 随访系统替身发布仓库索引 Stand-in release repository index (generated)\n" + text).encode("utf-8")


def ensure_key(path):
    """The lab's release signing key at PATH (ed25519, 0600), made when it is missing."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise BuildError(f"{path}: a signing key must be readable by its owner only (chmod 600 {path})")
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "followup-ops lab release key", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"{path}: ssh-keygen could not make the key: {' '.join(proc.stderr.split())}")
    os.chmod(path, 0o600)
    return path


def signer_line(key, principal):
    """The allowed_signers line of KEY's public half, restricted to the release namespace."""
    proc = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=False)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) < 2:
        raise BuildError(f"{key}: not a readable private key ({' '.join(proc.stderr.split()) or 'no public key'})")
    line = f'{principal} namespaces="{NAMESPACE}" {fields[0]} {fields[1]} followup-ops lab release key'
    try:
        check_signers([line], NAMESPACE, SIGNERS_VAR)
    except SignatureError as exc:
        raise BuildError(str(exc)) from None
    return line


def sign_index(output, key, principal):
    """Sign the exact bytes of output/index.yml into output/index.yml.sig; return the signer's line."""
    line = signer_line(key, principal)
    data = (output / "index.yml").read_bytes()
    try:
        signature = sign(data, str(key), NAMESPACE)
        verify(data, signature, [line], NAMESPACE, SIGNERS_VAR, "index.yml")
    except SignatureError as exc:
        raise BuildError(str(exc)) from None
    _write_atomic(output / SIGNATURE, signature)
    return line


def signers_bytes(line, key):
    """The group_vars file with SIGNERS_VAR: the line as a folded scalar (lines under 100 columns, lint-clean)."""
    try:
        text = signers_yaml(SIGNERS_VAR, line)
    except ValueError as err:
        raise BuildError(str(err)) from err
    return (
        f"# Written by `make releases` (tools/build_releases.py) from the public half of {key}: who may sign the\n"
        "# lab's release index. Not committed: each machine makes its own lab release key. Production inventories\n"
        "# list the vendor's release key in group_vars/all/followup.yml instead.\n" + text
    ).encode("utf-8")


def build(source, output, only=None, out=None, sign_key=None, signers_file=None, principal=LAB_PRINCIPAL):
    out = out or sys.stdout
    catalogue = load_catalogue(source)
    available = scan_migrations(source)
    releases = catalogue["releases"]
    if only is not None:
        releases = [release for release in releases if release["version"] == only]
        if not releases:
            known = ", ".join(release["version"] for release in catalogue["releases"])
            raise BuildError(f"version {only} is not in the catalogue (known: {known})")
    built = {}
    for release in releases:  # check every release before writing anything
        built[release["version"]] = build_release(source, catalogue, release, available)
    output.mkdir(parents=True, exist_ok=True)
    for version, (data, count) in built.items():
        filename = f"followup-{version}.tar.gz"
        _write_atomic(output / filename, data)
        print(f"{filename} sha256={hashlib.sha256(data).hexdigest()} files={count}", file=out)
    _write_atomic(output / "index.yml", index_bytes(catalogue, output))
    if sign_key is None:
        (output / SIGNATURE).unlink(missing_ok=True)
        print("build_releases: index.yml is not signed: the release gate refuses it (use --sign-key)", file=sys.stderr)
        return built
    line = sign_index(output, ensure_key(sign_key), principal)
    print(f"{SIGNATURE} signed by {principal}", file=out)
    if signers_file is not None:
        signers_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(signers_file, signers_bytes(line, sign_key))
        print(f"{signers_file}: {SIGNERS_VAR} written", file=out)
    return built


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the stand-in follow-up releases (docs/releases.md).")
    parser.add_argument("--source", type=Path, default=REPO / "standin", help="stand-in source tree (standin)")
    parser.add_argument("--output", type=Path, default=REPO / "build" / "releases", help="release repository")
    parser.add_argument("--only", metavar="VERSION", help="build only this release (index.yml lists all present)")
    parser.add_argument("--sign-key", type=Path, help="sign index.yml with this ed25519 key (made when missing)")
    parser.add_argument("--signers-file", type=Path, help=f"write {SIGNERS_VAR} for the key to this group_vars file")
    parser.add_argument("--principal", default=LAB_PRINCIPAL, help=f"signer name (default {LAB_PRINCIPAL})")
    args = parser.parse_args(argv)
    if args.signers_file is not None and args.sign_key is None:
        parser.error("--signers-file needs --sign-key")
    try:
        build(args.source, args.output, args.only, None, args.sign_key, args.signers_file, args.principal)
    except BuildError as exc:
        print(f"build_releases: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"build_releases: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
