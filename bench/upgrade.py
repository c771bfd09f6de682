#!/usr/bin/env python3
"""Benchmark: what a client of the front-end server sees during an upgrade of the seeded lab (issue 8, item 10).

    .venv/bin/python bench/upgrade.py [--to 1.2.0] [--from 1.0.0] [--scale 1] [--setup] [--back] [--json]

The lab must run --from (default 1.0.0) with seeded data; --setup first deploys --from and seeds --scale (and the
backup role is set up with `followup-ops backup` when it is not yet). The benchmark makes an approval signed with
the lab approver key (.lab/approver-key, environment lab, a stand-in test document), runs `followup-ops upgrade -i
inventories/lab --approval ...` while a thread asks the front-end server for GET /api/tasks?limit=1 every 100 ms
(the probe of `followup-ops rehearse`), and prints:

  per step (by the step start times the upgrade reports): its seconds, and the seconds of failed answers (no
  answer, a 5xx that is not the maintenance answer, a timeout after 2 s) and of maintenance answers (503 with the
  maintenance body); in all; outside the migration step (target < 5 s); and the total upgrade time.

Each answer counts for the time until the next one (at most 1 s). --back puts the lab back at --from afterwards
(restore of the upgrade's own pre-upgrade backups, then deploy --from). Only for the lab: its data is synthetic.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

INVENTORY = "inventories/lab"
DBS = ("mysql1", "mongo1")


def ops(runs_dir, *args, timeout=3600):
    env = dict(os.environ, FOLLOWUP_OPS_RUNS_DIR=str(runs_dir), PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "followup_ops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"followup-ops {' '.join(args[:3])} failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return proc, time.monotonic() - started


def last_record(runs_dir):
    lines = (Path(runs_dir) / "audit.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="from_release", default="1.0.0", help="the release the lab runs")
    parser.add_argument("--to", default=None, help="the release to upgrade to (default: the newest of build/releases)")
    parser.add_argument("--scale", type=int, default=1, help="with --setup: seed N x 1000 patients")
    parser.add_argument("--setup", action="store_true", help="deploy --from and seed first")
    parser.add_argument("--back", action="store_true", help="afterwards put the lab back at --from")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    import upgradekit as kit
    import yaml

    from followup_ops.commands.rehearse import PROBE_PATH, Probe, fep_url, unavailability

    index = yaml.safe_load((kit.RELEASES / "index.yml").read_text())
    to = args.to or max((r["version"] for r in index["releases"]), key=lambda v: tuple(int(x) for x in v.split(".")))
    work = Path(tempfile.mkdtemp(prefix="followup-bench-upgrade-"))
    runs = work / "runs"
    runs.mkdir()
    if args.setup:
        ops(runs, "deploy", "-i", INVENTORY, "--release", args.from_release)
        ops(runs, "lab", "seed", "--scale", str(args.scale))
    agents = [kit.docker(h, "sh", "-c", "test -x /usr/local/sbin/followup-backup && echo yes; true") for h in DBS]
    if not all(a.strip() == "yes" for a in agents):
        ops(runs, "backup", "-i", INVENTORY)  # the upgrade backs up through the backup role, which this sets up
    running = kit.current_versions()
    if set(running.values()) != {args.from_release}:
        raise SystemExit(f"the lab runs {running}, not {args.from_release}: use --setup, or --from")
    change_id = "CHG-BENCH-" + time.strftime("%Y%m%d%H%M%S", time.gmtime())
    approval = kit.make_approval(work / "approval", change_id=change_id, from_release=args.from_release, to_release=to)
    with Probe(fep_url(ROOT / INVENTORY) + PROBE_PATH) as probe:
        time.sleep(1.0)  # a second of answers before the upgrade starts: the baseline
        _proc, took = ops(runs, "upgrade", "-i", INVENTORY, "--approval", str(approval))
        time.sleep(1.0)
    record = last_record(runs)
    data = record["report"]["data"]["upgrade"]
    figures = unavailability(probe.samples, data.get("steps"), data.get("ended_at"))
    steps = data.get("steps") or {}
    start = min(steps.values()) if steps else None
    result = {
        "from_release": args.from_release,
        "to_release": to,
        "command_s": round(took, 1),
        "upgrade_s": round(_epoch(data["ended_at"]) - _epoch(start), 1) if start else None,
        "migrations": sum(len(r.get("applied") or []) for r in data.get("applied") or []),
        "probes": figures["total"]["probes"],
        "total": figures["total"],
        "steps": figures["steps"],
        "slow_answers_over_1s": sum(1 for s in probe.samples if s[1] == "ok" and s[3] > 1000),
    }
    if args.back:
        for backup in record["details"].get("backups") or []:
            ops(runs, "restore", "-i", INVENTORY, "--backup", backup, "--overwrite-nonempty")
        ops(runs, "deploy", "-i", INVENTORY, "--release", args.from_release)
        result["back_at"] = args.from_release
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"upgrade {args.from_release} -> {to} of the seeded lab, probe GET {PROBE_PATH} every 100 ms")
    print(f"{'step':<14}{'seconds':>9}{'failed s':>10}{'maint. s':>10}")
    for row in result["steps"]:
        print(f"{row['step']:<14}{row['seconds']:>9.1f}{row['failed_s']:>10.1f}{row['maintenance_s']:>10.1f}")
    total = result["total"]
    print(f"{'total':<14}{result['upgrade_s'] or 0:>9.1f}{total['failed_s']:>10.1f}{total['maintenance_s']:>10.1f}")
    print(
        f"probes {total['probes']} (ok {total['ok']}, maintenance {total['maintenance']}, failed {total['failed']}); "
        f"failed or maintenance outside the migration step: {total['outside_migrations_s']} s (target < 5 s); "
        f"before or after the upgrade's steps: {total['before_or_after_s']} s; migrations applied: "
        f"{result['migrations']}; answers slower than 1 s: {result['slow_answers_over_1s']}; "
        f"command {result['command_s']} s"
    )
    return 0


def _epoch(text):
    import datetime

    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
