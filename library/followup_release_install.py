#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: install one component of a verified release on a host, and switch it live atomically.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_release_install
short_description: Install a follow-up system component from a release tarball and switch it live atomically
description:
  - With O(state=present), checks the tarball's sha256, extracts one component's payload (and, with
    O(with_migrations), the release's C(migrations/) tree) into C(<root>/releases/<version>) through a staging
    directory, checks every written file's sha256 against the release manifest, writes C(.release.json) and only
    then renames the staging directory into place. A release already installed and intact is left alone.
  - With O(state=current), additionally points C(<root>/current) at the release by renaming a temporary
    symbolic link over it (atomic), and reports the release it pointed at before (RV(previous_version)), which
    is the rollback target. Old releases beyond O(keep_releases) are removed; the current and the previous
    release are always kept.
  - The layout is fixed in C(docs/architecture.md).
version_added: "0.1.0"
author: followup-ops
options:
  component:
    description: Component of the release to install.
    type: str
    required: true
    choices: [app, fep, voice]
  tarball:
    description: Path of the release tarball on the managed host.
    type: path
    required: true
  sha256:
    description: Expected sha256 of the tarball (from the release index, verified on the control node).
    type: str
    required: true
  root:
    description: Directory of the component, holding C(releases/), C(current) and C(shared/).
    type: path
    default: /opt/followup/<component>
  with_migrations:
    description: Also install the release's C(migrations/) tree under C(releases/<version>/migrations).
    type: bool
    default: false
  state:
    description: C(present) installs; C(current) installs and makes it the live release.
    type: str
    default: present
    choices: [present, current]
  keep_releases:
    description: With O(state=current), how many installed releases to keep (the current and previous always stay).
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    details: Reports what would be installed or switched; writes nothing. A tarball not yet copied counts as a change.
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: followup_release_check
"""

EXAMPLES = r"""
- name: Install release 1.1.0 of the app (not yet live)
  followup_release_install:
    component: app
    tarball: /opt/followup/.releases/followup-1.1.0.tar.gz
    sha256: "{{ __followup_app_release.sha256 }}"
    with_migrations: true

- name: Switch the app to release 1.1.0
  followup_release_install:
    component: app
    tarball: /opt/followup/.releases/followup-1.1.0.tar.gz
    sha256: "{{ __followup_app_release.sha256 }}"
    state: current
  register: __followup_app_switch
"""

RETURN = r"""
version:
  description: Release version of the tarball.
  returned: success
  type: str
  sample: 1.1.0
release_date:
  description: Release date from the manifest.
  returned: success
  type: str
  sample: "2026-05-18"
path:
  description: Directory of the installed release.
  returned: success
  type: str
  sample: /opt/followup/app/releases/1.1.0
installed:
  description: Whether this run installed (or would install) the release files.
  returned: success
  type: bool
switched:
  description: Whether this run switched (or would switch) C(current).
  returned: success
  type: bool
previous_version:
  description: Release C(current) pointed at before this run (null when none); the rollback target.
  returned: success
  type: str
  sample: 1.0.0
current_version:
  description: Release C(current) points at after this run.
  returned: success
  type: str
  sample: 1.1.0
component:
  description: The component's start command, port and health check from the manifest.
  returned: success
  type: dict
  sample: {start: /usr/bin/python3 -m followup_app, port: 8080, health: {type: http, path: /health}}
files:
  description: Number of files of the component (and migrations) in the release.
  returned: success
  type: int
  sample: 42
removed_releases:
  description: Old releases removed by O(keep_releases).
  returned: success
  type: list
  elements: str
"""

import functools
import hashlib
import json
import os
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_release import (
        HAS_YAML,
        ReleaseError,
        is_plain_relative,
        iter_component_members,
        read_manifest_from_tarball,
        sha256_file,
        validate_manifest,
        version_key,
    )
except ImportError:  # pragma: no cover
    HAS_YAML = False

RECORD = ".release.json"


def _release_versions(releases_dir):
    found = []
    if os.path.isdir(releases_dir):
        for name in os.listdir(releases_dir):
            try:
                version_key(name)
            except ReleaseError:
                continue
            if os.path.isdir(os.path.join(releases_dir, name)):
                found.append(name)
    return sorted(found, key=version_key)


def current_version(root):
    link = os.path.join(root, "current")
    if not os.path.islink(link):
        return None
    return os.path.basename(os.readlink(link).rstrip("/"))


def _expected_files(manifest, component, with_migrations):
    prefix = "components/%s/" % component
    expected = {}
    for path, sha in manifest["files"].items():
        if path.startswith(prefix):
            expected[path[len(prefix) :]] = sha
        elif with_migrations and path.startswith("migrations/"):
            expected[path] = sha
    return expected


def verify_installed(dest, expected, tarball_sha):
    """Return None when DEST holds exactly the expected files, else the reason it does not."""
    record = os.path.join(dest, RECORD)
    try:
        with open(record) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return "%s is missing or unreadable" % record
    if data.get("sha256") != tarball_sha:
        return "%s was installed from another tarball (sha256 %s)" % (dest, data.get("sha256"))
    for rel, sha in sorted(expected.items()):
        if not is_plain_relative(rel):
            return "%s is not a plain relative path" % rel
        path = os.path.join(dest, rel)
        if not os.path.isfile(path):
            return "%s is missing" % path
        if sha256_file(path) != sha:
            return "%s differs from the release manifest" % path
    return None


def _makedirs(base, path):
    """Create PATH below BASE with mode 0755 whatever the umask (a 等保 umask of 027 would hide the release)."""
    missing = []
    while not os.path.isdir(path) and path != base:
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, 0o755)  # noqa: S103 - release files are read-only to all, readable by the service


def _extract(module, tarball, top, component, with_migrations, expected, staging):
    written = set()
    with tarfile.open(tarball, "r:gz") as archive:
        for member, rel in iter_component_members(archive, top, component, with_migrations):
            if rel not in expected:
                raise ReleaseError(
                    "%s: %s/%s is not listed in the manifest" % (os.path.basename(tarball), top, member.name)
                )
            target = os.path.join(staging, rel)
            # The gate refuses such paths already; this keeps a write inside the staging directory whatever comes.
            if not is_plain_relative(rel) or not os.path.realpath(target).startswith(
                os.path.realpath(staging) + os.sep
            ):
                raise ReleaseError(
                    "%s: member %s would be written outside the release directory"
                    % (os.path.basename(tarball), member.name)
                )
            _makedirs(staging, os.path.dirname(target))
            digest = hashlib.sha256()
            source = archive.extractfile(member)
            with open(target, "wb") as out:
                for block in iter(functools.partial(source.read, 1024 * 1024), b""):
                    digest.update(block)
                    out.write(block)
            os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
            if digest.hexdigest() != expected[rel]:
                raise ReleaseError(
                    "%s: file %s has sha256 %s, the manifest says %s"
                    % (os.path.basename(tarball), member.name, digest.hexdigest(), expected[rel])
                )
            written.add(rel)
    missing = sorted(set(expected) - written)
    if missing:
        raise ReleaseError(
            "%s: %s listed in the manifest but missing from the tarball" % (os.path.basename(tarball), missing[0])
        )


def install(module, params, manifest, tarball_sha):
    component = params["component"]
    root = params["root"]
    version = manifest["version"]
    releases_dir = os.path.join(root, "releases")
    dest = os.path.join(releases_dir, version)
    expected = _expected_files(manifest, component, params["with_migrations"])
    if not expected:
        raise ReleaseError("release %s has no files for component %s" % (version, component))
    if os.path.isdir(dest):
        problem = verify_installed(dest, expected, tarball_sha)
        if problem is None:
            return False, expected
        module.warn("release %s of %s is damaged and is reinstalled: %s" % (version, component, problem))
    if module.check_mode:
        return True, expected
    if not os.path.isdir(releases_dir):
        os.makedirs(releases_dir)
        os.chmod(releases_dir, 0o755)  # noqa: S103 - as above
    staging = os.path.join(releases_dir, ".%s.partial-%d" % (version, os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    os.chmod(staging, 0o755)  # noqa: S103 - as above
    try:
        _extract(
            module, params["tarball"], "followup-%s" % version, component, params["with_migrations"], expected, staging
        )
        record = {
            "component": component,
            "version": version,
            "release_date": manifest["release_date"],
            "sha256": tarball_sha,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": len(expected),
            "start": manifest["components"][component]["start"],
            "port": manifest["components"][component]["port"],
            "health": manifest["components"][component]["health"],
        }
        with open(os.path.join(staging, RECORD), "w") as out:
            json.dump(record, out, indent=2, sort_keys=True)
        os.chmod(os.path.join(staging, RECORD), 0o644)
        if os.path.isdir(dest):
            broken = "%s.damaged-%d" % (dest, int(time.time()))
            os.rename(dest, broken)
            os.rename(staging, dest)
            shutil.rmtree(broken, ignore_errors=True)
        else:
            os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True, expected


def switch(module, root, version):
    """Point ROOT/current at releases/VERSION by renaming a temporary link over it. Return (changed, previous)."""
    previous = current_version(root)
    if previous == version:
        return False, previous
    if module.check_mode:
        return True, previous
    link = os.path.join(root, "current")
    if os.path.exists(link) and not os.path.islink(link):
        raise ReleaseError("%s is a real directory, not a link: move it away, then retry" % link)
    tmp = os.path.join(root, ".current.%d" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", version), tmp)
    os.rename(tmp, link)
    return True, previous


def cleanup(module, root, keep, protect):
    releases_dir = os.path.join(root, "releases")
    versions = _release_versions(releases_dir)
    removable = [v for v in versions if v not in protect]
    excess = len(versions) - max(keep, len(protect))
    doomed = removable[: max(excess, 0)]
    if not module.check_mode:
        for version in doomed:
            shutil.rmtree(os.path.join(releases_dir, version))
    return doomed


def run(module):
    params = dict(module.params)
    if not params["root"]:
        params["root"] = "/opt/followup/%s" % params["component"]
    tarball = params["tarball"]
    expected_sha = params["sha256"].lower()
    result = {"changed": False, "installed": False, "switched": False, "removed_releases": []}
    if not os.path.isfile(tarball):
        if module.check_mode:
            result.update(
                changed=True, installed=True, msg="%s is not on the host yet; it would be installed" % tarball
            )
            return result
        raise ReleaseError("release tarball %s is not on the host: copy it first" % tarball)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    actual = sha256_file(tarball)
    if actual != expected_sha:
        raise ReleaseError("%s: sha256 %s differs from the release index (%s)" % (tarball, actual, expected_sha))
    manifest = validate_manifest(
        read_manifest_from_tarball(tarball), where="%s: manifest.yml" % os.path.basename(tarball)
    )
    version = manifest["version"]
    root = params["root"]
    before_current = current_version(root)
    before_installed = _release_versions(os.path.join(root, "releases"))

    installed, expected = install(module, params, manifest, expected_sha)
    result.update(installed=installed, changed=installed)
    previous = before_current
    if params["state"] == "current":
        switched, previous = switch(module, root, version)
        result["switched"] = switched
        result["changed"] = result["changed"] or switched
        protect = {v for v in (version, previous) if v}
        result["removed_releases"] = cleanup(module, root, params["keep_releases"], protect)
        result["changed"] = result["changed"] or bool(result["removed_releases"])
    after_installed = sorted((set(before_installed) | {version}) - set(result["removed_releases"]), key=version_key)
    after_current = version if params["state"] == "current" else before_current
    result.update(
        version=version,
        release_date=manifest["release_date"],
        path=os.path.join(root, "releases", version),
        previous_version=previous,
        current_version=after_current,
        component=dict(manifest["components"][params["component"]]),
        files=len(expected),
    )
    if module._diff:
        result["diff"] = {
            "before": {"current": before_current, "installed": before_installed},
            "after": {"current": after_current, "installed": after_installed},
        }
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True, choices=["app", "fep", "voice"]),
            tarball=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            root=dict(type="path"),
            with_migrations=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "current"]),
            keep_releases=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    if module.params["keep_releases"] < 2:
        module.fail_json(msg="keep_releases must be at least 2 (the current and the previous release)")
    try:
        module.exit_json(**run(module))
    except ReleaseError as err:
        module.fail_json(msg=to_native(err))
    except OSError as err:
        module.fail_json(msg="installing %s failed: %s" % (module.params["component"], to_native(err)))


if __name__ == "__main__":
    main()
