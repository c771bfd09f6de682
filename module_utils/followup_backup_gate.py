# -*- coding: utf-8 -*-
# followup-ops backups: what the backup, restore and drill gates refuse (docs/backup.md, "Gates"). Pure Python, used
# by library/followup_backup_gate.py on the control node. Every refusal is one line naming the condition and the fix.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

try:
    from ansible.module_utils.followup_backup import parse_backup_id
except ImportError:  # pragma: no cover - tests import it by path
    from followup_backup import parse_backup_id  # type: ignore[no-redef]

AGE_RECIPIENT = re.compile(r"\Aage1[0-9a-z]{58}\Z")
# Space the backup host keeps free beyond the estimate.
RESERVE_BYTES = 256 * 1024 * 1024
# A compressed logical dump is smaller than the tables on disk; a physical one is not. The estimate assumes no
# compression at all for physical backups and half the on-disk size for logical ones (zstd usually does better).
RATIO = {"logical": 0.5, "physical": 1.0}


def _utc(text):
    value = str(text).strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.astimezone(datetime.timezone.utc)


def _mb(n):
    return "%.0f MB" % (n / 1e6)


def recipient_refusals(recipients):
    if not recipients:
        return [
            "no age recipient is configured: set backup_age_recipients to the hospital's backup public key (age1...) "
            "in the inventory (group_vars/databases/backup.yml)"
        ]
    bad = [r for r in recipients if not AGE_RECIPIENT.match(str(r))]
    if bad:
        return [
            "backup_age_recipients holds %d value(s) that are not age public keys (age1..., 62 characters): "
            "fix them in the inventory" % len(bad)
        ]
    return []


def identity_refusals(identity_present):
    if not identity_present:
        return [
            "the backup key is missing: vault_backup_age_identity (AGE-SECRET-KEY-1...) is empty or a placeholder; "
            "put the hospital's backup identity in the inventory's vault"
        ]
    return []


def target_refusals(target):
    """TARGET: {host, reachable, error, free_bytes}."""
    if not target.get("reachable"):
        error = target.get("error") or "no answer"
        if str(error).startswith("the backup host"):  # the probe's message names the host, the account and the fix
            return [str(error)]
        return [
            "the backup host %s is unreachable (%s): start it or fix backup_target_host, then retry"
            % (target.get("host") or "(none)", error)
        ]
    return []


def space_refusals(estimates, free_bytes, method="logical"):
    """ESTIMATES: [{host, engine, estimated_bytes}] of what the backup reads; FREE_BYTES on the backup host."""
    need = int(sum(int(e.get("estimated_bytes") or 0) for e in estimates) * RATIO.get(method, 1.0)) + RESERVE_BYTES
    if free_bytes is None:
        return ["the free space on the backup host is unknown: the receiver did not answer df"]
    if free_bytes < need:
        return [
            "not enough free disk on the backup host for this backup: %s free, about %s needed (%s of data, %s kept "
            "free): free space there or let expiry run, then retry"
            % (
                _mb(free_bytes),
                _mb(need),
                _mb(sum(int(e.get("estimated_bytes") or 0) for e in estimates)),
                _mb(RESERVE_BYTES),
            )
        ]
    return []


def request_refusals(db, method):
    reasons = []
    if db not in ("mysql", "mongodb", "all"):
        reasons.append("followup_backup_db must be mysql, mongodb or all, not %r (followup-ops backup --db)" % (db,))
    if method not in ("logical", "physical"):
        reasons.append("followup_backup_method must be logical or physical, not %r" % (method,))
    elif method == "physical" and db == "mongodb":
        reasons.append("physical backups are for MySQL only: use --db mysql with --physical")
    return reasons


def probe_target(probes):
    """(target, estimates) from the database hosts' check-mode probes: the backup host as they reach it."""
    estimates = [{"engine": x.get("engine"), "estimated_bytes": x.get("estimated_bytes") or 0} for x in probes]
    host = probes[0].get("target_host") if probes else None
    unreachable = [x for x in probes if not x.get("target_reachable")]
    if unreachable:
        # the probe's message already names the host and the account
        return {"host": host, "reachable": False, "error": unreachable[0].get("target_error")}, estimates
    free = min(int(x.get("target_free_bytes") or 0) for x in probes)
    return {"host": host, "reachable": True, "free_bytes": free}, estimates


def backup_refusals(recipients, target, estimates, method="logical", db="all"):
    reasons = request_refusals(db, method) + recipient_refusals(recipients) + target_refusals(target)
    if target.get("reachable"):
        reasons += space_refusals(estimates, target.get("free_bytes"), method)
    return reasons


def choose_backup(catalogue_backups, backup_id=None, engine=None, host=None):
    """(entry, refusals): the backup asked for, or the newest complete one of ENGINE (and source HOST)."""
    backups = catalogue_backups or {}
    if backup_id:
        try:
            parse_backup_id(backup_id)
        except ValueError as err:
            return None, [str(err)]
        entry = backups.get(backup_id)
        if entry is None:
            return None, [
                "unknown backup id %s: it is not on the backup host (see `followup-ops backup list`)" % backup_id
            ]
        if not entry.get("complete"):
            return None, [
                "backup %s is incomplete (%s): choose another one"
                % (backup_id, "; ".join(entry.get("problems") or ["archive missing or checksum differs"]))
            ]
        return entry, []
    candidates = [
        e
        for e in backups.values()
        if e.get("complete")
        and (engine is None or e["engine"] == engine)
        and (host is None or e["host"] == host)
        and e.get("method", "logical") == "logical"
    ]
    if not candidates:
        return None, [
            "no complete %s backup%s is on the backup host: take one first (followup-ops backup)"
            % (engine or "", " of %s" % host if host else "")
        ]
    return max(candidates, key=lambda e: e["time"]), []


def restore_refusals(
    entry, identity_present, target_objects, overwrite, until=None, stop_before=None, binlogs=None, verify=None
):
    """ENTRY: the chosen backup; TARGET_OBJECTS: tables/collections holding data on the restore target."""
    reasons = identity_refusals(identity_present)
    if entry is None:
        return reasons
    if verify is not None and not verify.get("matches"):
        reasons.append(
            "the archive of %s on the backup host no longer has the sha256 it had when it was stored: it "
            "was changed or damaged; choose another backup" % entry["id"]
        )
    if target_objects and not overwrite:
        reasons.append(
            "the target is not empty (%d tables or collections hold data): restore refuses to overwrite it unless "
            "told so explicitly (followup-ops restore --overwrite-nonempty; -e followup_restore_overwrite=true)"
            % target_objects
        )
    if until or stop_before:
        manifest = entry.get("manifest") or {}
        pitr = manifest.get("pitr") or {}
        if entry["engine"] != "mysql":
            reasons.append("--until/--stop-before work for MySQL only: %s" % (pitr.get("reason") or "no oplog"))
        elif not pitr.get("possible"):
            reasons.append("backup %s allows no point-in-time recovery: %s" % (entry["id"], pitr.get("reason")))
        elif not binlogs:
            reasons.append(
                "no binary logs of %s are on the backup host: point-in-time recovery needs them (is the "
                "binlog timer running on the database host?)" % entry["host"]
            )
        elif until and entry.get("time") and _utc(until) is None:
            reasons.append(
                "--until %r is not a time such as 2026-12-01T20:30:00Z (UTC) or with an offset (+08:00)" % until
            )
        elif until and entry.get("time") and _utc(until) < _utc(entry["time"]):
            reasons.append("--until %s is before backup %s was taken: choose an older backup" % (until, entry["id"]))
    return reasons
