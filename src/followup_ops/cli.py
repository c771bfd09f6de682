"""followup-ops: the command line of the follow-up system's operations.

Every command shares one set of exit codes: 0 ok, 1 error, 2 refused by a gate before any host changed,
3 failed and rolled back, 4 non-compliant findings.
"""

import argparse
import sys

from followup_ops import __version__
from followup_ops.commands import deploy, lab, status
from followup_ops.errors import EXIT_ERROR, OpsError

COMMANDS = (lab, deploy, status)

EPILOG = """exit codes: 0 ok, 1 error, 2 refused by a gate before any host changed, 3 failed and rolled back,
4 non-compliant findings. Each run is recorded under runs/ (artifacts) and in runs/audit.jsonl."""


class OpsArgumentParser(argparse.ArgumentParser):
    """Bad arguments are an error (exit 1, one line with the fix), never exit 2, which means a gate refused."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = OpsArgumentParser(
        prog="followup-ops",
        description="Operations of the patient follow-up system (随访系统运维): lab, deploy, status.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"followup-ops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["followup-ops", *argv]
    try:
        return args.func(args)
    except OpsError as err:
        print(f"followup-ops: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("followup-ops: interrupted; the run record under runs/ shows how far it got", file=sys.stderr)
        return EXIT_ERROR
