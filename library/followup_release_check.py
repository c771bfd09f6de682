#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the release gate, run on the control node before any host is touched.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_release_check
short_description: Verify a signed follow-up system release before deploying it
description:
  - Verifies first the SSH signature C(index.yml.sig) over the exact bytes of the release repository's
    C(index.yml) (namespace C(followup-release)) against O(signers), then parses those same bytes, finds the
    requested release, and streams its tarball once, hashing it while it is read; only when the digest equals the
    signed index are the manifest (checked strictly, see C(docs/releases.md)) and the sha256 of every file
    trusted.
  - Follows the gate contract of C(docs/architecture.md) ("Gates"), so a refusal is not a failure. The module returns
    C(changed=false) and RV(refused), a list of one-line reasons (empty when the release passes), with the data it
    could read. It fails only on bad module input or an internal error.
  - Without O(version), only reads and verifies the signed index (for status reports) and returns RV(releases),
    RV(newest), RV(signer) and RV(refused).
  - Read-only; runs on the control node (delegated to C(localhost), or in a play on C(localhost)).
version_added: "0.1.0"
author: followup-ops
options:
  repository:
    description:
      - Path of the release repository on the control node (a directory holding C(index.yml), C(index.yml.sig) and
        the tarballs).
    type: path
    required: true
  signers:
    description:
      - The allowed signers of release indexes, as allowed_signers lines of ssh-keygen(1)
        (C(<principal> namespaces="followup-release" ssh-ed25519 AAAA... [comment])), normally the inventory's
        C(followup_release_signers).
      - An empty list, a C(CHANGE-ME) placeholder, a line that is not an allowed_signers entry or one whose
        namespaces are not restricted to C(followup-release) is a refusal.
    type: list
    elements: raw
    required: true
  version:
    description:
      - Release to verify, C(MAJOR.MINOR.PATCH). When omitted, only the signed index is read.
    type: str
  seen_file:
    description:
      - The control node's record of the newest release index it verified, per repository (the upgrade gate keeps
        it, C(runs/upgrade/releases-seen.json)). An index whose newest release is older than the record is refused, as
        an old, validly signed C(index.yml) and C(index.yml.sig) put back. Empty for no such check.
    type: path
    default: ""
  record_seen:
    description:
      - Move the record forward when a newer index is verified (never in check mode).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyYAML
  - ssh-keygen of OpenSSH 8.2 or newer on the control node
notes:
  - The same verification code (C(module_utils/followup_release.py), C(module_utils/followup_sshsig.py)) serves the
    install's action plugin and the command line.
seealso:
  - module: followup_release_install
"""

EXAMPLES = r"""
- name: Verify release 1.1.0 before anything is deployed
  followup_release_check:
    repository: /srv/followup-ops/releases
    signers: "{{ followup_release_signers }}"
    version: 1.1.0
  register: __followup_release_gate

- name: List the releases of the signed lab repository
  followup_release_check:
    repository: "{{ followup_release_repository }}"
    signers: "{{ followup_release_signers | default([]) }}"
"""

RETURN = r"""
refused:
  description: One-line reasons the gate refuses the release; empty when it passes.
  returned: always
  type: list
  elements: str
  sample: ["/srv/followup-ops/releases/index.yml is signed by a key that is not in followup_release_signers: refused"]
release:
  description: The signed index entry of the verified release.
  returned: when version is given and the release passed
  type: dict
  sample:
    version: 1.1.0
    release_date: "2026-05-18"
    file: followup-1.1.0.tar.gz
    sha256: 064c1826d5f1e27dd9613da3b7549d4c0e00c1be4c9eca8024c27a7d39bc3082
    path: /srv/followup-ops/releases/followup-1.1.0.tar.gz
components:
  description: Per component, the start command, port and health check from the verified manifest (for display).
  returned: when version is given and the release passed
  type: dict
  sample: {app: {start: /usr/bin/python3 -m followup_app, port: 8080, health: {type: http, path: /health}}}
migrations:
  description: The verified manifest's migrations, per engine and database, in apply order.
  returned: when version is given and the release passed
  type: dict
  sample: {mysql: {cloud_followup: [V001__create_core_tables.sql]}, mongodb: {cdr: [V001__create_collections.yml]}}
releases:
  description: Every release in the signed index, oldest first; empty when the index could not be verified.
  returned: always
  type: list
  elements: dict
  sample: [{version: 1.0.0, release_date: "2026-02-02"}, {version: 1.1.0, release_date: "2026-05-18"}]
newest:
  description: The newest release in the signed index; null when the index could not be verified.
  returned: always
  type: dict
  sample: {version: 1.2.0, release_date: "2026-09-07"}
signer:
  description: Who signed the index (the principal of its allowed_signers line, and the key); null when unverified.
  returned: always
  type: dict
  sample: {principal: release@vendor.example, key: "ED25519 key SHA256:V0+SopiNdbGpWRzPTrpyV+3v2FdBsHnj+Ie02Tm/T0Y"}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible.module_utils.followup_release import (
        HAS_YAML,
        INDEX,
        ReleaseError,
        check_not_replayed,
        find_release,
        read_signed_index,
        verify_tarball,
    )
except ImportError:  # pragma: no cover - only when module_utils/ is not on the module_utils path
    HAS_YAML = None


def _public(entry):
    return {k: entry[k] for k in ("version", "release_date", "file", "sha256")}


def run(params):
    """The gate: a result dict with `refused` (empty when the release passes) and the data that was verified."""
    repository = params["repository"]
    version = params["version"]
    result = {"changed": False, "refused": [], "releases": [], "newest": None, "signer": None}
    try:
        releases, signer = read_signed_index(repository, params["signers"])
    except ReleaseError as err:
        result["refused"].append(str(err))
        return result
    try:
        replayed = check_not_replayed(
            repository, releases, params.get("seen_file"), record=bool(params.get("record_seen"))
        )
    except (OSError, ReleaseError) as err:
        replayed = "the record of verified release indexes %s cannot be kept (%s)" % (params.get("seen_file"), err)
    if replayed:
        result["refused"].append(replayed)
        return result
    result.update(releases=[_public(r) for r in releases], newest=_public(releases[-1]), signer=signer)
    if version is None:
        result["msg"] = "release index signed by %s: %d releases" % (signer["principal"], len(releases))
        return result
    try:
        entry = find_release(releases, version, "%s/%s" % (repository.rstrip("/"), INDEX))
        manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
        if manifest["release_date"] != entry["release_date"]:
            raise ReleaseError(
                "%s: manifest release_date %s differs from the signed index.yml (%s)"
                % (entry["file"], manifest["release_date"], entry["release_date"])
            )
    except ReleaseError as err:
        result["refused"].append(str(err))
        return result
    result.update(
        release=dict(_public(entry), path=entry["path"]),
        components=manifest["components"],
        migrations=manifest["migrations"],
        msg="release %s verified: index signed by %s, %d files match the manifest"
        % (version, signer["principal"], len(manifest["files"])),
    )
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            repository=dict(type="path", required=True),
            signers=dict(type="list", elements="raw", required=True),
            version=dict(type="str"),
            seen_file=dict(type="path", default=""),
            record_seen=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.check_mode:
        module.params["record_seen"] = False
    if HAS_YAML is None:
        module.fail_json(msg="module_utils/followup_release.py is not on the module_utils path (see ansible.cfg)")
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    module.exit_json(**run(module.params))


if __name__ == "__main__":
    main()
