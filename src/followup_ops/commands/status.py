"""`followup-ops status`: what runs where, how old it is, and whether it is healthy — at a glance."""

import json
import sys
from datetime import UTC, date, datetime

from followup_ops import runner
from followup_ops.commands.common import add_inventory_options, resolve_inventory
from followup_ops.errors import EXIT_ERROR, EXIT_NONCOMPLIANT, EXIT_OK
from followup_ops.textui import table

# R-CURRENT: the running release may not fall more than this many days behind the newest one.
MAX_BEHIND_DAYS = 90


def add_parser(sub):
    parser = sub.add_parser(
        "status",
        help="per host and component: deployed release, its age, newest release, service state and health",
        description="Read-only: asks every host what it runs (release, services, health check) and compares it "
        "with the inventory's release repository. Changes nothing on any host. Exits 1 when a service is down or a "
        "health check fails, 4 when a running release is more than 90 days behind the newest one.",
    )
    add_inventory_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")
    parser.set_defaults(func=cmd_status)


def _age_days(day, today):
    if not day:
        return None
    return (today - date.fromisoformat(str(day))).days


def build_report(result, today=None):
    """Turn the status playbook's module results into rows (one per host and component)."""
    today = today or datetime.now(UTC).date()
    releases = []
    rows = []
    for host, action, res in result.results:
        if action == "followup_release_check":
            releases = res.get("releases") or []
            continue
        st = res.get("status") or {}
        rows.append({"host": host, **st})
    newest = releases[-1] if releases else None
    dates = {r["version"]: r["release_date"] for r in releases}
    for row in rows:
        version = row.setdefault("version", None)
        row["release_date"] = row.get("release_date") or dates.get(version)
        row["age_days"] = _age_days(row.get("release_date"), today)
        is_component = bool(row.get("component"))
        row["newest_version"] = newest["version"] if newest and is_component else None
        row["newest_release_date"] = newest["release_date"] if newest and is_component else None
        behind = None
        if newest and version and version != newest["version"]:
            behind = _age_days(newest["release_date"], today)
        row["days_newest_available"] = behind
        row["behind_limit_exceeded"] = bool(behind is not None and behind > MAX_BEHIND_DAYS)
    rows.sort(key=lambda r: (r["host"], r.get("component") or ""))
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "releases": releases, "hosts": rows}


def render_table(report):
    rows = []
    for row in report["hosts"]:
        services = ", ".join(f"{k}:{v}" for k, v in (row.get("services") or {}).items()) or "-"
        health = row.get("health") or {}
        health_text = (
            "-" if not health else ("正常 OK" if health.get("ok") else f"异常 FAIL: {health.get('detail', '')}")
        )
        newest = row.get("newest_version") or "-"
        if row.get("version") and row.get("newest_version") and row["version"] != row["newest_version"]:
            newest += " *"
        age = row.get("age_days")
        rows.append(
            [
                row["host"],
                row.get("component") or "-",
                row.get("version") or "-",
                row.get("release_date") or "-",
                "-" if age is None else age,
                newest,
                health_text,
                services,
            ]
        )
    headers = [
        "主机 Host",
        "组件 Component",
        "版本 Version",
        "发布日期 Released",
        "天数 Age",
        "最新 Newest",
        "健康 Health",
        "服务 Services",
    ]
    lines = table(headers, rows, align="<<<<><<<")
    if any(
        r.get("newest_version") and r.get("version") and r["version"] != r["newest_version"] for r in report["hosts"]
    ):
        lines.append("* 有更新的版本可用 a newer release is available")
    for row in report["hosts"]:
        if row.get("behind_limit_exceeded"):
            days = row["days_newest_available"]
            lines.append(
                f"! {row['host']} {row.get('component')}: 最新版本已发布 {days} 天仍未更新 (限 {MAX_BEHIND_DAYS} 天) "
                f"newest release out {days} days, limit {MAX_BEHIND_DAYS}"
            )
    return "\n".join(lines)


def cmd_status(args):
    inventory, vault = resolve_inventory(args)
    if not args.json:
        print(f"status: asking the hosts of {inventory.name} (read-only) ...", flush=True)
    result = runner.run_playbook(
        "status",
        "status.yml",
        inventory,
        limit=args.limit,
        vault_password_file=vault,
        argv=args.argv,
        quiet=not args.verbose,
        watch=("followup_release_check", "followup_status"),
    )
    runner.raise_for_result(result)
    report = build_report(result)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render_table(report))
    return exit_code(report)


def exit_code(report):
    """1 when something is down (a failed health check or an inactive service), 4 when a release is more than
    90 days behind the newest (R-CURRENT, a compliance finding), else 0. The reason goes to stderr."""
    down = [
        r["host"]
        for r in report["hosts"]
        if (r.get("health") and not r["health"].get("ok"))
        or any(state != "active" for state in (r.get("services") or {}).values())
    ]
    if down:
        print(f"followup-ops: error: unhealthy: {', '.join(sorted(set(down)))} (see the table)", file=sys.stderr)
        return EXIT_ERROR
    stale = [f"{r['host']}/{r['component']}" for r in report["hosts"] if r.get("behind_limit_exceeded")]
    if stale:
        print(
            f"followup-ops: non-compliant: {', '.join(stale)} more than {MAX_BEHIND_DAYS} days "
            "behind the newest release",
            file=sys.stderr,
        )
        return EXIT_NONCOMPLIANT
    return EXIT_OK
