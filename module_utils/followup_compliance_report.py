# -*- coding: utf-8 -*-
# followup-ops: what a compliance run writes for people and machines, from the findings of the scan.
#
#   doc = report_document(findings, compliance, run)        # report.json (schema: docs/compliance.md)
#   xml = junit_xml(doc)                                     # junit.xml, one testcase per control × host
#   rec = history_record(doc)                                # DIR/history/<run id>.json (trend of later runs)
#   doc["trend"] = trend(rec, previous_records)              # score per run, new failures, fixed, waivers expiring
#
# report.json is the source of truth: the HTML/PDF, junit.xml, the audit record's details and the quarterly report
# are all made from it. Controller side only, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import xml.etree.ElementTree as ET

SCHEMA = "followup-ops/compliance-report/1"
HISTORY_SCHEMA = "followup-ops/compliance-history/1"
LABELS = {
    "pass": ("符合", "pass"),
    "partial": ("部分符合", "partial"),
    "fail": ("不符合", "fail"),
    "na": ("不适用", "not applicable"),
    "manual": ("人工核查", "manual check"),
    "error": ("检查错误", "check error"),
    "warn": ("注意", "warning"),
}
# Failures first: the order findings are listed in for people.
SEVERITY = {"fail": 0, "error": 1, "partial": 2, "warn": 3, "manual": 4, "na": 5, "pass": 6}
RISK_ORDER = {"H": 0, "M": 1, "L": 2}


def _waived(finding):
    return bool((finding.get("waiver") or {}).get("active"))


def finding_rows(findings):
    """The findings as a list, each with its id and Chinese status label, sorted by host then control."""
    rows = []
    for fid, finding in findings.items():
        row = dict(finding)
        row["id"] = fid
        row["status_zh"], row["status_en"] = LABELS.get(finding["status"], (finding["status"], finding["status"]))
        row["waived"] = _waived(finding)
        rows.append(row)
    rows.sort(key=lambda r: (str(r.get("host")), str(r.get("control"))))
    return rows


def failures_first(rows):
    """Counted non-passing findings, H risk first, then by status severity, control point and control."""
    bad = [r for r in rows if r["status"] in ("fail", "partial", "error") and not r.get("waived")]
    bad.sort(
        key=lambda r: (
            RISK_ORDER.get(r.get("risk"), 3),
            SEVERITY.get(r["status"], 9),
            r.get("control_point"),
            r.get("control"),
            r.get("host"),
        )
    )
    return bad


def report_document(findings, compliance, run, catalogue=None, files=None):
    """report.json: run, catalogue, summary, hosts, findings (sorted), waivers, parameters and limitations."""
    rows = finding_rows(findings)
    summary = dict(compliance.get("summary") or {})
    hosts = {}
    for host, info in (summary.get("per_host") or {}).items():
        hosts[host] = {
            "score": info.get("score"),
            "counts": info.get("counts"),
            "controls": info.get("controls"),
            "reachable": host not in (compliance.get("unreachable") or []),
            "targets": sorted(set(r["target"] for r in rows if r["host"] == host)),
            "collect_seconds": (compliance.get("collect_seconds") or {}).get(host),
        }
    configuration_only = sorted(set(r["control"] for r in rows if r.get("basis") == "configuration"))
    doc = {
        "schema": SCHEMA,
        "run": dict(run),
        "catalogue": dict(compliance.get("catalogue") or {}),
        "controls_selected": compliance.get("controls_selected"),
        "summary": summary,
        "hosts": hosts,
        "unreachable": list(compliance.get("unreachable") or []),
        "findings": rows,
        "waivers": dict(compliance.get("waivers") or {}, file=compliance.get("waivers_file")),
        "parameters_changed": compliance.get("parameters_changed") or {},
        "limitations": {
            "configuration_only": configuration_only,
            "manual": sorted(set(r["control"] for r in rows if r["status"] == "manual")),
            "not_applicable": sorted(set(r["control"] for r in rows if r["status"] == "na")),
            "note_zh": "标为“仅核查配置”的控制项在容器内无法验证运行状态（auditd、内核参数、防火墙、时钟等），"
            "仅依据配置文件判定；人工核查项须附证明材料。",
            "note_en": "Controls marked configuration-only cannot show their running state in a container (auditd, "
            "kernel parameters, the firewall, the clock): they were judged by their configuration files. Manual "
            "rows need the evidence they list.",
        },
        "files": dict(files or {}),
    }
    if catalogue is not None:
        doc["catalogue"].setdefault("controls_total", len(catalogue.get("controls") or []))
    return doc


def _text(*parts):
    return "\n".join(str(p) for p in parts if p not in (None, ""))


def junit_xml(doc):
    """One <testsuite> per host, one <testcase> per control: fail and partial are failures, error is an error,
    na, manual and waived are skipped (with the reason or the waiver's justification)."""
    suites = ET.Element(
        "testsuites", name="followup-ops 等保 compliance %s" % (doc.get("catalogue") or {}).get("version", "")
    )
    by_host = {}
    for row in doc["findings"]:
        by_host.setdefault(row["host"], []).append(row)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in sorted(by_host):
        rows = by_host[host]
        suite = ET.SubElement(suites, "testsuite", name=host)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for row in rows:
            counts["tests"] += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname="%s.%s" % (host, row["target"]),
                name="%s %s" % (row["control"], row["title_en"]),
                time="0",
            )
            ET.SubElement(case, "properties")
            props = case.find("properties")
            for key in ("clause", "test_unit", "control_point", "risk", "status"):
                ET.SubElement(props, "property", name=key, value=str(row.get(key) or ""))
            detail = _text(
                "%s %s" % (row["title_zh"], row["title_en"]),
                "期望 expected: %s" % row.get("expected"),
                "实际 actual: %s" % row.get("actual"),
                "证据 evidence: %s" % row.get("evidence"),
            )
            waiver = row.get("waiver") or {}
            if waiver.get("active"):
                counts["skipped"] += 1
                ET.SubElement(
                    case,
                    "skipped",
                    message="豁免 waived: %s (%s, until %s)"
                    % (waiver.get("justification"), waiver.get("approver"), waiver.get("expiry")),
                ).text = detail
                continue
            status = row["status"]
            if status in ("fail", "partial"):
                counts["failures"] += 1
                ET.SubElement(
                    case,
                    "failure",
                    type=status,
                    message="%s %s: %s" % (row["status_zh"], row["status_en"], row.get("actual")),
                ).text = detail
            elif status == "error":
                counts["errors"] += 1
                ET.SubElement(
                    case, "error", type="error", message="检查错误 check error: %s" % row.get("actual")
                ).text = detail
            elif status in ("na", "manual"):
                counts["skipped"] += 1
                ET.SubElement(
                    case,
                    "skipped",
                    message="%s %s: %s"
                    % (
                        row["status_zh"],
                        row["status_en"],
                        row.get("actual") or "; ".join(row.get("evidence_required") or []),
                    ),
                ).text = detail
            else:
                ET.SubElement(case, "system-out").text = _text(
                    detail,
                    "注意 warning" if status == "warn" else "",
                    "waiver expired %s" % waiver.get("expiry") if waiver.get("expired") else "",
                )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def history_record(doc):
    """The summary of a run kept for later runs' trend: scores, counts and every finding's status."""
    summary = doc.get("summary") or {}
    return {
        "schema": HISTORY_SCHEMA,
        "id": (doc.get("run") or {}).get("id"),
        "ts": (doc.get("run") or {}).get("started_at"),
        "catalogue_version": (doc.get("catalogue") or {}).get("version"),
        "score": summary.get("score"),
        "counts": summary.get("counts"),
        "compliant": summary.get("compliant"),
        "per_host": dict((h, v.get("score")) for h, v in (summary.get("per_host") or {}).items()),
        "per_control_point": dict((k, v.get("score")) for k, v in (summary.get("per_control_point") or {}).items()),
        "statuses": dict((r["id"], "waived" if r.get("waived") else r["status"]) for r in doc.get("findings") or []),
    }


def _bad(status):
    return status in ("fail", "partial", "error")


def trend(current, previous, today=None, limit=12, expiring_days=30):
    """Scores of the last runs (oldest first, the current last) and the changes since the run before this one."""
    previous = sorted((p for p in previous if p.get("id") != current.get("id")), key=lambda p: str(p.get("ts")))
    runs = [
        {"id": p.get("id"), "ts": p.get("ts"), "score": p.get("score"), "counts": p.get("counts")}
        for p in previous[-(limit - 1) :]
    ]
    runs.append(
        {
            "id": current.get("id"),
            "ts": current.get("ts"),
            "score": current.get("score"),
            "counts": current.get("counts"),
        }
    )
    result = {"runs": runs, "previous": None, "new_failures": [], "fixed": [], "still_failing": 0}
    if previous:
        last = previous[-1]
        before, now = last.get("statuses") or {}, current.get("statuses") or {}
        result["previous"] = {"id": last.get("id"), "ts": last.get("ts"), "score": last.get("score")}
        result["new_failures"] = sorted(k for k, s in now.items() if _bad(s) and not _bad(before.get(k, "pass")))
        result["fixed"] = sorted(k for k, s in before.items() if _bad(s) and k in now and not _bad(now[k]))
        result["still_failing"] = sum(1 for k, s in now.items() if _bad(s) and _bad(before.get(k, "pass")))
        if current.get("score") is not None and last.get("score") is not None:
            result["score_change"] = round(current["score"] - last["score"], 1)
    return result


def expiring_waivers(waivers, today, days=30):
    """Waivers in use that expire within DAYS of TODAY."""
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    out = []
    for waiver in (waivers or {}).get("used") or []:
        left = (datetime.date.fromisoformat(waiver["expiry"]) - today).days
        if left <= days:
            out.append(dict(waiver, days_left=left))
    return out
