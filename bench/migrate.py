#!/usr/bin/env python3
"""Benchmark of a database move: the write downtime a cutover causes, measured by probe writes every 100 ms.

    .venv/bin/python bench/migrate.py run [--seed SCALE] [--json]      (the lab, spares up: lab up --spares)
    .venv/bin/python bench/migrate.py writer --url https://10.89.85.11 --stop-file /tmp/stop --out writes.json
    .venv/bin/python bench/migrate.py summary writes.json

`run` moves the lab's MySQL mysql1 -> mysql2 and back with `followup-ops migrate db` while `writer` writes through
the fep every 100 ms, and prints: the seed's copy throughput (the move's own streamed dump, MB/s) beside a plain
`mariadb-dump | mariadb` pipe between the same two hosts (run on mysql2 against mysql1 into scratch databases kept
out of the binary log, then dropped), the verify phase's time per million rows, and the write downtime of the
cutover and of the rollback (from the writer's record and from the hosts' clocks). The lab is left on mysql1 with
mysql2's replication stopped (a rollback before any cutover). --seed first adds SCALE x 1000 synthetic patients.

`writer` creates one synthetic patient (POST /api/patients through the front-end server, as a client of the hospital
would) every --interval seconds until --stop-file exists or --duration has passed, and records every attempt (its
time, HTTP status, the id the application answered). `summary` reads that record back: writes made and failed, the
write downtime (the longest run of failed writes, from the first failure to the next write that succeeded) and the
acknowledged ids, which a test then looks for on the new server (a write the application acknowledged and the move
lost would be data loss).

The patients are synthetic (patient_no MOVE-..., a 199... phone number nobody owns, name 迁移探针): run it only
against the lab or a Molecule scenario. It refuses an address outside the lab's 10.89.0.0/16 unless
--synthetic-data is given.

Measured (2026-12-02, lab with spares, 2 cores, `run --seed 100`: 1.19 million rows): seed copy 179.5 MB at 8.34 MB/s
beside a plain pipe at 8.44 MB/s (0.99x); verify 3.1 s per million rows; cutover write downtime 1.84 s, rollback
1.64 s (writes every 100 ms; docs/migration.md, "The benchmark").
"""

import argparse
import ipaddress
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

LAB = ipaddress.ip_network("10.89.0.0/16")


def patient(seq):
    return {
        "patient_no": f"MOVE-{secrets.token_hex(3).upper()}{seq % 10000:04d}",
        "name": "迁移探针",
        "gender": "U",
        "phone": f"199{secrets.randbelow(10**8):08d}",
        "department": "迁移测试",
        "source": "api",
    }


def post(url, body, timeout):
    request = urllib.request.Request(  # noqa: S310 - an https:// URL the operator gave (checked below)
        url.rstrip("/") + "/api/patients",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab's front-end server has a self-signed certificate
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:  # noqa: S310
            data = json.loads(answer.read() or b"{}")
            return answer.status, data.get("id")
    except urllib.error.HTTPError as err:
        return err.code, None
    except (OSError, ValueError) as err:
        return "error: %s" % (getattr(err, "reason", None) or err), None


def writer(url, stop_file, out, interval=0.1, duration=3600.0, timeout=2.0, clock=time.time, sleep=time.sleep):
    """Write until STOP_FILE exists (or DURATION passed); every attempt goes to OUT as one JSON document."""
    attempts = []
    started = clock()
    seq = 0
    next_at = started
    while clock() - started < duration and not (stop_file and Path(stop_file).exists()):
        at = clock()
        status, pid = post(url, patient(seq), timeout)
        attempts.append({"t": round(at, 3), "done": round(clock(), 3), "status": status, "id": pid})
        seq += 1
        next_at += interval
        delay = next_at - clock()
        if delay > 0:
            sleep(delay)
        else:
            next_at = clock()
        if seq % 50 == 0:
            Path(out).write_text(json.dumps({"url": url, "interval": interval, "attempts": attempts}))
    Path(out).write_text(json.dumps({"url": url, "interval": interval, "attempts": attempts}))
    return attempts


def summary(attempts):
    """Writes made and failed, and the write downtime: the longest run of failed writes, from the first failure to
    the next success (a run still failing at the end counts to the last attempt)."""
    ok = [a for a in attempts if a["status"] == 201]
    windows = []
    first_fail = None
    for a in attempts:
        if a["status"] == 201:
            if first_fail is not None:
                windows.append(round(a["done"] - first_fail, 2))
                first_fail = None
        elif first_fail is None:
            first_fail = a["t"]
    if first_fail is not None:
        windows.append(round(attempts[-1]["done"] - first_fail, 2))
    return {
        "attempts": len(attempts),
        "written": len(ok),
        "failed": len(attempts) - len(ok),
        "write_downtime_s": max(windows) if windows else 0.0,
        "failure_windows_s": windows,
        "ids": [a["id"] for a in ok if a.get("id") is not None],
    }


# --- `run`: the whole benchmark on the lab -------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
FEP = "https://10.89.50.11"
OLD, NEW = "mysql1", "mysql2"
OLD_ADDRESS = "10.89.50.21"
DATABASES = ("cloud_followup", "interface_data")


def docker(host, script, check=True):
    proc = subprocess.run(
        ["docker", "exec", f"followup-lab-{host}", "bash", "-c", script], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: on {host}: {script.splitlines()[0][:80]}: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def ops(runs, *args, timeout=1800):
    env = dict(os.environ, FOLLOWUP_OPS_RUNS_DIR=str(runs), PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "followup_ops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, round(time.monotonic() - started, 1)


def move(runs, phase, expect=0):
    proc, took = ops(runs, "migrate", "db", "-i", "inventories/lab", "--engine", "mysql", "--to", NEW, "--phase", phase)
    if proc.returncode != expect:
        raise SystemExit(f"bench: migrate db --phase {phase} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    audit = [json.loads(line) for line in (Path(runs) / "audit.jsonl").read_text().splitlines()]
    return audit[-1], took


def migration_record(runs):
    records = sorted((Path(runs) / "migrations").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(records[-1].read_text())


def phase_data(record, phase):
    found = [p.get("data") or {} for p in record.get("phases") or [] if p.get("phase") == phase]
    return found[-1] if found else {}


def plain_pipe(migration):
    """`mariadb-dump | mariadb` on mysql2 against mysql1, with the move's account, into scratch databases that stay
    out of mysql2's binary log; {bytes, seconds, mb_s}. The option file is the move's secret, 0600, then removed."""
    script = f"""
set -euo pipefail
secret=/etc/followup-dbmove/{migration}.json
umask 077
python3 -c 'import json,sys; print("[client]\\npassword=" + json.load(open(sys.argv[1]))["password"])' "$secret" \
    > /root/.bench-copy.cnf
trap 'rm -f /root/.bench-copy.cnf' EXIT
total=0
start=$(date +%s.%N)
for db in {" ".join(DATABASES)}; do
  mariadb --init-command='SET SESSION sql_log_bin=0' -e "DROP DATABASE IF EXISTS bench_$db; CREATE DATABASE bench_$db"
  n=$(mariadb-dump --defaults-extra-file=/root/.bench-copy.cnf -h {OLD_ADDRESS} -u followup_dbmove \
        --single-transaction --routines --triggers "$db" \
      | tee >(wc -c > /root/.bench-bytes) \
      | mariadb --init-command='SET SESSION sql_log_bin=0' "bench_$db"; sleep 0.2; cat /root/.bench-bytes)
  total=$((total + n))
done
end=$(date +%s.%N)
for db in {" ".join(DATABASES)}; do
  mariadb --init-command='SET SESSION sql_log_bin=0' -e "DROP DATABASE bench_$db"
done
rm -f /root/.bench-bytes
echo "$total $start $end"
"""
    total, start, end = docker(NEW, script).split()[-3:]
    seconds = max(float(end) - float(start), 1e-6)
    return {"bytes": int(total), "seconds": round(seconds, 2), "mb_s": round(int(total) / 1e6 / seconds, 2)}


class Writes:
    """The writer in a thread for the length of a `with`."""

    def __init__(self, base):
        self.stop, self.out = Path(base) / "stop", Path(base) / "writes.json"
        self.thread = threading.Thread(target=writer, args=(FEP, str(self.stop), str(self.out)), daemon=True)

    def __enter__(self):
        self.thread.start()
        time.sleep(2)
        return self

    def __exit__(self, *exc):
        time.sleep(2)
        self.stop.touch()
        self.thread.join(30)

    def summary(self):
        return summary(json.loads(self.out.read_text())["attempts"])


def running():
    proc = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False)
    return proc.stdout.split()


def run(seed=0, as_json=False):
    if f"followup-lab-{NEW}" not in running():
        raise SystemExit("bench: the lab's spare mysql2 is not running: followup-ops lab up --spares, then deploy")
    runs = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    figures = {"runs": str(runs)}
    if seed:
        proc, took = ops(runs, "lab", "seed", "--scale", str(seed))
        if proc.returncode != 0:
            raise SystemExit(f"bench: lab seed failed: {proc.stderr.strip()[-300:]}")
        figures["seed_s"] = took
    rows = docker(
        OLD,
        'mariadb -N -B -e "SELECT SUM(TABLE_ROWS) FROM information_schema.TABLES WHERE '
        "TABLE_SCHEMA IN ('cloud_followup','interface_data')\"",
    )
    figures["rows_estimate"] = int(rows or 0)
    _, figures["plan_prepare_sync_s"] = move(runs, "plan,prepare,sync")
    record = migration_record(runs)
    figures["seed"] = (phase_data(record, "sync").get("seed") or {}) or phase_data(record, "sync")
    figures["plain_pipe"] = plain_pipe(record["id"])
    audit, figures["verify_s"] = move(runs, "verify")
    verify = (audit.get("details") or {}).get("verify") or {}
    figures["verify"] = verify
    if verify.get("rows"):
        figures["verify_s_per_million_rows"] = round(float(verify["seconds"]) * 1e6 / int(verify["rows"]), 1)
    with Writes(runs) as writes:
        audit, figures["cutover_verify_s"] = move(runs, "cutover,verify")
        figures["cutover_downtime_hosts_s"] = (audit.get("details") or {}).get("downtime_s")
    figures["cutover_writes"] = {k: v for k, v in writes.summary().items() if k != "ids"}
    (runs / "stop").unlink()
    with Writes(runs) as writes:
        audit, figures["rollback_verify_s"] = move(runs, "rollback,verify")
        figures["rollback_downtime_hosts_s"] = (audit.get("details") or {}).get("downtime_s")
    figures["rollback_writes"] = {k: v for k, v in writes.summary().items() if k != "ids"}
    _, figures["stop_replication_s"] = move(runs, "rollback")
    if as_json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return figures
    seed_fig, pipe = figures["seed"], figures["plain_pipe"]
    print(f"MySQL move {OLD} -> {NEW} and back on the lab ({figures['rows_estimate']} rows estimated)")
    print(f"  plan,prepare,sync      {figures['plan_prepare_sync_s']:7.1f} s")
    print(
        f"  seed copy (the move)   {seed_fig.get('bytes', 0) / 1e6:7.1f} MB in {seed_fig.get('seconds')} s = "
        f"{seed_fig.get('mb_s')} MB/s"
    )
    print(
        f"  plain dump | load pipe {pipe['bytes'] / 1e6:7.1f} MB in {pipe['seconds']} s = {pipe['mb_s']} MB/s "
        f"(ratio {round((seed_fig.get('mb_s') or 0) / pipe['mb_s'], 2) if pipe['mb_s'] else '-'}x)"
    )
    print(
        f"  verify                 {verify.get('rows')} rows in {verify.get('seconds')} s "
        f"({figures.get('verify_s_per_million_rows', '-')} s per million rows; the phase {figures['verify_s']} s)"
    )
    for step in ("cutover", "rollback"):
        w = figures[f"{step}_writes"]
        print(
            f"  {step:<9} write downtime {w['write_downtime_s']} s (client; hosts' clocks "
            f"{figures[f'{step}_downtime_hosts_s']} s), {w['written']} written, {w['failed']} failed"
        )
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("writer", help="write a synthetic patient every --interval seconds through the fep")
    w.add_argument("--url", required=True, help="https://ADDRESS of the front-end server")
    w.add_argument("--stop-file", required=True, help="stop when this file exists")
    w.add_argument("--out", required=True, help="where the attempts are written (JSON)")
    w.add_argument("--interval", type=float, default=0.1)
    w.add_argument("--duration", type=float, default=3600.0)
    w.add_argument("--synthetic-data", action="store_true", help="allow an address outside the lab's 10.89.0.0/16")
    s = sub.add_parser("summary", help="the downtime and counts of a writer's record")
    s.add_argument("record")
    r = sub.add_parser("run", help="the whole benchmark on the lab (spares up)")
    r.add_argument("--seed", type=int, default=0, metavar="SCALE", help="first add SCALE x 1000 synthetic patients")
    r.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        run(args.seed, args.json)
        return 0
    if args.cmd == "writer":
        host = urllib.parse.urlsplit(args.url).hostname or ""
        try:
            in_lab = ipaddress.ip_address(host) in LAB
        except ValueError:
            in_lab = False
        if urllib.parse.urlsplit(args.url).scheme != "https":
            parser.error("--url must be https://ADDRESS of the front-end server")
        if not in_lab and not args.synthetic_data:
            parser.error(
                f"--url {args.url} is not a lab address (10.89.0.0/16): this writes synthetic patients; "
                "give --synthetic-data only for a test system"
            )
        attempts = writer(args.url, args.stop_file, args.out, interval=args.interval, duration=args.duration)
        result = summary(attempts)
    else:
        try:
            record = json.loads(Path(args.record).read_text())
        except (OSError, ValueError) as err:
            parser.error(f"{args.record}: cannot be read as a writer's record ({err})")
        result = summary(record["attempts"])
    result.pop("ids")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
