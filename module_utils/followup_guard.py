# -*- coding: utf-8 -*-
# What a run of a playbook that changes hosts may not be asked to do from the command line: skip its gates
# (--skip-tags on the tags the gates carry or on `tagged`, --start-at-task, --step) or replace, with an extra
# variable, a value that the gates verified or that only the inventory may set (docs/architecture.md, "Gates").
#
# Pure Python, used on the control node by the filter plugin followup_gated (in the `hosts:` of every gate play, so
# that no tag can skip it) and by the action plugin of followup_release_install (so that the install checks again).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Tags the gate plays and tasks carry. Skipping any of them skips a gate.
GATE_TAGS = ("always", "followup_gate")
# Ansible's special tag that, skipped, skips every tagged task: the gates' too (untagged tasks still run).
SKIPS_GATES = (*GATE_TAGS, "tagged")

# Extra variables a caller may pass to a playbook that changes hosts: what to do, never how it is verified.
# Everything else that names followup-ops' own inputs is refused below.
REQUEST_VARS = (
    "followup_release_version",
    "followup_approval_file",
    "followup_seed_scale",
    "followup_operation_id",
    # upgrades (docs/upgrade.md): where the control node keeps its records (followup-ops passes its runs/), and a
    # rehearsal on a staging inventory, with its deliberate failure to test the rollback
    "followup_upgrade_records_dir",
    "followup_upgrade_rehearsal",
    "followup_upgrade_rehearse_release",
    "followup_upgrade_rehearse_rollback",
    # backups, restores and drills (docs/backup.md): which database, how, which backup, where to and until when
    "followup_backup_db",
    "followup_backup_method",
    "followup_backup_action",
    "followup_backup_id",
    "followup_restore_to",
    "followup_restore_until",
    "followup_restore_stop_before",
    "followup_restore_overwrite",
    # migrations (docs/migration.md): what to move, where to, which phase, which migration
    "db_move_engine",
    "db_move_target",
    "db_move_source",
    "db_move_phase",
    "db_move_id",
    "server_move_component",
    "server_move_target",
    "server_move_source",
    "server_move_phase",
    "server_move_id",
)

# Names an extra variable may not have (extra variables beat every other source, set_fact and register included).
PROTECTED = (
    # internals of roles and playbooks, and registers
    re.compile(r"\A_"),
    # what the release gate verified, what the install reads, and where it reads it from
    re.compile(r"\Afollowup_release"),
    re.compile(r"\Afollowup_component_"),
    re.compile(r"\Afollowup_(app|fep|voice)_release"),
    # who may sign releases and approvals: only the inventory says so
    re.compile(r"_signers\Z"),
    # what an approval is checked against (its environment) and how an upgrade runs: only the inventory says so
    re.compile(r"\Afollowup_(approval|upgrade)_"),
    # where the inventory is: trust anchors are read relative to it
    re.compile(r"\A(inventory_dir|inventory_file|playbook_dir|role_path)\Z"),
    # who may reach a service, where it listens, and whether secrets are hidden: only the inventory says so
    re.compile(r"\Afollowup_\w+_(listen|address|allowed_clients|peers|ip_allow)\Z"),
    re.compile(r"_no_log\Z"),
    # how a migration is checked (free disk, lag, catch-up, verification, peers): only the inventory says so
    re.compile(r"\A(db|server)_move_"),
)

# Set in the ansible-playbook process once the gates of playbooks/preflight.yml have passed (by the filter
# followup_gates_passed in the `hosts:` of its last play); playbooks that change hosts after those gates check it,
# so that running one of them on its own, or with an inventory that defines what the gates hand over, is refused.
PREFLIGHT = {"passed": False}


def forbidden_extra_vars(names):
    """The extra-variable NAMES that may not be passed to a playbook that changes hosts, sorted."""
    bad = []
    for name in names:
        name = str(name)
        if name in REQUEST_VARS:
            continue
        if any(pattern.search(name) for pattern in PROTECTED):
            bad.append(name)
    return sorted(set(bad))


def refusals(skip_tags=(), start_at_task=None, extra_var_names=(), step=False):
    """Every reason the command line of this run may not run a gated playbook (an empty list when it may)."""
    reasons = []
    skipped = sorted(set(str(t) for t in skip_tags or ()) & set(SKIPS_GATES))
    if skipped:
        reasons.append(
            "--skip-tags %s would skip the gates that run before any host is touched: run without skipping them "
            "(use --tags to narrow the run instead)" % ",".join(skipped)
        )
    if start_at_task:
        reasons.append(
            "--start-at-task would skip the gates that run before any host is touched: run the whole playbook "
            "(it changes only what differs)"
        )
    if step:
        reasons.append(
            "--step would let each gate task be answered 'no' and skipped: run without --step (use --check to see "
            "what would change)"
        )
    bad = forbidden_extra_vars(extra_var_names)
    if bad:
        reasons.append(
            "extra variable%s %s may not be passed on the command line: the gates verify these or only the "
            "inventory may set them; set inventory values in the inventory, and pass only %s"
            % ("s" if len(bad) > 1 else "", ", ".join(bad), ", ".join(REQUEST_VARS))
        )
    return reasons


def _extra_var_names(raw_values, loader_factory):
    """The names of the extra variables of this run; raises ValueError when one of them cannot be read."""
    from ansible.utils.vars import load_extra_vars

    try:
        return sorted(load_extra_vars(loader_factory()))
    except Exception as err:  # any failure to read them means they cannot be checked
        raise ValueError("the extra variables %s could not be read (%s)" % (", ".join(raw_values), err))


def cli_refusals(loader_factory=None):
    """Refusals for the command line of the ansible-playbook process this runs in (control node only)."""
    from ansible import context
    from ansible.parsing.dataloader import DataLoader

    args = context.CLIARGS
    raw = list(args.get("extra_vars") or ())
    try:
        names = _extra_var_names(raw, loader_factory or DataLoader) if raw else []
    except ValueError as err:
        return ["%s: pass them as key=value, JSON, or an unencrypted @file" % err]
    return refusals(args.get("skip_tags") or (), args.get("start_at_task"), names, bool(args.get("step")))
