"""Database moves on the lab through the command line (issue 10): MySQL mysql1 -> mysql2 while a client writes
through the fep every 100 ms: bad input refused, plan, prepare, sync, verify, a difference found by verify and
refusing the cutover, cutover, verify, rollback, verify; every acknowledged write on the server that serves at the end,
writes failing only inside the two switches (each under 10 s). The lab is left as it was found: the applications on
mysql1, mysql2's replication stopped (a rollback before any cutover brings the migration back to `prepared`).

Then MongoDB mongo1 -> mongo2 by dump/restore (FerretDB has no replication): plan, prepare, sync, cutover, verify,
rollback, verify, the application healthy on each server in turn and back on mongo1.

Lean on purpose (about 8 minutes on the lab): the full cycle with a second cutover and finish is proven by the
Molecule scenario migrate_db (molecule/migrate_db/drive.py), which may retire its servers; a finish here would leave
the lab on mysql2.
"""

import json
import subprocess

import pytest

# Slow (the spares, a writer, a dozen phases): make test-all runs it, make test does not.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

INV = "inventories/lab"


def sql(host, statement):
    """Run STATEMENT as root in a lab container (test assertions only; the product never uses docker exec)."""
    proc = subprocess.run(
        ["docker", "exec", f"followup-lab-{host}", "mysql", "-N", "-B", "-e", statement],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def move(ops, phase, target="mysql2", engine="mysql"):
    return ops("migrate", "db", "-i", INV, "--engine", engine, "--to", target, "--phase", phase, timeout=900)


def app_health():
    proc = subprocess.run(
        ["docker", "exec", "followup-lab-app1", "curl", "-s", "http://10.89.50.12:8080/health"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.replace(" ", "")


def app_names(address):
    """Whether the application's settings name ADDRESS."""
    proc = subprocess.run(
        ["docker", "exec", "followup-lab-app1", "grep", "-c", "-F", address, "/opt/followup/app/shared/app.env"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() not in ("", "0")


def last_phase(ops, phase):
    record = ops.audit()[-1]
    return record, (record.get("details") or {}).get("phase_results", {}).get(phase)


def test_bad_input_is_one_line_exit_2_and_changes_nothing(ops, spares):
    proc = move(ops, "plan", target="nosuch9")
    assert proc.returncode == 2 and "is not a host of the inventory" in proc.stdout + proc.stderr
    proc = move(ops, "prepare", target="app1")
    assert proc.returncode == 2 and "is in use" in proc.stdout + proc.stderr
    out = subprocess.run(
        ["docker", "exec", "followup-lab-mysql2", "systemctl", "is-active", "mariadb"], capture_output=True, text=True
    )
    assert out.stdout.strip() != "active"


def test_mysql_moves_to_mysql2_and_back_losing_no_write(ops, writer):
    assert move(ops, "plan,prepare,sync").returncode == 0
    proc = move(ops, "verify")
    assert proc.returncode == 0 and "equal:" in proc.stdout

    # A difference on mysql2 alone (outside its binary log) is found, and the cutover is refused.
    change = (
        "SET SESSION sql_log_bin = 0; UPDATE cloud_followup.patients SET name = %s, updated_at = updated_at "
        "ORDER BY id LIMIT 1"
    )
    sql("mysql2", change % "CONCAT(name, '#')")
    proc = move(ops, "verify")
    assert proc.returncode == 4 and "cloud_followup.patients" in proc.stdout + proc.stderr
    proc = move(ops, "cutover")
    assert proc.returncode == 2 and "cloud_followup.patients" in proc.stdout + proc.stderr
    assert sql("mysql1", "SELECT @@read_only") == "0"
    sql("mysql2", change % "LEFT(name, CHAR_LENGTH(name) - 1)")

    proc = move(ops, "cutover,verify")
    assert proc.returncode == 0, proc.stderr
    record, result = last_phase(ops, "cutover")
    assert result["outcome"] == "ok" and record["details"]["downtime_s"] < 10
    assert sql("mysql2", "SELECT @@read_only") == "0" and sql("mysql1", "SELECT @@read_only") == "1"

    proc = move(ops, "rollback,verify")
    assert proc.returncode == 0, proc.stderr
    assert sql("mysql1", "SELECT @@read_only") == "0"

    writer["stop"].touch()
    writer["thread"].join(30)
    writes = writer["mod"].summary(json.loads(writer["out"].read_text())["attempts"])
    have = {int(x) for x in sql("mysql1", "SELECT id FROM cloud_followup.patients").split()}
    assert writes["written"] > 100
    assert [i for i in writes["ids"] if int(i) not in have] == []
    assert len(writes["failure_windows_s"]) <= 2 and writes["write_downtime_s"] < 10, writes


def test_the_lab_is_left_on_mysql1(ops):
    # Before any cutover a rollback stops mysql2's replication: the migration is back to `prepared`.
    proc = move(ops, "rollback")
    assert proc.returncode == 0, proc.stderr
    status = sql("mysql2", "SHOW ALL SLAVES STATUS")
    assert status == ""
    assert '"mysql":"UP"' in app_health()


def test_mongodb_moves_to_mongo2_by_dump_and_restore_and_back(ops, spares):
    proc = move(ops, "plan,prepare,sync", target="mongo2", engine="mongodb")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    proc = move(ops, "cutover,verify", target="mongo2", engine="mongodb")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record, result = last_phase(ops, "cutover")
    assert result["outcome"] == "ok" and record["details"].get("verified") is True, record["details"]
    print("MONGODB CUTOVER:", json.dumps(record["details"].get("cutover"), default=str))
    assert app_names("10.89.50.24") and not app_names("10.89.50.22")
    assert '"mongodb":"UP"' in app_health()
    proc = move(ops, "rollback,verify", target="mongo2", engine="mongodb")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record, result = last_phase(ops, "rollback")
    assert result["outcome"] == "ok" and record["details"].get("verified") is True, record["details"]
    print("MONGODB ROLLBACK:", json.dumps(record["details"].get("rollback"), default=str))
    assert app_names("10.89.50.22") and not app_names("10.89.50.24")
    assert '"mongodb":"UP"' in app_health()
