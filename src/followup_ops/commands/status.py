"""`followup-ops status`: what runs where, how old it is, and whether it is healthy — at a glance."""

import json

from followup_ops import report as reportmod
from followup_ops.commands.common import Command
from followup_ops.paths import runs_dir
from followup_ops.textui import table


class Status(Command):
    name = "status"
    help = "per host and component: deployed release, its age, newest release, service state and health"
    description = (
        "Read-only: asks every host what it runs (releases, services, health checks, as the roles registered them) "
        "and compares it with the inventory's signed release index. Changes nothing on any host. Exits 1 when a "
        "host does not answer, a service is down or a health check fails, 4 when a running release is more than 90 "
        "days old while a newer one exists (R-CURRENT)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def run(self, op, args):
        op.quiet = not args.verbose
        if not args.json:
            print(f"status: asking the hosts of {op.inventory.name} (read-only) ...", flush=True)
        # Where the upgrades keep their record of the newest release index verified (a replayed index is refused).
        records = {"followup_upgrade_records_dir": str(runs_dir() / "upgrade")}
        op.playbook("status", "status.yml", partial=True, extravars=records)
        for host in sorted(op.failed_hosts):
            fid = f"{host}/reach"
            if fid not in op.report["findings"]:
                op.finding(
                    fid,
                    control="reach",
                    host=host,
                    status="error",
                    title="主机可达 host reachable",
                    actual="did not answer",
                    expected="answers over SSH",
                    evidence="status.yml",
                )
        return judge(op)

    def render(self, op, args):
        data = op.report.get("data") or {}
        if args.json:
            print(
                json.dumps(
                    {
                        "generated_at": op.record()["ts"],
                        "releases": data.get("releases") or {},
                        "hosts": rows(data),
                        "findings": reportmod.findings(op.report),
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            print(render_table(op.report))


def rows(data):
    """One row per host and component (database hosts: one row without a component)."""
    out = []
    for host, row in sorted((data.get("status") or {}).items()):
        base = {
            "host": host,
            "reachable": row.get("reachable", False),
            "services": row.get("services") or {},
            "health": row.get("health"),
        }
        if not row.get("reachable"):
            out.append(dict(base, component=None, error=row.get("error")))
            continue
        components = row.get("components") or {}
        if not components:
            out.append(dict(base, component=None))
        for name, info in sorted(components.items()):
            cur = info.get("currency") or {}
            out.append(
                dict(
                    base,
                    component=name,
                    version=info.get("version"),
                    release_date=info.get("release_date") or cur.get("release_date"),
                    installed_at=info.get("installed_at"),
                    age_days=cur.get("age_days"),
                    newest_version=cur.get("newest_version"),
                    currency=cur.get("status"),
                    days_over=cur.get("days_over"),
                    currency_message=cur.get("message_zh"),
                )
            )
    return out


_HEALTH = {True: "正常 OK", False: "异常 FAIL"}


def render_table(report):
    data = report.get("data") or {}
    lines_rows = []
    for row in rows(data):
        if not row["reachable"]:
            lines_rows.append([row["host"], "-", "-", "-", "-", "-", "不可达 UNREACHABLE", row.get("error") or ""])
            continue
        health = row.get("health")
        down = [u for u, s in row["services"].items() if s != "active"]
        health_text = (
            "-" if not health and not row["services"] else _HEALTH[bool((health or {}).get("ok", True)) and not down]
        )
        newest = row.get("newest_version") or "-"
        if row.get("version") and row.get("newest_version") and row["version"] != row["newest_version"]:
            newest += " *"
        age = row.get("age_days")
        lines_rows.append(
            [
                row["host"],
                row.get("component") or "-",
                row.get("version") or "-",
                row.get("release_date") or "-",
                "-" if age is None else age,
                newest,
                health_text,
                ", ".join(f"{k}:{v}" for k, v in row["services"].items()) or "-",
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
    lines = table(headers, lines_rows, align="<<<<><<<")
    all_rows = rows(data)
    if any(r.get("newest_version") and r.get("version") and r["version"] != r["newest_version"] for r in all_rows):
        lines.append("* 有更新的版本可用 a newer release is available")
    for finding in reportmod.findings(report):
        if finding["status"] in ("pass",):
            continue
        text = finding.get("message_zh")
        detail = f"{text} / {finding.get('actual')}" if text else finding.get("actual")
        lines.append(f"! {finding['host']} {reportmod.status_label(finding['status'])}: {finding['title']}: {detail}")
    releases = data.get("releases") or {}
    signer = releases.get("signer")
    if signer:
        who = signer.get("principal", signer) if isinstance(signer, dict) else signer
        lines.append(f"  版本目录签名 release index signed by {who}")
    return "\n".join(lines)


def judge(op):
    """1 when something does not answer or is down, 4 when a release is too old (R-CURRENT), else 0."""
    findings = reportmod.findings(op.report)
    down = sorted(
        {f["host"] for f in findings if f["control"] in ("reach", "health") and f["status"] in ("fail", "error")}
    )
    if down:
        op.conclude("failed", f"unhealthy or unreachable: {', '.join(down)} (see the table)")
        return op.exit_code
    index = [f for f in findings if f["control"] == "release-index"]
    if index:
        op.conclude("failed", f"the release index could not be verified: {index[0]['actual']}")
        return op.exit_code
    stale = [f for f in findings if f["control"] == "currency" and f["status"] in ("fail", "error")]
    if stale:
        parts = [f"{f['host']}/{f.get('component')} ({f['actual']})" for f in stale]
        op.conclude("noncompliant", "R-CURRENT: " + "; ".join(parts))
        return op.exit_code
    return None


COMMAND = Status()
