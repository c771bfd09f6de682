"""Inventories: find them, find their vault password, read their variables."""

import os
from pathlib import Path

from followup_ops.errors import OpsError
from followup_ops.paths import lab_dir, lab_inventory, repo_root

VAULT_ENV = "FOLLOWUP_OPS_VAULT_PASSWORD_FILE"


def resolve(name):
    """Accept a path (inventories/lab) or a bare name (lab); return the inventory directory or file."""
    if not name:
        raise OpsError("no inventory given: pass -i INVENTORY, e.g. -i inventories/lab")
    candidates = [Path(name), repo_root() / name, repo_root() / "inventories" / name]
    for path in candidates:
        if path.is_dir() and (path / "hosts.yml").is_file():
            return path.resolve()
        if path.is_file():
            return path.resolve()
    known = sorted(p.name for p in (repo_root() / "inventories").iterdir() if (p / "hosts.yml").is_file())
    raise OpsError(
        f"inventory '{name}' not found: give a directory holding hosts.yml, such as "
        + " or ".join(f"inventories/{k}" for k in known)
    )


def is_lab(path):
    return Path(path).resolve() == lab_inventory().resolve()


def _has_vault_files(path):
    root = Path(path)
    if root.is_file():
        root = root.parent
    for file in root.rglob("*.yml"):
        try:
            with open(file, "rb") as handle:
                if handle.read(14) == b"$ANSIBLE_VAULT":
                    return True
        except OSError:
            continue
    return False


def vault_password_file(inventory, given=None):
    """The vault password file for INVENTORY: --vault-password-file, then $FOLLOWUP_OPS_VAULT_PASSWORD_FILE,
    then the lab's own (.lab/vault-password) for the lab. None when the inventory has no vault."""
    candidate = given or os.environ.get(VAULT_ENV)
    if not candidate and is_lab(inventory):
        candidate = lab_dir() / "vault-password"
        if not candidate.exists():
            raise OpsError("the lab has no vault password yet: run `followup-ops lab up` first, then retry")
    if candidate:
        path = Path(candidate).expanduser()
        if not path.is_file():
            raise OpsError(f"vault password file {path} does not exist: give the right path, then retry")
        return path.resolve()
    if _has_vault_files(inventory):
        raise OpsError(
            f"inventory {inventory} has vault-encrypted files but no vault password was given: "
            f"pass --vault-password-file FILE or set {VAULT_ENV}"
        )
    return None


def load_vars(inventory, vault_file=None):
    """Return (InventoryManager, VariableManager) for reading an inventory in-process."""
    from ansible.cli import CLI
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    if vault_file:
        secrets = CLI.setup_vault_secrets(loader, vault_ids=[], vault_password_files=[str(vault_file)])
        loader.set_vault_secrets(secrets)
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    return manager, VariableManager(loader=loader, inventory=manager)
