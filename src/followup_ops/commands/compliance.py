"""`followup-ops compliance`: the 等保 2.0 level-3 compliance check, read-only, with reports an assessor can use.

    followup-ops compliance -i INV --out DIR [--controls ID,...] [--waivers FILE] [--fix]
    followup-ops compliance validate [--waivers FILE] [-i INV]
    followup-ops compliance schedule --install -i INV --out DIR [--on-calendar SPEC] | --remove | --show

The scan runs playbooks/compliance.yml (one evidence task per host; judged on the control node against
controls/djbh-l3.yml) and writes DIR/report.json (the source of truth, schema in docs/compliance.md), DIR/junit.xml,
DIR/report.html and DIR/report.pdf, DIR/evidence/<host>.json (each host's masked evidence) and DIR/history/<run>.json
(the summary later runs draw their trend from). Exit 0 when every counted control passes, 4 when any fails or could
not be checked (检查错误, e.g. an unreachable host), 1 on bad input (nothing runs), 2 when --fix is refused by a gate.
"""

import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from followup_ops import inventory, render
from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.errors import EXIT_OK, OpsError
from followup_ops.operation import StepFailed
from followup_ops.paths import repo_root
from followup_ops.textui import table

TIMER_NAME = "followup-compliance"
DEFAULT_CALENDAR = "*-*-* 02:30:00"
HISTORY_KEEP = 400


def utils():
    """The compliance code of module_utils/ (shared with the playbook's filters), importable from here."""
    import ansible.module_utils

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_compliance_catalogue as cat
    from ansible.module_utils import followup_compliance_eval as ev
    from ansible.module_utils import followup_compliance_report as rep
    from ansible.module_utils import followup_compliance_waivers as wv

    return cat, ev, wv, rep


def _out_dir(text):
    if not text:
        raise OpsError("compliance needs --out DIR: the directory that receives report.json, junit.xml and the report")
    path = Path(text).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise OpsError(f"--out {text} is a file: give a directory")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise OpsError(f"--out {text}: {probe} is not writable: choose another directory or run as its owner")
    return path


def check_inputs(args):
    """Everything the scan depends on, checked before anything runs: one line and exit 1 on the first problem."""
    cat, _ev, wv, _rep = utils()
    if not getattr(args, "inventory", None):
        raise OpsError("compliance needs -i INVENTORY, e.g. -i inventories/lab")
    try:
        catalogue = cat.load()
        controls = cat.select(catalogue, args.controls)
        waivers = wv.load(str(Path(args.waivers).expanduser().resolve()), catalogue) if args.waivers else []
    except (cat.CatalogueError, wv.WaiverError) as err:
        raise OpsError(str(err)) from None
    if args.controls and not controls:
        raise OpsError("--controls names no control: give ids such as LNX-PWD-01,SSH-AUTH-01")
    if args.fix and not (repo_root() / "playbooks" / "hardening.yml").is_file():
        raise OpsError("--fix needs playbooks/hardening.yml (the hardening roles), which this checkout does not have")
    return catalogue, controls, waivers, _out_dir(args.out)


class Compliance(Command):
    name = "compliance"
    help = "等保 2.0 level-3 compliance check (read-only): report.json, junit.xml, HTML and PDF reports"
    description = (
        "Read-only: collects in one task per host what the controls of controls/djbh-l3.yml need (files with line "
        "numbers and sha256, sshd -T, accounts without password hashes, services, ports, the databases' settings), "
        "judges it on the control node and writes DIR/report.json, junit.xml, report.html and report.pdf (per host "
        "and per 控制点, failures first, evidence, trend against earlier runs). Waived controls are reported as "
        "waived; expired waivers stop counting. Exit 0 when every counted control passes, 4 when any fails or could "
        "not be checked (an unreachable host's controls are 检查错误), 1 on bad input (nothing runs). With --fix, "
        "playbooks/hardening.yml runs first (it changes hosts: they are leased), then the scan."
    )
    interrupt_hint = "run the same compliance --fix again: the hardening changes only what differs, then rescans"

    def add_arguments(self, parser):
        parser.add_argument("--out", metavar="DIR", help="directory for report.json, junit.xml, report.html/.pdf")
        parser.add_argument(
            "--controls", metavar="ID,...", help="check only these control ids (e.g. LNX-PWD-01,SSH-AUTH-01)"
        )
        parser.add_argument(
            "--waivers", metavar="FILE", help="waivers (YAML: control, host, justification, approver, expiry)"
        )
        parser.add_argument(
            "--check", action="store_true", help="also run Ansible in check mode (the scan is read-only)"
        )
        parser.add_argument("--no-pdf", action="store_true", help="write the HTML report but no PDF")
        parser.add_argument("--fix", action="store_true", help="run playbooks/hardening.yml first, then rescan")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def register(self, sub):
        parser = sub.add_parser(self.name, help=self.help, description=self.description)
        add_inventory_options(parser, required=False)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        actions = parser.add_subparsers(dest="compliance_action", metavar="ACTION", required=False)
        VALIDATE.register(actions)
        SCHEDULE.register(actions)
        return parser

    def details(self, args):
        return {
            "out": str(Path(args.out).expanduser().resolve()) if args.out else None,
            "controls": args.controls or "all",
            "waivers": str(Path(args.waivers).expanduser().resolve()) if args.waivers else None,
            "fix": bool(args.fix),
        }

    def operation(self, args):
        op = super().operation(args)
        # Only --fix changes hosts (and takes their leases); the scan itself never does.
        op.changes_hosts = bool(args.fix) and not op.check
        return op

    def execute(self, args):
        self.catalogue, self.controls, self.waivers, self.out = check_inputs(args)
        return super().execute(args)

    # -- steps -----------------------------------------------------------------------------------------------------
    def run(self, op, args):
        op.quiet = not args.verbose
        cat, _ev, _wv, _rep = utils()
        ids = cat.parse_ids(args.controls)
        evidence_dir = self.out / "evidence"
        with op.local("prepare"):
            self.out.mkdir(parents=True, exist_ok=True)
            if evidence_dir.is_dir():
                for old in evidence_dir.glob("*.json"):
                    old.unlink()
        extravars = {"followup_djbh_evidence_dir": str(evidence_dir)}
        if ids:
            extravars["followup_djbh_controls"] = ",".join(ids)
        if args.waivers:
            extravars["followup_djbh_waivers_file"] = str(Path(args.waivers).expanduser().resolve())
        if args.fix:
            print(f"compliance --fix: hardening the hosts of {op.inventory.name} (playbooks/hardening.yml) ...")
            op.playbook(
                "fix", "hardening.yml", extravars={k: v for k, v in extravars.items() if k == "followup_djbh_controls"}
            )
        print(f"compliance: scanning the hosts of {op.inventory.name} (read-only) ...", flush=True)
        op.playbook("scan", "compliance.yml", extravars=extravars, partial=True)
        compliance = (op.report.get("data") or {}).get("compliance")
        if not compliance:
            raise StepFailed(
                "playbooks/compliance.yml reported no compliance data (data.compliance): see the run record "
                f"{op.run_dir}"
            )
        with op.local("report"):
            self.doc = write_reports(op, args, self.catalogue, self.out, compliance)
        summary = self.doc["summary"]
        op.details["compliance"] = details_summary(self.doc)
        if not summary.get("compliant"):
            failing = summary.get("failing", 0)
            where = ", ".join(sorted({r["host"] for r in _failing_rows(self.doc)})) or "-"
            unreachable = self.doc.get("unreachable") or []
            extra = f"; unreachable: {', '.join(unreachable)}" if unreachable else ""
            op.conclude(
                "noncompliant",
                f"score {summary.get('score')}%: {failing} counted controls fail or could not be checked on {where}"
                f"{extra} (report: {self.out / 'report.html'})",
            )

    def render(self, op, args):
        doc = getattr(self, "doc", None)
        if not doc:
            return
        print(render_text(doc, self.out))


def _failing_rows(doc):
    return [r for r in doc["findings"] if r["status"] in ("fail", "partial", "error") and not r.get("waived")]


def details_summary(doc):
    """What the audit record carries of a compliance run (the quarterly report reads it): scores, never evidence."""
    summary = doc["summary"]
    return {
        "catalogue_version": (doc.get("catalogue") or {}).get("version"),
        "score": summary.get("score"),
        "compliant": summary.get("compliant"),
        "counts": summary.get("counts"),
        "hosts": summary.get("hosts"),
        "per_host": {h: v.get("score") for h, v in (summary.get("per_host") or {}).items()},
        "per_control_point": {k: v.get("score") for k, v in (summary.get("per_control_point") or {}).items()},
        "failing": summary.get("failing"),
        "high_risk_failing": len(summary.get("high_risk_failing") or []),
        "unreachable": doc.get("unreachable") or [],
        "waivers": {k: len((doc.get("waivers") or {}).get(k) or []) for k in ("used", "expired", "unused")},
        "report": (doc.get("files") or {}).get("report.json", {}).get("path"),
    }


def _load_history(directory):
    records = []
    for path in sorted(directory.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("id"):
                records.append(data)
    return records


def _file_entry(path, base):
    return {
        "path": str(path),
        "name": str(path.relative_to(base)),
        "sha256": render.sha256(path),
        "bytes": path.stat().st_size,
    }


def write_reports(op, args, catalogue, out, compliance):
    """Write report.json, junit.xml, report.html/.pdf and the history record; return report.json's content."""
    _cat, _ev, _wv, rep = utils()
    record = op.record("running")
    run = {
        "id": op.id,
        "started_at": record["ts"],
        "user": record["user"],
        "control_node": record["control_node"],
        "command": record["argv"],
        "inventory": record["inventory"],
        "limit": op.limit,
        "check": op.check,
        "fix": bool(args.fix),
        "run_dir": str(op.run_dir),
    }
    findings = op.report.get("findings") or {}
    findings = {k: v for k, v in findings.items() if isinstance(v, dict) and v.get("clause")}
    doc = rep.report_document(findings, compliance, run, catalogue)
    doc["catalogue"]["sha256"] = render.sha256(catalogue["path"])
    history_dir = out / "history"
    history_dir.mkdir(parents=True, exist_ok=True)
    current = rep.history_record(doc)
    doc["trend"] = rep.trend(current, _load_history(history_dir))
    doc["waivers"]["expiring"] = rep.expiring_waivers(doc["waivers"], compliance.get("today") or datetime.date.today())
    if args.waivers:
        doc["waivers"]["sha256"] = render.sha256(Path(args.waivers).expanduser().resolve())
    files = {}
    for path in sorted((out / "evidence").glob("*.json")):
        files[f"evidence/{path.name}"] = _file_entry(path, out)
    junit = out / "junit.xml"
    _atomic(junit, rep.junit_xml(doc))
    files["junit.xml"] = _file_entry(junit, out)
    context = html_context(doc, catalogue)
    html_path = out / "report.html"
    _atomic(html_path, render.html("compliance/report.html.j2", dict(context, pdf=False)))
    files["report.html"] = _file_entry(html_path, out)
    if not args.no_pdf:
        pdf_path = out / "report.pdf"
        tmp = pdf_path.with_name(f".{pdf_path.name}.tmp-{os.getpid()}")
        render.pdf(render.html("compliance/report.html.j2", dict(context, pdf=True)), tmp)
        os.replace(tmp, pdf_path)
        files["report.pdf"] = _file_entry(pdf_path, out)
    doc["files"] = files
    report_path = out / "report.json"
    _atomic(report_path, json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    files["report.json"] = _file_entry(report_path, out)
    current["report_sha256"] = files["report.json"]["sha256"]
    _atomic(history_dir / f"{op.id}.json", json.dumps(current, ensure_ascii=False, indent=1) + "\n")
    old = sorted(history_dir.glob("*.json"))
    for path in old[:-HISTORY_KEEP]:
        path.unlink()
    for name, entry in files.items():
        kind = "evidence" if name.startswith("evidence/") else "report"
        op.file(entry["path"], kind, sha256=entry["sha256"], bytes=entry["bytes"], host="control-node")
    doc["files"] = files
    return doc


def _atomic(path, text):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


LABELS = {
    "pass": ("符合", "pass"),
    "partial": ("部分符合", "partial"),
    "fail": ("不符合", "fail"),
    "na": ("不适用", "not applicable"),
    "manual": ("人工核查", "manual check"),
    "error": ("检查错误", "check error"),
    "warn": ("注意", "warning"),
    "waived": ("豁免", "waived"),
}
STATUS_ORDER = ("pass", "partial", "fail", "error", "manual", "na", "warn", "waived")


def html_context(doc, catalogue):
    """What templates/compliance/report.html.j2 renders."""
    from followup_ops.render import charts

    _cat, _ev, _wv, rep = utils()
    summary = doc["summary"]
    rows = doc["findings"]
    points = catalogue["control_points"]
    hosts = sorted(summary.get("per_host") or {})
    score_text = "-" if summary.get("score") is None else f"{summary['score']}%"
    trend_runs = (doc.get("trend") or {}).get("runs") or []
    trend_chart = (
        charts.line_chart(
            [str(r.get("ts") or "")[:10] for r in trend_runs],
            [r.get("score") for r in trend_runs],
            title="得分趋势 score per run",
            unit="%",
            top=100,
        )
        if len(trend_runs) > 1
        else None
    )
    host_chart = (
        charts.bar_chart(
            hosts,
            [(summary["per_host"][h] or {}).get("score") for h in hosts],
            title="各主机得分 score per host",
            unit="%",
            top=100,
        )
        if hosts
        else None
    )
    # An unreachable host's controls are all 检查错误 for one reason: one line per host, not one row per control.
    unreachable = {}
    for row in rows:
        if row["host"] in (doc.get("unreachable") or []):
            entry = unreachable.setdefault(row["host"], {"controls": 0, "reason": row.get("actual")})
            entry["controls"] += 1
    by_host = {}
    for row in rows:
        if row["host"] not in unreachable:
            by_host.setdefault(row["host"], []).append(row)
    for host_rows in by_host.values():
        host_rows.sort(key=lambda r: (rep.SEVERITY.get(r["status"], 9) if not r.get("waived") else 7, r["control"]))
    per_point = []
    for name, info in (summary.get("per_control_point") or {}).items():
        per_point.append(
            {
                "name": name,
                "en": (points.get(name) or {}).get("en"),
                "clause": (points.get(name) or {}).get("clause"),
                **info,
            }
        )
    meta = [
        ("系统 System", "人工智能医院随访系统 V1.0 patient follow-up system"),
        ("标准 Standard", "GB/T 22239-2019 第三级 level 3 (§8.1.4, §8.1.5.4); GB/T 28448-2019"),
        ("控制目录 Catalogue", f"{doc['catalogue'].get('id')} {doc['catalogue'].get('version')}"),
        ("清单 Inventory", doc["run"].get("inventory")),
        ("运行 Run", f"{doc['run'].get('id')} ({doc['run'].get('user')}@{doc['run'].get('control_node')})"),
        ("主机 Hosts", ", ".join(h for h in hosts if h != "control-node")),
        ("得分 Score", f"{score_text} (部分符合计 0.5 partial counts {summary.get('partial_weight')})"),
        ("结论 Result", "符合 compliant" if summary.get("compliant") else "不符合 non-compliant"),
    ]
    if doc.get("controls_selected"):
        meta.append(("检查范围 Controls", ", ".join(doc["controls_selected"])))
    return {
        "title": "等保 2.0 第三级 合规检查报告",
        "subtitle": "MLPS 2.0 level 3 compliance check report",
        "running_header": "等保合规检查报告 compliance report",
        "meta": meta,
        "doc": doc,
        "summary": summary,
        "score_text": score_text,
        "labels": LABELS,
        "status_order": STATUS_ORDER,
        "failures": [r for r in rep.failures_first(rows) if r["host"] not in unreachable],
        "unreachable": unreachable,
        "manual_rows": [r for r in rows if r["status"] in ("manual", "na") and not r.get("waived")],
        "waived_rows": [r for r in rows if r.get("waived")],
        "by_host": by_host,
        "hosts": hosts,
        "per_point": per_point,
        "trend": doc.get("trend") or {},
        "trend_chart": trend_chart,
        "host_chart": host_chart,
        "signatures": ["信息科 IT department", "运维工程师 Operations engineer", "测评人员 Assessor"],
        "seal": False,
    }


def render_text(doc, out):
    summary = doc["summary"]
    lines = []
    rows = []
    for host, info in sorted((summary.get("per_host") or {}).items()):
        counts = info.get("counts") or {}
        rows.append(
            [host, "-" if info.get("score") is None else f"{info['score']}%"] + [counts.get(s, 0) for s in STATUS_ORDER]
        )
    headers = ["主机 Host", "得分 Score"] + [f"{LABELS[s][0]}" for s in STATUS_ORDER]
    lines += table(headers, rows, align="<>" + ">" * len(STATUS_ORDER))
    failing = _failing_rows(doc)
    if failing:
        lines.append("")
        lines.append(f"不符合与检查错误 failing ({len(failing)}), 高风险在前 high risk first:")
        _cat, _ev, _wv, rep = utils()
        for row in rep.failures_first(doc["findings"])[:15]:
            lines.append(
                f"  {row['status_zh']:<4} {row['risk']} {row['host']:<12} {row['control']:<11} {row['title_zh']}: "
                f"{row['actual'][:100]}"
            )
        if len(failing) > 15:
            lines.append(f"  ... {len(failing) - 15} more in {out / 'report.html'}")
    waivers = doc.get("waivers") or {}
    if waivers.get("expired"):
        lines.append(
            "已过期的豁免 expired waivers (no longer counted): "
            + ", ".join(f"{w['control']}@{w['host']} ({w['expiry']})" for w in waivers["expired"])
        )
    trend = doc.get("trend") or {}
    if trend.get("previous"):
        lines.append(
            f"与上次 {trend['previous']['id']} 相比 since the last run: {trend.get('score_change', 0):+} points, "
            f"{len(trend.get('new_failures') or [])} new failures, {len(trend.get('fixed') or [])} fixed"
        )
    score = "-" if summary.get("score") is None else f"{summary['score']}%"
    verdict = "符合 compliant" if summary.get("compliant") else "不符合 non-compliant"
    lines.append(
        f"compliance: {verdict}, score {score} over {summary.get('counted')} counted findings "
        f"({summary.get('controls')} controls × {len([h for h in summary.get('hosts') or [] if h != 'control-node'])} "
        f"hosts); reports in {out}: report.json junit.xml report.html"
        + (" report.pdf" if "report.pdf" in (doc.get("files") or {}) else "")
    )
    return "\n".join(lines)


# --- validate --------------------------------------------------------------------------------------------------------
class Validate:
    """`compliance validate`: the catalogue, a waivers file and an inventory's parameter overrides, nothing else."""

    def register(self, sub):
        parser = sub.add_parser(
            "validate",
            help="validate the control catalogue, a waivers file and an inventory's parameters (no host is asked)",
            description="Load controls/djbh-l3.yml with its strict validator, then the waivers file and the "
            "followup_djbh_parameters / _group_parameters / _host_parameters of every host of the inventory, and "
            "print the catalogue's counts. Exit 1 with one line naming the problem.",
        )
        parser.add_argument("--waivers", metavar="FILE", help="waivers file to validate")
        parser.add_argument("-i", "--inventory", metavar="INVENTORY", help="inventory whose parameters to validate")
        parser.add_argument("--vault-password-file", metavar="FILE", help="the inventory's vault password file")
        parser.set_defaults(func=self.execute)
        return parser

    def execute(self, args):
        cat, _ev, wv, _rep = utils()
        try:
            catalogue = cat.load()
            waivers = wv.load(str(Path(args.waivers).expanduser().resolve()), catalogue) if args.waivers else []
        except (cat.CatalogueError, wv.WaiverError) as err:
            raise OpsError(str(err)) from None
        checked = 0
        if args.inventory:
            path = inventory.resolve(args.inventory)
            vault = inventory.vault_password_file(path, args.vault_password_file)
            manager, variables = inventory.load_vars(path, vault)
            from ansible.template import Templar

            for host in manager.get_hosts():
                hostvars = variables.get_vars(host=host)
                templar = Templar(loader=variables._loader, variables=hostvars)
                overrides = [
                    templar.template(hostvars.get(name) or {})
                    for name in (
                        "followup_djbh_parameters",
                        "followup_djbh_group_parameters",
                        "followup_djbh_host_parameters",
                    )
                ]
                try:
                    cat.effective_parameters(catalogue, *overrides)
                    cat.host_targets(
                        catalogue,
                        [g.name for g in host.get_groups()],
                        templar.template(hostvars.get("followup_djbh_targets")),
                    )
                except cat.CatalogueError as err:
                    raise OpsError(f"{path.name}/{host.name}: {err}") from None
                checked += 1
        counts = cat.summary(catalogue)
        print(
            f"controls/djbh-l3.yml {counts['version']}: {counts['controls']} controls "
            f"({', '.join(f'{k} {v}' for k, v in sorted(counts['per_target'].items()))}; "
            f"{', '.join(f'{k} {v}' for k, v in sorted(counts['per_mode'].items()))}; "
            f"{counts['opt_in']} opt-in, {counts['lab_provable']} provable in the lab), "
            f"{len(catalogue['parameters'])} parameters: valid"
            + (f"; {len(waivers)} waivers valid" if args.waivers else "")
            + (f"; parameters of {checked} hosts valid" if args.inventory else "")
        )
        return EXIT_OK


# --- schedule (a systemd timer on the control node) ----------------------------------------------------------------
class Schedule(Command):
    name = "compliance-schedule"
    uses_inventory = False
    help = "install, show or remove the systemd timer that runs the compliance check on the control node"
    description = (
        "Writes followup-compliance.service (a oneshot running `followup-ops compliance -i INV --out DIR`, exit 4 "
        "counted as success: a non-compliant result is a result) and followup-compliance.timer (OnCalendar, "
        "Persistent=true) into /etc/systemd/system, reloads systemd and enables the timer. Needs root. --show prints "
        "the units, --remove disables and deletes them. See docs/compliance.md for AWX schedules instead."
    )

    def register(self, sub):
        parser = sub.add_parser("schedule", help=self.help, description=self.description)
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--install", action="store_true", help="write the units and enable the timer")
        group.add_argument("--remove", action="store_true", help="disable the timer and delete the units")
        group.add_argument("--show", action="store_true", help="print the units that --install would write")
        parser.add_argument("-i", "--inventory", metavar="INVENTORY", help="inventory to scan (for --install/--show)")
        parser.add_argument("--out", metavar="DIR", help="report directory of the scheduled runs")
        parser.add_argument("--waivers", metavar="FILE", help="waivers file the scheduled runs use")
        parser.add_argument("--vault-password-file", metavar="FILE", help="the inventory's vault password file")
        parser.add_argument(
            "--on-calendar",
            metavar="SPEC",
            default=DEFAULT_CALENDAR,
            help=f"systemd calendar expression (default '{DEFAULT_CALENDAR}', daily at 02:30)",
        )
        parser.add_argument("--unit-dir", metavar="DIR", default="/etc/systemd/system", help=argparse_suppress())
        parser.add_argument("--no-enable", action="store_true", help="write the units only (no systemctl)")
        parser.set_defaults(func=self.execute)
        return parser

    def inventory(self, args):
        return None, None

    def details(self, args):
        return {
            "action": "install" if args.install else "remove" if args.remove else "show",
            "on_calendar": args.on_calendar,
            "out": args.out,
        }

    def execute(self, args):
        self.units = self.make_units(args) if not args.remove else None
        if args.show:
            for name, text in self.units.items():
                print(f"# {Path(args.unit_dir) / name}\n{text}")
            return EXIT_OK
        return super().execute(args)

    @staticmethod
    def make_units(args):
        cat, _ev, wv, _rep = utils()
        if not args.inventory or not args.out:
            raise OpsError("compliance schedule --install needs -i INVENTORY and --out DIR")
        path = inventory.resolve(args.inventory)
        vault = inventory.vault_password_file(path, args.vault_password_file)
        out = _out_dir(args.out)
        if args.waivers:
            try:
                wv.load(str(Path(args.waivers).expanduser().resolve()), cat.load())
            except (cat.CatalogueError, wv.WaiverError) as err:
                raise OpsError(str(err)) from None
        check_calendar(args.on_calendar)
        exe = repo_root() / ".venv" / "bin" / "followup-ops"
        command = [
            str(exe if exe.exists() else Path(sys.argv[0]).resolve()),
            "compliance",
            "-i",
            str(path),
            "--out",
            str(out),
        ]
        if args.waivers:
            command += ["--waivers", str(Path(args.waivers).expanduser().resolve())]
        env = f"Environment={inventory.VAULT_ENV}={vault}\n" if vault and not inventory.is_lab(path) else ""
        service = (
            "# Written by `followup-ops compliance schedule --install`: the scheduled 等保 compliance check.\n"
            "[Unit]\n"
            "Description=followup-ops 等保 compliance check (read-only)\n"
            "After=network-online.target\nWants=network-online.target\n\n"
            "[Service]\nType=oneshot\n"
            f"WorkingDirectory={repo_root()}\n"
            f"{env}"
            f"ExecStart={' '.join(shlex.quote(c) for c in command)}\n"
            "# 4: non-compliant findings, a result rather than a failure of the check\n"
            "SuccessExitStatus=4\n"
            "Nice=10\n"
        )
        timer = (
            "# Written by `followup-ops compliance schedule --install`.\n"
            "[Unit]\nDescription=followup-ops 等保 compliance check schedule\n\n"
            f"[Timer]\nOnCalendar={args.on_calendar}\nPersistent=true\nRandomizedDelaySec=10min\n"
            f"Unit={TIMER_NAME}.service\n\n"
            "[Install]\nWantedBy=timers.target\n"
        )
        return {f"{TIMER_NAME}.service": service, f"{TIMER_NAME}.timer": timer}

    def run(self, op, args):
        unit_dir = Path(args.unit_dir)
        with op.local("units"):
            if args.install:
                unit_dir.mkdir(parents=True, exist_ok=True)
                for name, text in self.units.items():
                    path = unit_dir / name
                    _atomic(path, text)
                    path.chmod(0o644)
                    op.file(path, "systemd-unit", sha256=render.sha256(path), host="control-node")
                if not args.no_enable:
                    _systemctl("daemon-reload")
                    _systemctl("enable", "--now", f"{TIMER_NAME}.timer")
            else:
                if not args.no_enable:
                    _systemctl("disable", "--now", f"{TIMER_NAME}.timer", check=False)
                for name in (f"{TIMER_NAME}.service", f"{TIMER_NAME}.timer"):
                    with contextlib.suppress(FileNotFoundError):
                        (unit_dir / name).unlink()
                if not args.no_enable:
                    _systemctl("daemon-reload")
        self.done = "installed" if args.install else "removed"

    def render(self, op, args):
        where = Path(args.unit_dir)
        if self.done == "installed":
            print(
                f"compliance schedule: {TIMER_NAME}.timer ({args.on_calendar}) written to {where}"
                + ("" if args.no_enable else " and enabled; `systemctl list-timers followup-compliance.timer`")
            )
        else:
            print(f"compliance schedule: {TIMER_NAME}.timer and .service removed from {where}")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def check_calendar(spec):
    if not spec or "\n" in spec or not re.match(r"^[\w*:,./~ -]+$", spec):
        raise OpsError(f"--on-calendar {spec!r} is not a systemd calendar expression, e.g. '*-*-* 02:30:00' or 'Mon'")
    tool = shutil.which("systemd-analyze")
    if tool:
        proc = subprocess.run([tool, "calendar", spec], capture_output=True, text=True)
        if proc.returncode != 0:
            reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[:1]
            raise OpsError(f"--on-calendar {spec!r} is not valid ({' '.join(reason)}): e.g. '*-*-* 02:30:00'")


def _systemctl(*argv, check=True):
    if os.geteuid() != 0:
        raise OpsError("installing the timer needs root: run `sudo followup-ops compliance schedule --install ...`")
    proc = subprocess.run(["systemctl", *argv], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise OpsError(f"systemctl {' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


VALIDATE = Validate()
SCHEDULE = Schedule()
COMMAND = Compliance()
