# -*- coding: utf-8 -*-
# followup-ops: the move of a server program (the app, the fep or the voice gateway) to a new host
# (docs/migration.md, "Moving a server program"). Pure Python shared by the modules, the role's filters and the
# command line: the phases and the order they may run in, the gate's refusals, the plan, the peers' settings swapped
# from the old host to the new one, the deploy guard and the notes the inventory diff carries.
#
# Runs on the managed hosts' Python too (3.6 on RHEL 8 / Kylin V10): no f-strings with =, no dataclasses.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PHASES = ("plan", "prepare", "cutover", "verify", "rollback", "finish")
ALL_PHASES = ("plan", "prepare", "cutover", "verify")
COMPONENTS = ("app", "fep", "voice")

# planned -> prepared (the target runs the component, not serving) -> cutover (the target serves, the source is
# stopped, kept installed) -> finished (the source's service disabled). A rollback returns cutover to prepared.
STATES = ("planned", "prepared", "cutover", "finished")
# `switching`: a cutover began switching (recorded before its first change); one that failed or was killed there is
# undone by rollback (the command runs it at once after a failed cutover) or completed by cutover run again.
PHASE_NEEDS = {
    "plan": (None, "planned", "prepared", "switching", "cutover"),
    "prepare": (None, "planned", "prepared"),
    "cutover": ("prepared", "switching"),
    "verify": ("prepared", "cutover"),
    "rollback": ("switching", "cutover"),
    "finish": ("cutover",),
}
PHASE_LEAVES = {"prepare": "prepared", "cutover": "cutover", "rollback": "prepared", "finish": "finished"}

# Inventory groups that serve: a target in one of them is in use.
SERVICE_GROUPS = ("followup", "fep", "app", "voice", "databases", "mysql", "mongo", "backup", "carrier")

# What each component is on a host: its systemd units (the first is the program itself) and the directories its
# state lives in, copied from the old host to the new one (paths; the settings and units are rendered by the role).
COMPONENT = {
    "app": {"units": ["followup-app"], "data": ["/opt/followup/app/shared/data"]},
    "fep": {"units": ["followup-fep", "nginx"], "data": ["/opt/followup/fep/shared/data", "/etc/nginx/tls"]},
    "voice": {"units": ["followup-voice", "kamailio"], "data": ["/opt/followup/voice/shared/data"]},
}

# What the inventory diff cannot say: the parts of the switch outside the inventory, for the operator.
NOTES = {
    "app": [
        "the front-end servers (group fep) send requests to the new application server: their nginx upstream and "
        "settings were rendered with it; committing the diff makes a later deploy render the same",
    ],
    "fep": [
        "the hospital's HIS and every caller reach the front-end server by its address or name: point them (DNS, "
        "the HIS interface settings, a load balancer or VIP) at the new front-end server %(target_address)s; the "
        "old one %(source_address)s is stopped",
        "the application servers (group app) admit the new front-end server (their access list)",
    ],
    "voice": [
        "the application servers (group app) call through the new voice gateway: their voice URL and access list "
        "name it",
        "the carrier or the hospital's PBX must accept SIP from the new gateway %(target_address)s (its trunk peer "
        "list, firewall): tell them before the cutover; the lab's carrier authenticates by digest only",
    ],
}


class MoveError(Exception):
    """Bad input; the message names it and the fix."""


def parse_phases(text):
    """'plan', 'prepare,cutover' or 'all' -> the phases in canonical order; MoveError names an unknown one."""
    from ansible.module_utils.followup_dbmove import parse_phases as parse

    try:
        return parse(text, PHASES, ALL_PHASES)
    except Exception as err:  # followup_dbmove.MoveError
        raise MoveError(str(err))


def phase_refusal(phase, state):
    """Why PHASE cannot run while the migration is in STATE (None when it can)."""
    if state in PHASE_NEEDS[phase]:
        return None
    if state == "finished":
        return "this migration is finished (the target serves now): start a new one to move again"
    if state == "switching":
        return (
            "phase %s cannot run while a cutover is unfinished (it failed or was killed while switching): run "
            "rollback to return to the source, or cutover again to complete it" % phase
        )
    hint = {
        "prepare": "the target serves already; verify, then finish or rollback",
        "cutover": "run prepare first" if state in (None, "planned") else "the target serves already; run verify",
        "verify": "there is nothing to check before prepare",
        "rollback": "nothing was switched yet: nothing to roll back (the source still serves)",
        "finish": "finish retires the source only after a cutover; run cutover and verify first",
    }.get(phase, "")
    return "phase %s cannot run while the migration is %s: %s" % (phase, state or "not started", hint)


def human_bytes(value):
    """VALUE bytes as the database moves print them (followup_dbmove.human_bytes)."""
    from ansible.module_utils.followup_dbmove import human_bytes as shared

    return shared(value)


def gate(phase, component, source, target, context):
    """Every reason PHASE of the move of COMPONENT may not run (one line each; empty: go on), and the plan.

    SOURCE and TARGET are the probes (followup_migrate_server_probe) of the two hosts; CONTEXT holds the names, the
    migration's id and state (from the target's local fact), the target's inventory groups, min_free_bytes and
    last_verify."""
    sname, tname = context["source_name"], context["target_name"]
    state = context.get("state") or None
    reasons = []
    if not context.get("in_inventory", True):
        return [
            "the target %s is not a host of the inventory: add it (in group spare) to the inventory's hosts file, "
            "or name one of its hosts" % tname
        ], {}
    if sname == tname:
        return ["the target %s is the source itself: name another host with --to" % tname], {}
    for name, probe in ((sname, source), (tname, target)):
        if not probe or probe.get("unreachable"):
            reasons.append(
                "host %s could not be probed (%s): check that it is up and reachable over SSH"
                % (name, (probe or {}).get("msg") or "no answer")
            )
    if reasons:
        return reasons, {}
    refusal = phase_refusal(phase, state)
    if refusal:
        reasons.append(refusal)
    move = target.get("move") or {}
    ours = bool(context.get("id")) and move.get("id") == context.get("id")
    src_unit = (source.get("units") or {}).get(COMPONENT[component]["units"][0]) or {}
    tgt_unit = (target.get("units") or {}).get(COMPONENT[component]["units"][0]) or {}
    if not ours:
        groups = sorted(set(context.get("target_groups") or []) & set(SERVICE_GROUPS))
        if groups:
            reasons.append(
                "the target %s is in use: it is in inventory group%s %s; move to a host of group spare (or none)"
                % (tname, "s" if len(groups) > 1 else "", ", ".join(groups))
            )
        if move.get("id") and move.get("state") != "finished":
            reasons.append(
                "the target %s is part of another migration (%s): finish or roll back that one first"
                % (tname, move["id"])
            )
        if tgt_unit.get("exists") or target.get("release"):
            reasons.append(
                "the target %s is in use: it runs the %s already (unit %s %s, release %s); give an empty host"
                % (
                    tname,
                    component,
                    COMPONENT[component]["units"][0],
                    "active" if tgt_unit.get("active") else "installed",
                    target.get("release") or "-",
                )
            )
    if context.get("source_in_group") is False:
        reasons.append(
            "the source %s is not in group %s of the inventory: name the host that runs the %s with --from"
            % (sname, component, component)
        )
    # The source serves until the cutover; one that was interrupted (switching) may have stopped it already.
    serving_phase = phase in ("plan", "prepare", "cutover") and state not in ("cutover", "switching")
    if serving_phase and not src_unit.get("active"):
        reasons.append(
            "the source %s does not run the %s (unit %s %s): migrate from the host that serves it"
            % (sname, component, COMPONENT[component]["units"][0], "inactive" if src_unit.get("exists") else "absent")
        )
    if serving_phase and not source.get("release"):
        reasons.append(
            "the source %s reports no release of the %s (no current link): deploy it first" % (sname, component)
        )
    so, to = source.get("os") or {}, target.get("os") or {}
    if so and to and (so.get("id"), so.get("version_id")) != (to.get("id"), to.get("version_id")):
        reasons.append(
            "the target %s runs %s %s, the source %s %s %s: give a host with the same operating system (the release "
            "and its packages were proved on the source's)"
            % (tname, to.get("id"), to.get("version_id"), sname, so.get("id"), so.get("version_id"))
        )
    need = int(source.get("release_bytes") or 0) + int(source.get("data_bytes") or 0)
    required = int(need * 2) + int(context.get("min_free_bytes") or 0)
    free = target.get("free_bytes")
    if phase in ("plan", "prepare") and free is not None and free < required:
        reasons.append(
            "the target %s lacks disk: %s free under %s, %s needed (the release and shared data, %s, twice over for "
            "the copy, and %s kept free): give %s more space, then retry"
            % (
                tname,
                human_bytes(free),
                target.get("free_path") or "/opt",
                human_bytes(required),
                human_bytes(need),
                human_bytes(int(context.get("min_free_bytes") or 0)),
                tname,
            )
        )
    if phase == "finish" and state == "cutover":
        last = context.get("last_verify") or {}
        passed = str(last.get("passed")).lower() == "true"
        if not (passed and last.get("state") == "cutover"):
            reasons.append(
                "finish disables the old host only after a verify that passed since the cutover%s: run verify first"
                % ((" (the last one, %s, failed)" % last.get("at")) if last.get("at") and not passed else "")
            )
    plan = {
        "component": component,
        "release": source.get("release"),
        "target_release": target.get("release"),
        "release_bytes": int(source.get("release_bytes") or 0),
        "data_bytes": int(source.get("data_bytes") or 0),
        "data": source.get("data") or {},
        "source_os": "%s %s" % (so.get("id"), so.get("version_id")) if so else None,
        "target_os": "%s %s" % (to.get("id"), to.get("version_id")) if to else None,
        "target_free_bytes": free,
        "required_bytes": required,
    }
    return reasons, plan


# -- the peers' settings ------------------------------------------------------------------------------------------
def swap_address(value, old, new):
    """VALUE (a string, or a list of strings, as a peer's setting holds it) with the address OLD replaced by NEW;
    a list keeps its order, without duplicates. Matches whole addresses only (10.89.50.1 is not 10.89.50.12)."""
    import re

    if not old or old == new:
        return value
    pattern = re.compile(r"(?<![0-9A-Za-z.\-])%s(?![0-9A-Za-z\-]|\.[0-9A-Za-z])" % re.escape(str(old)))

    def one(text):
        return pattern.sub(str(new), text) if isinstance(text, str) else text

    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            item = one(item)
            if item not in out:
                out.append(item)
        return out
    if isinstance(value, dict):
        return dict((k, swap_address(v, old, new)) for k, v in value.items())
    return one(value)


def names_address(value, address):
    """Whether VALUE (string or list) names ADDRESS as a whole address."""
    return bool(address) and swap_address(value, address, "\x00") != value


def guard_refusals(host, fact, group_names, settings, skip=None):
    """Why a deploy on HOST would point traffic back at a host a server move retired (one line each).

    FACT is the host's local fact followup_srvmove (the moves it took part in, by id); GROUP_NAMES its inventory
    groups; SETTINGS {name: value} of the peer settings this host renders now from the inventory; SKIP the id of the
    move running now (its own later phases swap the settings themselves)."""
    reasons = []
    for mid, move in sorted(((fact or {}).get("moves") or {}).items()):
        if mid == skip or move.get("state") not in ("switching", "cutover", "finished"):
            continue
        comp = move.get("component")
        diff = "runs/migrations/%s.inventory.diff" % mid
        if move.get("state") == "switching":
            reasons.append(
                "%s: the cutover of migration %s (the %s, %s -> %s) is unfinished: the traffic may be split between "
                "the hosts; run `followup-ops migrate server --component %s --to %s --phase rollback` (or cutover), "
                "then deploy" % (host, mid, comp, move.get("source"), move.get("target"), comp, move.get("target"))
            )
            continue
        if move.get("role") == "source" and comp in (group_names or []):
            reasons.append(
                "%s: the %s moved from this host to %s (migration %s, %s) but the inventory still lists it in group "
                "%s: commit %s (or roll the move back), then deploy"
                % (host, comp, move.get("target"), mid, move.get("state"), comp, diff)
            )
        if move.get("role") == "peer":
            stale = sorted(
                name
                for name, value in (settings or {}).items()
                if name in (move.get("settings") or [])
                and names_address(value, move.get("source_address"))
                and not names_address(value, move.get("target_address"))
            )
            if stale:
                reasons.append(
                    "%s: the inventory still points %s at %s (%s), but the %s moved to %s (migration %s): a deploy "
                    "would send traffic back to the old host; commit %s, then deploy"
                    % (
                        host,
                        ", ".join(stale),
                        move.get("source"),
                        move.get("source_address"),
                        comp,
                        move.get("target"),
                        mid,
                        diff,
                    )
                )
    return reasons


def notes(component, source_address, target_address):
    """The parts of the switch the inventory diff cannot hold, as lines for the operator."""
    return [n % {"source_address": source_address, "target_address": target_address} for n in NOTES[component]]


def downtime(samples, started=None, ended=None):
    """The probe's figures from SAMPLES [(t, ok)]: attempts, failures, the longest run of failures in seconds (from
    the first failed attempt to the next good one) and how many failures fell outside [STARTED, ENDED]. The key is
    `requests`, not `attempts`: a task retried with `until` (async_status) overwrites `attempts` in its result."""
    attempts = len(samples)
    failures = [t for t, ok in samples if not ok]
    longest, run_start = 0.0, None
    for t, ok in samples:
        if not ok and run_start is None:
            run_start = t
        elif ok and run_start is not None:
            longest = max(longest, t - run_start)
            run_start = None
    if run_start is not None and samples:
        longest = max(longest, samples[-1][0] - run_start)
    outside = 0
    if started is not None and ended is not None:
        outside = len([t for t in failures if t < started or t > ended])
    return {
        "requests": attempts,
        "failures": len(failures),
        "downtime_s": round(longest, 2),
        "failures_outside_switch": outside,
    }


CALL_RESULTS = ("answered", "busy", "no_answer")


def verdict(results, call):
    """verify's checks: RESULTS {host: {health_error, request_status, request_items, names_serving, names_other}} of
    the hosts that serve, CALL the health gate's call through the voice gateway ({} when none was placed)."""
    checks = []
    for host, result in sorted((results or {}).items()):
        result = result or {}
        error = result.get("health_error")
        if not result:
            checks.append({"check": "health %s" % host, "ok": False, "detail": "no result (the host was not reached)"})
            continue
        checks.append({"check": "health %s" % host, "ok": not error, "detail": error or "healthy"})
        status = result.get("request_status")
        if status not in (None, "", "None"):
            ok = str(status) == "200" and bool(result.get("request_items"))
            checks.append({"check": "request via %s" % host, "ok": ok, "detail": "answered %s" % status})
        serving = result.get("names_serving")
        if serving not in (None, "", "None"):
            serving = serving in (True, "True", "true")
            other = result.get("names_other") in (True, "True", "true")
            checks.append(
                {
                    "check": "traffic from %s" % host,
                    "ok": serving and not other,
                    "detail": "sends to the serving host"
                    if serving and not other
                    else ("still names the other host" if other else "does not name the serving host"),
                }
            )
    if call:
        result = call.get("result")
        checks.append(
            {
                "check": "call through the voice gateway",
                "ok": result in CALL_RESULTS,
                "detail": "%s (SIP %s, %s s)" % (result, call.get("sip_code"), call.get("duration_seconds")),
            }
        )
    return {"passed": bool(checks) and all(c["ok"] for c in checks), "checks": checks}


# -- the copies of the shared data ---------------------------------------------------------------------------------


def packed_files(packed):
    """The number of files (not directories) a `tar --create --verbose` result (PACKED, registered) put in the
    archive: 0 when it did not run."""
    lines = (packed or {}).get("stdout_lines") or []
    return len([line for line in lines if line and not line.endswith("/")])


def delta_figures(packed, out, received, since=None):
    """What a delta copy moved: the packing host's tar result (PACKED) and stat of its archive (OUT), the receiving
    host's stat of its copy (RECEIVED). {files, bytes, sha256, checksum_equal, newer_than}; checksum_equal is None when
    there was nothing to copy (no data directory on the packing host)."""
    stat = (out or {}).get("stat") or {}
    copy = (received or {}).get("stat") or {}
    copied = bool(stat.get("exists"))
    return {
        "files": packed_files(packed),
        "bytes": int(stat.get("size") or 0) if copied else 0,
        "sha256": stat.get("checksum") if copied else None,
        "checksum_equal": (copy.get("checksum") == stat.get("checksum")) if copied else None,
        "newer_than": since,
    }
