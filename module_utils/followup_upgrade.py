# -*- coding: utf-8 -*-
# What an upgrade keeps on the hosts themselves (docs/upgrade.md), so that a second control node, or a rerun after a
# control node died mid-upgrade, knows what happened:
#
#   /var/lib/followup-ops/lease.json                 the host lease: which operation is changing this host, until when
#   /var/lib/followup-ops/approvals/<change_id>.json which approval was used here, by which operation, and its end
#   /var/lib/followup-ops/upgrade.json               the steps of the last upgrade that reached this host
#   /opt/followup/<component>/releases/<v>/.release.json  `approval`: the approval that installed the release
#
# The control node keeps leases of its own (followup_ops.lock); the host lease is for a second control node or AWX.
# Pure Python, standard library only (the host module and the gate module share it).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import time

from ansible.module_utils.followup_layout import (
    BASE_DIR,
    COMPONENTS,
    RELEASE_RECORD,
    component_root,
    current_version,
    installed_versions,
    release_dir,
)

STATE_DIR = "/var/lib/followup-ops"
LEASE_FILE = "lease.json"
APPROVALS_DIR = "approvals"
UPGRADE_FILE = "upgrade.json"
# A host lease lasts this long after its last renewal (each step of an upgrade renews it).
LEASE_SECONDS = 1800

# The steps of an upgrade, in order (docs/upgrade.md). A rerun after an interruption reads the last one reached.
STEPS = (
    "start",
    "install",
    "freeze",
    "backup",
    "maintenance",
    "migrate",
    "sidecar",
    "switch_voice",
    "switch_app",
    "switch_fep",
    "health",
    "lift",
    "done",
)
# From this step on the databases may differ from the backup: a rollback restores them.
MIGRATE_STEP = "migrate"


def read_json(path):
    """The JSON object at PATH, None when there is no file, {"unreadable": path} when it cannot be read."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as err:
        if getattr(err, "errno", None) == errno.ENOENT:
            return None
        return {"unreadable": path}
    except ValueError:
        return {"unreadable": path}
    return data if isinstance(data, dict) else {"unreadable": path}


def write_json(path, data, mode=0o644):
    """Write DATA as JSON to PATH atomically (temporary file, fsync, rename)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, path)


class HostLock(object):
    """An flock on <state dir>/.guard: serialises lease changes on one host."""

    def __init__(self, state_dir):
        self.state_dir = state_dir

    def __enter__(self):
        if not os.path.isdir(self.state_dir):
            os.makedirs(self.state_dir, 0o755)
        self.handle = open(os.path.join(self.state_dir, ".guard"), "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        return False


def lease_state(lease, now, operation, control_node=None, trust_local=False):
    """How LEASE (a host lease or None) stands for OPERATION at NOW (epoch seconds, the host's clock):

    free (none, or expired), ours, dead (held by an operation of this control node that no longer runs: the control
    node's own leases, followup_ops.lock, only let one operation at a time reach these hosts, so when TRUST_LOCAL is
    set any other holder from CONTROL_NODE is gone) or held (another live operation).
    """
    if not lease or "unreadable" in lease:
        return "free"
    if lease.get("operation") == operation:
        return "ours"
    if float(lease.get("expires_at") or 0) <= now:
        return "free"
    if trust_local and control_node and lease.get("control_node") == control_node:
        return "dead"
    return "held"


def describe_lease(lease):
    since = lease.get("acquired_at_text") or "?"
    return "%s (%s) by %s on %s since %s, lease until %s" % (
        lease.get("command") or "?",
        lease.get("operation") or "?",
        lease.get("user") or "?",
        lease.get("control_node") or "?",
        since,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(lease.get("expires_at") or 0))),
    )


def running_versions(base_dir=BASE_DIR, components=COMPONENTS):
    """component -> {current, installed, record} for every component with a directory on this host."""
    found = {}
    for component in components:
        root = component_root(component, base_dir)
        if not os.path.isdir(root):
            continue
        current = current_version(root)
        record = None
        if current:
            record = read_json(os.path.join(release_dir(root, current), RELEASE_RECORD))
        found[component] = {
            "current": current,
            "installed": installed_versions(root),
            "approval": (record or {}).get("approval"),
        }
    return found


def mark_release(root, version, approval, check_mode=False):
    """Write APPROVAL (change_id, operation, signer, at) into releases/VERSION/.release.json: the record the
    compliance check reads to tell a release installed with an approval from one without. Returns changed."""
    path = os.path.join(release_dir(root, version), RELEASE_RECORD)
    record = read_json(path)
    if record is None or "unreadable" in record:
        raise ValueError("%s is missing or unreadable: the release is not installed properly" % path)
    if record.get("approval") == approval:
        return False
    if not check_mode:
        record["approval"] = approval
        write_json(path, record, 0o644)
    return True


def step_index(step):
    return STEPS.index(step) if step in STEPS else -1


def interrupted(records, operation):
    """What the interrupted upgrade OPERATION reached, from the records of steps the hosts returned when this run took
    them over (followup_upgrade_host begin): {operation, step, backups, migrate_started, switched}. Hosts that were
    not part of it give nothing; with no OPERATION (not a resumed run) step is None."""
    found = {"operation": operation, "step": None, "backups": {}, "migrate_started": False}
    if not operation:
        return found
    best = -1
    for record in records or []:
        if not isinstance(record, dict) or record.get("resumed_from") != operation:
            continue
        for name in record.get("steps") or {}:
            if step_index(name) > best:
                best = step_index(name)
                found["step"] = name
        data = record.get("data") or {}
        for host, engines in (data.get("backups") or {}).items():
            found["backups"].setdefault(host, {}).update(engines or {})
        if "migrate_started" in data:
            found["migrate_started"] = found["migrate_started"] or bool(data["migrate_started"])
    return found


def backup_ids(backups):
    """{host: {engine: backup id}} from {host: backup_result} (the backup role's result on each database host)."""
    ids = {}
    for host, result in sorted((backups or {}).items()):
        for engine, backup in sorted((result or {}).items()):
            if isinstance(backup, dict) and backup.get("id"):
                ids.setdefault(host, {})[engine] = backup["id"]
    return ids


def lost_hosts(upgrade_hosts, targeted, active):
    """Hosts of the upgrade that a play targets (ansible_play_hosts_all) but that no longer take part in it
    (not in ansible_play_hosts): Ansible drops a host that became unreachable, or failed outside a step's rescue, from
    every later play, so its steps and its rollback would be skipped in silence. Sorted."""
    active = set(active or [])
    return sorted(h for h in set(upgrade_hosts or []) & set(targeted or []) if h not in active)


def lost_reason(lost, step, rollback=False):
    """One line for hosts LOST at STEP: the failure of the upgrade, or (ROLLBACK) what the rollback could not put
    back."""
    if not lost:
        return None
    names = ", ".join(lost)
    if rollback:
        return (
            "%s dropped out of the run (unreachable, or a task failed outside the upgrade's steps) and was not put "
            "back: it may run either release; check it, then deploy the previous release there" % names
        )
    return (
        "%s dropped out of the upgrade before step %s (unreachable, or a task failed outside the upgrade's steps): "
        "the upgrade cannot go on without it" % (names, step)
    )
