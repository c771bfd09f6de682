#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: install one component of a verified release on a host, and switch it live atomically.
# Always runs through its action plugin (action_plugins/followup_release_install.py), which reads the signed release
# index on the control node and alone sets tarball and sha256.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_release_install
short_description: Install a component of a signed follow-up system release and switch it live atomically
description:
  - Runs through its action plugin. On the control node the plugin refuses a command line that gets around the
    gates, reads and verifies the signed release index from the inventory (C(followup_release_repository),
    C(followup_release_signers)), never from task arguments, verifies the tarball of O(version) against it,
    copies the tarball to the host's C(.releases/) when it is missing or differs, and runs this module with the
    sha256 from the signed index. A task can set neither O(tarball) nor O(sha256).
  - On the host the module opens the tarball once and streams it, hashing it while it is read; nothing in it is
    trusted before the digest equals the signed index. Then it validates the manifest strictly, checks every
    file's sha256, and with O(state=present) extracts one component's payload (and, with O(with_migrations), the
    release's C(migrations/) tree, exactly the scripts the manifest lists) into C(<root>/releases/<version>)
    through a staging directory, writes C(.release.json) and only then renames the staging directory into place.
    A release already installed and intact is left alone; a damaged one is reinstalled.
  - With O(state=current), additionally writes the service's start command from the verified manifest into the
    systemd drop-in C(<unit_dir>/followup-<component>.service.d/start.conf) (the unit itself has no
    C(ExecStart=), so no variable can set it), then points C(<root>/current) at the release by renaming a
    temporary link over it (atomic), and reports the release it pointed at before (RV(previous_version)), the
    rollback target. Old releases beyond O(keep_releases) are removed; the current and previous always stay.
  - The layout is fixed in C(docs/architecture.md) and C(module_utils/followup_layout.py).
version_added: "0.1.0"
author: followup-ops
options:
  component:
    description: Component of the release to install.
    type: str
    required: true
    choices: [app, fep, voice]
  version:
    description: Release to install, C(MAJOR.MINOR.PATCH); the manifest in the tarball must name it.
    type: str
    required: true
  tarball:
    description:
      - Path of the release tarball on the managed host. Set by the action plugin
        (C(<base_dir>/.releases/followup-<version>.tar.gz)); a task cannot set it.
    type: path
  sha256:
    description:
      - Expected sha256 of the tarball, from the signed release index. Set by the action plugin; a task cannot set it.
    type: str
  root:
    description:
      - Directory of the component, holding C(releases/), C(current) and C(shared/). Set by the action plugin to
        C(<base_dir>/<component>).
    type: path
  base_dir:
    description: Base directory of every component (the action plugin's option; C(<base_dir>/<component>) is the root).
    type: path
    default: /opt/followup
  listen:
    description:
      - The component's C(host:port). When given, its port must equal the manifest's port, and the returned
        RV(checks) and RV(local_fact) use its host (C(127.0.0.1) for C(0.0.0.0), C(::1) for C(::)).
    type: str
  with_migrations:
    description: Also install the release's C(migrations/) tree under C(releases/<version>/migrations).
    type: bool
    default: false
  state:
    description: C(present) installs; C(current) installs, writes the start drop-in and makes it the live release.
    type: str
    default: present
    choices: [present, current]
  keep_releases:
    description: With O(state=current), how many installed releases to keep (the current and previous always stay).
    type: int
    default: 5
  unit_dir:
    description:
      - Directory of the systemd units; the start command goes to
        C(<unit_dir>/followup-<component>.service.d/start.conf).
    type: path
    default: /etc/systemd/system
  tarball_pending:
    description:
      - Set by the action plugin in check mode when the tarball is not on the host yet (or differs); the module then
        reports what would change without reading it. Refused outside check mode.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports what would be installed, written or switched; writes nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: followup_release_check
"""

EXAMPLES = r"""
# The action plugin takes the tarball and its sha256 from the signed index named by the inventory.
- name: Install release 1.1.0 of the app (not yet live)
  followup_release_install:
    component: app
    version: 1.1.0
    listen: 10.89.50.12:8080
    with_migrations: true
  register: __followup_component_install

- name: Switch the app to release 1.1.0
  followup_release_install:
    component: app
    version: 1.1.0
    listen: 10.89.50.12:8080
    state: current
  register: __followup_component_switch
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
sha256:
  description: sha256 of the tarball, from the signed index.
  returned: success
  type: str
  sample: 064c1826d5f1e27dd9613da3b7549d4c0e00c1be4c9eca8024c27a7d39bc3082
path:
  description: Directory of the installed release.
  returned: success
  type: str
  sample: /opt/followup/app/releases/1.1.0
installed:
  description: Whether this run installed (or would install) the release files.
  returned: success
  type: bool
start_changed:
  description: Whether this run wrote (or would write) the start drop-in (O(state=current) only).
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
  description: The component's start command, port and health check from the verified manifest.
  returned: success
  type: dict
  sample: {start: /usr/bin/python3 -m followup_app, port: 8080, health: {type: http, path: /health}}
migrations:
  description: The verified manifest's migrations per engine and database, in apply order (exactly what may run).
  returned: success
  type: dict
  sample: {mysql: {cloud_followup: [V001__create_core_tables.sql]}, mongodb: {cdr: [V001__create_collections.yml]}}
checks:
  description: The component's health check as the status report reads it (name, type, host, port, path).
  returned: success
  type: list
  elements: dict
  sample: [{name: followup-app, type: http, host: 10.89.50.12, port: 8080, path: /health}]
local_fact:
  description:
    - What followup_component publishes as C(/etc/ansible/facts.d/followup_component_<component>.fact), with the
      keys component, root, unit, listen, services and checks.
  returned: success
  type: dict
  sample:
    component: app
    root: /opt/followup/app
    unit: followup-app
    listen: 10.89.50.12:8080
    services: [followup-app]
    checks: [{name: followup-app, type: http, host: 10.89.50.12, port: 8080, path: /health}]
dropin:
  description: Path of the start drop-in.
  returned: success
  type: str
  sample: /etc/systemd/system/followup-app.service.d/start.conf
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

import json
import os
import shutil
import stat
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_layout import (
        RELEASE_RECORD,
        component_root,
        current_link,
        current_version,
        installed_versions,
        release_dir,
        releases_dir,
        unit_name,
        version_key,
    )
    from ansible.module_utils.followup_release import (
        HAS_YAML,
        ReleaseError,
        component_checks,
        component_files,
        is_plain_relative,
        scan_tarball,
        sha256_file,
    )
except ImportError:  # pragma: no cover - only when module_utils/ is not on the module_utils path
    HAS_YAML = None

DROPIN = "start.conf"
ACTION_PLUGIN_HINT = (
    "tarball and sha256 are set only by the action plugin action_plugins/followup_release_install.py from the "
    "signed release index: add the repository's action_plugins directory to the Ansible configuration "
    "(ansible.cfg action_plugins; Molecule: provisioner.config_options.defaults.action_plugins)"
)


def verify_installed(dest, expected, tarball_sha):
    """Return None when DEST holds the expected files of the tarball, else the reason it does not."""
    record = os.path.join(dest, RELEASE_RECORD)
    try:
        with open(record) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return "%s is missing or unreadable" % record
    if not isinstance(data, dict) or data.get("sha256") != tarball_sha:
        return "%s was installed from another tarball" % dest
    for rel, sha in sorted(expected.items()):
        if not is_plain_relative(rel):
            return "%s is not a plain relative path" % rel
        path = os.path.join(dest, rel)
        if os.path.islink(path) or not os.path.isfile(path):
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


class StagingSink:
    """Receives the members of one component (and the migrations) while the tarball streams, into STAGING."""

    def __init__(self, staging, component, with_migrations, name):
        self.staging = os.path.realpath(staging)
        self.prefix = "components/%s/" % component
        self.with_migrations = with_migrations
        self.name = name
        self.written = set()

    def __call__(self, rel, executable):
        if rel.startswith(self.prefix):
            target_rel = rel[len(self.prefix) :]
            if target_rel == RELEASE_RECORD or target_rel.split("/", 1)[0] == "migrations":
                raise ReleaseError(
                    "%s: %s may not be in a component (it would replace release data)" % (self.name, rel)
                )
        elif self.with_migrations and rel.startswith("migrations/"):
            target_rel = rel
        else:
            return None
        target = os.path.join(self.staging, target_rel)
        # The manifest check refuses such paths already; this keeps a write inside staging whatever comes.
        if not is_plain_relative(target_rel) or not os.path.realpath(target).startswith(self.staging + os.sep):
            raise ReleaseError("%s: member %s would be written outside the release directory" % (self.name, rel))
        if target_rel in self.written:
            raise ReleaseError("%s: member %s appears twice" % (self.name, rel))
        _makedirs(self.staging, os.path.dirname(target))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o755 if executable else 0o644)
        self.written.add(target_rel)
        return os.fdopen(fd, "wb")


def _open_tarball(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise ReleaseError("release tarball %s is not a regular file" % path)
    return handle


def install(module, params, handle, manifest, expected):
    """Install the component of the verified release from HANDLE (already verified once). Returns changed."""
    root, version, sha = params["root"], params["version"], params["sha256"]
    component = params["component"]
    dest = release_dir(root, version)
    name = os.path.basename(params["tarball"])
    if not expected:
        raise ReleaseError("release %s has no files for component %s" % (version, component))
    if os.path.isdir(dest):
        problem = verify_installed(dest, expected, sha)
        if problem is None:
            return False
        module.warn("release %s of %s is damaged and is reinstalled: %s" % (version, component, problem))
    if module.check_mode:
        return True
    top = releases_dir(root)
    if not os.path.isdir(top):
        os.makedirs(top)
        os.chmod(top, 0o755)  # noqa: S103 - as above
    staging = os.path.join(top, ".%s.partial-%d" % (version, os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    os.mkdir(staging)
    os.chmod(staging, 0o755)  # noqa: S103 - as above
    try:
        sink = StagingSink(staging, component, params["with_migrations"], name)
        handle.seek(0)
        # The second pass hashes again: a file changed in place since the first pass is refused here.
        scan_tarball(handle, sha, version, name, sink=sink)
        missing = sorted(set(expected) - sink.written)
        extra = sorted(sink.written - set(expected))
        if missing or extra:
            raise ReleaseError("%s: %s differs between the manifest and the tarball" % (name, (missing + extra)[0]))
        comp = manifest["components"][component]
        record = {
            "component": component,
            "version": version,
            "release_date": manifest["release_date"],
            "sha256": sha,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": len(expected),
            "start": comp["start"],
            "port": comp["port"],
            "health": comp["health"],
        }
        fd = os.open(os.path.join(staging, RELEASE_RECORD), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out, indent=2, sort_keys=True)
        if os.path.isdir(dest):
            broken = "%s.damaged-%d" % (dest, int(time.time()))
            os.rename(dest, broken)
            os.rename(staging, dest)
            shutil.rmtree(broken, ignore_errors=True)
        else:
            os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def dropin_text(component, version, sha, start):
    return (
        "# Written by followup_release_install from the verified manifest of release %s\n"
        "# (tarball sha256 %s).\n"
        "# The start command comes only from a signed release: do not edit.\n"
        "[Service]\n"
        "ExecStart=\n"
        "ExecStart=%s\n"
    ) % (version, sha, start)


def write_dropin(module, path, text):
    """Write the start drop-in atomically when it differs. Returns (changed, before)."""
    try:
        with open(path) as handle:
            before = handle.read()
    except (OSError, UnicodeDecodeError):
        before = None
    if before == text:
        return False, before
    if module.check_mode:
        return True, before
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
        os.chmod(directory, 0o755)  # noqa: S103 - systemd unit directories are world-readable
    tmp = os.path.join(directory, ".%s.%d" % (DROPIN, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.rename(tmp, path)
    return True, before


def switch(module, root, version):
    """Point ROOT/current at releases/VERSION by renaming a temporary link over it. Return (changed, previous)."""
    previous = current_version(root)
    if previous == version:
        return False, previous
    if module.check_mode:
        return True, previous
    link = current_link(root)
    if os.path.lexists(link) and not os.path.islink(link):
        raise ReleaseError("%s is a real file or directory, not a link: move it away, then retry" % link)
    tmp = os.path.join(root, ".current.%d" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", version), tmp)
    os.rename(tmp, link)
    return True, previous


def cleanup(module, root, keep, protect):
    versions = installed_versions(root)
    removable = [v for v in versions if v not in protect]
    excess = len(versions) - max(keep, len(protect))
    doomed = removable[: max(excess, 0)]
    if not module.check_mode:
        for version in doomed:
            shutil.rmtree(release_dir(root, version))
    return doomed


def predicted(module, params):
    """Check mode while the tarball is not on the host yet: what would change, from the host's layout alone."""
    root, version = params["root"], params["version"]
    before = current_version(root)
    installed = version not in installed_versions(root)
    switched = params["state"] == "current" and before != version
    result = {
        "changed": True,
        "installed": True,
        "start_changed": params["state"] == "current",
        "switched": switched,
        "removed_releases": [],
        "version": version,
        "sha256": params["sha256"],
        "path": release_dir(root, version),
        "previous_version": before,
        "current_version": version if params["state"] == "current" else before,
        "msg": "the tarball of release %s is not on the host yet; it would be copied and %s"
        % (version, "installed" if installed else "checked"),
    }
    return result


def run(module):
    params = dict(module.params)
    if not params["sha256"] or not params["tarball"]:
        raise ReleaseError(ACTION_PLUGIN_HINT)
    params["sha256"] = params["sha256"].lower()
    if not params["root"]:
        params["root"] = component_root(params["component"], params["base_dir"])
    if params["tarball_pending"]:
        if not module.check_mode:
            raise ReleaseError("tarball_pending is for check mode only")
        return predicted(module, params)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML (python3-yaml)"))
    component, version, root = params["component"], params["version"], params["root"]
    tarball = params["tarball"]
    if not os.path.lexists(tarball):
        raise ReleaseError("release tarball %s is not on the host: the action plugin copies it" % tarball)
    before_current = current_version(root)
    before_installed = installed_versions(root)
    result = {"changed": False, "installed": False, "start_changed": False, "switched": False, "removed_releases": []}
    with _open_tarball(tarball) as handle:
        manifest = scan_tarball(handle, params["sha256"], version, os.path.basename(tarball))
        checks, fact = component_checks(component, manifest, params["listen"], root)
        expected = component_files(manifest, component, params["with_migrations"])
        installed = install(module, params, handle, manifest, expected)
    result.update(installed=installed, changed=installed)
    comp = manifest["components"][component]
    dropin = os.path.join(params["unit_dir"], "%s.service.d" % unit_name(component), DROPIN)
    diff_before = {"current": before_current, "installed": before_installed}
    diff_after = {"current": before_current}
    previous = before_current
    if params["state"] == "current":
        executable = comp["start"].split(" ", 1)[0]
        if not module.check_mode and not executable.startswith(root + "/") and not os.access(executable, os.X_OK):
            raise ReleaseError(
                "the start command of release %s runs %s, which is not an executable on this host: install the "
                "package that provides it (the role's packages list)" % (version, executable)
            )
        text = dropin_text(component, version, params["sha256"], comp["start"])
        start_changed, start_before = write_dropin(module, dropin, text)
        switched, previous = switch(module, root, version)
        protect = {v for v in (version, previous) if v}
        removed = cleanup(module, root, params["keep_releases"], protect)
        result.update(start_changed=start_changed, switched=switched, removed_releases=removed)
        result["changed"] = result["changed"] or start_changed or switched or bool(removed)
        diff_before["start"] = start_before
        diff_after.update(current=version, start=text)
    diff_after["installed"] = sorted(
        (set(before_installed) | {version}) - set(result["removed_releases"]),
        key=version_key,
    )
    result.update(
        version=version,
        release_date=manifest["release_date"],
        sha256=params["sha256"],
        path=release_dir(root, version),
        previous_version=previous,
        current_version=diff_after["current"],
        component=comp,
        migrations=manifest["migrations"],
        checks=checks,
        local_fact=fact,
        dropin=dropin,
        files=len(expected),
    )
    if module._diff:
        result["diff"] = {"before": diff_before, "after": diff_after}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True, choices=["app", "fep", "voice"]),
            version=dict(type="str", required=True),
            tarball=dict(type="path"),
            sha256=dict(type="str"),
            root=dict(type="path"),
            base_dir=dict(type="path", default="/opt/followup"),
            listen=dict(type="str"),
            with_migrations=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "current"]),
            keep_releases=dict(type="int", default=5),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
            tarball_pending=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if HAS_YAML is None:
        module.fail_json(msg="module_utils/followup_release.py is not on the module_utils path (see ansible.cfg)")
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
