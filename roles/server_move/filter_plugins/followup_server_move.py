# followup-ops: filters of the server_move role (module_utils/followup_srvmove.py holds the logic).

import os

import ansible.module_utils

_MODULE_UTILS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "module_utils"
)
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils import followup_srvmove  # noqa: E402


def followup_server_move_component(component):
    """{units: [...], data: [...]} of a component (app, fep, voice)."""
    return followup_srvmove.COMPONENT[component]


def followup_server_move_swap(value, old, new):
    """A peer's setting with the address OLD replaced by NEW (strings and lists)."""
    return followup_srvmove.swap_address(value, old, new)


def followup_server_move_names(value, address):
    """Whether a setting names ADDRESS."""
    return followup_srvmove.names_address(value, address)


def followup_server_move_guard(fact, host, group_names, settings, skip=None):
    """The deploy guard's refusals for one host (SKIP: the id of the move running now)."""
    return followup_srvmove.guard_refusals(host, fact, group_names, settings, skip)


def followup_server_move_notes(component, source_address, target_address):
    return followup_srvmove.notes(component, source_address, target_address)


def followup_server_move_downtime(watch, started, ended):
    """The probe's figures (followup_migrate_server_watch) with the failures outside the switch [STARTED, ENDED]."""
    failed = [float(t) for t in (watch or {}).get("failed_at") or []]
    outside = len([t for t in failed if t < float(started) or t > float(ended)])
    return {
        "requests": (watch or {}).get("requests"),
        "failures": (watch or {}).get("failures"),
        "downtime_s": (watch or {}).get("downtime_s"),
        "failures_outside_switch": outside,
        "switch_s": round(float(ended) - float(started), 2),
    }


def followup_server_move_verdict(results, call):
    """verify's checks from each serving host's result and the call: {passed, checks: [{check, ok, detail}]}."""
    return followup_srvmove.verdict(results, call)


def followup_server_move_packed_files(packed):
    """The files a `tar --create --verbose` result put in the archive."""
    return followup_srvmove.packed_files(packed)


def followup_server_move_delta(packer, receiver):
    """What a delta copy moved, from the hostvars of the host that packed (PACKER: its tar result, archive stat and
    baseline) and the host that received it (RECEIVER: its copy's stat)."""
    return followup_srvmove.delta_figures(
        packer.get("__server_move_packed"),
        packer.get("__server_move_out"),
        receiver.get("__server_move_in"),
        packer.get("__server_move_newer_than"),
    )


class FilterModule:
    def filters(self):
        return {
            "followup_server_move_component": followup_server_move_component,
            "followup_server_move_swap": followup_server_move_swap,
            "followup_server_move_names": followup_server_move_names,
            "followup_server_move_guard": followup_server_move_guard,
            "followup_server_move_notes": followup_server_move_notes,
            "followup_server_move_downtime": followup_server_move_downtime,
            "followup_server_move_verdict": followup_server_move_verdict,
            "followup_server_move_packed_files": followup_server_move_packed_files,
            "followup_server_move_delta": followup_server_move_delta,
        }
