#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the release gate, run on the control node before any host is touched.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_release_check
short_description: Verify a follow-up system release against its repository before deploying it
description:
  - Reads the release repository's C(index.yml), finds the requested release, checks the tarball's sha256 against
    the index, every member of the tarball, the manifest's required fields and the sha256 of every file against
    the manifest (see C(docs/releases.md)).
  - Refuses with C(failed=true) and RV(followup_gate=release) and a one-line message naming the file at fault, so
    the command line exits 2 before any host is touched.
  - Without O(version), only reads the index and returns the releases (for status reports).
  - Read-only; runs on the control node (delegated to C(localhost), or in a play on C(localhost)).
version_added: "0.1.0"
author: followup-ops
options:
  repository:
    description: Path of the release repository on the control node (a directory holding C(index.yml)).
    type: path
    required: true
  version:
    description:
      - Release to verify, C(MAJOR.MINOR.PATCH). When omitted, the index is read and nothing else is checked.
    type: str
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The same verification code (C(module_utils/followup_release.py)) serves the command line.
seealso:
  - module: followup_release_install
"""

EXAMPLES = r"""
- name: Verify release 1.1.0 before anything is deployed
  followup_release_check:
    repository: /srv/followup-ops/releases
    version: 1.1.0
  register: __followup_release

- name: List the releases of the lab repository
  followup_release_check:
    repository: "{{ playbook_dir }}/../build/releases"
"""

RETURN = r"""
release:
  description: The index entry of the verified release.
  returned: when version is given and the release passed
  type: dict
  sample:
    version: 1.1.0
    release_date: "2026-05-18"
    file: followup-1.1.0.tar.gz
    sha256: 3b1f...
    path: /srv/followup-ops/releases/followup-1.1.0.tar.gz
components:
  description: Per component, the start command, port and health check from the manifest.
  returned: when version is given and the release passed
  type: dict
  sample: {app: {start: /usr/bin/python3 -m followup_app, port: 8080, health: {type: http, path: /health}}}
migrations:
  description: The manifest's migrations, per engine and database.
  returned: when version is given and the release passed
  type: dict
  sample: {mysql: {cloud_followup: [V001__create_core_tables.sql]}, mongodb: {cdr: [V001__create_collections.yml]}}
releases:
  description: Every release in the index, oldest first.
  returned: always, unless the index itself is unreadable
  type: list
  elements: dict
  sample: [{version: 1.0.0, release_date: "2026-02-02"}, {version: 1.1.0, release_date: "2026-05-18"}]
newest:
  description: The newest release in the index.
  returned: always, unless the index itself is unreadable
  type: dict
  sample: {version: 1.2.0, release_date: "2026-09-07"}
followup_gate:
  description: C(release) when the gate refused; the command line exits 2 on it.
  returned: on refusal
  type: str
  sample: release
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible.module_utils.followup_release import HAS_YAML, ReleaseError, check_release, read_index
except ImportError:  # pragma: no cover
    HAS_YAML = False


def _public(entry):
    return {k: entry[k] for k in ("version", "release_date", "file", "sha256")}


def run(module):
    repository = module.params["repository"]
    version = module.params["version"]
    try:
        if version is None:
            releases = read_index(repository)
            return {"changed": False, "releases": [_public(r) for r in releases], "newest": _public(releases[-1])}
        entry, manifest, releases = check_release(repository, version)
    except ReleaseError as err:
        module.fail_json(msg=str(err), followup_gate="release")
    return {
        "changed": False,
        "release": dict(_public(entry), path=entry["path"]),
        "components": {name: dict(comp) for name, comp in manifest["components"].items()},
        "migrations": manifest["migrations"],
        "releases": [_public(r) for r in releases],
        "newest": _public(releases[-1]),
        "msg": "release %s verified: %d files match the manifest" % (version, len(manifest["files"])),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            repository=dict(type="path", required=True),
            version=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
