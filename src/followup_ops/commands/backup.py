"""`followup-ops backup`, `backup list`, `backup drill`: encrypted, verified backups and restore drills.

backup        playbooks/backup.yml: set up the agents and the add-only receiver, then back up MySQL and MongoDB to the
              backup host (dump | zstd | age | ssh), one manifest per backup (docs/backup.md)
backup list   the backup host's catalogue: tier, size, age, verification state (read-only)
backup drill  playbooks/drill.yml: restore the newest backups into temporary instances, compare, record, clean up
"""

import argparse
import datetime

from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.errors import OpsError
from followup_ops.textui import table

ENGINES = ("mysql", "mongodb", "all")

_VERIFICATION = {"pass": "通过 pass", "fail": "失败 FAIL", "unverified": "未验证 unverified", None: "未验证 unverified"}
_TIER = {
    "daily": "日 daily",
    "weekly": "周 weekly",
    "monthly": "月 monthly",
    "quarterly": "季 quarterly",
    "newest": "最新 newest",
    "newest-verified": "最新已验证 newest verified",
    "incomplete": "不完整 incomplete",
    "expiring": "待过期 expiring",
}


def mb(value):
    return f"{(value or 0) / 1e6:.1f}"


def backup_id(text):
    """--backup: the form is checked here (one line, exit 1); whether it exists is the gate's (exit 2)."""
    import re

    if not re.match(r"\A(mysql|mongodb)-[a-z0-9][a-z0-9.-]{0,62}-[0-9]{8}T[0-9]{6}Z(-physical)?\Z", text):
        raise argparse.ArgumentTypeError(
            f"--backup '{text}' is not a backup id such as mysql-mysql1-20261201T013000Z (see followup-ops backup list)"
        )
    return text


class BackupRun(Command):
    name = "backup"
    help = "back up MySQL and MongoDB to the backup host, compressed, encrypted and with a manifest"
    description = (
        "Set up the backup agents on the database hosts and the add-only receiver on the backup host (idempotent), "
        "refuse (exit 2) when the recipient key is missing, the backup host is unreachable or has too little free "
        "disk for the dump, then stream a consistent dump of cloud_followup, interface_data and cdr through zstd and "
        "age to the backup host. Each backup gets a manifest: binlog position, row counts and checksums per table "
        "and collection, sha256, size, duration, MB/s. Actions: `backup list`, `backup drill`."
    )
    changes_hosts = True
    interrupt_hint = (
        "run `followup-ops backup` again: the backup host keeps no upload that was cut off, and a new backup gets a "
        "new id"
    )

    def add_arguments(self, parser):
        parser.add_argument("--db", choices=ENGINES, default="all", help="which database to back up (default all)")
        parser.add_argument(
            "--physical", action="store_true", help="a physical MySQL backup (mariabackup/xtrabackup) instead of a dump"
        )
        parser.add_argument("--check", action="store_true", help="dry run: the gates and estimates, no backup")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def register(self, sub):
        parser = sub.add_parser(self.name, help=self.help, description=self.description)
        # -i is checked in inventory(): `backup list -i ...` and `backup drill -i ...` give it to their own parser.
        add_inventory_options(parser, required=False)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        actions = parser.add_subparsers(dest="backup_action", metavar="ACTION")
        for action in ACTIONS:
            action.register(actions)
        return parser

    def inventory(self, args):
        if not getattr(args, "inventory", None):
            raise OpsError("backup needs an inventory: followup-ops backup -i inventories/lab (see --help)")
        return super().inventory(args)

    def details(self, args):
        return {"db": args.db, "method": "physical" if args.physical else "logical"}

    def run(self, op, args):
        if args.physical and args.db == "mongodb":
            raise OpsError("--physical is for MySQL only: use --db mysql --physical")
        op.quiet = not args.verbose
        extravars = {
            "followup_backup_db": args.db,
            "followup_backup_method": "physical" if args.physical else "logical",
        }
        op.playbook("backup", "backup.yml", extravars=extravars)
        backups = (op.report.get("data") or {}).get("backup") or {}
        op.details["backups"] = [
            {
                "id": bid,
                "engine": b.get("engine"),
                "host": b.get("source_host"),
                "bytes": b.get("bytes"),
                "plaintext_bytes": b.get("plaintext_bytes"),
                "duration_s": b.get("duration_s"),
                "throughput_mb_s": b.get("throughput_mb_s"),
                "sha256": b.get("sha256"),
                "pitr": (b.get("pitr") or {}).get("possible"),
            }
            for bid, b in sorted(backups.items())
        ]

    def render(self, op, args):
        backups = (op.report.get("data") or {}).get("backup") or {}
        rows = [
            [
                bid,
                b.get("engine"),
                b.get("method"),
                mb(b.get("plaintext_bytes")),
                mb(b.get("bytes") if not args.check else b.get("estimated_bytes")),
                b.get("duration_s", "-"),
                b.get("throughput_mb_s", "-"),
                "是 yes" if (b.get("pitr") or {}).get("possible") else "否 no",
            ]
            for bid, b in sorted(backups.items())
        ]
        headers = [
            "备份 Backup",
            "引擎 Engine",
            "方式 Method",
            "数据 MB data",
            "存储 MB stored",
            "耗时 s",
            "MB/s",
            "时间点恢复 PITR",
        ]
        print("\n".join(table(headers, rows, align="<<<>>>><")))
        took = sum(s.duration for s in op.steps)
        verb = "would back up" if args.check else "backed up"
        print(f"backup: ok, {verb} {len(rows)} in {took:.0f}s (run record {op.run_dir})")


class BackupAction(Command):
    """An action of `followup-ops backup` (list, drill): its own parser under `backup`."""

    action = ""

    @property
    def name(self):
        return f"backup-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        add_inventory_options(parser)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser


class BackupList(BackupAction):
    action = "list"
    help = "list the backups on the backup host: tier, size, age, verification state (read-only)"
    description = (
        "Read the backup host's catalogue: every backup with its retention tier (daily, weekly, monthly, quarterly), "
        "size, age and the result of its last restore drill, and the binary logs shipped per database host. "
        "Changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--db", choices=ENGINES, default="all", help="only this engine's backups")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def run(self, op, args):
        op.quiet = True
        op.playbook("catalogue", "backup.yml", extravars={"followup_backup_action": "list"})

    def render(self, op, args):
        import json

        data = op.report.get("data") or {}
        backups = {bid: b for bid, b in (data.get("backups") or {}).items() if args.db in ("all", b.get("engine"))}
        if args.json:
            print(json.dumps({"backups": backups, "binlogs": data.get("binlogs") or {}}, ensure_ascii=False, indent=2))
            return
        print(render_list(backups, data.get("binlogs") or {}, data.get("backup_store") or {}))


def render_list(backups, binlogs, store):
    rows = [
        [
            bid,
            b.get("engine"),
            b.get("method"),
            _TIER.get(b.get("tier"), b.get("tier")),
            mb(b.get("bytes")),
            f"{b.get('age_days', 0):.1f}",
            _VERIFICATION.get(b.get("verification"), b.get("verification")),
            (b.get("verified_at") or "-"),
        ]
        for bid, b in sorted(backups.items(), key=lambda kv: kv[1].get("time") or "", reverse=True)
    ]
    headers = [
        "备份 Backup",
        "引擎 Engine",
        "方式 Method",
        "层级 Tier",
        "MB",
        "天 Age d",
        "验证 Verified",
        "验证时间 at",
    ]
    lines = table(headers, rows, align="<<<<>><<")
    for host, info in sorted(binlogs.items()):
        lines.append(
            f"  二进制日志 binlogs {host}: {info.get('count')} files, {mb(info.get('bytes'))} MB, newest "
            f"{info.get('newest')} stored {info.get('newest_stored_at')}"
        )
    if store.get("free_bytes") is not None:
        lines.append(f"  备份主机 backup host {store.get('host')}: {mb(int(store['free_bytes']))} MB free")
    if not rows:
        lines.append("  没有备份 no backups yet: run followup-ops backup -i INVENTORY")
    return "\n".join(lines)


class BackupDrill(BackupAction):
    action = "drill"
    help = "restore the newest backups into temporary instances, compare with their manifests, record pass/fail"
    description = (
        "On the backup host: start a temporary MySQL or MongoDB instance, restore the newest complete backup of each "
        "engine into it (sha256 checked first), compare every table's and collection's row count and checksum with "
        "the manifest, record pass or fail and the durations in the store (for `backup list` and the quarterly "
        "report), and remove the instance, also when the restore fails. Exits 1 when a drill fails."
    )
    changes_hosts = True
    interrupt_hint = "run `followup-ops backup drill` again: it removes what an interrupted drill left first"

    def add_arguments(self, parser):
        parser.add_argument("--db", choices=ENGINES, default="all", help="which engine's newest backup (default all)")
        parser.add_argument("--backup", type=backup_id, metavar="ID", help="drill this backup instead of the newest")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def details(self, args):
        return {"db": args.db, "backup_id": args.backup}

    def run(self, op, args):
        op.quiet = not args.verbose
        extravars = {"followup_backup_db": args.db}
        if args.backup:
            extravars["followup_backup_id"] = args.backup
        op.playbook("drill", "drill.yml", extravars=extravars)
        drills = (op.report.get("data") or {}).get("drill") or {}
        op.details["drills"] = [
            {
                "backup_id": bid,
                "engine": d.get("engine"),
                "result": d.get("result"),
                "duration_s": d.get("duration_s"),
                "load_s": (d.get("restore") or {}).get("load_s"),
                "verify_s": (d.get("restore") or {}).get("verify_s"),
                "objects_compared": d.get("objects_compared"),
                "error": d.get("error"),
            }
            for bid, d in sorted(drills.items())
        ]
        failed = [d for d in op.details["drills"] if d["result"] != "pass"]
        if failed:
            op.conclude(
                "failed", "restore drill failed: " + "; ".join(f"{d['backup_id']}: {d['error']}" for d in failed)
            )
            return op.exit_code
        return None

    def render(self, op, args):
        drills = (op.report.get("data") or {}).get("drill") or {}
        rows = [
            [
                bid,
                d.get("engine"),
                _VERIFICATION.get(d.get("result")),
                d.get("objects_compared"),
                (d.get("restore") or {}).get("load_s", "-"),
                (d.get("restore") or {}).get("verify_s", "-"),
                d.get("duration_s"),
                "是 yes" if d.get("cleaned_up") else "否 NO",
            ]
            for bid, d in sorted(drills.items())
        ]
        headers = [
            "备份 Backup",
            "引擎 Engine",
            "结果 Result",
            "对象 Objects",
            "恢复 s",
            "校验 s",
            "总计 s",
            "已清理 Cleaned",
        ]
        print("\n".join(table(headers, rows, align="<<<>>>><")))
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"backup drill: {len(rows)} drill(s) at {stamp} (run record {op.run_dir})")


ACTIONS = (BackupList(), BackupDrill())
COMMAND = BackupRun()


def register(sub):
    return COMMAND.register(sub)
