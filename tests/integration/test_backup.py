"""Backups of the seeded lab through the command line: backup, list, drill, a refused restore, PITR, and what a
secret or the patient data may never reach. Needs the lab with backup1 (group backup) and the vault keys
vault_backup_age_identity / vault_backup_age_recipient (docs/backup.md, "Lab"). Lean: one seed at scale 1, one
backup of each engine, one drill, one PITR restore (about 4 minutes on the 2-core machine, estimated)."""

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def sh(host, command, timeout=120):
    """Run COMMAND as root in a lab container (test assertions only; the product never uses docker exec)."""
    return subprocess.run(
        ["docker", "exec", f"followup-lab-{host}", "bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def backed_up(ops, deployed):
    seed = ops("lab", "seed", "--scale", "1", timeout=1800)
    assert seed.returncode == 0, seed.stderr
    proc = ops("backup", "-i", "inventories/lab", timeout=1800)
    assert proc.returncode == 0, proc.stderr
    record = ops.audit()[-1]
    assert record["command"] == "backup" and record["outcome"] == "ok"
    return record


def test_backup_records_both_engines_with_sizes_and_throughput(backed_up):
    backups = {b["engine"]: b for b in backed_up["details"]["backups"]}
    assert set(backups) == {"mysql", "mongodb"}
    for backup in backups.values():
        assert backup["bytes"] > 0 and backup["plaintext_bytes"] > backup["bytes"] / 50
        assert backup["throughput_mb_s"] > 0 and len(backup["sha256"]) == 64
    assert backups["mysql"]["pitr"] is True
    assert backups["mongodb"]["pitr"] is False  # FerretDB: standalone, no --oplog


def test_backup_list_shows_tier_size_and_verification(ops, backed_up):
    proc = ops("backup", "list", "-i", "inventories/lab", "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    ids = [b["id"] for b in backed_up["details"]["backups"]]
    for bid in ids:
        row = listing["backups"][bid]
        assert row["tier"] in ("daily", "weekly", "monthly", "quarterly")
        assert row["bytes"] > 0 and row["complete"]


def test_drill_restores_into_a_temporary_instance_and_passes(ops, backed_up):
    proc = ops("backup", "drill", "-i", "inventories/lab", timeout=1800)
    assert proc.returncode == 0, proc.stderr
    drills = ops.audit()[-1]["details"]["drills"]
    assert {d["engine"] for d in drills} == {"mysql", "mongodb"}
    assert all(d["result"] == "pass" and d["objects_compared"] > 0 for d in drills)
    assert sh("backup1", "test ! -e /var/lib/followup-backup-drill").returncode == 0


def test_restore_over_the_live_database_is_refused_without_the_flag(ops, backed_up):
    mysql_id = next(b["id"] for b in backed_up["details"]["backups"] if b["engine"] == "mysql")
    proc = ops("restore", "-i", "inventories/lab", "--backup", mysql_id)
    assert proc.returncode == 2
    assert "the target is not empty" in proc.stderr


def test_unknown_backup_id_is_refused_in_one_line(ops, backed_up):
    proc = ops("restore", "-i", "inventories/lab", "--backup", "mysql-mysql1-20200101T000000Z")
    assert proc.returncode == 2 and "unknown backup id mysql-mysql1-20200101T000000Z" in proc.stderr


def mysql(query):
    """Rows of QUERY run as root on mysql1 (the query goes on stdin)."""
    proc = subprocess.run(
        ["docker", "exec", "-i", "followup-lab-mysql1", "mysql", "--batch", "--skip-column-names"],
        input=query,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_point_in_time_restore_between_two_writes(ops, backed_up):
    mysql_id = next(b["id"] for b in backed_up["details"]["backups"] if b["engine"] == "mysql")
    # A table the backup does not hold (as a migration's would be): the restore drops it, the binary logs make it
    # again with the first write only.
    table = f"cloud_followup.pitr_probe_{int(time.time())}"
    mysql(f"CREATE TABLE {table} (id INT PRIMARY KEY);")
    mysql(f"INSERT INTO {table} VALUES (1);")  # noqa: S608 - the test's own table name
    time.sleep(2)
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(2)
    mysql(f"INSERT INTO {table} VALUES (2);")  # noqa: S608 - the test's own table name
    assert sh("mysql1", "/usr/local/sbin/followup-backup binlogs").returncode == 0
    proc = ops("restore", "-i", "inventories/lab", "--backup", mysql_id, "--until", moment, "--overwrite-nonempty")
    assert proc.returncode == 0, proc.stderr
    assert mysql(f"SELECT id FROM {table} ORDER BY id;") == ["1"]  # noqa: S608


def test_no_secret_and_no_patient_data_in_backup_files_or_records(ops, backed_up, vault_values):
    run_dir = Path(backed_up["run_dir"])  # the backup's run record: operation.json and the playbook's events
    assert run_dir.is_dir(), run_dir
    record = json.dumps(backed_up) + "".join(f.read_text(errors="replace") for f in run_dir.rglob("*") if f.is_file())
    for value in vault_values:
        assert value not in record
    # The stand-in seed's patients are synthetic; their names must still never be stored in plaintext.
    names = mysql("SELECT name FROM cloud_followup.patients LIMIT 1;")
    patient = names[0] if names else ""
    if patient:
        found = sh("backup1", f"grep -rlsaF -e {json.dumps(patient)} /srv/followup-backup /tmp /var/tmp || true")
        assert found.stdout.strip() == ""
        assert patient not in record
