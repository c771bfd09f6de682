"""`followup-ops report quarterly --quarter 2026Q4 -i INV`: the quarterly operations report (季度运维报告, R-REPORT).

Built only from what this control node recorded — the audit log (runs/audit.jsonl, schema 2 and the schema-1 lines
from before the operation core), the operations' records (runs/<id>/operation.json: inspections, status runs),
backups and drills, compliance runs, upgrades with their approvals, migrations, and the fault register
(runs/faults.jsonl). It asks no host anything. docs/reports.md fixes which field of which record each section reads;
a section whose records do not exist says so plainly and the rest still renders. Chinese first, a printable PDF
with charts, a cover page and room for the company seal and signatures. No patient data: only counts, versions,
times, ids and the engineers' own words from the fault register are printed, never an operation's message text.
"""

import json
import os
import re
import time
from pathlib import Path

import yaml

from followup_ops import render
from followup_ops.commands.common import Command
from followup_ops.commands.fault import KINDS, SEVERITIES, thresholds, utils
from followup_ops.errors import OpsError
from followup_ops.inventory import resolve
from followup_ops.paths import runs_dir

QUARTER_RE = re.compile(r"\A([0-9]{4})[Qq]([1-4])\Z")
OUTCOME_ZH = {
    "ok": "成功 ok",
    "failed": "失败 failed",
    "refused": "拒绝 refused",
    "rolled_back": "已回滚 rolled back",
    "noncompliant": "有不符合项 non-compliant",
    "interrupted": "中断 interrupted",
    "abandoned": "中止 abandoned",
}
SAMPLE_CONTROLS = ("services", "health", "host.reach", "reach")


def quarter_bounds(text, offset):
    """(start, end, label) epochs of quarter TEXT ('2026Q4') in the hospital's time; OpsError when it is not one."""
    records, _ = utils()
    match = QUARTER_RE.match(str(text or "").strip())
    if not match:
        raise OpsError(f"--quarter '{text}' is not a quarter: write it like 2026Q4")
    year, q = int(match.group(1)), int(match.group(2))
    start = records.local_midnight(year, 3 * q - 2, 1, offset)
    end = records.local_midnight(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, offset)
    return start, end, f"{year}年第{'一二三四'[q - 1]}季度"


def previous_quarters(text, n):
    year, q = int(text[:4]), int(text[-1])
    out = []
    for _ in range(n):
        q -= 1
        if q == 0:
            year, q = year - 1, 4
        out.append(f"{year}Q{q}")
    return list(reversed(out))


def _in(record, start, end):
    return record["start"] is not None and start <= record["start"] < end


def _of(records_, commands):
    return [r for r in records_ if r["command"] in commands and not r["check"]]


def _month_labels(start, end, offset):
    records, _ = utils()
    labels = []
    moment = start
    while moment < end:
        label = records.local_date(moment, offset)[:7]
        if label not in labels:
            labels.append(label)
        moment += 86400
    return labels


def _per_month(rows, labels, offset, key="start"):
    records, _ = utils()
    counts = dict.fromkeys(labels, 0)
    for row in rows:
        if row.get(key) is None:
            continue
        label = records.local_date(row[key], offset)[:7]
        if label in counts:
            counts[label] += 1
    return [counts[label] for label in labels]


def build_quarterly(runs, inventory, quarter, levels, now=None, plan=None):
    """Every figure of the quarterly report, from the records in RUNS for INVENTORY. Pure: reads files only."""
    records, _ = utils()
    now = time.time() if now is None else now
    offset = levels["timezone"]
    sl = levels["service_levels"]
    start, end, label = quarter_bounds(quarter, offset)
    if start > now:
        raise OpsError(f"quarter {quarter} has not begun yet (it starts {records.local_date(start, offset)})")
    until = min(end, now)
    all_records, damaged = records.read_audit(runs)
    mine = records.for_inventory(all_records, inventory)
    inq = [r for r in mine if _in(r, start, end)]
    months = _month_labels(start, end, offset)
    data = {
        "quarter": quarter,
        "label": label,
        "period": {
            "start": records.iso(start),
            "end": records.iso(end),
            "from": records.local_date(start, offset),
            "to": records.local_date(end - 1, offset),
            "complete": now >= end,
            "as_of": records.local_time(until, offset),
        },
        "timezone": offset,
        "inventory": str(inventory),
        "records": {
            "total": len(inq),
            "by_command": _count(r["command"] for r in inq),
            "schema1": len([r for r in inq if r["schema"] == 1]),
            "damaged_lines": damaged,
            "any": bool(inq),
        },
        "months": months,
    }
    data["samples"] = _samples(runs, inq)
    data["availability"] = _availability(data["samples"], records, runs, inventory, start, until, sl)
    data["versions"] = _versions(data["samples"])
    data["changes"] = _changes(inq, offset, records)
    data["backups"] = _backups(inq, months, offset, records)
    data["compliance"] = _compliance(mine, quarter, offset, records)
    data["faults"] = _faults(runs, inventory, start, end, until, sl, offset, months, records)
    data["inspections"] = _inspections(data["samples"], months, offset)
    data["migrations"] = _migrations(inq, offset, records)
    data["maintenance"] = _maintenance(inq, offset, records)
    data["risks"] = _risks(data)
    data["plan"] = _plan(data, plan, levels)
    return data


def _count(values):
    out = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


def _samples(runs, inq):
    """Inspections and status runs of the quarter with their findings (read from their operation.json)."""
    records, _ = utils()
    samples = []
    for record in inq:
        if record["command"] not in records.INSPECT_COMMANDS + records.STATUS_COMMANDS:
            continue
        data = records.operation_record(runs, record)
        report = (data or {}).get("report") or {}
        findings = report.get("findings") if isinstance(report.get("findings"), dict) else None
        samples.append(
            {
                "id": record["id"],
                "command": record["command"],
                "start": record["start"],
                "outcome": record["outcome"],
                "findings": findings,
                "hosts": sorted({f.get("host") for f in (findings or {}).values() if f.get("host")} or record["hosts"]),
            }
        )
    return samples


def _service_ok(findings):
    """Whether every service, health check and host answered in one sample (None when it holds no such finding)."""
    relevant = [f for f in findings.values() if f.get("control") in SAMPLE_CONTROLS and f.get("host") != "control-node"]
    if not relevant:
        return None
    return all(f.get("status") in ("pass", "na", "warn") for f in relevant)


def _availability(samples, records, runs, inventory, start, until, sl):
    usable = [s for s in samples if s["findings"] is not None]
    judged = [(s, _service_ok(s["findings"])) for s in usable]
    judged = [(s, ok) for s, ok in judged if ok is not None]
    down_hosts = {}
    for s, ok in judged:
        if ok:
            continue
        hosts = {
            f["host"]
            for f in s["findings"].values()
            if f.get("control") in SAMPLE_CONTROLS and f.get("status") in ("fail", "error")
        }
        for host in hosts:
            down_hosts[host] = down_hosts.get(host, 0) + 1
    faults = [
        f
        for f in records.fold_faults(records.read_fault_events(runs)[0]).values()
        if records.same_inventory(f.get("inventory"), inventory)
    ]
    downtime = 0.0
    down_faults = []
    for f in faults:
        if not f.get("service_down"):
            continue
        opened = records.parse_time(f.get("opened_at"))
        resolved = records.parse_time(f.get("resolved_at")) or until
        lo, hi = max(opened, start), min(resolved, until)
        if hi > lo:
            downtime += (hi - lo) / 60.0
            down_faults.append(f["id"])
    period = (until - start) / 60.0
    return {
        "samples": len(judged),
        "samples_ok": len([1 for _, ok in judged if ok]),
        "sampled_percent": round(100.0 * len([1 for _, ok in judged if ok]) / len(judged), 2) if judged else None,
        "down_hosts": dict(sorted(down_hosts.items())),
        "unreadable": len(samples) - len(usable),
        "downtime_min": round(downtime, 1),
        "period_min": round(period, 1),
        "percent": round(100.0 * (1 - downtime / period), 3) if period > 0 else None,
        "down_faults": sorted(down_faults),
    }


def _versions(samples):
    """Versions running at the newest sample of the quarter, and how often R-CURRENT was breached."""
    with_currency = []
    for s in samples:
        rows = [
            f
            for f in (s["findings"] or {}).values()
            if f.get("control") in ("currency", "release.currency") and f.get("component")
        ]
        if rows:
            with_currency.append((s, rows))
    if not with_currency:
        return {"as_of": None, "components": [], "samples": 0, "breaches": 0}
    newest, rows = with_currency[-1]
    components = []
    for f in sorted(rows, key=lambda f: (f.get("host"), f.get("component"))):
        status = f.get("currency") or f.get("status")
        components.append(
            {
                "host": f.get("host"),
                "component": f.get("component"),
                "version": f.get("version") or _version_from_evidence(f.get("evidence")),
                "status": status,
                "days_over": f.get("days_over") or 0,
                "text": f.get("message_zh") or f.get("actual"),
                # followup_currency's own wording: "... while 1.2.0 is out" / "有更新版本 1.2.0"
                "newer": bool(re.search(r"is out|更新版本", f"{f.get('actual')} {f.get('message_zh')}")),
            }
        )
    breaches = len(
        [1 for _, rows in with_currency if any((f.get("currency") or f.get("status")) == "fail" for f in rows)]
    )
    return {"as_of": newest["id"], "components": components, "samples": len(with_currency), "breaches": breaches}


def _version_from_evidence(evidence):
    match = re.search(r"current -> ([0-9]+\.[0-9]+\.[0-9]+)", str(evidence or ""))
    return match.group(1) if match else None


def _changes(inq, offset, records):
    """Upgrades (with their approvals) and deployments of the quarter."""
    rows = []
    for r in _of(inq, records.UPGRADE_COMMANDS + records.DEPLOY_COMMANDS):
        d = r["details"]
        approval = d.get("approval") if isinstance(d.get("approval"), dict) else {}
        rows.append(
            {
                "id": r["id"],
                "command": r["command"],
                "when": records.local_time(r["start"], offset),
                "release": d.get("release") or d.get("version") or _argv_value(r["argv"], "--release"),
                "from": d.get("from_release") or d.get("previous"),
                "approval": d.get("approval_id")
                or approval.get("id")
                or (d.get("approval") if isinstance(d.get("approval"), str) else None),
                "approved_by": d.get("approved_by") or approval.get("signer") or approval.get("approved_by"),
                "test_document": d.get("test_document") or approval.get("test_document"),
                "outcome": r["outcome"],
                "rolled_back": bool(r["rolled_back"]),
                "duration_s": r["duration_s"],
            }
        )
    upgrades = [x for x in rows if x["command"] in records.UPGRADE_COMMANDS]
    return {
        "rows": rows,
        "upgrades": len(upgrades),
        "upgrades_ok": len([x for x in upgrades if x["outcome"] == "ok"]),
        "upgrades_approved": len([x for x in upgrades if x["approval"]]),
        "deploys": len(rows) - len(upgrades),
        "rolled_back": len([x for x in rows if x["rolled_back"]]),
    }


def _argv_value(argv, flag):
    """The value of FLAG in a recorded command line (schema-1 lines carry no details)."""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def _backups(inq, months, offset, records):
    backups = [(r, records.backup_summary(r)) for r in _of(inq, records.BACKUP_COMMANDS)]
    ok = [(r, b) for r, b in backups if r["outcome"] == "ok"]
    rates = [b["mb_per_s"] for _, b in ok if isinstance(b["mb_per_s"], (int, float))]
    drills = [(r, records.drill_summary(r)) for r in _of(inq, records.DRILL_COMMANDS)]
    drills = [(r, d) for r, d in drills if d["result"] is not None]
    restores = _of(inq, records.RESTORE_COMMANDS)
    return {
        "count": len(backups),
        "ok": len(ok),
        "failed": len(backups) - len(ok),
        "bytes": sum(int(b["bytes"] or 0) for _, b in ok),
        "mb_per_s": round(sum(rates) / len(rates), 1) if rates else None,
        "newest": ok[-1][1] if ok else None,
        "per_month": _per_month([r for r, _ in ok], months, offset),
        "drills": [dict(d, when=records.local_time(r["start"], offset)) for r, d in drills],
        "drills_pass": len([1 for _, d in drills if d["result"] == "pass"]),
        "drills_fail": len([1 for _, d in drills if d["result"] == "fail"]),
        "restores": [
            {
                "id": r["id"],
                "when": records.local_time(r["start"], offset),
                "outcome": r["outcome"],
                "backup_id": r["details"].get("backup_id"),
            }
            for r in restores
        ],
    }


def _compliance(mine, quarter, offset, records):
    def runs_between(start, end):
        return [
            records.compliance_summary(r)
            for r in _of(mine, records.COMPLIANCE_COMMANDS)
            if _in(r, start, end)
            and records.compliance_score(r) is not None
            and not r["details"].get("fix")
            and r["outcome"] in ("ok", "noncompliant")
        ]

    start, end, _ = quarter_bounds(quarter, offset)
    runs = runs_between(start, end)
    trend = []
    for q in [*previous_quarters(quarter, 3), quarter]:
        s, e, _ = quarter_bounds(q, offset)
        qruns = runs_between(s, e)
        trend.append({"quarter": q, "score": qruns[-1]["score"] if qruns else None, "runs": len(qruns)})
    for row in runs:
        row["when"] = records.local_time(records.parse_time(row["at"]), offset)
    latest = runs[-1] if runs else None
    previous = next((t["score"] for t in reversed(trend[:-1]) if t["score"] is not None), None)
    return {
        "runs": runs,
        "latest": latest,
        "trend": trend,
        "change": round(latest["score"] - previous, 1) if latest and previous is not None else None,
        "fixes": len(
            [r for r in _of(mine, records.COMPLIANCE_COMMANDS) if _in(r, start, end) and r["details"].get("fix")]
        ),
    }


def _faults(runs, inventory, start, end, until, sl, offset, months, records):
    faults = [
        f
        for f in records.fold_faults(records.read_fault_events(runs)[0]).values()
        if records.same_inventory(f.get("inventory"), inventory)
    ]
    quarter = records.fault_summary(faults, start, end, sl)
    # Every contract year the quarter overlaps (Q4 holds the day a contract year ends and the next begins).
    years = []
    moment = start
    while moment < until:
        cy_start, cy_end, cy_label = records.contract_year(moment, sl["contract_year_start"], offset)
        counted = records.fault_summary(faults, cy_start, min(cy_end, until), sl)["counted"]
        limit = sl.get("faults_per_year")
        years.append(
            {
                "label": cy_label,
                "counted": counted,
                "limit": limit,
                "over": bool(limit) and counted > limit,
                "to_date": cy_end > until,
            }
        )
        moment = cy_end
    for f in quarter["faults"]:
        f["opened_local"] = records.local_time(records.parse_time(f.get("opened_at")), offset)
        f["kind_text"] = KINDS.get(f.get("kind"), f.get("kind"))
        f["severity_text"] = SEVERITIES.get(f.get("severity"), f.get("severity") or "-").split(" (")[0]
    open_at_end = sorted(
        f["id"]
        for f in faults
        if (records.parse_time(f.get("opened_at")) or 0) < until
        and (f.get("state") != "closed" or (records.parse_time(f.get("resolved_at")) or 0) >= until)
    )
    rows = [dict(f, start=records.parse_time(f.get("opened_at"))) for f in quarter["faults"]]
    return dict(
        quarter,
        years=years,
        contract_year=years[-1]["label"],
        year_counted=years[-1]["counted"],
        year_over=any(y["over"] for y in years),
        open_at_end=open_at_end,
        targets=sl.get("response_minutes") or {},
        per_month=_per_month([r for r in rows if (r.get("kind") or "fault") == "fault"], months, offset),
    )


def _inspections(samples, months, offset):
    inspections = [s for s in samples if s["command"] == "inspect"]
    items = {}
    abnormal_per = []
    for s in inspections:
        bad = [f for f in (s["findings"] or {}).values() if f.get("status") in ("fail", "error")]
        abnormal_per.append(len(bad))
        for f in bad:
            key = f.get("control")
            items[key] = items.get(key, 0) + 1
    top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    return {
        "count": len(inspections),
        "with_abnormal": len([n for n in abnormal_per if n]),
        "abnormal_items": sum(abnormal_per),
        "top": [{"item": k, "count": v} for k, v in top],
        "per_month": _per_month(inspections, months, offset),
        "newest": inspections[-1]["id"] if inspections else None,
        "newest_abnormal": sorted(
            f"{f.get('host')} {f.get('control')}" + (f" {f['part']}" if f.get("part") else "")
            for f in ((inspections[-1]["findings"] or {}).values() if inspections else [])
            if f.get("status") in ("fail", "error")
        ),
    }


def _migrations(inq, offset, records):
    rows = []
    for r in _of(inq, records.MIGRATION_COMMANDS):
        d = r["details"]
        rows.append(
            {
                "id": r["id"],
                "command": r["command"],
                "when": records.local_time(r["start"], offset),
                "what": d.get("what") or d.get("kind") or d.get("database") or d.get("component"),
                "source": d.get("source") or d.get("from_host") or d.get("from"),
                "target": d.get("target") or d.get("to_host") or d.get("to"),
                "verified": d.get("verified"),
                "outcome": r["outcome"],
                "rolled_back": bool(r["rolled_back"]),
            }
        )
    return {"rows": rows}


def _maintenance(inq, offset, records):
    """Database optimisations (R-DB) and table-structure documents (R-SRC) of the quarter."""
    optimize = []
    for r in _of(inq, ("db-optimize",)):
        d = r["details"]
        optimize.append(
            {
                "id": r["id"],
                "when": records.local_time(r["start"], offset),
                "window": d.get("window"),
                "done": d.get("done"),
                "proposals": d.get("proposals"),
                "outcome": r["outcome"],
                "analyse_only": bool(d.get("analyse_only")),
            }
        )
    docs = []
    for r in _of(inq, ("schema-doc",)):
        d = r["details"]
        docs.append(
            {
                "id": r["id"],
                "when": records.local_time(r["start"], offset),
                "kind": d.get("kind"),
                "release": d.get("release") or d.get("schema_release"),
                "outcome": r["outcome"],
            }
        )
    return {"optimize": optimize, "schema_docs": docs}


def _risks(data):
    risks = []
    faults, comp, backups, versions = data["faults"], data["compliance"], data["backups"], data["versions"]
    if faults["open_at_end"]:
        risks.append(f"未关闭故障 {len(faults['open_at_end'])} 件 open faults: {', '.join(faults['open_at_end'])}")
    for year in faults["years"]:
        if year["over"]:
            risks.append(
                f"合同年度 {year['label']} 故障 {year['counted']} 次，超过上限 {year['limit']} 次 "
                "faults over the yearly limit"
            )
    late = faults["responded"] - faults["on_target"]
    if late:
        risks.append(f"响应超时 {late} 件 responses later than the target")
    stale = [c for c in versions["components"] if c["status"] == "fail"]
    if stale:
        risks.append(
            "版本超过 90 天未更新（R-CURRENT）: "
            + ", ".join(f"{c['host']}/{c['component']} {c['version']}" for c in stale)
        )
    latest = comp["latest"]
    if latest and (latest.get("failing") or 0) > 0:
        risks.append(
            f"等保不符合项 {latest['failing']} 项（高风险 {latest.get('high_risk_failing') or 0} 项）"
            f" failing compliance controls"
        )
    if not comp["runs"]:
        risks.append("本季度没有等保合规检查记录 no compliance check this quarter")
    if backups["failed"]:
        risks.append(f"备份失败 {backups['failed']} 次 failed backups")
    if not backups["ok"]:
        risks.append("本季度没有成功备份的记录 no successful backup recorded this quarter")
    if not backups["drills"]:
        risks.append("本季度没有恢复演练记录 no restore drill this quarter")
    elif backups["drills"][-1]["result"] == "fail":
        risks.append("最近一次恢复演练未通过 the newest restore drill failed")
    if data["inspections"]["newest_abnormal"]:
        risks.append(
            "最近一次巡检的异常项 abnormal in the newest inspection: "
            + ", ".join(data["inspections"]["newest_abnormal"][:6])
            + (" …" if len(data["inspections"]["newest_abnormal"]) > 6 else "")
        )
    return risks


def _plan(data, plan, levels):
    items = []
    stale = [c for c in data["versions"]["components"] if c["newer"]]
    if stale:
        items.append(
            "升级到供应商最新版本（经信息科签字确认，附更新前测试文档） upgrade to the newest release after signed "
            "approval: " + ", ".join(f"{c['host']}/{c['component']}" for c in stale)
        )
    if data["compliance"]["latest"] and (data["compliance"]["latest"].get("failing") or 0) > 0:
        items.append("整改等保不符合项并复测 remediate the failing compliance controls and re-check")
    items.append("每日巡检、每日备份、每月恢复演练 daily inspection and backup, a monthly restore drill")
    items.append("季度末数据库优化（维护窗口内） periodic database optimisation inside the maintenance window")
    for entry in plan or []:
        items.append(str(entry))
    return items


def load_plan(path):
    if not path:
        return []
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise OpsError(
            f"--plan {path} cannot be read ({str(err).splitlines()[0]}): give a YAML list of work items"
        ) from err
    if not isinstance(data, list) or not all(isinstance(x, (str, dict)) for x in data):
        raise OpsError(f"--plan {path} must be a YAML list of work items (text, or item/due mappings)")
    out = []
    for entry in data:
        if isinstance(entry, dict):
            if "item" not in entry:
                raise OpsError(f"--plan {path}: every mapping needs an item (and may have due): {entry}")
            out.append(f"{entry['item']}（计划 due {entry['due']}）" if entry.get("due") else str(entry["item"]))
        else:
            out.append(entry)
    return out


class Quarterly(Command):
    name = "report-quarterly"
    help = "the quarterly operations report (季度运维报告) from the recorded runs, as HTML and PDF"
    description = (
        "Builds the quarterly report only from what this control node recorded (audit log, run records, "
        "inspections, backups and drills, compliance runs, upgrades with approvals, migrations, the fault register): "
        "availability, versions and their currency, upgrades, backups and drills, the 等保 score and its trend, "
        "faults against the yearly limit, open risks, work planned. Asks no host anything. Chinese, with a cover "
        "page and room for the company seal. A quarter with no records says so and still renders what exists."
    )
    uses_inventory = False

    def register(self, sub):
        parser = sub.add_parser("quarterly", help=self.help, description=self.description)
        parser.add_argument(
            "-i",
            "--inventory",
            required=True,
            metavar="INVENTORY",
            help="the inventory the report is about (records of others are left out)",
        )
        parser.add_argument("--quarter", required=True, metavar="YYYYQN", help="the quarter, e.g. 2026Q4")
        parser.add_argument("--out", metavar="DIR", help="write the report here (default: the run's directory)")
        parser.add_argument(
            "--plan", metavar="FILE", help="YAML list of work planned for next quarter, added to the report"
        )
        parser.add_argument("--company", default="运维服务单位", help="the vendor's name on the cover")
        parser.add_argument("--hospital", default="医院信息科", help="the hospital's name on the cover")
        parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
        parser.set_defaults(func=self.execute)
        return parser

    def inventory(self, args):
        return resolve(args.inventory), None

    def details(self, args):
        return {"quarter": args.quarter, "out": str(Path(args.out).resolve()) if args.out else None}

    def execute(self, args):
        if not QUARTER_RE.match(str(args.quarter).strip()):
            raise OpsError(f"--quarter '{args.quarter}' is not a quarter: write it like 2026Q4")
        self.plan = load_plan(args.plan)
        return super().execute(args)

    def run(self, op, args):
        levels = thresholds(op.inventory)
        with op.local("figures"):
            self.data = build_quarterly(runs_dir(), op.inventory, args.quarter.upper(), levels, plan=self.plan)
        out = Path(args.out).resolve() if args.out else op.run_dir
        stem = f"quarterly-{args.quarter.upper()}"
        with op.local("render"):
            out.mkdir(parents=True, exist_ok=True)
            json_path = out / f"{stem}.json"
            tmp = json_path.with_name(f".{json_path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(self.data, ensure_ascii=False, indent=2), encoding="utf-8")
            os.replace(tmp, json_path)
            paths = render.write("quarterly/report.html.j2", context(self.data, args, op), out, stem)
        self.files = {"json": json_path, "html": paths["html"], "pdf": paths["pdf"]}
        for kind, path in self.files.items():
            op.file(
                path,
                "quarterly-report",
                sha256=render.sha256(path),
                bytes=path.stat().st_size,
                host="control-node",
                format=kind,
            )
        d = self.data
        op.details.update(
            records=d["records"]["total"],
            availability=d["availability"]["percent"],
            faults=d["faults"]["counted"],
            compliance=(d["compliance"]["latest"] or {}).get("score"),
            report=str(paths["pdf"]),
            pdf_sha256=render.sha256(paths["pdf"]),
        )

    def render(self, op, args):
        d = self.data
        if args.json:
            print(json.dumps(d, ensure_ascii=False, indent=2))
        lines = [
            f"季度运维报告 quarterly report {d['quarter']} ({d['period']['from']} – {d['period']['to']}"
            f"{'' if d['period']['complete'] else '，截至 as of ' + d['period']['as_of']}): "
            f"{d['records']['total']} records"
        ]
        if not d["records"]["any"]:
            lines.append("本季度没有任何运行记录 no operation was recorded for this inventory in this quarter")
        a = d["availability"]
        lines.append(
            f"  可用性 availability {_pct(a['percent'])} (downtime {a['downtime_min']} min); "
            f"抽样 sampled {a['samples_ok']}/{a['samples']}"
        )
        lines.append(
            f"  故障 faults {d['faults']['counted']} this quarter, {d['faults']['year_counted']} / "
            f"{d['faults']['limit']} in contract year {d['faults']['contract_year']}"
        )
        lines.append(
            f"  备份 backups {d['backups']['ok']} ok / {d['backups']['count']}; 演练 drills "
            f"{d['backups']['drills_pass']} pass, {d['backups']['drills_fail']} fail"
        )
        latest = d["compliance"]["latest"]
        lines.append(f"  等保 compliance {_pct(latest['score']) if latest else '无记录 none'}")
        lines.append(f"  风险 open risks {len(d['risks'])}")
        lines.append("报告 report: " + ", ".join(str(p) for p in self.files.values()))
        print("\n".join(lines))


def _pct(value):
    return "-" if value is None else f"{value:g}%"


def context(data, args, op):
    from followup_ops.render import charts

    comp = data["compliance"]
    charts_ = {
        "compliance": charts.line_chart(
            [t["quarter"] for t in comp["trend"]],
            [t["score"] for t in comp["trend"]],
            title="等保得分趋势 compliance score per quarter (%)",
            unit="%",
            top=100,
        ),
        "backups": charts.bar_chart(
            data["months"], data["backups"]["per_month"], title="每月成功备份 successful backups per month"
        ),
        "inspections": charts.bar_chart(
            data["months"], data["inspections"]["per_month"], title="每月巡检次数 inspections per month"
        ),
        "faults": charts.bar_chart(data["months"], data["faults"]["per_month"], title="每月故障 faults per month"),
    }
    period = data["period"]
    return {
        "title": f"{data['label']}运维报告",
        "subtitle": f"Quarterly operations report {data['quarter']} · 人工智能医院随访系统 V1.0",
        "running_header": f"季度运维报告 {data['quarter']}",
        "cover": {
            "system": "湛江中心人民医院患者智能随访管理系统（人工智能医院随访系统 V1.0）",
            "hospital": args.hospital,
            "company": args.company,
            "period": f"{period['from']} 至 {period['to']}",
        },
        "meta": [
            (
                "报告期 Period",
                f"{period['from']} – {period['to']}"
                + ("" if period["complete"] else f"（截至 {period['as_of']}，季度未结束 quarter not over）"),
            ),
            ("环境 Inventory", Path(data["inventory"]).name),
            (
                "依据 Based on",
                f"{data['records']['total']} 条运行记录 recorded operations (audit log, run records, fault register)",
            ),
            ("时区 Time zone", data["timezone"]),
            ("报告编号 Report run", op.id or "-"),
        ],
        "d": data,
        "charts": charts_,
        "outcome_zh": OUTCOME_ZH,
        "signatures": [
            "编制 Prepared by（运维工程师）",
            "审核 Reviewed by（运维单位）",
            "确认 Accepted by（医院信息科）",
        ],
        "seal": True,
    }


ACTIONS = (Quarterly(),)


def register(sub):
    parser = sub.add_parser(
        "report",
        help="reports from the recorded runs: quarterly (季度运维报告)",
        description="Reports built only from this control node's records; they ask no host anything.",
    )
    report_sub = parser.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    for action in ACTIONS:
        action.register(report_sub)
    return parser
