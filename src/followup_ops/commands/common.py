"""Options and steps shared by the commands that run playbooks."""

from followup_ops import inventory


def add_inventory_options(parser, required=True):
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
    parser.add_argument("--limit", metavar="PATTERN", help="run on these hosts only (Ansible host pattern)")


def resolve_inventory(args):
    """Return (inventory path, vault password file) or raise OpsError with the fix."""
    path = inventory.resolve(args.inventory)
    return path, inventory.vault_password_file(path, args.vault_password_file)
