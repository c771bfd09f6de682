#!/usr/bin/env python3
"""Benchmark: an idempotent hardening rerun of the lab's five hosts, beside a plain `ansible -m ping` of the same hosts
in the same run (the floor of any Ansible run here), with the times and their ratio.

    .venv/bin/python bench/hardening.py                      # the lab (inventories/lab), 3 measured runs
    .venv/bin/python bench/hardening.py -i INVENTORY --runs 5 --limit 'followup:databases' [--json]

The hardening run is playbooks/hardening.yml through ansible-playbook, exactly as `followup-ops compliance --fix`
runs it (the gates included), with the inventory's vault password file. The first run brings the hosts to the
hardened state (and warms the fact cache); it is reported but not counted. Every measured run must change nothing
(changed=0 on every host), or the benchmark fails: an idempotent rerun is what it measures. Target (issue 9, item 6):
the idempotent rerun of the five lab hosts under 60 s; for scale, dev-sec's os_hardening + ssh_hardening took about
294 s for the same.

It changes the hosts on its first run: run it on the lab (the lead's), never on production hosts by accident.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_SECONDS = 60.0
DEVSEC_SECONDS = 294.0
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def environment():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


VAULT = []  # --vault-password-file FILE, when given (the lab's vault opens by itself, ansible.cfg)


def vault_args(_inventory):
    return list(VAULT)


def timed(argv):
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=environment(), capture_output=True, text=True, check=False)
    return time.monotonic() - started, proc


def recap(output):
    hosts = {}
    for name, ok, changed, unreachable, failed in RECAP.findall(output):
        hosts[name] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
    return hosts


def ping(inventory, limit):
    argv = [str(BIN / "ansible"), "-i", str(inventory), limit, "-m", "ansible.builtin.ping", "-o"]
    argv += vault_args(inventory)
    seconds, proc = timed(argv)
    if proc.returncode != 0:
        sys.exit(f"ansible -m ping failed (rc {proc.returncode}): {proc.stdout[-500:]}{proc.stderr[-500:]}")
    return seconds, len(re.findall(r"\| SUCCESS", proc.stdout))


def harden(inventory, limit):
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "hardening.yml")]
    if limit:
        argv += ["--limit", limit]
    seconds, proc = timed([*argv, *vault_args(inventory)])
    hosts = recap(proc.stdout)
    if proc.returncode != 0 or not hosts:
        tail = (proc.stdout + proc.stderr)[-1500:]
        sys.exit(f"playbooks/hardening.yml failed (rc {proc.returncode}):\n{tail}")
    return seconds, hosts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("-i", "--inventory", default="inventories/lab", help="inventory directory (default the lab)")
    parser.add_argument("--limit", default="followup:databases", help="hosts (default followup:databases)")
    parser.add_argument("--runs", type=int, default=3, help="measured idempotent runs (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--vault-password-file", metavar="FILE", help="the inventory's vault password file")
    args = parser.parse_args(argv)
    if args.vault_password_file:
        VAULT[:] = ["--vault-password-file", args.vault_password_file]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    inventory = (ROOT / args.inventory).resolve()
    if not (inventory / "hosts.yml").exists():
        parser.error(f"{args.inventory} has no hosts.yml: give an inventory directory, e.g. inventories/lab")

    first_seconds, first_hosts = harden(inventory, args.limit)
    runs = []
    for _ in range(args.runs):
        ping_seconds, pinged = ping(inventory, args.limit)
        harden_seconds, hosts = harden(inventory, args.limit)
        changed = {h: r["changed"] for h, r in hosts.items() if r["changed"]}
        if changed:
            sys.exit(f"the rerun was not idempotent: changed tasks per host {changed}; fix the role, then measure")
        runs.append({"ping_s": round(ping_seconds, 2), "hardening_s": round(harden_seconds, 2), "hosts": len(hosts)})
    hardening = statistics.median(r["hardening_s"] for r in runs)
    floor = statistics.median(r["ping_s"] for r in runs)
    figures = {
        "inventory": str(args.inventory),
        "hosts": runs[0]["hosts"],
        "pinged": pinged,
        "first_run_s": round(first_seconds, 1),
        "first_run_changed": sum(r["changed"] for r in first_hosts.values()),
        "runs": runs,
        "hardening_median_s": round(hardening, 1),
        "ping_median_s": round(floor, 2),
        "ratio_to_ping": round(hardening / floor, 1) if floor else None,
        "target_s": TARGET_SECONDS,
        "within_target": hardening < TARGET_SECONDS,
        "devsec_reference_s": DEVSEC_SECONDS,
        "load_average": list(os.getloadavg()),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"hosts: {figures['hosts']} ({args.inventory}, --limit {args.limit})")
        print(f"first run (hardening, not counted): {figures['first_run_s']} s, {figures['first_run_changed']} changed")
        for number, run in enumerate(runs, 1):
            print(f"run {number}: ansible -m ping {run['ping_s']:6.2f} s   hardening rerun {run['hardening_s']:6.1f} s")
        print(
            f"median: ping {figures['ping_median_s']} s, hardening {figures['hardening_median_s']} s, "
            f"ratio {figures['ratio_to_ping']}x; target < {TARGET_SECONDS:.0f} s: "
            f"{'met' if figures['within_target'] else 'NOT met'} (dev-sec: about {DEVSEC_SECONDS:.0f} s); "
            f"load average {', '.join(f'{x:.1f}' for x in figures['load_average'])}"
        )
    return 0 if figures["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
