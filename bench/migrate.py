#!/usr/bin/env python3
"""Benchmark of a database move: the write downtime a cutover causes, measured by probe writes every 100 ms.

    .venv/bin/python bench/migrate.py writer --url https://10.89.85.11 --stop-file /tmp/stop --out writes.json
    .venv/bin/python bench/migrate.py summary writes.json

`writer` creates one synthetic patient (POST /api/patients through the front-end server, as a client of the hospital
would) every --interval seconds until --stop-file exists or --duration has passed, and records every attempt (its
time, HTTP status, the id the application answered). `summary` reads that record back: writes made and failed, the
write downtime (the longest run of failed writes, from the first failure to the next write that succeeded) and the
acknowledged ids, which a test then looks for on the new server (a write the application acknowledged and the move
lost would be data loss).

The patients are synthetic (patient_no MOVE-..., a 199... phone number nobody owns, name 迁移探针): run it only
against the lab or a Molecule scenario. It refuses an address outside the lab's 10.89.0.0/16 unless
--synthetic-data is given.

Not built yet (docs/migration.md): the copy throughput against a plain `mysqldump | mysql` pipe between the same
hosts, and the verify time per million rows on seeded data.
"""

import argparse
import ipaddress
import json
import secrets
import ssl
import sys
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
    args = parser.parse_args(argv)
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
