"""Where things live: the repository, its lab state and its run records."""

import os
from pathlib import Path


def repo_root():
    """The followup-ops checkout this command runs from (FOLLOWUP_OPS_HOME overrides)."""
    env = os.environ.get("FOLLOWUP_OPS_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


def lab_dir():
    """Per-machine lab state: SSH key, known_hosts, vault password (gitignored)."""
    return repo_root() / ".lab"


def runs_dir():
    """Run artifacts and the audit log (gitignored)."""
    env = os.environ.get("FOLLOWUP_OPS_RUNS_DIR")
    return Path(env).resolve() if env else repo_root() / "runs"


def lab_inventory():
    return repo_root() / "inventories" / "lab"
