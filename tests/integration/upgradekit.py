"""Pieces of tests/integration/test_upgrade.py, test_upgrade_killed.py (and bench/upgrade.py): signed approvals made
with the lab approver key, test release repositories with extra releases built for the purpose, inventory copies,
fingerprints of what the hosts run and hold (to prove that nothing changed, and that data equals what it was), an
upgrade killed with SIGKILL inside a chosen step, and the way back to 1.0.0 after an upgrade."""

import contextlib
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ROOT / "build" / "releases"
LAB_INVENTORY = ROOT / "inventories" / "lab"
APPROVER_KEY = ROOT / ".lab" / "approver-key"
RELEASE_KEY = ROOT / ".lab" / "release-key"
TZ8 = datetime.timezone(datetime.timedelta(hours=8))
CONTAINER = "followup-lab-"


def _approval():
    import ansible.module_utils

    if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
    from ansible.module_utils import followup_approval, followup_sshsig

    return followup_approval, followup_sshsig


def index_sha(repository, version):
    index = yaml.safe_load((Path(repository) / "index.yml").read_text())
    return next(r["sha256"] for r in index["releases"] if r["version"] == version)


def make_approval(
    directory,
    *,
    change_id,
    from_release,
    to_release,
    repository=RELEASES,
    environment="lab",
    valid_hours=8,
    approved_hours_ago=1,
    key=APPROVER_KEY,
    sign=True,
    release_sha256=None,
    test_document=b"%PDF-1.4 rehearsal of the upgrade (test document stand-in)\n",
):
    """A signed approval.yml (and its test document) in DIRECTORY; returns its path."""
    fa, sshsig = _approval()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = directory / "test-document.pdf"
    if not doc.exists():
        doc.write_bytes(test_document)
    now = datetime.datetime.now(TZ8).replace(microsecond=0)
    fields = {
        "format": 1,
        "change_id": change_id,
        "system": "followup",
        "environment": environment,
        "from_release": from_release,
        "to_release": to_release,
        "release_sha256": release_sha256 or index_sha(repository, to_release),
        "test_document": doc.name,
        "test_document_sha256": hashlib.sha256(doc.read_bytes()).hexdigest(),
        "approver": "王丽 (信息科)",
        "approved_at": (now - datetime.timedelta(hours=approved_hours_ago)).isoformat(),
        "valid_until": (now + datetime.timedelta(hours=valid_hours)).isoformat(),
        "notes": "integration test",
    }
    path = directory / "approval.yml"
    data = fa.render(fields).encode()
    path.write_bytes(data)
    sig = Path(str(path) + ".sig")
    sig.unlink(missing_ok=True)
    if sign:
        sig.write_bytes(sshsig.sign(data, str(key), fa.NAMESPACE))
    return path


def other_key(directory):
    key = Path(directory) / "stranger"
    key.parent.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


# -- test releases ---------------------------------------------------------------------------------------------------

# What each extra release 1.3.0 carries (a migration V007 of cloud_followup, and a change to the app).
MIGRATIONS = {
    "good": "ALTER TABLE followup_tasks ADD COLUMN upgrade_note VARCHAR(64) NULL;\n",
    # Fails at once: the server refuses the statement (unknown column), nothing of it ran.
    "failing": "UPDATE followup_tasks SET no_such_column = 1;\n",
    # Fails halfway through its DDL: the first ALTER is committed by MySQL, the second refused.
    "halfway": (
        "ALTER TABLE followup_tasks ADD COLUMN upgrade_half INT NULL;\n"
        "ALTER TABLE followup_tasks ADD COLUMN upgrade_broken INT NOT NULL DEFAULT 'x';\n"
    ),
    "unhealthy": "ALTER TABLE followup_tasks ADD COLUMN upgrade_note VARCHAR(64) NULL;\n",
}
UNHEALTHY_PATCH = (
    "    def health(self, _request):\n",
    "    def health(self, _request):\n"
    '        if self.version.startswith("1.3."):\n'
    '            return 503, {"status": "DOWN", "version": self.version, "checks": {"release": "DOWN"}}\n',
)


def build_test_repository(out, kind, version="1.3.0", release_date="2026-11-20"):
    """A release repository at OUT: build/releases' tarballs (byte for byte) plus release VERSION built from a copy of
    standin/ with the migration of KIND, its index signed with the lab release key. Returns OUT."""
    out = Path(out)
    source = out.parent / f"standin-{kind}"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(ROOT / "standin", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    catalogue = yaml.safe_load((source / "releases.yml").read_text())
    schema = dict(catalogue["releases"][-1]["schema"])
    schema["mysql"] = dict(schema["mysql"], cloud_followup=7)
    catalogue["releases"].append(
        {
            "version": version,
            "release_date": release_date,
            "description": f"test release ({kind})",
            "schema": schema,
        }
    )
    (source / "releases.yml").write_text(yaml.safe_dump(catalogue, allow_unicode=True, sort_keys=False))
    (source / "migrations" / "mysql" / "cloud_followup" / f"V007__upgrade_test_{kind}.sql").write_text(MIGRATIONS[kind])
    if kind == "unhealthy":
        api = source / "components" / "app" / "followup_app" / "api.py"
        text = api.read_text()
        assert UNHEALTHY_PATCH[0] in text
        api.write_text(text.replace(UNHEALTHY_PATCH[0], UNHEALTHY_PATCH[1], 1))
    out.mkdir(parents=True, exist_ok=True)
    for tarball in RELEASES.glob("followup-*.tar.gz"):
        shutil.copy2(tarball, out / tarball.name)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "build_releases.py"),
            "--source",
            str(source),
            "--output",
            str(out),
            "--only",
            version,
            "--sign-key",
            str(RELEASE_KEY),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def inventory_copy(directory, repository=None, extra=None):
    """A copy of the lab inventory (absolute paths to .lab/ and build/) whose release repository is REPOSITORY."""
    inv = Path(directory) / "inventory"
    if inv.exists():
        shutil.rmtree(inv)
    shutil.copytree(LAB_INVENTORY, inv)
    # "{{ inventory_dir [| default(...)] }}/../../x" and "(inventory_dir [| default(...)]) ~ '/../../x" -> ROOT/x
    template = re.compile(r"\{\{ inventory_dir(?: \| default\(ansible_inventory_sources\[0\]\))? \}\}/\.\./\.\./")
    expression = re.compile(r"\(?inventory_dir(?: \| default\(ansible_inventory_sources\[0\]\))?\)? ~ '/\.\./\.\./")
    for path in inv.rglob("*.yml"):
        text = path.read_text()
        new = expression.sub(f"'{ROOT}/' ~ '", template.sub(f"{ROOT}/", text))
        if new != text:
            path.write_text(new)
    leftover = [str(p) for p in inv.rglob("*.yml") if "inventory_dir" in p.read_text()]
    assert not leftover, f"inventory_copy cannot rewrite inventory_dir in {leftover}"
    if repository is not None:
        followup = inv / "group_vars" / "all" / "followup.yml"
        data = yaml.safe_load(followup.read_text())
        data["followup_release_repository"] = str(repository)
        followup.write_text(yaml.safe_dump(data))
    if extra:
        (inv / "group_vars" / "all" / "zz_test.yml").write_text(yaml.safe_dump(extra))
    return inv


# -- what the hosts hold ---------------------------------------------------------------------------------------------


def docker(host, *command, check=True):
    proc = subprocess.run(["docker", "exec", CONTAINER + host, *command], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(command)}: {proc.stderr.strip()}")
    return proc.stdout


def host_fingerprint():
    """What an upgrade could change on the hosts, as text per host: the live releases and their start drop-ins,
    the installed releases, nginx's included files, the upgrade's records, the sidecar unit."""
    script = (
        "for c in app fep voice; do [ -e /opt/followup/$c ] && { readlink /opt/followup/$c/current; "
        "ls /opt/followup/$c/releases; cat /etc/systemd/system/followup-$c.service.d/start.conf; "
        "md5sum /opt/followup/$c/releases/*/.release.json; }; done; "
        "md5sum /etc/nginx/followup-ops/* 2>/dev/null; ls -l --time-style=+%s /var/lib/followup-ops "
        "/var/lib/followup-ops/approvals 2>/dev/null; md5sum /var/lib/followup-ops/*.json "
        "/var/lib/followup-ops/approvals/* 2>/dev/null; ls /etc/systemd/system | grep sidecar; true"
    )
    return {h: docker(h, "sh", "-c", script) for h in ("fep1", "app1", "voice1", "mysql1", "mongo1")}


DATA_SCRIPT = r"""
import hashlib, json, re
import pymysql, pymongo
env = {}
for line in open('/opt/followup/app/shared/app.env'):
    m = re.match(r'([A-Z_]+)="(.*)"$', line.strip())
    if m:
        env[m.group(1)] = m.group(2).replace('\\"', '"').replace('\\\\', '\\')
out = {}
conn = pymysql.connect(host=env['FOLLOWUP_MYSQL_HOST'], port=int(env['FOLLOWUP_MYSQL_PORT']),
                       user=env['FOLLOWUP_MYSQL_USER'], password=env['FOLLOWUP_MYSQL_PASSWORD'],
                       database=env['FOLLOWUP_MYSQL_DATABASE'])
with conn.cursor() as cur:
    cur.execute('SHOW TABLES')
    for (table,) in cur.fetchall():
        cur.execute('SELECT COUNT(*) FROM `%s`' % table)
        count = cur.fetchone()[0]
        cur.execute('CHECKSUM TABLE `%s`' % table)
        out['mysql:' + table] = [count, str(cur.fetchone()[1])]
    cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=DATABASE() "
                "AND TABLE_NAME='followup_tasks' ORDER BY ORDINAL_POSITION")
    out['mysql:columns:followup_tasks'] = [r[0] for r in cur.fetchall()]
client = pymongo.MongoClient(env['FOLLOWUP_MONGODB_URI'])
db = client[env['FOLLOWUP_MONGODB_DATABASE']]
for name in sorted(db.list_collection_names()):
    docs = list(db[name].find({}, sort=[('_id', 1)]))
    text = json.dumps(docs, sort_keys=True, default=str).encode()
    out['mongodb:' + name] = [len(docs), hashlib.sha256(text).hexdigest()]
print(json.dumps(out))
"""


def data_fingerprint():
    """Per table of cloud_followup (row count, CHECKSUM TABLE) and collection of cdr (count, sha256 of the documents
    in _id order), read on the application server with its own account; and followup_tasks' columns."""
    return json.loads(docker("app1", "python3", "-c", DATA_SCRIPT))


# Every component at the session's release (conftest.py `deployed`), as current_versions() gives it.
FIRST_VERSIONS = {"app": "1.0.0", "fep": "1.0.0", "voice": "1.0.0"}


def current_versions():
    return {
        c: docker(h, "readlink", f"/opt/followup/{c}/current").strip().rsplit("/", 1)[-1]
        for h, c in (("app1", "app"), ("fep1", "fep"), ("voice1", "voice"))
    }


def fep_answers():
    """One read through the front-end server, as a client does: (kind, status) of followup_ops' probe."""
    from followup_ops.commands.rehearse import PROBE_PATH, Probe, fep_url

    probe = Probe(fep_url(LAB_INVENTORY) + PROBE_PATH)
    probe.once()
    return probe.samples[-1][1:3]


def figure(name, seconds):
    sys.stdout.write(f"\nfigure: {name}: {seconds:.1f} s\n")


def run(ops, name, *args, timeout=1800):
    started = time.monotonic()
    proc = ops(*args, timeout=timeout)
    figure(name, time.monotonic() - started)
    return proc


# The steps an upgrade may be killed at: before the backup, during it, during the migrations, with the new release
# beside the old, after the switch.
KILL_STEPS = ("install", "backup", "migrate", "sidecar", "switch_app", "health")


# The play that starts each step the test may kill at (playbooks/upgrade.yml), as the command prints it. The hosts
# record only the steps a recovery needs (start, backup, migrate), so the command's own output tells where it is.
STEP_PLAYS = {
    "install": "== Upgrade | install the new release beside the live one",
    "backup": "== Upgrade | back up both databases",
    "migrate": "== Upgrade | migrate both databases",
    "sidecar": "== Upgrade | start the application's new release beside the live one",
    "switch_app": "== Upgrade | switch the application's live unit",
    "health": "== Upgrade | health gate",
}
assert set(STEP_PLAYS) == set(KILL_STEPS)


def step_reached(output):
    """The furthest of KILL_STEPS whose play the command's OUTPUT has started, or None."""
    started = [step for step in KILL_STEPS if STEP_PLAYS[step] in output]
    return started[-1] if started else None


def process_tree(pid):
    """PID and every process descended from it (ansible-runner starts ansible-playbook in a session of its own, so
    killing the command's process group alone would leave the playbook running, holding the hosts' leases)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def marked(marker):
    """The processes whose environment holds MARKER (every child inherits the command's FOLLOWUP_OPS_RUNS_DIR, even
    one that left the tree by a double fork)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def kill_tree(pid, marker):
    """SIGKILL to PID, all its descendants and every process marked as the command's, at once: a control node losing
    power."""
    for victim in set(process_tree(pid)) | set(marked(marker)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def killed_upgrade(ops, approval, kill_at=None):
    """The upgrade started and killed with SIGKILL (the command and every descendant) inside step KILL_AT (default
    FOLLOWUP_UPGRADE_KILL_AT, else one at random) 0-1.5 s after its play started; returns what was seen:
    {kill_at, reached, returncode, output}."""
    kill_at = kill_at or os.environ.get("FOLLOWUP_UPGRADE_KILL_AT") or random.choice(KILL_STEPS)
    assert kill_at in KILL_STEPS, f"FOLLOWUP_UPGRADE_KILL_AT={kill_at}: not one of {', '.join(KILL_STEPS)}"
    sys.stdout.write(f"\nkilled upgrade: kill at step {kill_at}\n")
    started = time.monotonic()
    proc, out = ops.spawn("upgrade", "-i", "inventories/lab", "--approval", str(approval))
    reached = None
    try:
        while proc.poll() is None and time.monotonic() - started < 1500:
            reached = step_reached(out.read_text(errors="replace"))
            if reached and KILL_STEPS.index(reached) >= KILL_STEPS.index(kill_at):
                time.sleep(random.uniform(0, 1.5))
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid, f"FOLLOWUP_OPS_RUNS_DIR={ops.runs_dir}".encode())
        proc.wait(timeout=60)
    figure(f"upgrade killed in step {reached}", time.monotonic() - started)
    return {"kill_at": kill_at, "reached": reached, "returncode": proc.returncode, "output": out.read_text()[-3000:]}


def back_to_first(ops, record, newest):
    """The lab back at 1.0.0 after an upgrade whose audit RECORD names its pre-upgrade backups: restore them, then
    deploy 1.0.0 (which also lifts anything an upgrade left: the maintenance answer, a stopped interface service).
    MySQL first: a refused MongoDB restore (seen on the lab, cdr_app's password refused by FerretDB's PostgreSQL in
    the restore command's target check) then leaves a lab that `deploy NEWEST` makes coherent again."""
    for backup in sorted((record.get("details") or {}).get("backups") or [], reverse=True):
        restore = run(
            ops,
            f"teardown: restore {backup}",
            "restore",
            "-i",
            "inventories/lab",
            "--backup",
            backup,
            "--overwrite-nonempty",
        )
        if restore.returncode != 0:
            run(
                ops,
                f"teardown: deploy {newest} (restore refused)",
                "deploy",
                "-i",
                "inventories/lab",
                "--release",
                newest,
            )
        assert restore.returncode == 0, restore.stderr
    deploy = run(ops, "teardown: deploy 1.0.0", "deploy", "-i", "inventories/lab", "--release", "1.0.0", timeout=2400)
    assert deploy.returncode == 0, deploy.stderr
    assert current_versions() == FIRST_VERSIONS
