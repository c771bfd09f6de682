"""`followup-ops restore`: restore a backup from the backup host, verified before (sha256) and after (row counts and
checksums against the manifest), with point-in-time recovery for MySQL (playbooks/restore.yml)."""

import datetime

from followup_ops.commands.backup import backup_id, mb
from followup_ops.commands.common import Command
from followup_ops.errors import OpsError
from followup_ops.textui import table


def until_time(text):
    """--until: ISO 8601 with a zone; checked here so that a typo is one line and exit 1."""
    import argparse

    value = text.strip().replace(" ", "T")
    try:
        when = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--until '{text}' is not a time such as 2026-12-01T20:30:00Z or 2026-12-01T20:30:00+08:00"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--until '{text}' has no time zone: add Z (UTC) or an offset such as +08:00")
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Restore(Command):
    name = "restore"
    help = "restore a backup (verified before and after), optionally to a point in time (MySQL)"
    description = (
        "Restore backup ID from the backup host onto its source host or --to HOST: the archive's sha256 is checked "
        "on the backup host first, it is decrypted and decompressed in a pipe, loaded, and every table's or "
        "collection's row count and checksum is compared with the manifest. Refused (exit 2) when the id is "
        "unknown, the key is missing, the archive changed, or the target already holds data and "
        "--overwrite-nonempty was not given. MySQL: --until TIME or --stop-before STATEMENT rolls forward through "
        "the shipped binary logs."
    )
    changes_hosts = True
    interrupt_hint = (
        "the target may be partly restored: run the same restore again with --overwrite-nonempty, or restore "
        "another backup"
    )

    def add_arguments(self, parser):
        parser.add_argument("--backup", type=backup_id, metavar="ID", help="the backup to restore (see backup list)")
        parser.add_argument("--db", choices=("mysql", "mongodb"), help="without --backup: the newest backup of this")
        parser.add_argument("--to", metavar="HOST", help="restore onto this inventory host (default: the source host)")
        pit = parser.add_mutually_exclusive_group()
        pit.add_argument("--until", type=until_time, metavar="TIME", help="MySQL: roll forward to this time")
        pit.add_argument(
            "--stop-before", metavar="STATEMENT", help="MySQL: roll forward to just before this statement's transaction"
        )
        parser.add_argument(
            "--overwrite-nonempty",
            action="store_true",
            help="replace the target's data when it is not empty (refused without this flag)",
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def details(self, args):
        return {
            "backup_id": args.backup,
            "db": args.db,
            "to": args.to,
            "until": args.until,
            "stop_before": bool(args.stop_before),
            "overwrite_nonempty": args.overwrite_nonempty,
        }

    def validate(self, args):
        if not args.backup and not args.db:
            raise OpsError(
                "restore needs --backup ID (see followup-ops backup list) or --db mysql|mongodb for the newest"
            )

    def run(self, op, args):
        op.quiet = not args.verbose
        extravars = {"followup_restore_overwrite": bool(args.overwrite_nonempty)}
        for key, value in (
            ("followup_backup_id", args.backup),
            ("followup_backup_db", args.db),
            ("followup_restore_to", args.to),
            ("followup_restore_until", args.until),
            ("followup_restore_stop_before", args.stop_before),
        ):
            if value:
                extravars[key] = value
        op.playbook("restore", "restore.yml", extravars=extravars)
        restored = (op.report.get("data") or {}).get("restore") or {}
        op.details["restored"] = [
            {
                "backup_id": bid,
                "host": r.get("host"),
                "bytes": r.get("bytes"),
                "load_s": r.get("load_s"),
                "verify_s": r.get("verify_s"),
                "duration_s": r.get("duration_s"),
                "throughput_mb_s": r.get("throughput_mb_s"),
                "verified": r.get("verified"),
                "pitr": r.get("pitr"),
            }
            for bid, r in sorted(restored.items())
        ]

    def render(self, op, args):
        restored = (op.report.get("data") or {}).get("restore") or {}
        rows = [
            [
                bid,
                r.get("host"),
                ", ".join(r.get("databases") or []),
                mb(r.get("plaintext_bytes")),
                r.get("load_s"),
                r.get("verify_s"),
                r.get("throughput_mb_s"),
                "一致 equal" if r.get("verified") else "未比较 not compared",
                _pitr(r.get("pitr")),
            ]
            for bid, r in sorted(restored.items())
        ]
        headers = [
            "备份 Backup",
            "主机 Host",
            "数据库 Databases",
            "MB",
            "恢复 s",
            "校验 s",
            "MB/s",
            "与清单 vs manifest",
            "时间点 PITR",
        ]
        print("\n".join(table(headers, rows, align="<<<>>>><<")))
        took = sum(s.duration for s in op.steps)
        print(f"restore: ok in {took:.0f}s (run record {op.run_dir})")


def _pitr(pitr):
    if not pitr:
        return "-"
    if pitr.get("stop_before"):
        return f"before {pitr['stop_before']['file']}:{pitr['stop_before']['pos']}"
    return f"until {pitr.get('until')}"


COMMAND = Restore()
