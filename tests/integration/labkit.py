"""Shared pieces of the integration tests: where the repository is, and running the command line."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPS = [sys.executable, "-m", "followup_ops"]
RELEASES = ROOT / "build" / "releases"
VAULT_PASSWORD = ROOT / ".lab" / "vault-password"


class Ops:
    """Runs `followup-ops` as an operator would, with its own runs/ directory for this test session."""

    def __init__(self, runs_dir):
        self.runs_dir = runs_dir

    def __call__(self, *args, timeout=1800):
        env = dict(os.environ, FOLLOWUP_OPS_RUNS_DIR=str(self.runs_dir), PYTHONUNBUFFERED="1")
        proc = subprocess.run([*OPS, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        sys.stdout.write(proc.stdout[-4000:])
        sys.stderr.write(proc.stderr[-4000:])
        return proc

    def spawn(self, *args):
        """`followup-ops ARGS` started in a session of its own (so the test can kill it with every child), output to a
        file in the runs directory; returns (Popen, output path)."""
        env = dict(os.environ, FOLLOWUP_OPS_RUNS_DIR=str(self.runs_dir), PYTHONUNBUFFERED="1")
        out = self.runs_dir / f"spawn-{len(list(self.runs_dir.glob('spawn-*')))}.log"
        with open(out, "w") as handle:
            proc = subprocess.Popen(
                [*OPS, *args], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        return proc, out

    def audit(self):
        path = self.runs_dir / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


FEP = "https://10.89.50.11"


def bench_migrate():
    """bench/migrate.py as a module (its writer and summary)."""
    spec = importlib.util.spec_from_file_location("bench_migrate", ROOT / "bench/migrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
