"""`followup-ops migrations status|repair`: the schema migrations' state, and the record of a repair."""

from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.textui import table

STATES = {
    "clean": "正常 clean",
    "failed": "失败 failed",
    "interrupted": "中断 interrupted",
    "in_progress": "进行中 in progress",
}


class MigrationsCommand(Command):
    action = ""

    @property
    def name(self):
        return f"migrations-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        add_inventory_options(parser, limit=False)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser


class Status(MigrationsCommand):
    action = "status"
    help = "the migration state of every database: clean, failed, interrupted or in progress (read-only)"
    description = (
        "Read-only: reads the migration history of cloud_followup, interface_data and cdr from the first app host "
        "and reports each database's state, the row that blocks the next deploy, and the migrations pending for the "
        "release running there. Exits 1 when a database is failed or interrupted."
    )

    def run(self, op, args):
        op.quiet = True
        op.playbook("inspect", "migrations_status.yml")
        stuck = [db for db, st in self.states(op).items() if st.get("state") in ("failed", "interrupted")]
        if stuck:
            op.conclude("failed", f"{', '.join(stuck)}: a migration failed or was interrupted: see the table")

    @staticmethod
    def states(op):
        return (op.report.get("data") or {}).get("migrations") or {}

    def render(self, op, args):
        rows = []
        for database, st in sorted(self.states(op).items()):
            blocking = st.get("blocking") or {}
            rows.append(
                [
                    database,
                    STATES.get(st.get("state"), st.get("state") or "-"),
                    st.get("schema_version") if st.get("schema_version") is not None else "-",
                    blocking.get("script") or "-",
                    ", ".join(st.get("pending") or []) or "-",
                ]
            )
        headers = ["数据库 Database", "状态 State", "版本 Schema", "阻塞 Blocking", "待执行 Pending"]
        print("\n".join(table(headers, rows)))
        for database, st in sorted(self.states(op).items()):
            for reason in st.get("refused") or []:
                print(f"! {database}: {reason}")


class Repair(MigrationsCommand):
    action = "repair"
    help = "record that a failed or interrupted migration was fixed by hand (applied) or undone (not applied)"
    description = (
        "After a failed or interrupted migration was fixed by hand, or its changes undone, record that in the "
        "history (followup_schema_repairs keeps who, when, why and who approved it). Changes only the history, "
        "never the data. --check shows what would be recorded."
    )
    changes_hosts = True

    def add_arguments(self, parser):
        parser.add_argument("--engine", required=True, choices=["mysql", "mongodb"])
        parser.add_argument("--database", required=True, help="cloud_followup, interface_data or cdr")
        parser.add_argument("--version", required=True, type=int, metavar="N", help="the migration's version (V<N>)")
        parser.add_argument(
            "--resolution",
            required=True,
            choices=["applied", "not_applied"],
            help="applied: its changes are complete; not_applied: they were undone and the next deploy reapplies it",
        )
        parser.add_argument("--reason", required=True, help="what was done by hand, and how it was checked")
        parser.add_argument("--approved-by", required=True, help="the person (not you) who approved the repair")
        parser.add_argument("--check", action="store_true", help="show what would be recorded, record nothing")

    def details(self, args):
        return {
            "engine": args.engine,
            "database": args.database,
            "version": args.version,
            "resolution": args.resolution,
            "reason": args.reason,
            "approved_by": args.approved_by,
        }

    def run(self, op, args):
        from followup_ops import audit

        op.quiet = True
        op.playbook(
            "repair",
            "repair_migration.yml",
            extravars={
                "followup_repair_engine": args.engine,
                "followup_repair_database": args.database,
                "followup_repair_version": args.version,
                "followup_repair_resolution": args.resolution,
                "followup_repair_reason": args.reason,
                "followup_repair_approved_by": args.approved_by,
                "followup_repair_by": audit.operator(),
            },
        )

    def render(self, op, args):
        for database, rep in sorted(((op.report.get("data") or {}).get("repair") or {}).items()):
            verb = "would be recorded" if args.check else "recorded"
            print(
                f"repair {verb}: {database} {rep.get('script')}: {rep.get('state_before')} -> {rep.get('state_after')} "
                f"(approved by {rep.get('approved_by')}, repaired by {rep.get('repaired_by')}); "
                f"migration state now {rep.get('state')}"
            )


ACTIONS = (Status(), Repair())


def register(sub):
    parser = sub.add_parser(
        "migrations",
        help="schema migrations: their state, and the record of a repair",
        description="The schema migrations of cloud_followup, interface_data and cdr (docs/releases.md, 'Migrations').",
    )
    actions = parser.add_subparsers(dest="migrations_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(actions)
    return parser
