# -*- coding: utf-8 -*-
# Release repositories and release tarballs of the follow-up system: reading and verifying them (docs/releases.md).
#
# Trust flows one way: the allowed signers (inventory) -> the signature over the exact bytes of index.yml -> the
# sha256 of a tarball in that index -> the tarball, hashed while it is read (one open file, streamed) -> its
# manifest and the sha256 of every file. Nothing read from a tarball is used before its digest matched the signed
# index. Every wrongly shaped value is a ReleaseError naming the file and field, never a traceback.
#
# Pure Python (PyYAML, and ssh-keygen through followup_sshsig), so the same code serves the gate on the control
# node, the action plugin of followup_release_install, the install module on the hosts and the command line.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import functools
import hashlib
import json
import os
import re
import stat
import tarfile
import unicodedata
import zlib

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    HAS_YAML = False

from ansible.module_utils.followup_layout import COMPONENTS, RELEASE_RECORD, VERSION_RE, unit_name
from ansible.module_utils.followup_sshsig import SignatureError, SignersError, verify

# One pattern per kind of value, anchored with \A...\Z and ASCII digits only ("1.0.0\n" and "١.٠.٠" do not match).
DATE_RE = re.compile(r"\A([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
# The one migration file name pattern of the repository (followup_migrations and tools/build_releases.py use it).
MIGRATION_RE = re.compile(r"\AV([0-9]{3,})__([A-Za-z0-9_]+)\.(sql|yml|py)\Z")
MIGRATION_EXTENSIONS = {"mysql": ("sql",), "mongodb": ("yml", "py")}
DATABASE_RE = re.compile(r"\A[A-Za-z0-9_]{1,64}\Z")
# A word of a start command: nothing systemd's ExecStart= would read as a specifier (%), a variable ($), an escape
# (\), a command separator (;), a quote or a prefix; the first word is an absolute path.
START_WORD_RE = re.compile(r"\A[A-Za-z0-9_./:=+,@-]+\Z")
EXECUTABLE_RE = re.compile(r"\A(/[A-Za-z0-9_.+-]+)+\Z")
HEALTH_PATH_RE = re.compile(r"\A/[A-Za-z0-9._~/-]{0,255}\Z")
INDEX_FILE_RE = "followup-%s.tar.gz"

MANIFEST = "manifest.yml"
INDEX = "index.yml"
SIGNATURE = "index.yml.sig"
NAMESPACE = "followup-release"
SIGNERS_VAR = "followup_release_signers"
HEALTH_TYPES = ("http", "tcp", "sip")
MANIFEST_KEYS = ("format", "product", "version", "release_date", "description", "components", "migrations", "files")
COMPONENT_KEYS = ("start", "port", "health")
INDEX_ENTRY_KEYS = ("version", "release_date", "file", "sha256", "description")

CHUNK = 1024 * 1024
MAX_INDEX_BYTES = 1024 * 1024
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_MEMBERS = 200000
MAX_UNPACKED_BYTES = 8 * 1024 * 1024 * 1024
MAX_START_WORDS = 64
MAX_START_LENGTH = 2048

SIGNERS_FIX = (
    "set %s in the inventory (group_vars/all/followup.yml) to the allowed_signers line(s) of the vendor's release "
    "key; the lab's are written by make releases" % SIGNERS_VAR
)


class ReleaseError(Exception):
    """A release or repository that does not meet docs/releases.md. The message names the file and field."""


def is_plain_relative(path):
    """A relative path with no empty, '.' or '..' part: it cannot name anything outside its base directory."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _bad_text(text):
    """Why TEXT cannot be a name in a release (control character, not UTF-8, not NFC), or None."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return "holds a control character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not UTF-8"
    if unicodedata.normalize("NFC", text) != text:
        return "is not in Unicode normal form NFC"
    return None


def _show(value):
    """A value for a one-line message: repr keeps newlines and odd characters visible."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def version_key(version):
    match = VERSION_RE.match(version) if isinstance(version, str) else None
    if not match:
        raise ReleaseError("%s is not a release version (MAJOR.MINOR.PATCH, ASCII digits only)" % _show(version))
    return tuple(int(x) for x in match.groups())


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


if HAS_YAML:

    class _StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (PyYAML would silently keep the last)."""

    def _construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key is not a plain value", key_node.start_mark
                )
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, "key %s is given twice" % _show(key), key_node.start_mark
                )
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(data, name):
    try:
        loaded = yaml.load(data, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None)
        where = " line %d" % (mark.line + 1) if mark else ""
        raise ReleaseError("%s is not valid YAML%s%s" % (name, where, ": %s" % problem if problem else ""))
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a timestamp that is no date
        raise ReleaseError("%s is not valid YAML: %s" % (name, err))
    if not isinstance(loaded, dict):
        raise ReleaseError("%s must be a YAML mapping" % name)
    return loaded


def _date(value, where):
    """An ISO date (quoted text or a YAML date) as 'YYYY-MM-DD'."""
    if isinstance(value, datetime.datetime) or not isinstance(value, (str, datetime.date)):
        raise ReleaseError("%s must be a date YYYY-MM-DD, not %s" % (where, _show(value)))
    text = value if isinstance(value, str) else value.isoformat()
    match = DATE_RE.match(text)
    try:
        if not match:
            raise ValueError(text)
        datetime.date(*(int(x) for x in match.groups()))
    except ValueError:
        raise ReleaseError("%s %s is not a date YYYY-MM-DD" % (where, _show(value)))
    return text


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _text(mapping, key, where, required=True):
    value = mapping.get(key)
    if value is None and not required:
        return None
    if key not in mapping or value is None:
        raise ReleaseError("%s lacks the required field '%s'" % (where, key))
    if not isinstance(value, str):
        raise ReleaseError("%s: %s must be text, not %s" % (where, key, _show(value)))
    return value


def _unknown(mapping, allowed, where):
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise ReleaseError("%s: unknown field '%s' (allowed: %s)" % (where, unknown[0], ", ".join(allowed)))


# --- The release index ---------------------------------------------------------------------------------------------


def parse_index(data, where=INDEX, repository=None):
    """Parse the bytes of an index.yml; return its releases sorted oldest first.

    Each entry: version, release_date, file, sha256 and, when REPOSITORY is given, the absolute `path` of the tarball.
    """
    index = _load_yaml(data, where)
    if not _is_int(index.get("format")) or index["format"] != 1:
        raise ReleaseError("%s: format must be 1 (it is %s)" % (where, _show(index.get("format"))))
    if index.get("product") != "followup":
        raise ReleaseError("%s: product must be 'followup' (it is %s)" % (where, _show(index.get("product"))))
    _unknown(index, ("format", "product", "releases"), where)
    releases = index.get("releases")
    if not isinstance(releases, list) or not releases:
        raise ReleaseError("%s: 'releases' must be a non-empty list" % where)
    seen = set()
    result = []
    for i, entry in enumerate(releases):
        at = "%s: releases[%d]" % (where, i)
        if not isinstance(entry, dict):
            raise ReleaseError("%s must be a mapping" % at)
        for key in ("version", "release_date", "file", "sha256"):
            if key not in entry or entry[key] in (None, ""):
                raise ReleaseError("%s lacks '%s'" % (at, key))
        _unknown(entry, INDEX_ENTRY_KEYS, at)
        version = entry["version"]
        if not isinstance(version, str):
            raise ReleaseError("%s: version must be quoted text MAJOR.MINOR.PATCH, not %s" % (at, _show(version)))
        if not VERSION_RE.match(version):
            raise ReleaseError("%s: version %s is not MAJOR.MINOR.PATCH (ASCII digits)" % (at, _show(version)))
        if version_key(version) in seen:
            # 1.0.0 and 01.0.0 are one release: two entries for it would let the index pick either.
            raise ReleaseError("%s: version %s is listed twice" % (at, version))
        seen.add(version_key(version))
        sha = entry["sha256"]
        if not isinstance(sha, str) or not SHA256_RE.match(sha):
            raise ReleaseError("%s: sha256 of %s is not 64 lower-case hex digits" % (at, _show(entry["file"])))
        name = entry["file"]
        if name != INDEX_FILE_RE % version:
            raise ReleaseError("%s: file %s must be %s" % (at, _show(name), INDEX_FILE_RE % version))
        item = {
            "version": version,
            "release_date": _date(entry["release_date"], "%s: release_date" % at),
            "file": name,
            "sha256": sha,
        }
        if repository is not None:
            item["path"] = os.path.join(os.path.abspath(repository), name)
        result.append(item)
    result.sort(key=lambda r: version_key(r["version"]))
    return result


def _read_limited(path, limit, what):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ReleaseError("%s is larger than %d bytes, which no %s is" % (path, limit, what))
    return data


def read_signed_index(repository, signers):
    """Read <repository>/index.yml once, verify index.yml.sig over those bytes, then parse those same bytes.

    SIGNERS: allowed_signers lines (the inventory's followup_release_signers). Returns (releases, signer) where
    signer is {"principal", "key"}. Raises ReleaseError with a one-line reason.
    """
    if not isinstance(repository, str) or not repository:
        raise ReleaseError("followup_release_repository is not set: name the release repository in the inventory")
    index_path = os.path.join(repository, INDEX)
    signature_path = os.path.join(repository, SIGNATURE)
    if not os.path.isdir(repository):
        raise ReleaseError("release repository %s does not exist or is not a directory" % repository)
    if not os.path.isfile(index_path):
        raise ReleaseError("%s is missing: the release repository has no index" % index_path)
    data = _read_limited(index_path, MAX_INDEX_BYTES, "release index")
    if not os.path.isfile(signature_path):
        raise ReleaseError(
            "%s is missing: the release index is not signed (the vendor signs index.yml with ssh-keygen -Y sign "
            "-n %s; in the lab, run make releases)" % (signature_path, NAMESPACE)
        )
    signature = _read_limited(signature_path, 64 * 1024, "signature")
    try:
        signer = verify(data, signature, signers, NAMESPACE, name=SIGNERS_VAR, what=index_path)
    except SignersError as err:
        raise ReleaseError("%s: %s" % (err, SIGNERS_FIX))
    except SignatureError as err:
        raise ReleaseError(str(err))
    return parse_index(data, index_path, repository), signer


def check_not_replayed(repository, releases, seen_file, record=True, today=None):
    """Refuse a signed index older than one this control node verified before for REPOSITORY (an old index.yml and
    index.yml.sig put back: both validly signed, so the signature alone cannot tell). SEEN_FILE keeps, per repository
    (its real path), the newest release of the newest index verified; RECORD (not in check mode) moves it forward.
    Returns a one-line refusal, or None."""
    if not seen_file or not releases:
        return None
    key = os.path.realpath(repository)
    newest = releases[-1]
    try:
        with open(seen_file) as handle:
            seen = json.load(handle)
        if not isinstance(seen, dict) or not isinstance(seen.get("repositories"), dict):
            raise ValueError("not a record of verified release indexes")
    except FileNotFoundError:
        seen = {"format": 1, "repositories": {}}
    except (OSError, ValueError) as err:
        return "%s cannot be read (%s): restore it from the control node's backup, or remove it to start afresh" % (
            seen_file,
            err,
        )
    prior = seen["repositories"].get(key)
    if isinstance(prior, dict) and VERSION_RE.match(str(prior.get("newest"))):
        if version_key(newest["version"]) < version_key(prior["newest"]):
            return (
                "the signed release index of %s lists %s as the newest release, but this control node verified an "
                "index listing %s (on %s): an older index.yml and index.yml.sig were put back; restore the vendor's "
                "current index, then retry" % (repository, newest["version"], prior["newest"], prior.get("seen_on"))
            )
        if version_key(newest["version"]) == version_key(prior["newest"]):
            return None
    if record:
        seen["repositories"][key] = {
            "newest": newest["version"],
            "release_date": newest.get("release_date"),
            "seen_on": (today or datetime.date.today()).isoformat(),
        }
        directory = os.path.dirname(os.path.abspath(seen_file))
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        tmp = "%s.tmp-%d" % (seen_file, os.getpid())
        with open(tmp, "w") as handle:
            json.dump(seen, handle, indent=2, sort_keys=True)
        os.replace(tmp, seen_file)
    return None


def find_release(releases, version, index_path=INDEX):
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ReleaseError("requested release %s is not MAJOR.MINOR.PATCH (ASCII digits)" % _show(version))
    for entry in releases:
        if entry["version"] == version:
            return entry
    raise ReleaseError(
        "release %s is not in %s (available: %s)"
        % (version, index_path, ", ".join(r["version"] for r in releases) or "none")
    )


# --- The manifest --------------------------------------------------------------------------------------------------


def parse_start(start, where):
    """Check a start command (an absolute executable path and arguments); return it with single spaces."""
    if not isinstance(start, str):
        raise ReleaseError("%s must be text, not %s" % (where, _show(start)))
    if len(start) > MAX_START_LENGTH:
        raise ReleaseError("%s is longer than %d characters" % (where, MAX_START_LENGTH))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in start):
        raise ReleaseError(
            "%s %s holds a control character (a newline would write extra lines into the systemd unit)"
            % (where, _show(start))
        )
    words = [word for word in start.split(" ") if word]
    if not words:
        raise ReleaseError("%s is empty" % where)
    if len(words) > MAX_START_WORDS:
        raise ReleaseError("%s has more than %d words" % (where, MAX_START_WORDS))
    executable = words[0]
    if not EXECUTABLE_RE.match(executable) or not is_plain_relative(executable[1:]):
        raise ReleaseError(
            "%s must begin with the absolute path of an executable (/dir/program, letters, digits and ._+-), "
            "not %s" % (where, _show(executable))
        )
    for word in words[1:]:
        if not START_WORD_RE.match(word):
            raise ReleaseError(
                "%s: argument %s may hold only letters, digits and ./:=+,@_- (no %%, $, \\, ;, quotes or "
                "non-ASCII, which systemd would interpret)" % (where, _show(word))
            )
    return " ".join(words)


def _health(health, where):
    if not isinstance(health, dict):
        raise ReleaseError("%s must be a mapping with 'type' (and 'path' for http)" % where)
    _unknown(health, ("type", "path"), where)
    kind = health.get("type")
    if kind not in HEALTH_TYPES:
        raise ReleaseError("%s.type must be one of %s, not %s" % (where, ", ".join(HEALTH_TYPES), _show(kind)))
    if kind == "http":
        path = health.get("path")
        if not isinstance(path, str) or not HEALTH_PATH_RE.match(path):
            raise ReleaseError(
                "%s.path must be a path like /health (letters, digits and ._~/-), not %s" % (where, _show(path))
            )
        return {"type": kind, "path": path}
    if "path" in health:
        raise ReleaseError("%s.path is only for type http" % where)
    return {"type": kind}


def _component(comp, where):
    if not isinstance(comp, dict):
        raise ReleaseError("%s must be a mapping with start, port and health" % where)
    for key in COMPONENT_KEYS:
        if key not in comp or comp[key] in (None, ""):
            raise ReleaseError("%s lacks '%s'" % (where, key))
    _unknown(comp, COMPONENT_KEYS, where)
    port = comp["port"]
    if not _is_int(port) or not 1 <= port <= 65535:
        raise ReleaseError("%s.port %s is not a TCP port (an integer 1-65535)" % (where, _show(port)))
    return {
        "start": parse_start(comp["start"], "%s.start" % where),
        "port": port,
        "health": _health(comp["health"], "%s.health" % where),
    }


def _file_place(path):
    """Where a manifest file lands: ('component', name, rest) or ('migration', engine, database, script), or a reason
    it may not be in a release."""
    parts = path.split("/")
    if parts[0] == "components" and len(parts) >= 3 and parts[1] in COMPONENTS:
        if len(parts) == 3 and parts[2] == RELEASE_RECORD:
            return "is named %s, which would overwrite the install record" % RELEASE_RECORD
        if parts[2] == "migrations":
            return "lies under components/%s/migrations/, which would land in the release's migrations tree" % parts[1]
        return ("component", parts[1])
    if parts[0] == "migrations":
        if len(parts) == 4 and parts[1] in MIGRATION_EXTENSIONS:
            return ("migration", parts[1], parts[2], parts[3])
        return "lies under migrations/ but is not migrations/<mysql|mongodb>/<database>/<script>"
    return "lies neither under components/<%s>/ nor under migrations/" % "|".join(COMPONENTS)


def _migrations(migrations, where):
    if not isinstance(migrations, dict):
        raise ReleaseError("%s: 'migrations' must be a mapping of engine to databases" % where)
    result = {}
    for engine, databases in migrations.items():
        if engine not in MIGRATION_EXTENSIONS:
            raise ReleaseError("%s: migrations engine %s is neither mysql nor mongodb" % (where, _show(engine)))
        if databases is None:
            databases = {}
        if not isinstance(databases, dict):
            raise ReleaseError("%s: migrations.%s must be a mapping of database to scripts" % (where, engine))
        result[engine] = {}
        for database, scripts in databases.items():
            at = "%s: migrations.%s.%s" % (where, engine, database)
            if not isinstance(database, str) or not DATABASE_RE.match(database):
                raise ReleaseError(
                    "%s: migrations.%s database %s must be letters, digits and _" % (where, engine, _show(database))
                )
            if scripts is None:
                scripts = []
            if not isinstance(scripts, list):
                raise ReleaseError("%s must be a list of scripts in apply order" % at)
            numbers = []
            for script in scripts:
                match = MIGRATION_RE.match(script) if isinstance(script, str) else None
                if not match:
                    raise ReleaseError(
                        "%s: migration %s is not named V<NNN>__<description>.<sql|yml|py>" % (at, _show(script))
                    )
                if match.group(3) not in MIGRATION_EXTENSIONS[engine]:
                    raise ReleaseError(
                        "%s: migration %s must end in .%s for %s"
                        % (at, script, " or .".join(MIGRATION_EXTENSIONS[engine]), engine)
                    )
                number = int(match.group(1))
                if numbers and number <= numbers[-1]:
                    raise ReleaseError(
                        "%s: migration %s is out of order or repeats a version (apply order is ascending)"
                        % (at, script)
                    )
                numbers.append(number)
            result[engine][database] = list(scripts)
    return result


def validate_manifest(manifest, version=None, where=MANIFEST):
    """Check a parsed manifest completely (docs/releases.md); return a normalised copy.

    Raises ReleaseError naming WHERE and the field for every missing, unknown, wrongly typed or out-of-range value.
    """
    if not isinstance(manifest, dict):
        raise ReleaseError("%s must be a YAML mapping" % where)
    try:
        return _validate_manifest(manifest, version, where)
    except ReleaseError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as err:  # a shape no check above foresaw
        raise ReleaseError("%s is malformed (%s: %s)" % (where, type(err).__name__, err))


def _validate_manifest(manifest, version, where):
    for key in ("format", "product", "version", "release_date", "components", "migrations", "files"):
        if key not in manifest or manifest[key] is None:
            raise ReleaseError("%s lacks the required field '%s'" % (where, key))
    _unknown(manifest, MANIFEST_KEYS, where)
    if not _is_int(manifest["format"]) or manifest["format"] != 1:
        raise ReleaseError(
            "%s: format %s is not supported (this followup-ops reads format 1)" % (where, _show(manifest["format"]))
        )
    if manifest["product"] != "followup":
        raise ReleaseError("%s: product %s is not 'followup'" % (where, _show(manifest["product"])))
    found = manifest["version"]
    if not isinstance(found, str) or not VERSION_RE.match(found):
        raise ReleaseError("%s: version %s is not quoted text MAJOR.MINOR.PATCH (ASCII digits)" % (where, _show(found)))
    if version is not None and found != str(version):
        raise ReleaseError("%s: version %s does not match the requested release %s" % (where, found, version))
    result = {
        "format": 1,
        "product": "followup",
        "version": found,
        "release_date": _date(manifest["release_date"], "%s: release_date" % where),
    }
    description = _text(manifest, "description", where, required=False)
    if description is not None:
        result["description"] = description
    components = manifest["components"]
    if not isinstance(components, dict):
        raise ReleaseError("%s: 'components' must be a mapping" % where)
    _unknown(components, COMPONENTS, "%s: components" % where)
    result["components"] = {}
    for name in COMPONENTS:
        if name not in components:
            raise ReleaseError("%s lacks the component '%s'" % (where, name))
        result["components"][name] = _component(components[name], "%s: component %s" % (where, name))
    result["migrations"] = _migrations(manifest["migrations"], where)
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise ReleaseError("%s: 'files' must map each file to its sha256" % where)
    listed_migrations = set()
    for engine, databases in result["migrations"].items():
        for database, scripts in databases.items():
            for script in scripts:
                path = "migrations/%s/%s/%s" % (engine, database, script)
                if path not in files:
                    raise ReleaseError("%s: migration %s is not listed in files" % (where, path))
                listed_migrations.add(path)
    result["files"] = {}
    for path, sha in files.items():
        if not isinstance(path, str) or not is_plain_relative(path):
            raise ReleaseError(
                "%s: file path %s must be relative, without '..', '.' or empty parts" % (where, _show(path))
            )
        bad = _bad_text(path)
        if bad:
            raise ReleaseError("%s: file path %s %s" % (where, _show(path), bad))
        if not isinstance(sha, str) or not SHA256_RE.match(sha):
            raise ReleaseError("%s: sha256 of %s is not 64 lower-case hex digits" % (where, path))
        place = _file_place(path)
        if isinstance(place, str):
            raise ReleaseError("%s: file %s %s" % (where, path, place))
        if place[0] == "migration" and path not in listed_migrations:
            raise ReleaseError(
                "%s: file %s is not in the manifest's migrations lists (only the listed scripts may run)"
                % (where, path)
            )
        result["files"][path] = sha
    return result


def component_files(manifest, component, with_migrations=False):
    """{path relative to the installed release directory: sha256} of one component (and the migrations)."""
    prefix = "components/%s/" % component
    expected = {}
    for path, sha in manifest["files"].items():
        if path.startswith(prefix):
            expected[path[len(prefix) :]] = sha
        elif with_migrations and path.startswith("migrations/"):
            expected[path] = sha
    return expected


# --- The tarball ---------------------------------------------------------------------------------------------------


class HashingReader:
    """A read-only file object that hashes every byte read through it (tarfile reads the tarball through it)."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self):
        """Read (and hash) the rest of the file; return the hex digest of the whole file."""
        for block in iter(lambda: self.raw.read(CHUNK), b""):
            self.digest.update(block)
            self.size += len(block)
        return self.digest.hexdigest()


def _scan_members(archive, top, name, sink):
    """Read every member once: structural checks, sha256 of each regular file, the manifest's bytes."""
    seen = set()
    hashes = {}
    manifest_bytes = None
    count = total = 0
    for member in archive:
        count += 1
        if count > MAX_MEMBERS:
            raise ReleaseError("%s holds more than %d members" % (name, MAX_MEMBERS))
        bad = _bad_text(member.name)
        if bad:
            raise ReleaseError("%s: member name %s %s" % (name, _show(member.name), bad))
        plain = member.name[:-1] if member.isdir() and member.name.endswith("/") else member.name
        if plain in seen:
            raise ReleaseError(
                "%s: member %s appears twice (two readers could see different files)" % (name, _show(member.name))
            )
        seen.add(plain)
        if not is_plain_relative(plain) or plain.split("/", 1)[0] != top:
            raise ReleaseError("%s: member %s lies outside %s/" % (name, _show(member.name), top))
        if member.type == tarfile.DIRTYPE:
            continue
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise ReleaseError(
                "%s: member %s is a link or special file, which releases may not hold" % (name, member.name)
            )
        if plain == top:
            raise ReleaseError("%s: member %s must be the release's top folder, not a file" % (name, member.name))
        rel = plain[len(top) + 1 :]
        handle = archive.extractfile(member)
        if rel == MANIFEST:
            manifest_bytes = handle.read(MAX_MANIFEST_BYTES + 1)
            if len(manifest_bytes) > MAX_MANIFEST_BYTES:
                raise ReleaseError("%s: %s/%s is larger than %d bytes" % (name, top, MANIFEST, MAX_MANIFEST_BYTES))
            continue
        out = sink(rel, bool(member.mode & 0o111)) if sink is not None else None
        digest = hashlib.sha256()
        try:
            for block in iter(functools.partial(handle.read, CHUNK), b""):
                total += len(block)
                if total > MAX_UNPACKED_BYTES:
                    raise ReleaseError("%s unpacks to more than %d bytes" % (name, MAX_UNPACKED_BYTES))
                digest.update(block)
                if out is not None:
                    out.write(block)
        finally:
            if out is not None:
                out.close()
        hashes[rel] = digest.hexdigest()
    if not seen:
        raise ReleaseError("%s is empty" % name)
    return hashes, manifest_bytes


def scan_tarball(fileobj, expected_sha256, version, name, sink=None):
    """Verify a release tarball read once from FILEOBJ (an open binary file); return its validated manifest.

    The file is hashed while tarfile streams it; its digest must equal EXPECTED_SHA256 (from the signed index)
    before anything read from it is trusted: the manifest is parsed only then, and every file's sha256 compared.
    SINK(rel, executable) may return a writable file that receives the bytes of member REL (the host's install
    extracts into a staging directory that way); the caller discards what it wrote when this raises.
    """
    if not isinstance(expected_sha256, str) or not SHA256_RE.match(expected_sha256):
        raise ReleaseError(
            "%s: the expected sha256 %s is not 64 lower-case hex digits" % (name, _show(expected_sha256))
        )
    version_key(version)
    top = "followup-%s" % version
    reader = HashingReader(fileobj)
    problem = None
    hashes = manifest_bytes = None
    try:
        with tarfile.open(fileobj=reader, mode="r|gz") as archive:
            hashes, manifest_bytes = _scan_members(archive, top, name, sink)
    except ReleaseError as err:
        problem = err
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as err:
        problem = ReleaseError("%s is not a gzip-compressed tar archive (%s)" % (name, err))
    actual = reader.drain()
    if actual != expected_sha256:
        raise ReleaseError(
            "%s: sha256 %s differs from the index (%s); the file is damaged or not the published one"
            % (name, actual, expected_sha256)
        )
    if problem is not None:
        raise problem
    if manifest_bytes is None:
        raise ReleaseError("%s: %s/%s is missing" % (name, top, MANIFEST))
    where = "%s: %s/%s" % (name, top, MANIFEST)
    manifest = validate_manifest(_load_yaml(manifest_bytes, where), version, where)
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


def verify_tarball(path, expected_sha256, version):
    """Open the tarball at PATH once and verify it completely (scan_tarball); return its manifest."""
    name = os.path.basename(path)
    try:
        # O_NONBLOCK: opening a FIFO planted in the repository must not hang the gate; the open file is then
        # checked to be a regular file (fstat: the file that will be read, not whatever the path names later).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        if not os.path.lexists(path):
            raise ReleaseError("release tarball %s is missing" % path)
        raise ReleaseError("release tarball %s cannot be read (%s)" % (path, err.strerror or err))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ReleaseError("release tarball %s is not a regular file" % path)
    with os.fdopen(fd, "rb") as handle:
        return scan_tarball(handle, expected_sha256, version, name)


def check_release(repository, signers, version):
    """The release gate: the signed index, the entry, the tarball and its manifest.

    Returns (entry, manifest, releases, signer).
    """
    releases, signer = read_signed_index(repository, signers)
    entry = find_release(releases, version, os.path.join(repository, INDEX))
    manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
    if manifest["release_date"] != entry["release_date"]:
        raise ReleaseError(
            "%s: manifest release_date %s differs from index.yml (%s)"
            % (entry["file"], manifest["release_date"], entry["release_date"])
        )
    return entry, manifest, releases, signer


def parse_listen(listen, where="listen"):
    """'host:port' (IPv6 as '[addr]:port') -> (host, port). Raises ReleaseError naming WHERE."""
    if not isinstance(listen, str):
        raise ReleaseError("%s must be host:port, not %s" % (where, _show(listen)))
    match = re.match(r"\A(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})\Z", listen)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ReleaseError("%s %s is not host:port (a port 1-65535; IPv6 as [address]:port)" % (where, _show(listen)))
    host = match.group(1)
    return (host[1:-1] if host.startswith("[") else host), int(match.group(2))


def component_checks(component, manifest, listen, root):
    """The health check of COMPONENT from its verified MANIFEST, on the host of LISTEN, and its local fact.

    LISTEN ('host:port' or None) must use the manifest's port; a wildcard host is checked on loopback. Returns
    (checks, fact): checks is [{name, type, host, port[, path]}]; fact is what followup_component publishes in
    /etc/ansible/facts.d/followup_component_<component>.fact (component, root, unit, listen, services, checks).
    """
    comp = manifest["components"][component]
    host = "127.0.0.1"
    if listen is not None:
        host, port = parse_listen(listen, "listen")
        if port != comp["port"]:
            raise ReleaseError(
                "listen %s: its port differs from the port %d that release %s gives component %s: listen on port %d"
                % (listen, comp["port"], manifest["version"], component, comp["port"])
            )
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - a wildcard is checked on loopback
    check = {"name": unit_name(component), "type": comp["health"]["type"], "host": host, "port": comp["port"]}
    if "path" in comp["health"]:
        check["path"] = comp["health"]["path"]
    fact = {
        "component": component,
        "root": root,
        "unit": unit_name(component),
        "listen": listen,
        "services": [unit_name(component)],
        "checks": [check],
    }
    return [check], fact
