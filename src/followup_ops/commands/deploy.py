"""`followup-ops deploy`: deploy the database and application tiers at a given release."""

from followup_ops import runner
from followup_ops.commands.common import add_inventory_options, resolve_inventory
from followup_ops.errors import EXIT_OK
from followup_ops.textui import table


def add_parser(sub):
    parser = sub.add_parser(
        "deploy",
        help="deploy the databases and the three servers at a release (playbooks/site.yml)",
        description="Verify the release against its repository's index and manifest (refused with exit 2 before "
        "any host is touched if anything differs), then converge the database tier (MySQL, MongoDB) and the "
        "application tier (fep, app, voice) to it: packages, accounts, configuration, schema migrations, "
        "the release directory, the atomic switch of `current`, services and health checks. Deploying the "
        "release already running changes nothing.",
    )
    add_inventory_options(parser)
    parser.add_argument("--release", required=True, metavar="VERSION", help="release to deploy, e.g. 1.0.0")
    parser.add_argument("--check", action="store_true", help="dry run: show what would change, change nothing")
    parser.add_argument("--diff", action="store_true", help="show the changes made to files")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list skipped tasks")
    parser.set_defaults(func=cmd_deploy)


def summary_lines(result):
    rows = []
    for host in result.hosts:
        st = result.stats[host]
        rows.append([host, st.ok, st.changed, st.failed, st.unreachable])
    return table(["主机 Host", "成功 ok", "变更 changed", "失败 failed", "不可达 unreachable"], rows, align="<>>>>")


def cmd_deploy(args):
    inventory, vault = resolve_inventory(args)
    result = runner.run_playbook(
        "deploy",
        "site.yml",
        inventory,
        extravars={"followup_release_version": args.release},
        limit=args.limit,
        check=args.check,
        diff=args.diff,
        vault_password_file=vault,
        argv=args.argv,
        verbose=args.verbose,
    )
    runner.raise_for_result(result)
    print("\n".join(summary_lines(result)))
    verb = "would change" if args.check else "changed"
    print(
        f"deploy {args.release}: ok, {result.changed} {verb} across {len(result.hosts)} hosts "
        f"in {result.duration:.0f}s (run record {result.run_dir})"
    )
    return EXIT_OK
