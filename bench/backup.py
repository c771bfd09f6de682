#!/usr/bin/env python3
"""Benchmark: our backup and restore against the plain tools, on the same data, in the same run.

    .venv/bin/python bench/backup.py -i inventories/lab [--db mysql|mongodb|all]

Seed the data first (`followup-ops lab seed --scale N`) and set the backup role up (`followup-ops backup -i ...`).
On the first host of each database group it runs, one after the other:

  ours backup    followup-backup backup --db ENGINE   (dump | digests | zstd | age | ssh to the backup host)
  plain backup   mysqldump --single-transaction | zstd    /   mongodump --archive --gzip      (into /dev/shm)
  plain restore  zstd -dc | mysql                        /   mongorestore --gzip --archive   (from /dev/shm)
  ours restore   ssh get | sha256 | age -d | zstd -d | mysql / mongorestore, without the compare
                 (the compare with the manifest is timed apart: verify_s)

Both restores load into the same kind of temporary instance on the database host (a second mariadbd on a unix
socket; PostgreSQL + FerretDB on 127.0.0.1), created and removed by the benchmark. MB/s are of the plaintext dump
(the same bytes for both), ratios are ours / plain (targets: backup >= 0.9, restore >= 1.0). The plain tools' dump
exists only in /dev/shm (memory) during the run: the benchmark is for synthetic lab data, and refuses an inventory
whose name is not "lab" unless --synthetic-data is given.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAYLOAD = r"""
import json, os, subprocess, sys, time
sys.path.insert(0, "/usr/local/lib/followup-backup")
from followup_backup import manifest_relpath
from followup_backup_agent import load_config, target_of, mysql_restore, mongodb_restore, _mongo_password_from
from followup_backup_scratch import MysqlScratch, FerretdbScratch

engine = sys.argv[1]
identity = sys.stdin.read()
cfg = load_config()
target = target_of(cfg)
out = {"engine": engine, "host": cfg["host"]}
shm = "/dev/shm/followup-bench-plain"
work = "/var/lib/followup-backup-bench"

def timed(argv, **kw):
    t = time.time()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (argv[:3], proc.stderr.decode()[-400:]))
    return time.time() - t, proc.stdout

try:
    took, text = timed(["/usr/local/sbin/followup-backup", "backup", "--db", engine])
    ours = json.loads(text)
    out.update(ours_backup_s=took, plaintext_bytes=ours["plaintext_bytes"], stored_bytes=ours["bytes"], id=ours["id"])
    manifest = json.loads(subprocess.run(target.argv("get", manifest_relpath(ours["id"])), stdout=subprocess.PIPE,
                                         check=True).stdout)
    if engine == "mysql":
        m = cfg["mysql"]
        dump = "%s --defaults-extra-file=%s --single-transaction --quick --databases %s" % (
            m["dump_tool"], m["defaults_file"], " ".join(m["databases"]))
        took, _ = timed(["bash", "-o", "pipefail", "-c", "%s | zstd -q -3 -T2 > %s" % (dump, shm)])
        out.update(plain_backup_s=took, plain_stored_bytes=os.path.getsize(shm))
        scratch = MysqlScratch(work)
        conn = scratch.start()
        try:
            took, _ = timed(["bash", "-o", "pipefail", "-c",
                             "zstd -dc %s | mysql --socket=%s --user=root" % (shm, conn["socket"])])
            out["plain_restore_s"] = took
            drop = "".join("DROP DATABASE `%s`;" % d for d in m["databases"])
            subprocess.run(["mysql", "--socket=%s" % conn["socket"], "--user=root", "-e", drop], check=True)
            t = time.time()
            res = mysql_restore({"client_tool": "mysql", "dump_tool": m["dump_tool"]}, manifest, identity,
                                target.get_argv(manifest["archive"]["path"]), socket=conn["socket"], verify=False)
            out["ours_restore_s"] = time.time() - t
            t = time.time()
            from followup_backup_agent import mysql_dump_digest
            from followup_backup import compare_objects
            diffs = compare_objects(manifest["objects"], mysql_dump_digest({"dump_tool": m["dump_tool"]},
                                                                           m["databases"], socket=conn["socket"]))
            out.update(verify_s=time.time() - t, verified=not diffs)
        finally:
            scratch.stop()
    else:
        g = cfg["mongodb"]
        dump = "%s --quiet --archive --gzip --db=%s --uri=%s --config=%s" % (
            g["dump_tool"], g["database"], g["dump_uri"], g["config_file"])
        took, _ = timed(["bash", "-o", "pipefail", "-c", "%s > %s" % (dump, shm)])
        out.update(plain_backup_s=took, plain_stored_bytes=os.path.getsize(shm))
        tools = os.path.dirname(g["dump_tool"])
        scratch = FerretdbScratch(work, os.path.join(tools, "ferretdb"))
        conn = scratch.start()
        try:
            took, _ = timed([os.path.join(tools, "mongorestore"), "--quiet", "--archive=%s" % shm, "--gzip",
                             "--uri=%s" % conn["uri"], "--nsInclude=%s.*" % g["database"]])
            out["plain_restore_s"] = took
            import pymongo
            pymongo.MongoClient(conn["uri"]).drop_database(g["database"])
            t = time.time()
            res = mongodb_restore(manifest, identity, target.get_argv(manifest["archive"]["path"]), conn["uri"],
                                  restore_tool=os.path.join(tools, "mongorestore"), verify=False)
            out["ours_restore_s"] = time.time() - t
        finally:
            scratch.stop()
finally:
    if os.path.exists(shm):
        os.unlink(shm)
with open("/root/followup-bench.json", "w") as handle:
    json.dump(out, handle)
"""

PLAYBOOK = """
- name: Benchmark on {group}
  hosts: "{group}[0]"
  become: true
  gather_facts: false
  tasks:
    - name: Install the benchmark program
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.file', '{payload}') }}}}\\n"
        dest: /root/followup-bench.py
        mode: "0700"
    - name: Run it (the identity on stdin, for our restore)
      ansible.builtin.shell: python3 /root/followup-bench.py {engine}
      args:
        stdin: "{{{{ backup_age_identity }}}}"
      no_log: true
      changed_when: true
    - name: Fetch the figures
      ansible.builtin.fetch:
        src: /root/followup-bench.json
        dest: "{out}/{engine}.json"
        flat: true
    - name: Remove the benchmark program and its figures
      ansible.builtin.file:
        path: "{{{{ item }}}}"
        state: absent
      loop: [/root/followup-bench.py, /root/followup-bench.json]
"""


def rate(nbytes, seconds):
    return nbytes / 1e6 / seconds if seconds else float("nan")


def report(fig):
    size = fig["plaintext_bytes"]
    lines = [f"{fig['engine']} on {fig['host']}: {size / 1e6:.1f} MB of dump ({fig['id']})"]
    rows = [
        ("backup", fig["ours_backup_s"], fig["plain_backup_s"], 0.9),
        ("restore", fig["ours_restore_s"], fig["plain_restore_s"], 1.0),
    ]
    for what, ours, plain, target in rows:
        ratio = plain / ours if ours else float("nan")
        verdict = "meets" if ratio >= target else "BELOW"
        lines.append(
            f"  {what:8s} ours {rate(size, ours):7.1f} MB/s ({ours:6.1f} s)   plain {rate(size, plain):7.1f} MB/s "
            f"({plain:6.1f} s)   ratio {ratio:4.2f} ({verdict} the {target:.1f}x target)"
        )
    lines.append(
        f"  stored   ours {fig['stored_bytes'] / 1e6:.1f} MB (zstd+age)   "
        f"plain {fig['plain_stored_bytes'] / 1e6:.1f} MB"
    )
    if "verify_s" in fig:
        lines.append(f"  compare with the manifest (ours only): {fig['verify_s']:.1f} s, equal: {fig['verified']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--db", choices=("mysql", "mongodb", "all"), default="all")
    parser.add_argument("--vault-password-file")
    parser.add_argument("--synthetic-data", action="store_true", help="the inventory holds synthetic data only")
    args = parser.parse_args(argv)
    inventory = Path(args.inventory)
    if inventory.name not in ("lab",) and not args.synthetic_data and "molecule" not in str(inventory):
        parser.error(
            f"{inventory} is not the lab: the plain tools' dump would sit in memory unencrypted; "
            "pass --synthetic-data if it holds synthetic data only"
        )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload.py"
        payload.write_text(PAYLOAD)
        for engine, group in (("mysql", "mysql"), ("mongodb", "mongo")):
            if args.db not in (engine, "all"):
                continue
            book = Path(tmp) / f"{engine}.yml"
            book.write_text(PLAYBOOK.format(group=group, engine=engine, payload=payload, out=tmp))
            cmd = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), str(book)]
            if args.vault_password_file:
                cmd += ["--vault-password-file", args.vault_password_file]
            env = dict(os.environ)
            env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"bench: {engine} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            results[engine] = json.loads((Path(tmp) / f"{engine}.json").read_text())
    for fig in results.values():
        print(report(fig))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
