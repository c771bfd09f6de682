"""followup-ops: the command line of the follow-up system's operations.

Every command shares one set of exit codes: 0 ok, 1 error, 2 refused by a gate before any host changed (or another
operation holds the hosts), 3 failed and rolled back, 4 non-compliant findings, 130 interrupted.
"""

import argparse
import sys

from followup_ops import __version__
from followup_ops.commands import (
    approval,
    backup,
    compliance,
    db,
    deploy,
    fault,
    inspect,
    lab,
    migrate,
    migrations,
    rehearse,
    report,
    restore,
    schema,
    status,
    upgrade,
)
from followup_ops.errors import EXIT_ERROR, EXIT_INTERRUPTED, OpsError
from followup_ops.operation import Interrupted, Refused, RolledBack

COMMANDS = (
    compliance.COMMAND,
    deploy.COMMAND,
    inspect.COMMAND,
    status.COMMAND,
    restore.COMMAND,
    upgrade.COMMAND,
    rehearse.COMMAND,
)

EPILOG = """exit codes: 0 ok, 1 error, 2 refused before any host changed (a gate, or another operation holds the
hosts), 3 failed and rolled back, 4 non-compliant findings, 130 interrupted. Each operation is recorded under
runs/<id>/ (operation.json and the playbooks' artifacts) and as one line of runs/audit.jsonl."""


class OpsArgumentParser(argparse.ArgumentParser):
    """Bad arguments are an error (exit 1, one line with the fix), never exit 2, which means a gate refused."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = OpsArgumentParser(
        prog="followup-ops",
        description=(
            "Operations of the patient follow-up system (随访系统运维): deploy, upgrade after signed approval, "
            "backup and restore, 等保 compliance and hardening, inspection and reports, and the local lab."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"followup-ops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    lab.register(sub)
    backup.register(sub)
    migrations.register(sub)
    fault.register(sub)
    report.register(sub)
    schema.register(sub)
    db.register(sub)
    migrate.register(sub)
    approval.register(sub)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _label(err):
    if isinstance(err, Refused):
        return "refused"
    if isinstance(err, RolledBack):
        return "rolled back"
    if isinstance(err, Interrupted):
        return "interrupted"
    return "error"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["followup-ops", *argv]
    try:
        return args.func(args)
    except OpsError as err:
        message = str(err)
        label = _label(err)
        if message.startswith(label + ", ") or message.startswith(label + ":"):
            print(f"followup-ops: {message}", file=sys.stderr)
        else:
            print(f"followup-ops: {label}: {message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("followup-ops: interrupted before anything was started", file=sys.stderr)
        return EXIT_INTERRUPTED
