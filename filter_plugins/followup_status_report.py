# followup-ops: the status report, built from what followup_status found on each host and the signed release index.
#
#   followup: "{{ hostvars | followup_status_report(hosts, index) }}"
#
# HOSTS are the hosts that were asked; INDEX is the registered result of followup_release_check (releases, newest,
# signer, refused) on the release repository's signed index.
#
# Returns the `data.status` rows and the findings of docs/architecture.md ("What playbooks report"): per host,
# `<host>/reach` (the host answered), `<host>/health` (every unit active, every check passing) and, per component,
# `<host>/<component>/currency` (R-CURRENT, module_utils/followup_currency.py).

import datetime
import os

import ansible.module_utils

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_currency import currency  # noqa: E402


def _health_finding(host, status):
    down = [unit for unit, state in (status.get("services") or {}).items() if state != "active"]
    health = status.get("health") or {}
    failed = [c for c in health.get("checks") or [] if not c.get("ok")]
    problems = list(status.get("problems") or [])
    if not status.get("services") and not health:
        return {
            "control": "health",
            "host": host,
            "status": "warn",
            "title": "主机未登记任何服务 no service is registered on this host",
            "expected": "roles' local facts name the host's services and checks",
            "actual": "no local fact names a service or a check",
            "evidence": "facts: {}".format(", ".join(status.get("facts") or [])) or "none",
        }
    ok = not down and not failed
    return {
        "control": "health",
        "host": host,
        "status": "pass" if ok and not problems else ("fail" if not ok else "warn"),
        "title": "服务与健康检查 services and health checks",
        "expected": "every unit active, every health check passing",
        "actual": "; ".join(
            ["{} {}".format(u, status["services"][u]) for u in down]
            + ["{}: {}".format(c["name"], c["detail"]) for c in failed]
            + problems
        )
        or "all active and healthy",
        "evidence": health.get("detail")
        or ", ".join("{} {}".format(*kv) for kv in (status.get("services") or {}).items()),
    }


def followup_status_report(hostvars, hosts, index, today=None, register="__followup_status"):
    """Build {data: {status: rows, releases: index}, findings: {...}} from each host's followup_status result."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    index = dict(index or {})
    releases = index.get("releases") or []
    rows, findings = {}, {}
    if index.get("refused") or index.get("failed"):
        reasons = list(index.get("refused") or []) or [str(index.get("msg") or "the index could not be read")]
        findings["control-node/release-index"] = {
            "control": "release-index",
            "host": "control-node",
            "status": "error",
            "title": "版本目录签名 signed release index",
            "expected": "index.yml signed by an allowed release signer",
            "actual": "; ".join(reasons),
            "evidence": "followup_release_check",
        }
    for host in hosts:
        result = (hostvars.get(host) or {}).get(register) if hasattr(hostvars, "get") else None
        if not result or result.get("failed") or result.get("unreachable") or "status" not in result:
            reason = (result or {}).get("msg") or "the host did not answer (unreachable, or its task failed)"
            rows[host] = {"reachable": False, "error": str(reason).splitlines()[0] if reason else ""}
            findings[f"{host}/reach"] = {
                "control": "reach",
                "host": host,
                "status": "error",
                "title": "主机可达 host reachable",
                "expected": "answers over SSH as the ops account",
                "actual": rows[host]["error"],
                "evidence": f"followup_status on {host}",
            }
            continue
        status = result["status"]
        row = {"reachable": True, "components": {}, "services": status.get("services") or {}}
        if status.get("health"):
            row["health"] = status["health"]
        for name, info in sorted((status.get("components") or {}).items()):
            cur = currency(info.get("version"), releases, today)
            row["components"][name] = dict(info, currency=cur)
            findings[f"{host}/{name}/currency"] = {
                "control": "currency",
                "requirement": "R-CURRENT",
                "host": host,
                "component": name,
                "status": cur["status"],
                "title": f"版本时效 release currency ({name})",
                "expected": f"not older than {cur['max_days']} days while a newer release exists",
                "actual": cur["message_en"],
                "message_zh": cur["message_zh"],
                "days_over": cur["days_over"],
                "evidence": "{}/current -> {}; signed index newest {}".format(
                    info.get("root"), info.get("version"), cur["newest_version"]
                ),
            }
        findings[f"{host}/health"] = _health_finding(host, status)
        rows[host] = row
    summary = {
        "releases": [{"version": r.get("version"), "release_date": r.get("release_date")} for r in releases],
        "newest": index.get("newest"),
        "signer": index.get("signer"),
        "refused": list(index.get("refused") or []),
    }
    return {"data": {"status": rows, "releases": summary}, "findings": findings}


class FilterModule:
    def filters(self):
        return {"followup_status_report": followup_status_report}
