"""`followup-ops upgrade`: upgrade the follow-up system after the IT department's signed approval (docs/upgrade.md).

The approval names the release; playbooks/upgrade.yml verifies it before any host is touched (exit 2 with every
failed condition), pre-checks every host, takes a backup through the backup role, migrates, switches with a short
unavailability, checks health, and rolls back by itself after any failure once something changed (exit 3).
"""

from pathlib import Path

from followup_ops.commands.common import Command
from followup_ops.paths import runs_dir
from followup_ops.textui import table

STEP_LABELS = {
    "start": "开始 start (leases, approval recorded)",
    "install": "安装 install beside the live release",
    "freeze": "冻结写入 freeze writes",
    "backup": "备份 backup",
    "maintenance": "维护 maintenance",
    "migrate": "迁移 migrate",
    "sidecar": "并行启动 start beside the live one",
    "switch_voice": "切换语音 switch voice",
    "switch_app": "切换应用 switch app",
    "switch_fep": "切换接口 switch interface service",
    "health": "健康检查 health gate",
    "lift": "解除维护 lift maintenance",
    "done": "完成 done",
}


def upgrade_details(report, details):
    """What the audit record keeps of an upgrade (the quarterly report reads these, docs/reports.md)."""
    data = (report.get("data") or {}).get("upgrade") or {}
    gate = (report.get("gates") or {}).get("approval") or {}
    approval = data.get("approval") or {}
    if gate.get("id") or approval.get("id"):
        details["approval_id"] = approval.get("id") or gate.get("id")
    if approval:
        details["approval"] = {
            "id": approval.get("id"),
            "signer": (approval.get("signer") or {}).get("principal"),
            "approver": approval.get("approver"),
            "test_document": approval.get("test_document"),
            "test_document_sha256": approval.get("test_document_sha256"),
            "valid_until": approval.get("valid_until"),
        }
        details["approved_by"] = approval.get("approver")
        details["test_document"] = approval.get("test_document")
    for key in ("from_release", "to_release"):
        if data.get(key) or gate.get(key):
            details[key] = data.get(key) or gate.get(key)
    if details.get("to_release"):
        details["release"] = details["to_release"]
    backups = data.get("backups") or {}
    ids = sorted(
        b.get("id") for r in backups.values() for b in (r or {}).values() if isinstance(b, dict) and b.get("id")
    )
    if ids:
        details["backups"] = ids
    if data.get("resume"):
        details["resumed_operation"] = data.get("resumed_operation")
    applied = [m for r in data.get("applied") or [] for m in r.get("applied") or []]
    if applied:
        details["migrations_applied"] = len(applied)
    rollback = data.get("rollback") or {}
    if rollback.get("active"):
        details["rollback"] = {
            "reason": rollback.get("reason"),
            "restored": [r.get("id") for r in rollback.get("restored") or []],
            "errors": rollback.get("errors") or [],
        }
    return details


def step_rows(steps, ended_at=None):
    """[(step, started, seconds)] in order, from the step start times the playbook reported."""
    from datetime import datetime

    def parse(text):
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))

    ordered = sorted((parse(t), name) for name, t in (steps or {}).items())
    rows = []
    for i, (at, name) in enumerate(ordered):
        end = ordered[i + 1][0] if i + 1 < len(ordered) else (parse(ended_at) if ended_at else at)
        rows.append((name, at, max((end - at).total_seconds(), 0.0)))
    return rows


def render_upgrade(op, verb="upgrade"):
    data = (op.report.get("data") or {}).get("upgrade") or {}
    rows = [
        [STEP_LABELS.get(n, n), at.strftime("%H:%M:%S"), f"{s:.1f}"]
        for n, at, s in step_rows(data.get("steps"), data.get("ended_at"))
    ]
    if rows:
        print("\n".join(table(["步骤 step", "开始 started (UTC)", "秒 s"], rows, align="<<>")))
    migrations = [
        [r.get("database"), m.get("script"), m.get("execution_ms")]
        for r in data.get("applied") or []
        for m in r.get("applied") or []
    ]
    if migrations:
        print("\n".join(table(["数据库 database", "迁移 migration", "毫秒 ms"], migrations, align="<<>")))
    health = data.get("health") or {}
    call = health.get("call") or {}
    summary = f"{verb} {data.get('from_release')} -> {data.get('to_release')}: ok"
    if call:
        summary += f"; test call {call.get('call_id')} {call.get('result')}"
    print(f"{summary} (approval {data.get('change_id')}, run record {op.run_dir})")


class Upgrade(Command):
    name = "upgrade"
    help = "upgrade to the newest release after the IT department's signed approval (playbooks/upgrade.yml)"
    description = (
        "Upgrade the follow-up system to the release a signed change approval names. Before any host is touched "
        "the approval is verified (signer, document unchanged, not expired, not used before, environment, "
        "from-release, newest release, no downgrade, tarball and test-document sha256) and every host pre-checked; "
        "every failed condition is listed and the exit code is 2. Then: host leases, a backup through the backup "
        "role, maintenance only while the migrations run, the new release started beside the old one, switch, "
        "health gate with a call through the voice gateway. Any failure after the first change rolls back "
        "automatically (previous release, databases restored when the migrations had started, data verified): exit "
        "3. An interrupted upgrade is resumed by running the same command again."
    )
    changes_hosts = True
    # An upgrade moves every host of the inventory together: --limit would leave the others on the old release.
    limit = False
    interrupt_hint = (
        "run the same upgrade again with the same approval: it puts back what the interrupted run changed and then "
        "upgrades (docs/upgrade.md, 'Interrupted upgrades')"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--approval", required=True, metavar="FILE", help="the signed approval.yml (approval.yml.sig beside it)"
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="also list skipped tasks")

    def details(self, args):
        return {"approval_file": str(Path(args.approval).resolve())}

    def extravars(self, args):
        # A missing file is the gate's refusal (exit 2, "no approval"), like every other condition of the approval.
        path = Path(args.approval)
        return {
            "followup_approval_file": str(path.resolve()),
            "followup_upgrade_records_dir": str(runs_dir() / "upgrade"),
        }

    def run(self, op, args):
        extravars = self.extravars(args)
        try:
            op.playbook("upgrade", "upgrade.yml", extravars=extravars)
        finally:
            upgrade_details(op.report, op.details)

    def render(self, op, args):
        render_upgrade(op)


COMMAND = Upgrade()
