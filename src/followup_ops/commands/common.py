"""What every command is: a parser, a list of steps and a renderer, on top of an operation (followup_ops.operation).

A command subclasses Command: it names itself, says whether it changes hosts (then it takes the hosts' leases and
its interrupts say what state the hosts may be in), adds its arguments, runs its steps on the operation and renders
what they reported. The operation does the rest: run directory, leases, gates, outcome, exit code, audit record.
"""

import sys

from followup_ops import inventory
from followup_ops.operation import Operation


def add_inventory_options(parser, required=True, limit=True):
    parser.add_argument(
        "-i",
        "--inventory",
        required=required,
        metavar="INVENTORY",
        help="inventory directory, e.g. inventories/lab or inventories/production",
    )
    parser.add_argument(
        "--vault-password-file",
        metavar="FILE",
        help=f"file holding the inventory's vault password (or set ${inventory.VAULT_ENV}; the lab's is found itself)",
    )
    if limit:
        parser.add_argument("--limit", metavar="PATTERN", help="run on these hosts only (Ansible host pattern)")


def resolve_inventory(args):
    """Return (inventory path, vault password file) or raise OpsError with the fix."""
    path = inventory.resolve(args.inventory)
    return path, inventory.vault_password_file(path, args.vault_password_file)


class Command:
    """One sub-command of followup-ops."""

    name = ""
    help = ""
    description = ""
    # Whether the command changes hosts: it then holds a lease on every host of its inventory while it runs.
    changes_hosts = False
    # Whether it works on an inventory given with -i (the lab's own commands use the lab inventory).
    uses_inventory = True
    limit = True
    # What to tell the operator when the command is interrupted after it may have changed hosts.
    interrupt_hint = None

    def add_arguments(self, parser):
        """Add the command's own arguments."""

    def validate(self, args):
        """Refuse bad arguments (raise OpsError: one line with the fix) before anything else is looked at: the
        inventory, its vault, a lease. Nothing is recorded for a command line that cannot run."""

    def details(self, args):
        """What the audit record should say about this run besides the common fields (release, backup id ...)."""
        return {}

    def inventory(self, args):
        """(inventory, vault password file) of the run."""
        return resolve_inventory(args)

    def check_mode(self, args):
        return bool(getattr(args, "check", False))

    def run(self, op, args):
        """The steps: op.playbook(...), op.local(...), op.gate(...). May return an exit code."""
        raise NotImplementedError

    def render(self, op, args):
        """Print what the steps reported (on success; failures are one line printed by the command line)."""

    def register(self, sub):
        parser = sub.add_parser(self.name, help=self.help, description=self.description or self.help)
        if self.uses_inventory:
            add_inventory_options(parser, limit=self.limit)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser

    def operation(self, args):
        inv, vault = self.inventory(args)
        return Operation(
            self.name,
            args.argv,
            inventory=inv,
            vault_password_file=vault,
            changes_hosts=self.changes_hosts,
            check=self.check_mode(args),
            limit=getattr(args, "limit", None),
            quiet=getattr(args, "quiet", False),
            verbose=getattr(args, "verbose", False),
            details=self.details(args),
            interrupt_hint=self.interrupt_hint,
        )

    def execute(self, args):
        self.validate(args)
        op = self.operation(args)
        with op:
            code = self.run(op, args)
            self.render(op, args)
            if op.outcome is None:
                op.conclude(_outcome_of(code))
            if op.outcome != "ok" and op.message:
                label = {"noncompliant": "non-compliant"}.get(op.outcome, "error")
                print(f"followup-ops: {label}: {op.message}", file=sys.stderr)
        return op.exit_code


def _outcome_of(code):
    from followup_ops.operation import OUTCOME_EXIT

    if code is None:
        return "ok"
    for outcome, exit_code in OUTCOME_EXIT.items():
        if exit_code == code:
            return outcome
    return "failed"
