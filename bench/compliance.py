#!/usr/bin/env python3
"""Benchmark of the read-only 等保 compliance check, beside a plain `ansible -m ping` of the same hosts in the same
run (the floor of any Ansible run here).

    .venv/bin/python bench/compliance.py [-i inventories/lab] [--limit PATTERN] [--repeat N] [--pdf]
        [--vault-password-file FILE] [--json]

Measures, for the hosts of `followup:databases` (or --limit):
  ping      ansible -m ansible.builtin.ping
  check     ansible-playbook playbooks/compliance.yml (the scan alone: collect, judge, report through set_stats)
  command   followup-ops compliance --out <tmp> (the scan plus report.json, junit.xml, report.html; --pdf adds the PDF)
and prints controls × hosts, wall times, the ratio check/ping and the target (the read-only check of the lab's five
hosts under 20 s). Read-only: nothing changes on any host; the reports go to a temporary directory.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
PATTERN = "followup:databases"
TARGET_S = 20.0


def env(extra=None):
    data = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{VENV}:{os.environ.get('PATH', '')}")
    data.update(extra or {})
    return data


def timed(argv, extra_env=None):
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env(extra_env), capture_output=True, text=True)
    return time.monotonic() - started, proc


def vault_args(args):
    return ["--vault-password-file", args.vault_password_file] if args.vault_password_file else []


def ping(args):
    argv = [
        str(VENV / "ansible"),
        "-i",
        args.inventory,
        args.limit or PATTERN,
        "-m",
        "ansible.builtin.ping",
        "-o",
        *vault_args(args),
    ]
    seconds, proc = timed(argv)
    hosts = [line.split()[0] for line in proc.stdout.splitlines() if " | " in line]
    ok = [line.split()[0] for line in proc.stdout.splitlines() if "| SUCCESS" in line]
    return seconds, hosts, ok, proc


def check(args):
    argv = [str(VENV / "ansible-playbook"), "-i", args.inventory, "playbooks/compliance.yml", *vault_args(args)]
    if args.limit:
        argv += ["--limit", args.limit]
    seconds, proc = timed(
        argv,
        {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "1"},
    )
    try:
        report = json.loads(proc.stdout)["global_custom_stats"]["followup"]
    except (ValueError, KeyError):
        return seconds, None, proc
    return seconds, report, proc


def command(args, out):
    argv = [str(VENV / "followup-ops"), "compliance", "-i", args.inventory, "--out", str(out), *vault_args(args)]
    if args.limit:
        argv += ["--limit", args.limit]
    if not args.pdf:
        argv.append("--no-pdf")
    return timed(argv, {"FOLLOWUP_OPS_RUNS_DIR": str(out / "runs")})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", default="inventories/lab")
    parser.add_argument("--limit", help="Ansible host pattern (default: followup:databases)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of ping, check and command (default 1)")
    parser.add_argument("--pdf", action="store_true", help="let the command also write the PDF")
    parser.add_argument("--vault-password-file", help="the inventory's vault password file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    rounds = []
    for _ in range(args.repeat):
        ping_s, hosts, ok, ping_proc = ping(args)
        if not hosts:
            print(
                f"bench: ansible -m ping reached no host of {args.inventory}: {ping_proc.stderr.strip()[-300:]}",
                file=sys.stderr,
            )
            return 1
        check_s, report, check_proc = check(args)
        if report is None:
            print(
                f"bench: playbooks/compliance.yml reported nothing (rc {check_proc.returncode}): "
                f"{check_proc.stderr.strip()[-300:]}",
                file=sys.stderr,
            )
            return 1
        with tempfile.TemporaryDirectory(prefix="followup-bench-compliance-") as tmp:
            command_s, command_proc = command(args, Path(tmp))
        ping2_s, _hosts, _ok, _proc = ping(args)
        data = report["data"]["compliance"]
        scanned = [h for h in data["summary"]["hosts"] if h != "control-node"]
        findings = [f for f in report["findings"].values() if f["host"] != "control-node"]
        rounds.append(
            {
                "hosts": len(scanned),
                "answered_ping": len(ok),
                "unreachable": data["unreachable"],
                "findings": len(findings),
                "controls": len({f["control"] for f in findings}),
                "ping_s": round(ping_s, 2),
                "ping_after_s": round(ping2_s, 2),
                "check_s": round(check_s, 2),
                "command_s": round(command_s, 2),
                "command_exit": command_proc.returncode,
                "collect_s": data.get("collect_seconds") or {},
                "score": data["summary"]["score"],
            }
        )
    best = min(rounds, key=lambda r: r["check_s"])
    figures = {
        "inventory": args.inventory,
        "rounds": rounds,
        "check_s_median": round(statistics.median(r["check_s"] for r in rounds), 2),
        "ping_s_median": round(statistics.median(r["ping_s"] for r in rounds), 2),
        "command_s_median": round(statistics.median(r["command_s"] for r in rounds), 2),
    }
    figures["ratio_check_to_ping"] = round(figures["check_s_median"] / max(figures["ping_s_median"], 0.01), 1)
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return 0
    collect = best["collect_s"].values()
    print(f"compliance benchmark on {args.inventory} ({len(rounds)} round{'s' if len(rounds) > 1 else ''}):")
    print(
        f"  hosts {best['hosts']} (ping answered {best['answered_ping']}; unreachable "
        f"{', '.join(best['unreachable']) or 'none'}); findings {best['findings']} = {best['controls']} controls "
        f"over the hosts' targets"
    )
    print(
        f"  ansible -m ping            {figures['ping_s_median']:7.2f} s   (after the check: "
        f"{statistics.median(r['ping_after_s'] for r in rounds):.2f} s)"
    )
    print(
        f"  compliance playbook        {figures['check_s_median']:7.2f} s   "
        f"ratio {figures['ratio_check_to_ping']}× ping"
        f"; evidence collection inside the module {min(collect, default=0):.2f}–{max(collect, default=0):.2f} s "
        "per host"
    )
    print(
        f"  followup-ops compliance    {figures['command_s_median']:7.2f} s   (with report.json, junit.xml, "
        f"report.html{', report.pdf' if args.pdf else ''}; exit {best['command_exit']}, score {best['score']}%)"
    )
    verdict = "within" if figures["check_s_median"] < TARGET_S else "OVER"
    print(f"  target: the read-only check under {TARGET_S:.0f} s: {verdict} ({figures['check_s_median']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
