#!/usr/bin/env python3
"""The test of the database moves on the migrate_db scenario (run by verify.yml; also by hand after converge):

    MOLECULE_PROJECT_DIRECTORY=$PWD .venv/bin/python molecule/migrate_db/drive.py [--only mysql|mongodb]

It drives `followup-ops migrate db` against the scenario's inventory as an operator would, while a client creates a
synthetic patient through the front-end server every 100 ms (bench/migrate.py writer), and checks each step on the
servers themselves (docker exec). Prints one JSON document (the figures) and exits 1 on the first check that fails.

MySQL mysql1 -> mysql2: bad input refused (exit 2, nothing changed), a target lacking disk refused, plan, prepare,
sync, verify; a difference made on the new server is found by verify (exit 4) and refuses the cutover (exit 2); a
replica held back (FLUSH TABLES WITH READ LOCK) refuses the cutover on its lag; cutover, verify, rollback, verify,
cutover, verify, finish; every write the application acknowledged is on mysql2 at the end and writes failed only
inside the three switches (each under 10 s). Then the inventory diff is committed to a copy of the inventory (as
the operator would), and MongoDB mongo1 -> mongo2 by dump/restore on FerretDB: a cutover with the uncommitted
inventory refused, plan, prepare, sync, cutover, verify, finish, the documents equal.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[2])
INVENTORY = ROOT / "molecule/migrate_db/inventory"
# The committed copy sits at the same depth under the project as the scenario's inventory (its group_vars find the
# project as inventory_dir/../../..).
COMMITTED = ROOT / "runs/migrate-db-committed/inventory"
FEP = "https://10.89.85.11"
MYSQL1, MYSQL2 = "molecule-migrate-mysql1", "molecule-migrate-mysql2"
MONGO1, MONGO2 = "molecule-migrate-mongo1", "molecule-migrate-mongo2"
MONGO_URI = "mongodb://cdr_app:molecule-test-only-app@%s:27017/cdr?authSource=cdr&authMechanism=PLAIN"
FIGURES = {"steps": []}


class CheckFailed(Exception):
    pass


def check(condition, what, detail=""):
    if not condition:
        raise CheckFailed("{}{}".format(what, (": " + str(detail)[-1500:]) if detail else ""))


def bench():
    spec = importlib.util.spec_from_file_location("bench_migrate", ROOT / "bench/migrate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "src")
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e["MOLECULE_PROJECT_DIRECTORY"] = str(ROOT)
    return e


def cli(engine, target, phase, expect, inventory=INVENTORY, words=()):
    argv = [sys.executable, "-m", "followup_ops", "migrate", "db", "-i", str(inventory), "--engine", engine]
    argv += ["--to", target, "--phase", phase]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env(), cwd=ROOT, check=False)
    took = round(time.monotonic() - started, 1)
    out = proc.stdout + proc.stderr
    FIGURES["steps"].append({"engine": engine, "to": target, "phase": phase, "rc": proc.returncode, "s": took})
    check(
        proc.returncode == expect,
        f"migrate db {engine} --to {target} --phase {phase} exit {proc.returncode}, not {expect}",
        out,
    )
    for word in words:
        check(word in out, f"migrate db {engine} --phase {phase} does not say {word!r}", out)
    return out


def playbook(*extra, inventories=()):
    argv = ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks/migrate_db.yml")]
    for source in inventories:
        argv += ["-i", str(source)]
    for item in extra:
        argv += ["-e", item]
    bindir = str(Path(sys.executable).parent)
    e = env()
    e["PATH"] = bindir + os.pathsep + e.get("PATH", "")
    return subprocess.run(argv, capture_output=True, text=True, env=e, cwd=ROOT, check=False)


def sql(host, statement):
    proc = subprocess.run(
        ["docker", "exec", host, "mysql", "-N", "-B", "-e", statement], capture_output=True, text=True, check=False
    )
    check(proc.returncode == 0, f"SQL on {host} failed", proc.stderr)
    return proc.stdout.strip()


def active(host, unit):
    return subprocess.run(
        ["docker", "exec", host, "systemctl", "is-active", unit], capture_output=True, text=True, check=False
    ).stdout.strip()


def last_report():
    runs = sorted((ROOT / "runs").glob("*-migrate-db/operation.json"), key=lambda p: p.stat().st_mtime)
    record = json.loads(runs[-1].read_text())
    return record.get("report", record)


def phase_data(report, phase):
    return (((report.get("data") or {}).get("migration") or {}).get("phases") or {}).get(phase) or {}


class Writer:
    def __init__(self, name):
        self.stop = ROOT / "runs" / (f"migrate-db-{name}.stop")
        self.out = ROOT / "runs" / (f"migrate-db-{name}.writes.json")
        self.stop.unlink(missing_ok=True)
        self.mod = bench()
        self.thread = threading.Thread(target=self.mod.writer, args=(FEP, str(self.stop), str(self.out)), daemon=True)

    def __enter__(self):
        self.thread.start()
        time.sleep(2)
        return self

    def __exit__(self, *exc):
        self.stop.touch()
        self.thread.join(30)

    def summary(self):
        return self.mod.summary(json.loads(self.out.read_text())["attempts"])


def mysql_moves():
    # Bad input: one line, exit 2, nothing changed.
    cli("mysql", "molecule-migrate-nosuch", "plan", 2, words=["is not a host of the inventory"])
    cli("mysql", "molecule-migrate-app", "prepare", 2, words=["is in use"])
    # The thresholds are the inventory's alone (an extra variable setting one is refused by the gates): the target's
    # need for free disk is raised in a second inventory source that names only that host.
    proc = playbook("db_move_engine=mysql", f"db_move_target={MYSQL2}", "db_move_min_free_bytes=1")
    check(
        proc.returncode != 0 and "may not be passed on the command line" in proc.stdout + proc.stderr,
        "an extra variable lowering a migration threshold is refused",
        proc.stdout[-1500:],
    )
    needs = ROOT / "runs/migrate-db-needs.yml"
    needs.parent.mkdir(parents=True, exist_ok=True)
    needs.write_text(f"all:\n  hosts:\n    {MYSQL2}:\n      db_move_min_free_bytes: 1000000000000000\n")
    proc = playbook("db_move_engine=mysql", f"db_move_target={MYSQL2}", "db_move_phase=plan", inventories=[needs])
    check(
        proc.returncode != 0 and "lacks disk" in proc.stdout + proc.stderr,
        "a target lacking disk is refused",
        proc.stdout[-1500:],
    )
    check(active(MYSQL2, "mariadb") != "active", f"nothing was installed on {MYSQL2} by the refusals")
    with Writer("mysql") as writer:
        cli("mysql", MYSQL2, "plan,prepare,sync", 0, words=["caught up"])
        cli("mysql", MYSQL2, "verify", 0, words=["equal:"])
        # A difference on the new server (outside its binary log): verify finds it, the cutover is refused.
        # The first patient's name gets one more character on mysql2 only, then loses it again.
        change = (
            "SET SESSION sql_log_bin = 0; UPDATE cloud_followup.patients SET name = %s, updated_at = updated_at "
            "ORDER BY id LIMIT 1"
        )
        sql(MYSQL2, change % "CONCAT(name, '#')")
        cli("mysql", MYSQL2, "verify", 4, words=["DIFFERENT", "cloud_followup.patients"])
        cli("mysql", MYSQL2, "cutover", 2, words=["cloud_followup.patients"])
        check(sql(MYSQL1, "SELECT @@read_only") == "0", "the refused cutover left the old server writable")
        sql(MYSQL2, change % "LEFT(name, CHAR_LENGTH(name) - 1)")
        # A replica held back: the lag does not reach zero, the cutover is refused.
        hold = subprocess.Popen(
            ["docker", "exec", MYSQL2, "mysql", "-e", "FLUSH TABLES WITH READ LOCK; SELECT SLEEP(300)"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(3)
        try:
            cli("mysql", MYSQL2, "cutover", 2, words=["did not reach zero"])
        finally:
            held = sql(MYSQL2, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(300)'")
            for pid in held.split():
                sql(MYSQL2, f"KILL {int(pid)}")
            hold.wait(30)
        check(sql(MYSQL1, "SELECT @@read_only") == "0", "the refused cutover left the old server writable")
        # The moves.
        cli("mysql", MYSQL2, "verify", 0, words=["equal:"])
        cli("mysql", MYSQL2, "cutover", 0)
        FIGURES["mysql_cutover_1_s"] = phase_data(last_report(), "cutover").get("write_downtime_s")
        check(
            sql(MYSQL2, "SELECT @@read_only") == "0" and sql(MYSQL1, "SELECT @@read_only") == "1",
            "after the cutover mysql2 takes writes and mysql1 is read-only",
        )
        cli("mysql", MYSQL2, "verify", 0, words=["equal:"])
        cli("mysql", MYSQL2, "rollback,verify", 0, words=["equal:"])
        FIGURES["mysql_rollback_s"] = phase_data(last_report(), "rollback").get("write_downtime_s")
        check(sql(MYSQL1, "SELECT @@read_only") == "0", "after the rollback mysql1 takes writes again")
        cli("mysql", MYSQL2, "cutover,verify", 0, words=["equal:"])
        FIGURES["mysql_cutover_2_s"] = phase_data(last_report(), "cutover").get("write_downtime_s")
        cli("mysql", MYSQL2, "finish", 0)
        time.sleep(2)
    writes = writer.summary()
    have = set(int(x) for x in sql(MYSQL2, "SELECT id FROM cloud_followup.patients").split())
    lost = [i for i in writes["ids"] if int(i) not in have]
    FIGURES["mysql_writes"] = {k: v for k, v in writes.items() if k != "ids"}
    FIGURES["mysql_lost"] = len(lost)
    check(not lost, "every acknowledged write is on mysql2", lost[:10])
    check(writes["written"] > 100, "the writer wrote", writes)
    check(
        len(writes["failure_windows_s"]) <= 3 and writes["write_downtime_s"] < 10,
        "writes failed only inside the three switches, each under 10 s",
        writes,
    )
    check(active(MYSQL1, "mariadb") == "inactive", "finish stopped the old server")
    # The operator commits the inventory change the move wrote.
    diffs = sorted((ROOT / "runs/migrations").glob("db-mysql-*.inventory.diff"), key=lambda p: p.stat().st_mtime)
    if COMMITTED.exists():
        shutil.rmtree(COMMITTED)
    COMMITTED.mkdir(parents=True)
    os.symlink(INVENTORY / "group_vars", COMMITTED / "group_vars")
    proc = subprocess.run(
        ["patch", "-s", "-o", str(COMMITTED / "hosts.yml"), str(INVENTORY / "hosts.yml"), str(diffs[-1])],
        capture_output=True,
        text=True,
        check=False,
    )
    check(proc.returncode == 0, "the inventory diff applies to the inventory", proc.stdout + proc.stderr)


def mongodb_moves():
    import pymongo

    client = pymongo.MongoClient(MONGO_URI % "10.89.85.22", serverSelectionTimeoutMS=5000)
    coll = client.cdr.move_probe_calls
    coll.drop()
    coll.insert_many(
        [{"call_id": f"MOVE-{i:05d}", "seconds": i % 300, "outcome": ("answered", "busy")[i % 2]} for i in range(5000)]
    )
    coll.create_index([("call_id", 1)], unique=True, name="call_id_unique")
    if not COMMITTED.exists():
        shutil.copytree(INVENTORY, COMMITTED, symlinks=True)
    cli("mongodb", MONGO2, "plan,prepare,sync", 0, inventory=COMMITTED)
    if (COMMITTED / "hosts.yml").read_text() != (INVENTORY / "hosts.yml").read_text():
        # The uncommitted inventory would point the application back at the retired MySQL server.
        cli("mongodb", MONGO2, "cutover", 1, words=["the inventory does not say what the"])
    cli("mongodb", MONGO2, "cutover,verify", 0, inventory=COMMITTED, words=["equal:"])
    FIGURES["mongodb_window_s"] = phase_data(last_report(), "cutover").get("write_downtime_s")
    target = pymongo.MongoClient(MONGO_URI % "10.89.85.24", serverSelectionTimeoutMS=5000)
    check(target.cdr.move_probe_calls.count_documents({}) == 5000, "the 5000 documents are on mongo2")
    check("call_id_unique" in target.cdr.move_probe_calls.index_information(), "the index is on mongo2")
    cli("mongodb", MONGO2, "finish", 0, inventory=COMMITTED)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["mysql", "mongodb"])
    args = parser.parse_args()
    started = time.monotonic()
    try:
        if args.only in (None, "mysql"):
            mysql_moves()
        if args.only in (None, "mongodb"):
            mongodb_moves()
    except CheckFailed as err:
        FIGURES["failed"] = str(err)
    FIGURES["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(FIGURES, ensure_ascii=False))
    return 1 if "failed" in FIGURES else 0


if __name__ == "__main__":
    sys.exit(main())
