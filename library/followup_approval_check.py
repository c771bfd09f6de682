#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the upgrade gate (module_utils/followup_approval.py, docs/upgrade.md, "The gate").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_approval_check
short_description: The upgrade gate - verify the IT department's signed approval against the release and the hosts
description:
  - Runs on the control node before any host is touched. Verifies the change approval O(approval_file) and lists
    every condition that fails, so that one run names everything to fix; C(docs/upgrade.md), "The gate".
  - The approval is signed (C(approval.yml.sig), namespace C(followup-approval)) by a key in O(signers), was not
    modified after signing, has not expired, was not used before (the control node's record in O(ledger_dir) and
    the hosts' records in O(hosts); one approval, one upgrade), is for this O(environment), goes from the release
    the hosts run to the newest release of the signed index without a downgrade, and names the sha256 of that
    release's tarball and of the test document kept beside it. The tarball itself is verified completely against
    the signed index (as the release gate does).
  - An approval recorded C(in_progress) by an operation that no longer runs (its control node died, or it was
    killed) is resumed, not refused (RV(resume)); the hosts may then run the from- or the to-release.
  - With O(rehearsal) (C(followup-ops rehearse), staging inventories only) no approval is needed; the release is
    O(requested_version) and must still be the newest, and the hosts must run an older one.
  - Follows the gate contract (C(docs/architecture.md), "Gates"); a refusal is not a failure. The module returns
    C(changed=false) and RV(refused), and fails only on bad module input.
version_added: "0.1.0"
author: followup-ops
options:
  approval_file:
    description: Path of the signed C(approval.yml) on the control node (its signature is C(approval.yml.sig)).
    type: str
    default: ""
  signers:
    description:
      - The allowed signers of approvals, allowed_signers lines restricted to C(namespaces="followup-approval"),
        normally the inventory's C(followup_approval_signers).
    type: list
    elements: raw
    default: []
  environment:
    description: The environment name of the inventory (C(followup_approval_environment)), e.g. C(production).
    type: str
    required: true
  repository:
    description: The release repository on the control node (C(followup_release_repository)).
    type: path
    required: true
  release_signers:
    description: The allowed signers of the release index (C(followup_release_signers)).
    type: list
    elements: raw
    required: true
  hosts:
    description:
      - Per application-tier host, what M(followup_upgrade_host) V(read) found there (components, lease, record).
    type: dict
    default: {}
  components:
    description: Per application-tier host, the components it must run (C(app), C(fep), C(voice)).
    type: dict
    default: {}
  ledger_dir:
    description: The control node's records of used approvals.
    type: path
    required: true
  operation:
    description: The id of this operation (C(followup_operation_id)).
    type: str
    default: ""
  trust_local:
    description:
      - Set when the run comes from the followup-ops command line, whose leases (C(runs/locks)) admit one operation
        at a time on these hosts; an in-progress record of another operation of this control node is then known to
        belong to an operation that died.
    type: bool
    default: false
  requested_version:
    description:
      - For an upgrade, the run's C(followup_release_version), which is refused (the approval says the release); with
        O(rehearsal), the release to rehearse (C(followup_upgrade_rehearse_release)).
    type: str
    default: ""
  rehearsal:
    description: Rehearse on a staging inventory without an approval (see the description).
    type: bool
    default: false
  rehearsal_allowed:
    description: Whether the inventory is a staging inventory that may rehearse (C(followup_upgrade_rehearsal_allowed)).
    type: bool
    default: false
  seen_file:
    description:
      - The control node's record of the newest release index it verified, per release repository. An index whose
        newest release is older than the record is refused (an old, validly signed C(index.yml) and C(index.yml.sig)
        put back would otherwise make an older release look like the newest). Outside check mode the record moves
        forward when a newer index is verified. Empty for no such check.
    type: path
    default: ""
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
seealso:
  - module: followup_release_check
  - module: followup_upgrade_host
"""

EXAMPLES = r"""
- name: Verify the approval before any host is touched
  followup_approval_check:
    approval_file: /srv/followup-ops/approvals/CHG-2026-014/approval.yml
    signers: "{{ followup_approval_signers }}"
    environment: production
    repository: "{{ followup_release_repository }}"
    release_signers: "{{ followup_release_signers }}"
    hosts: "{{ dict(groups['followup'] | zip(groups['followup'] | map('extract', hostvars, '__upgrade_host'))) }}"
    components: {app1: [app], fep1: [fep], voice1: [voice]}
    ledger_dir: /srv/followup-ops/runs/approvals
  delegate_to: localhost
  run_once: true
  register: __upgrade_gate
"""

RETURN = r"""
refused:
  description: One line per failed condition, naming it and what to do; empty when the upgrade may start.
  returned: always
  type: list
  elements: str
  sample:
    - "approval CHG-2026-014 expired at 2026-12-01T18:00:00+08:00; ask 信息科 (the IT department) to sign a new one"
approval:
  description: What the approval says (change id, environment, releases, sha256s, approver, times) and its signer.
  returned: when the document could be read
  type: dict
  sample: {id: CHG-2026-014, from_release: 1.0.0, to_release: 1.2.0, approver: 王丽 (信息科)}
signer:
  description: The allowed signer that signed it (principal and key fingerprint); null when the signature failed.
  returned: always
  type: dict
  sample: {principal: wangli@it.hospital, key: "ED25519 key SHA256:..."}
from_release:
  description: The release the hosts run (the approval's from-release).
  returned: always
  type: str
  sample: 1.0.0
to_release:
  description: The release the upgrade installs.
  returned: always
  type: str
  sample: 1.2.0
resume:
  description: Whether this run resumes an upgrade that an operation which died left in progress.
  returned: always
  type: bool
  sample: false
resumed_operation:
  description: The operation being resumed (null when none).
  returned: always
  type: str
  sample: null
release:
  description: The signed index entry of the to-release (when it verified).
  returned: when the release verified
  type: dict
  sample: {version: 1.2.0, release_date: "2026-09-07", sha256: "...", file: followup-1.2.0.tar.gz}
components:
  description: The verified manifest's components of the to-release.
  returned: when the release verified
  type: dict
  sample: {app: {start: /usr/bin/python3 -m followup_app, port: 8080, health: {type: http, path: /health}}}
migrations:
  description: The verified manifest's migrations of the to-release.
  returned: when the release verified
  type: dict
  sample: {mysql: {cloud_followup: [V001__create_core_tables.sql]}}
test_document:
  description: The test document the approval names (path, sha256).
  returned: when the document could be read
  type: dict
  sample: {path: /srv/approvals/CHG-2026-014/test-document.pdf, sha256: "..."}
control_node:
  description: The control node's host name (recorded with the host leases and the approvals used).
  returned: always
  type: str
  sample: ops-01
takeover:
  description: Operations whose host leases expired or whose control node knows they died; this run may replace them.
  returned: always
  type: list
  elements: str
  sample: []
newest:
  description: The newest release of the signed index today.
  returned: always
  type: str
  sample: 1.2.0
"""

import datetime
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible.module_utils.followup_approval import (
        HAS_YAML,
        ApprovalError,
        evaluate,
        load,
        newest_release,
        peek_change_id,
        public,
        read_record,
        use_refusals,
        verify_signature,
    )
    from ansible.module_utils.followup_layout import VERSION_RE, version_key
    from ansible.module_utils.followup_release import (
        ReleaseError,
        check_not_replayed,
        read_signed_index,
        verify_tarball,
    )
    from ansible.module_utils.followup_upgrade import lease_state
except ImportError:  # pragma: no cover - only when module_utils/ is not on the module_utils path
    HAS_YAML = None


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _running(hosts, components):
    """host -> {component: current version or None}, for the components each host must run."""
    running = {}
    for host, wanted in sorted((components or {}).items()):
        found = ((hosts or {}).get(host) or {}).get("components") or {}
        running[host] = {c: (found.get(c) or {}).get("current") for c in wanted}
    return running


def _index(params):
    try:
        releases, _signer = read_signed_index(params["repository"], params["release_signers"])
    except ReleaseError as err:
        return None, str(err)
    try:
        replayed = check_not_replayed(
            params["repository"], releases, params["seen_file"], record=params.get("_record_seen", True)
        )
    except (OSError, ReleaseError) as err:
        replayed = "the record of verified release indexes %s cannot be kept (%s)" % (params["seen_file"], err)
    return (None, replayed) if replayed else (releases, None)


def _verify_release(releases, version):
    entry = next((r for r in releases or [] if r["version"] == version), None)
    if entry is None:
        return None, None, None
    try:
        manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
        if manifest["release_date"] != entry["release_date"]:
            raise ReleaseError(
                "%s: manifest release_date %s differs from the signed index.yml (%s)"
                % (entry["file"], manifest["release_date"], entry["release_date"])
            )
    except ReleaseError as err:
        return entry, None, "release %s cannot be installed: %s" % (version, err)
    return entry, manifest, None


def _lease_refusals(params, now_by_host, takeover):
    refused = []
    for host, found in sorted((params["hosts"] or {}).items()):
        lease = (found or {}).get("lease")
        state = lease_state(
            lease, now_by_host.get(host, time.time()), params["operation"], socket.gethostname(), params["trust_local"]
        )
        gone = state in ("dead", "free") and lease and lease.get("operation") and "unreadable" not in lease
        if gone and lease["operation"] not in takeover:
            takeover.append(lease["operation"])
        if state == "held":
            refused.append(
                "%s is held by another operation: %s (%s on %s); wait for it to finish (its host lease expires "
                "on its own when it stops renewing it), then retry"
                % (host, lease.get("command") or "?", lease.get("operation") or "?", lease.get("control_node") or "?")
            )
    return refused


def rehearse(params, result, releases, index_error, running):
    refused = []
    if not params["rehearsal_allowed"]:
        refused.append(
            "this inventory is not a staging inventory: rehearsals run only where followup_upgrade_rehearsal_allowed "
            "is true (the lab, a staging copy of production); upgrades of this inventory need a signed approval"
        )
    version = params["requested_version"]
    if not VERSION_RE.match(version or ""):
        refused.append(
            "a rehearsal needs the release to rehearse (followup_upgrade_rehearse_release), MAJOR.MINOR.PATCH"
        )
        result["refused"] = refused
        return result
    result["to_release"] = version
    currents = sorted({v for comps in running.values() for v in comps.values() if v})
    missing = ["%s/%s" % (h, c) for h, comps in sorted(running.items()) for c, v in sorted(comps.items()) if not v]
    if missing:
        refused.append("nothing is deployed on %s: deploy the release production runs first" % ", ".join(missing))
    if len(currents) > 1:
        refused.append("the hosts run different releases (%s): deploy one release first" % ", ".join(currents))
    if currents:
        result["from_release"] = currents[0]
        if version_key(version) <= version_key(currents[0]):
            refused.append(
                "release %s is not newer than the %s the hosts run: a rehearsal goes forward" % (version, currents[0])
            )
    if releases is None:
        refused.append("the signed release index cannot be read: %s" % index_error)
    else:
        newest = newest_release(releases, _now().date())
        if newest and newest["version"] != version:
            refused.append(
                "release %s is not the newest in the signed index (%s): rehearse the newest (R-CURRENT)"
                % (version, newest["version"])
            )
    result["refused"] = refused
    return result


def run(params):
    result = {
        "changed": False,
        "refused": [],
        "signer": None,
        "resume": False,
        "resumed_operation": None,
        "from_release": None,
        "to_release": None,
        "newest": None,
        "takeover": [],
        "control_node": socket.gethostname(),
    }
    releases, index_error = _index(params)
    if releases:
        newest = newest_release(releases, _now().date())
        result["newest"] = newest["version"] if newest else None
    running = _running(params["hosts"], params["components"])
    now_by_host = {h: float((f or {}).get("now") or time.time()) for h, f in (params["hosts"] or {}).items()}
    lease_refused = _lease_refusals(params, now_by_host, result["takeover"])
    if params["rehearsal"]:
        rehearse(params, result, releases, index_error, running)
        result["refused"] = lease_refused + result["refused"]
    else:
        if params["requested_version"]:
            result["refused"].append(
                "followup_release_version=%s may not be given to an upgrade: the approval names the release; pass "
                "only the approval (followup_approval_file)" % params["requested_version"]
            )
        try:
            data, signature, fields, problem = load(params["approval_file"])
        except ApprovalError as err:
            result["refused"].append(str(err))
            result["refused"] = lease_refused + result["refused"]
            return result
        signer_error = None
        try:
            result["signer"] = verify_signature(data, signature, params["signers"], params["approval_file"])
        except ApprovalError as err:
            signer_error = str(err)
        use = None
        if fields is not None:
            change_id = fields["change_id"]
            ledger = read_record(params["ledger_dir"], change_id)
            records = {
                h: ((f or {}).get("records") or {}).get(change_id) or (f or {}).get("record")
                for h, f in (params["hosts"] or {}).items()
            }
            records = {h: r for h, r in records.items() if r and (r.get("change_id") in (None, change_id))}
            leases = {h: f.get("lease") for h, f in (params["hosts"] or {}).items()}
            here = socket.gethostname()

            def alive_here(holder):
                # The followup-ops leases of this control node admit one operation at a time: another operation of
                # this control node recorded as in progress is dead. Otherwise the host leases tell (None).
                if params["trust_local"] and holder.get("control_node") == here:
                    return holder.get("operation") == params["operation"]
                return None

            use = use_refusals(change_id, ledger, records, leases, time.time(), alive_here)
            result.update(resume=use[1], resumed_operation=use[2])
            result.update(from_release=fields["from_release"], to_release=fields["to_release"])
            doc_dir = os.path.dirname(os.path.abspath(params["approval_file"]))
            doc_path = os.path.join(doc_dir, fields["test_document"])
            result["test_document"] = {"path": doc_path, "sha256": fields["test_document_sha256"]}
            result["approval"] = public(fields, result["signer"])
        else:
            cid = peek_change_id(data)
            if cid:
                result["approval"] = {"id": cid}
        refused = evaluate(
            fields,
            problem,
            signer_error,
            params["environment"],
            _now(),
            releases,
            index_error,
            running,
            result.get("test_document", {}).get("path", ""),
            use,
        )
        result["refused"] = lease_refused + result["refused"] + refused
    if result["to_release"] and releases is not None:
        entry, manifest, error = _verify_release(releases, result["to_release"])
        if error:
            result["refused"].append(error)
        if manifest is not None:
            result["release"] = {k: entry[k] for k in ("version", "release_date", "file", "sha256", "path")}
            result["release"]["bytes"] = os.path.getsize(entry["path"])
            result["components"] = manifest["components"]
            result["migrations"] = manifest["migrations"]
    known = releases is not None and any(r["version"] == result["from_release"] for r in releases)
    if result["from_release"] and releases is not None and not params["rehearsal"] and not known:
        result["refused"].append(
            "the from-release %s is not in the signed release index: a rollback could not reinstall it"
            % result["from_release"]
        )
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            approval_file=dict(type="str", default=""),
            signers=dict(type="list", elements="raw", default=[]),
            environment=dict(type="str", required=True),
            repository=dict(type="path", required=True),
            release_signers=dict(type="list", elements="raw", required=True),
            hosts=dict(type="dict", default={}),
            components=dict(type="dict", default={}),
            ledger_dir=dict(type="path", required=True),
            operation=dict(type="str", default=""),
            trust_local=dict(type="bool", default=False),
            requested_version=dict(type="str", default=""),
            rehearsal=dict(type="bool", default=False),
            rehearsal_allowed=dict(type="bool", default=False),
            seen_file=dict(type="path", default=""),
        ),
        supports_check_mode=True,
    )
    module.params["_record_seen"] = not module.check_mode
    if HAS_YAML is None:
        module.fail_json(msg="module_utils/followup_approval.py is not on the module_utils path (see ansible.cfg)")
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    module.exit_json(**run(module.params))


if __name__ == "__main__":
    main()
