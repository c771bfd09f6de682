"""`followup-ops deploy`: converge the databases and the three servers to a verified release."""

from followup_ops.commands.common import Command
from followup_ops.textui import table


class Deploy(Command):
    name = "deploy"
    help = "deploy the databases and the three servers at a release (playbooks/site.yml)"
    description = (
        "Verify the release against its repository's signed index and manifest (refused with exit 2 before any host "
        "is touched if anything differs), then converge the database tier (MySQL, MongoDB) and the application tier "
        "(fep, app, voice) to it: packages, accounts, configuration, schema migrations, the release directory, the "
        "atomic switch of `current`, services and health checks. Deploying the release already running changes "
        "nothing. Deploy does not roll back; upgrades of a running system go through `followup-ops upgrade`."
    )
    changes_hosts = True
    interrupt_hint = "run the same deploy again to finish it: it changes only what differs"

    def add_arguments(self, parser):
        parser.add_argument("--release", required=True, metavar="VERSION", help="release to deploy, e.g. 1.0.0")
        parser.add_argument("--check", action="store_true", help="dry run: show what would change, change nothing")
        parser.add_argument("--diff", action="store_true", help="show the changes made to files")
        parser.add_argument("-v", "--verbose", action="store_true", help="also list skipped tasks")

    def details(self, args):
        return {"release": args.release}

    def run(self, op, args):
        op.playbook("deploy", "site.yml", extravars={"followup_release_version": args.release}, diff=args.diff)

    def render(self, op, args):
        rows = [[host, op.changed.get(host, 0)] for host in sorted(op.hosts)]
        print("\n".join(table(["主机 Host", "变更 changed"], rows, align="<>")))
        verb = "would change" if args.check else "changed"
        total = sum(op.changed.values())
        took = sum(s.duration for s in op.steps)
        print(
            f"deploy {args.release}: ok, {total} {verb} across {len(op.hosts)} hosts in {took:.0f}s "
            f"(run record {op.run_dir})"
        )


COMMAND = Deploy()
