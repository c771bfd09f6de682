"""`followup-ops inspect`: the inspection (巡检) — what is wrong and where, in one read-only pass, in minutes.

Runs playbooks/inspect.yml (one collection module per host, judged on the control node against
inspection/thresholds.yml), prints a one-screen summary and writes inspection.json, .html and .pdf. Exit codes, as
`status` has them: 0 every item 正常; 1 any item 异常 (something down, unreachable, full, expired, stuck: act now);
4 nothing 异常 but some item 注意 (including R-CURRENT: a release more than 90 days behind, as `status` exits 4).
`--install-timer` puts the daily inspection on a systemd timer of the control node instead.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from followup_ops import render
from followup_ops.commands.common import Command
from followup_ops.errors import OpsError
from followup_ops.operation import StepFailed
from followup_ops.paths import repo_root, runs_dir
from followup_ops.textui import table

LEVEL = {
    "pass": "正常",
    "warn": "注意",
    "fail": "异常",
    "error": "异常",
    "na": "不适用",
}
LEVEL_EN = {"pass": "normal", "warn": "attention", "fail": "abnormal", "error": "not checked", "na": "n/a"}
ORDER = {"error": 0, "fail": 0, "warn": 1, "pass": 2, "na": 3}
SUMMARY_LINES = 14
DEFAULT_CALENDAR = "*-*-* 07:30:00"
SYSTEMD_DIR_ENV = "FOLLOWUP_OPS_SYSTEMD_DIR"


class Inspect(Command):
    name = "inspect"
    help = "inspection (巡检): every host and component judged 正常/注意/异常 against thresholds, read-only"
    description = (
        "Read-only, one pass per host: CPU, memory, load, disks and inodes with their growth, services and health, "
        "error lines of the journal since the last inspection, certificate expiry, time sync, the databases "
        "(connections, slow queries, replication, lock waits, buffer pool, largest tables), the interface "
        "service's backlog and last exchange, the voice gateway's trunks and today's calls, and from this control "
        "node's records the newest backup, drill and 等保 score, and the release currency. Each item is 正常, 注意 "
        "or 异常 against inspection/thresholds.yml (followup_inspection_thresholds in the inventory overrides it). "
        "Writes inspection.json, inspection.html and inspection.pdf. Exits 0 when every item is 正常, 1 when any is "
        "异常, 4 when some are 注意 and none 异常. --install-timer runs it daily from a systemd timer instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", metavar="DIR", help="write the report here (default: the run's directory)")
        parser.add_argument("--json", action="store_true", help="print the report's JSON instead of the summary")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")
        parser.add_argument(
            "--install-timer",
            action="store_true",
            help="install a systemd timer on this control node that runs this inspection (as root), then exit",
        )
        parser.add_argument("--remove-timer", action="store_true", help="remove that timer, then exit")
        parser.add_argument(
            "--on-calendar",
            metavar="SPEC",
            default=DEFAULT_CALENDAR,
            help=f"when the timer runs (systemd OnCalendar; default '{DEFAULT_CALENDAR}', the hospital's morning)",
        )

    def details(self, args):
        if args.install_timer or args.remove_timer:
            return {"timer": timer_name("inspect", args.inventory), "on_calendar": args.on_calendar}
        return {"out": str(Path(args.out).resolve()) if args.out else None}

    def run(self, op, args):
        if args.install_timer or args.remove_timer:
            return schedule(op, args, "inspect", ["inspect"], "巡检 followup-ops inspection")
        op.quiet = not args.verbose
        if not args.json:
            print(f"inspect: asking the hosts of {op.inventory.name} (read-only) ...", flush=True)
        # The first and last plays run on the control node: a --limit must not leave them out.
        limit = f"{args.limit},localhost" if getattr(args, "limit", None) else None
        extravars = {"followup_inspection_runs_dir": str(runs_dir())}
        op.playbook("inspect", "inspect.yml", partial=True, limit=limit, extravars=extravars)
        data = (op.report.get("data") or {}).get("inspection")
        if not data:
            raise StepFailed(f"inspect.yml reported no inspection: see {op.run_dir}")
        out = Path(args.out).resolve() if args.out else op.run_dir
        with op.local("render"):
            files = write_report(op, out)
        counts = data.get("counts") or {}
        op.details.update(level=data.get("level"), counts=counts, report=str(files["pdf"]))
        op.details["abnormal"] = sorted(
            fid for fid, f in op.report["findings"].items() if f["status"] in ("fail", "error")
        )[:50]
        return judge(op)

    def render(self, op, args):
        if args.install_timer or args.remove_timer:
            return
        if args.json:
            print(json.dumps(report_json(op), ensure_ascii=False, indent=2))
        else:
            print(summary(op))


def findings_sorted(report):
    rows = list((report.get("findings") or {}).items())
    rows.sort(key=lambda kv: (ORDER.get(kv[1]["status"], 9), kv[1]["host"], kv[1]["control"], kv[0]))
    return rows


def to_act_on(findings):
    """The items to act on, 异常 first; an unanswered host's not-checked items are folded into its host.reach line."""
    unanswered = {f["host"] for f in findings if f["control"] == "host.reach" and f["status"] in ("fail", "error")}
    folded = {}
    rows = []
    for f in findings:
        if f["status"] not in ("fail", "error", "warn"):
            continue
        if f["host"] in unanswered and f["control"] != "host.reach":
            folded[f["host"]] = folded.get(f["host"], 0) + 1
            continue
        rows.append(dict(f))
    for row in rows:
        if row["control"] == "host.reach" and folded.get(row["host"]):
            row["actual"] = (
                f"{row['actual']}（其余 {folded[row['host']]} 项未能检查 {folded[row['host']]} more items not checked）"
            )
    return rows


def judge(op):
    findings = op.report.get("findings") or {}
    bad = [f for f in findings.values() if f["status"] in ("fail", "error")]
    warn = [f for f in findings.values() if f["status"] == "warn"]
    if bad:
        hosts = sorted({f["host"] for f in bad})
        op.conclude("failed", f"异常 abnormal: {len(bad)} item(s) on {', '.join(hosts)} (see the summary)")
    elif warn:
        hosts = sorted({f["host"] for f in warn})
        op.conclude("noncompliant", f"注意 attention: {len(warn)} item(s) on {', '.join(hosts)} (see the summary)")
    return op.exit_code


def report_json(op):
    data = (op.report.get("data") or {}).get("inspection") or {}
    return {
        "schema": 1,
        "operation": op.id,
        "inventory": str(op.inventory),
        "generated_at": data.get("generated_at"),
        "level": data.get("level"),
        "counts": data.get("counts"),
        "hosts": {h: {k: v for k, v in row.items() if k != "sample"} for h, row in (data.get("hosts") or {}).items()},
        "control": data.get("control"),
        "findings": dict(findings_sorted(op.report)),
    }


def write_report(op, out):
    out.mkdir(parents=True, exist_ok=True)
    payload = report_json(op)
    json_path = out / "inspection.json"
    tmp = json_path.with_name(f".{json_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, json_path)
    paths = render.write("inspection/report.html.j2", context(op, payload), out, "inspection")
    op.file(
        json_path, "inspection", sha256=render.sha256(json_path), bytes=json_path.stat().st_size, host="control-node"
    )
    for kind in ("html", "pdf"):
        path = paths[kind]
        op.file(path, "inspection", sha256=paths[f"{kind}_sha256"], bytes=path.stat().st_size, host="control-node")
    return {"json": json_path, **paths}


def context(op, payload):
    data = (op.report.get("data") or {}).get("inspection") or {}
    findings = [dict(f, id=fid) for fid, f in findings_sorted(op.report)]
    hosts = []
    for host, row in sorted((data.get("hosts") or {}).items()):
        items = [f for f in findings if f["host"] == host]
        hosts.append({"name": host, "row": row, "items": items, "figures": row.get("figures") or {}})
    control_items = [f for f in findings if f["host"] == "control-node"]
    level = data.get("level") or "na"
    return {
        "title": "系统巡检报告",
        "subtitle": "Inspection report · 人工智能医院随访系统 V1.0",
        "running_header": f"巡检报告 {op.inventory.name} {payload.get('generated_at') or ''}",
        "meta": [
            ("环境 Inventory", str(op.inventory.name)),
            ("巡检时间 Inspected at (UTC)", payload.get("generated_at") or "-"),
            ("时区 Local time zone", data.get("timezone") or "-"),
            ("主机 Hosts", ", ".join(h["name"] for h in hosts)),
            ("结论 Result", f"{LEVEL.get(level, level)} {LEVEL_EN.get(level, level)}"),
            ("运行记录 Run record", op.id or "-"),
        ],
        "levels": LEVEL,
        "levels_en": LEVEL_EN,
        "counts": data.get("counts") or {},
        "problems": to_act_on(findings),
        "hosts": hosts,
        "control_items": control_items,
        "signatures": ["巡检人 Inspector (运维工程师)", "信息科 IT department"],
        "seal": False,
    }


def summary(op):
    data = (op.report.get("data") or {}).get("inspection") or {}
    findings = findings_sorted(op.report)
    rows = []
    for host, row in sorted((data.get("hosts") or {}).items()):
        c = row.get("counts") or {}
        worst = [
            f["control"] + (f"({f['part']})" if f.get("part") else "")
            for _, f in findings
            if f["host"] == host and f["status"] in ("fail", "error")
        ]
        if not row.get("answered"):
            worst = ["未应答 did not answer"]
        level = row.get("level") or "na"
        rows.append(
            [
                host,
                f"{LEVEL[level]} {LEVEL_EN[level]}",
                c.get("pass", 0),
                c.get("warn", 0),
                c.get("fail", 0) + c.get("error", 0),
                ", ".join(worst)[:60] or "-",
            ]
        )
    control = [f for _, f in findings if f["host"] == "control-node"]
    if control:
        level = max((f["status"] for f in control), key=lambda s: 3 - ORDER.get(s, 3))
        rows.append(
            [
                "control-node",
                f"{LEVEL[level]} {LEVEL_EN[level]}",
                sum(f["status"] == "pass" for f in control),
                sum(f["status"] == "warn" for f in control),
                sum(f["status"] in ("fail", "error") for f in control),
                "-",
            ]
        )
    lines = table(["主机 Host", "结论 Result", "正常", "注意", "异常", "异常项 abnormal items"], rows, align="<<>>><")
    shown = 0
    problems = to_act_on([f for _, f in findings])
    for f in problems[:SUMMARY_LINES]:
        part = f" {f['part']}" if f.get("part") else ""
        mark = "-" if f["status"] == "warn" else "!"
        lines.append(f"{mark} {LEVEL[f['status']]} {f['host']} {f['control']}{part}: {_cut(f['actual'], 110)}")
        shown += 1
    if len(problems) > shown:
        lines.append(f"  … {len(problems) - shown} more in the report")
    counts = data.get("counts") or {}
    lines.append(
        f"巡检 inspection: {counts.get('pass', 0)} 正常, {counts.get('warn', 0)} 注意, "
        f"{counts.get('fail', 0) + counts.get('error', 0)} 异常, {counts.get('na', 0)} 不适用"
    )
    files = sorted(p for p, f in (op.report.get("files") or {}).items() if f.get("kind") == "inspection")
    if files:
        lines.append("报告 report: " + ", ".join(files))
    return "\n".join(lines)


def _cut(text, size):
    text = str(text or "")
    return text if len(text) <= size else text[: size - 1] + "…"


# -- timers on the control node ----------------------------------------------------------------------------------
def timer_name(kind, inventory):
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(str(inventory or "inventory")).resolve().name).strip("-") or "inventory"
    return f"followup-ops-{kind}-{slug}"


def timer_units(kind, words, inventory, vault_file, on_calendar, description):
    """{file name: text} of the .service and .timer that run `followup-ops WORDS -i INVENTORY` (as root)."""
    name = timer_name(kind, inventory)
    exe = shutil.which("followup-ops") or str(Path(sys.executable).with_name("followup-ops"))
    argv = [exe, *words, "-i", str(inventory)]
    if vault_file:
        argv += ["--vault-password-file", str(vault_file)]
    service = "\n".join(
        [
            "# Written by followup-ops --install-timer; remove with --remove-timer.",
            "[Unit]",
            f"Description={description} ({Path(str(inventory)).name})",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={repo_root()}",
            # 1 (异常) and 4 (注意) are results, not failures of the unit; the journal and runs/ keep them.
            "SuccessExitStatus=1 4",
            f"ExecStart={' '.join(shlex.quote(a) for a in argv)}",
            "",
        ]
    )
    timer = "\n".join(
        [
            "# Written by followup-ops --install-timer; remove with --remove-timer.",
            "[Unit]",
            f"Description={description}: timer ({Path(str(inventory)).name})",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar}",
            "Persistent=true",
            "RandomizedDelaySec=120",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def check_calendar(spec):
    if not spec or "\n" in spec or len(spec) > 200:
        raise OpsError(f"--on-calendar '{spec}' is not a systemd calendar spec: use e.g. '*-*-* 07:30:00' or 'daily'")
    tool = shutil.which("systemd-analyze")
    if tool:
        proc = subprocess.run([tool, "calendar", spec], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["not understood"])[-1]
            raise OpsError(f"--on-calendar '{spec}' is not a systemd calendar spec ({reason}): e.g. '*-*-* 07:30:00'")


def schedule(op, args, kind, words, description, extra_words=()):
    """Install or remove the timer of `followup-ops WORDS -i INV` (a local step of the operation)."""
    unit_dir = Path(os.environ.get(SYSTEMD_DIR_ENV) or "/etc/systemd/system")
    managed = SYSTEMD_DIR_ENV not in os.environ
    name = timer_name(kind, op.inventory)
    with op.local("timer"):
        if args.remove_timer:
            if managed:
                subprocess.run(["systemctl", "disable", "--now", f"{name}.timer"], capture_output=True, check=False)
            removed = []
            for suffix in (".timer", ".service"):
                path = unit_dir / f"{name}{suffix}"
                if path.exists():
                    path.unlink()
                    removed.append(str(path))
            if managed:
                subprocess.run(["systemctl", "daemon-reload"], capture_output=True, check=False)
            print(f"{kind}: timer {name} removed" if removed else f"{kind}: no timer {name} was installed")
            return None
        check_calendar(args.on_calendar)
        if not unit_dir.is_dir() or not os.access(unit_dir, os.W_OK):
            raise OpsError(f"{unit_dir} is not writable: install the timer as root (sudo followup-ops ...)")
        units = timer_units(
            kind, [*words, *extra_words], op.inventory, op.vault_password_file, args.on_calendar, description
        )
        for file_name, text in units.items():
            path = unit_dir / file_name
            tmp = path.with_name(f".{file_name}.tmp")
            tmp.write_text(text)
            tmp.chmod(0o644)
            os.replace(tmp, path)
            op.file(path, "timer", sha256=render.sha256(path), bytes=path.stat().st_size, host="control-node")
        if managed:
            for command in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{name}.timer"]):
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise OpsError(f"{' '.join(command)} failed: {proc.stderr.strip()[:200]}")
        print(f"{kind}: timer {name} installed ({args.on_calendar}); see `systemctl list-timers {name}.timer`")
    return None


COMMAND = Inspect()
