"""`followup-ops db optimize -i INV --window 02:00-04:00`: periodic database optimisation (定期数据库优化, R-DB).

Runs playbooks/db_optimize.yml on the MySQL servers: analyses (read-only) the tables, their statistics and indexes,
statement digests and the slow query log (as query shapes, never values); inside the window, and only where it is
worth it, refreshes statistics (ANALYZE TABLE) and rebuilds tables with much free space inside (OPTIMIZE TABLE),
starting nothing that would end after the window; reports before and after. Index changes are proposals for a
release's migrations, never applied. `--install-timer` puts it on a systemd timer of the control node (weekly by
default, at the window's start).
"""

import json
import os
from pathlib import Path

from followup_ops import render
from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.commands.fault import thresholds, utils
from followup_ops.commands.inspect import schedule, timer_name
from followup_ops.errors import OpsError
from followup_ops.operation import StepFailed
from followup_ops.paths import repo_root, runs_dir
from followup_ops.textui import table

ACTION_ZH = {"analyze": "更新统计信息 ANALYZE", "rebuild": "重建表 OPTIMIZE"}


def optimize_utils():
    import ansible.module_utils

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_optimize

    return followup_optimize


def previous_run(inventory):
    """The end of the newest finished optimisation of INVENTORY (slow log entries after it are new), or None."""
    records, _ = utils()
    entries, _ = records.read_audit(runs_dir())
    for record in reversed(records.for_inventory(entries, inventory)):
        if record["command"] == "db-optimize" and record["outcome"] == "ok" and not record["check"]:
            return records.iso(record["end"])
    return None


class Optimize(Command):
    name = "db-optimize"
    help = "periodic database optimisation: statistics and rebuilds inside a window, index changes proposed"
    description = (
        "Analyses the MySQL servers read-only (table sizes and free space, statistics, indexes, statement digests, "
        "the slow query log as query shapes) and, inside --window (the hospital's time) and only where worth it, "
        "refreshes statistics (ANALYZE TABLE) and rebuilds fragmented tables (OPTIMIZE TABLE), none that would end "
        "after the window. Reports before and after. Index changes are proposed for a release's migrations, never "
        "applied. Settings: followup_optimize_thresholds in the inventory."
    )
    interrupt_hint = "run it again inside the window: it finishes what is still worth doing"

    def register(self, sub):
        parser = sub.add_parser("optimize", help=self.help, description=self.description)
        add_inventory_options(parser, limit=True)
        parser.add_argument(
            "--window",
            required=True,
            metavar="HH:MM-HH:MM",
            help="the maintenance window in the hospital's time, e.g. 02:00-04:00",
        )
        parser.add_argument(
            "--analyse-only",
            "--analyze-only",
            dest="analyse_only",
            action="store_true",
            help="analyse and plan only: change nothing even inside the window",
        )
        parser.add_argument("--check", action="store_true", help="dry run: plan, change nothing")
        parser.add_argument("--out", metavar="DIR", help="write the report here (default: the run's directory)")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")
        parser.add_argument(
            "--install-timer",
            action="store_true",
            help="install a systemd timer on this control node that runs this optimisation, then exit",
        )
        parser.add_argument("--remove-timer", action="store_true", help="remove that timer, then exit")
        parser.add_argument(
            "--on-calendar",
            metavar="SPEC",
            help="when the timer runs (systemd OnCalendar; default Sundays at the window's start)",
        )
        parser.set_defaults(func=self.execute)
        return parser

    def details(self, args):
        if args.install_timer or args.remove_timer:
            return {"timer": timer_name("db-optimize", args.inventory), "window": args.window}
        return {"window": args.window, "analyse_only": bool(args.analyse_only)}

    def execute(self, args):
        try:
            optimize_utils().parse_window(args.window)
        except ValueError as err:
            raise OpsError(f"--window: {err}") from err
        if args.install_timer and not args.on_calendar:
            args.on_calendar = f"Sun *-*-* {args.window.split('-')[0]}:00"
        self.changes_hosts = not (args.analyse_only or args.install_timer or args.remove_timer)
        return super().execute(args)

    def run(self, op, args):
        if args.install_timer or args.remove_timer:
            words = ["db", "optimize", "--window", args.window]
            return schedule(op, args, "db-optimize", words, "数据库优化 followup-ops database optimisation")
        op.quiet = not args.verbose
        levels = thresholds(op.inventory)
        extravars = {"followup_optimize_window": args.window, "followup_optimize_timezone": levels["timezone"]}
        if args.analyse_only:
            extravars["followup_optimize_analyse_only"] = True
        since = previous_run(op.inventory)
        if since:
            extravars["followup_optimize_since"] = since
        print(f"db optimize: the MySQL servers of {op.inventory.name}, window {args.window} ...", flush=True)
        # The reporting play runs on the control node: a --limit must not leave it out.
        limit = f"{args.limit},localhost" if getattr(args, "limit", None) else None
        op.playbook("optimize", "db_optimize.yml", extravars=extravars, limit=limit)
        results = ((op.report.get("data") or {}).get("optimize") or {}).get("results") or []
        if not results:
            raise StepFailed(f"db_optimize.yml reported nothing (no host in group mysql?): see {op.run_dir}")
        self.results = results
        out = Path(args.out).resolve() if args.out else op.run_dir
        with op.local("render"):
            out.mkdir(parents=True, exist_ok=True)
            json_path = out / "optimize.json"
            tmp = json_path.with_name(f".optimize.json.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
            os.replace(tmp, json_path)
            paths = render.write("optimize/report.html.j2", context(results, args, op), out, "optimize")
        self.paths = [json_path, paths["html"], paths["pdf"]]
        for path in self.paths:
            op.file(path, "optimize", sha256=render.sha256(path), bytes=path.stat().st_size, host="control-node")
        op.details.update(
            inside=[r["host"] for r in results if r["optimize"]["window"]["inside"]],
            done=sum(len([a for a in r["optimize"]["actions"] if a.get("done")]) for r in results),
            skipped=sum(len(r["optimize"]["skipped"]) for r in results),
            proposals=sum(sum(len(v) for v in r["optimize"]["proposals"].values()) for r in results),
            report=str(paths["pdf"]),
        )

    def render(self, op, args):
        if args.install_timer or args.remove_timer:
            return
        lines = []
        for r in self.results:
            o = r["optimize"]
            w = o["window"]
            where = (
                f"inside the window ({w['minutes_left']} min left)"
                if w["inside"]
                else f"outside the window (local {w['local_time']})"
            )
            lines.append(f"{r['host']}: {where}")
            rows = [
                [
                    a["table"],
                    ACTION_ZH[a["action"]],
                    "done" if a.get("done") else ("would" if a.get("would") else "failed"),
                    a.get("seconds", "-"),
                    a.get("result") or a["reason"],
                ]
                for a in o["actions"]
            ]
            rows += [[a["table"], ACTION_ZH[a["action"]], "skipped", "-", a["skipped"]] for a in o["skipped"]]
            if rows:
                lines += ["  " + x for x in table(["表 Table", "操作 Action", "结果", "s", "说明 Detail"], rows)]
            else:
                lines.append("  没有值得做的优化 nothing is worth doing")
            p = o["proposals"]
            lines.append(
                f"  建议（供版本迁移采纳，未执行）proposals for a release, not applied: {len(p['indexes'])} index, "
                f"{len(p['redundant'])} redundant, {len(p['unused'])} unused"
            )
            for note in o.get("notes") or []:
                lines.append(f"  注意 note: {note}")
        lines.append("报告 report: " + ", ".join(str(x) for x in self.paths))
        print("\n".join(lines))


def context(results, args, op):
    return {
        "title": "数据库优化报告",
        "subtitle": "Database optimisation report · 人工智能医院随访系统 V1.0",
        "running_header": f"数据库优化 {op.inventory.name}",
        "meta": [
            ("环境 Inventory", op.inventory.name),
            ("维护窗口 Window", f"{args.window}（医院时间 hospital time）"),
            (
                "方式 Mode",
                "仅分析 analysis only" if args.analyse_only else "分析并在窗口内优化 analyse, act inside the window",
            ),
            ("运行记录 Run record", op.id),
        ],
        "results": results,
        "action_zh": ACTION_ZH,
        "signatures": ["执行 Done by（运维工程师）", "确认 Accepted by（信息科 IT department）"],
        "seal": False,
    }


ACTIONS = (Optimize(),)


def register(sub):
    parser = sub.add_parser(
        "db",
        help="database maintenance: optimize (statistics, rebuilds inside a window, index proposals)",
        description="Database maintenance of the MySQL servers (R-DB).",
    )
    db_sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(db_sub)
    return parser
