# followup-ops: the 等保 control catalogue (controls/djbh-l3.yml) for playbooks and roles.
#
# For the hardening roles and any play that needs a threshold:
#     "{{ followup_djbh_parameters | default({})
#         | followup_djbh_parameters(followup_djbh_group_parameters | default({}),
#                                    followup_djbh_host_parameters | default({})) }}"
#   -> the catalogue's parameters with the inventory's, the group's and the host's overrides (one-line error on an
#      unknown name or a wrong type). `{} | followup_djbh_parameters` gives the catalogue defaults.
#     "{{ 'LNX-NET-03' | followup_djbh_control }}" -> the control (title, risk, opt_in, remediation, ...).
#
# For playbooks/compliance.yml (the read-only check):
#     followup_djbh_plan        validate catalogue, --controls and the waivers file before any host is asked
#     followup_djbh_targets     a host's targets from its groups (or followup_djbh_targets)
#     followup_djbh_collect_spec the options of followup_compliance_facts for those targets
#     followup_djbh_evaluate    judge one host's evidence (findings keyed <host>/<control id>)
#     followup_djbh_report      every host's findings, unreachable hosts as 检查错误, central controls, waivers,
#                               the score: the set_stats report under `followup`
#
# The logic is in module_utils/followup_compliance_{catalogue,eval,waivers}.py (tested there); these are wrappers.

import datetime
import os

import ansible.module_utils
from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils import followup_compliance_catalogue as cat  # noqa: E402
from ansible.module_utils import followup_compliance_eval as ev  # noqa: E402
from ansible.module_utils import followup_compliance_waivers as wv  # noqa: E402

_CACHE = {}


def _catalogue(path=None):
    path = str(path) if path else cat.DEFAULT_PATH
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    key = (path, stamp)
    if key not in _CACHE:
        try:
            _CACHE.clear()
            _CACHE[key] = cat.load(path)
        except cat.CatalogueError as err:
            raise AnsibleFilterError(str(err)) from None
    return _CACHE[key]


def _plain(value):
    return cat._plain(value)  # pylint: disable=protected-access


def _today(today):
    if today:
        return datetime.date.fromisoformat(str(today))
    return datetime.datetime.now(datetime.UTC).date()


def followup_djbh_parameters(overrides=None, group=None, host=None, catalogue=None):
    """The effective parameters: catalogue defaults, then OVERRIDES, GROUP and HOST overrides."""
    try:
        return cat.effective_parameters(
            _catalogue(catalogue), _plain(overrides or {}), _plain(group or {}), _plain(host or {})
        )
    except cat.CatalogueError as err:
        raise AnsibleFilterError(str(err)) from None


def followup_djbh_control(control_id, catalogue=None):
    data = _catalogue(catalogue)
    try:
        control = cat.select(data, [control_id])[0]
    except cat.CatalogueError as err:
        raise AnsibleFilterError(str(err)) from None
    return dict((k, v) for k, v in control.items() if k != "check")


def followup_djbh_plan(controls=None, waivers_file=None, catalogue=None, today=None):
    """Validate everything the scan depends on, before any host is asked: {catalogue, controls, waivers}."""
    data = _catalogue(catalogue)
    try:
        chosen = cat.select(data, _plain(controls) or None)
        waivers = wv.load(str(waivers_file), data) if waivers_file else []
    except (cat.CatalogueError, wv.WaiverError) as err:
        raise AnsibleFilterError(str(err)) from None
    return {
        "catalogue": {"id": data["catalogue"]["id"], "version": data["catalogue"]["version"], "path": data["path"]},
        "controls": [c["id"] for c in chosen],
        "selected": bool(_plain(controls)),
        "waivers": waivers,
        "waivers_file": str(waivers_file) if waivers_file else None,
        "today": _today(today).isoformat(),
    }


def _chosen(data, plan):
    ids = set((plan or {}).get("controls") or [])
    return [c for c in data["controls"] if c["id"] in ids] if ids else list(data["controls"])


def followup_djbh_targets(group_names, override=None, catalogue=None):
    try:
        return cat.host_targets(_catalogue(catalogue), _plain(group_names), _plain(override))
    except cat.CatalogueError as err:
        raise AnsibleFilterError(str(err)) from None


def followup_djbh_collect_spec(targets, params, plan=None, catalogue=None):
    data = _catalogue(catalogue)
    return cat.collect_spec(data, _chosen(data, _plain(plan)), _plain(targets), _plain(params))


def followup_djbh_evaluate(result, host, targets, params, plan=None, index=None, catalogue=None):
    """Findings of HOST from its registered followup_compliance_facts RESULT (`error` for every control when the
    collection failed)."""
    data = _catalogue(catalogue)
    result, plan = _plain(result or {}), _plain(plan or {})
    controls = _chosen(data, plan)
    targets, params = _plain(targets), _plain(params)
    if not result or result.get("failed") or result.get("unreachable") or "evidence" not in result:
        reason = result.get("msg") or "the evidence could not be collected"
        return ev.unreachable_findings(data, host, targets, reason, params, controls)
    extra = {"release_index": _index(_plain(index)), "today": plan.get("today")}
    return ev.evaluate_host(data, result["evidence"], params, host, targets, extra, controls)


def _index(index):
    index = index or {}
    if not index:
        return {}
    if index.get("failed") or index.get("refused"):
        reasons = list(index.get("refused") or []) or [str(index.get("msg") or "the index could not be read")]
        return {"error": "; ".join(reasons)}
    return {"releases": index.get("releases") or [], "newest": index.get("newest"), "signer": index.get("signer")}


def followup_djbh_report(hostvars, hosts, plan, params=None, register="__followup_djbh_findings", catalogue=None):
    """The set_stats report of the scan: {findings, data: {compliance: {...}}}.

    HOSTS are every host the play targeted; a host without findings (unreachable, or its task failed) gets an
    `error` finding for each of its controls, never a pass."""
    data = _catalogue(catalogue)
    plan = _plain(plan or {})
    controls = _chosen(data, plan)
    findings, missing, durations, changed = {}, [], {}, {}
    for host in _plain(hosts) or []:
        hv = hostvars.get(host) if hasattr(hostvars, "get") else None
        hv = hv or {}
        got = _plain(hv.get(register))
        collected = _plain(hv.get("__followup_djbh_evidence")) or {}
        if got and (collected.get("unreachable") or collected.get("failed") or "evidence" not in collected):
            missing.append(host)
        if got:
            findings.update(got)
            if hv.get("__followup_djbh_duration") is not None:
                durations[host] = float(_plain(hv.get("__followup_djbh_duration")))
            delta = cat.changed_parameters(data, _plain(hv.get("__followup_djbh_params") or {}))
            if delta:
                changed[host] = delta
            continue
        try:
            targets = cat.host_targets(
                data, _plain(hv.get("group_names")) or [], _plain(hv.get("followup_djbh_targets"))
            )
        except cat.CatalogueError as err:
            raise AnsibleFilterError(str(err)) from None
        missing.append(host)
        reason = "the host did not answer (unreachable, or the collection task failed)"
        result = _plain(hv.get("__followup_djbh_evidence")) or {}
        if result.get("msg"):
            reason = f"{reason}: {str(result['msg']).splitlines()[0]}"
        findings.update(ev.unreachable_findings(data, host, targets, reason, params, controls))
    central_params = cat.effective_parameters(data, _plain(params or {}))
    findings.update(ev.evaluate_central(data, findings, central_params, {"today": plan.get("today")}, controls))
    waiver_report = wv.apply(findings, plan.get("waivers") or [], plan.get("today") or _today(None).isoformat())
    summary = ev.summarise(findings.values(), list(data["control_points"]))
    catalogue_info = plan.get("catalogue") or {"id": data["catalogue"]["id"], "version": data["catalogue"]["version"]}
    return {
        "findings": findings,
        "data": {
            "compliance": {
                "catalogue": catalogue_info,
                "controls_selected": plan.get("controls") if plan.get("selected") else None,
                "today": plan.get("today"),
                "summary": summary,
                "unreachable": missing,
                "waivers": waiver_report,
                "waivers_file": plan.get("waivers_file"),
                "parameters_changed": changed,
                "collect_seconds": durations,
            }
        },
    }


class FilterModule:
    def filters(self):
        return {
            "followup_djbh_parameters": followup_djbh_parameters,
            "followup_djbh_control": followup_djbh_control,
            "followup_djbh_plan": followup_djbh_plan,
            "followup_djbh_targets": followup_djbh_targets,
            "followup_djbh_collect_spec": followup_djbh_collect_spec,
            "followup_djbh_evaluate": followup_djbh_evaluate,
            "followup_djbh_report": followup_djbh_report,
        }
