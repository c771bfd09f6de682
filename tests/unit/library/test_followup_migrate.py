"""followup_migrate's flow with a fake runner that keeps history rows the way the real ones do (running first,
then success or failed): check mode changes nothing, scripts apply in order under the lock, a failed or interrupted
migration is refused with its recoveries, a live run is in progress, inspect never fails, the manifest's list is
enforced before connecting, repairs follow their rules, and the real exit path scrubs no_log values."""

import json
import socket

import followup_migrate as module
import pytest
from ansible.module_utils.followup_migrations import (
    FAILED,
    IN_PROGRESS,
    INTERRUPTED,
    REPAIRED_APPLIED,
    RUNNING,
    SUCCESS,
    MigrationError,
)
from ansible.module_utils.testing import patch_module_args
from modulekit import run_module

PASSWORD = "s3cret-Pw-not-in-output"


class FakeRunner:
    user = "followup_migrate"

    def __init__(self, rows=None, fail_on=None, lose_on=None, holder=None, lock_busy=False):
        self.rows = [dict(r) for r in rows or []]
        self.calls = []
        self.fail_on, self.lose_on, self.holder, self.lock_busy = fail_on, lose_on, holder, lock_busy

    def history(self):
        self.calls.append("history")
        return [dict(r) for r in self.rows]

    def lock_holder(self):
        self.calls.append("lock_holder")
        return self.holder

    def lock(self):
        self.calls.append("lock")
        if self.lock_busy:
            raise MigrationError("cloud_followup: another migration run holds the lock: conn 9", IN_PROGRESS)

    def ensure_history(self):
        self.calls.append("ensure_history")
        return False

    def apply(self, script, release):
        script.prepare()
        row = {"id": len(self.rows) + 1, "version": script.version, "script": script.name, "checksum": script.checksum}
        self.rows.append(dict(row, state=RUNNING, success=False, release=release))
        self.calls.append(f"start {script.name}")
        if script.name == self.fail_on:
            self.rows[-1].update(state=FAILED, error="MySQL error 1062 (...) at x:1")
            raise MigrationError(
                f"cloud_followup: migration {script.name} failed at {script.path}:1 (statement 1 of 1): MySQL error "
                f"1062 (...) with password {PASSWORD}",
                FAILED,
                {"version": script.version, "script": script.name, "state": FAILED},
            )
        if script.name == self.lose_on:
            raise MigrationError(f"lost the connection while {script.name} ran", INTERRUPTED, {"state": RUNNING})
        self.rows[-1].update(state=SUCCESS, success=True)
        self.calls.append(f"success {script.name}")
        return 5

    def repair(self, row, new_state, request, repaired_by):
        self.calls.append(f"repair {row['script']} {new_state} by {repaired_by}")
        for r in self.rows:
            if r["id"] == row["id"]:
                r["state"] = new_state

    def close(self):
        self.calls.append("close")


@pytest.fixture
def scripts(tmp_path):
    for n in (1, 2, 3):
        (tmp_path / f"V00{n}__step_{n}.sql").write_text(f"SELECT {n};\n")
    return tmp_path


def rows_of(directory, states):
    from ansible.module_utils.followup_migrations import load_scripts

    rows = []
    for i, (script, state) in enumerate(zip(load_scripts(str(directory), ("sql",)), states, strict=False)):
        rows.append(
            {
                "id": i + 1,
                "version": script.version,
                "script": script.name,
                "checksum": script.checksum,
                "state": state,
                "success": state == SUCCESS,
                "installed_on": "2026-05-18 02:00:00",
                "runner": "app1:4242",
            }
        )
    return rows


def args_for(directory, **extra):
    return dict(
        {
            "engine": "mysql",
            "database": "cloud_followup",
            "migrations_dir": str(directory),
            "release": "1.1.0",
            "login_user": "followup_migrate",
            "login_password": PASSWORD,
        },
        **extra,
    )


def run(monkeypatch, directory, fake, check_mode=False, diff=False, **extra):
    made = []

    def factory(_module):
        made.append(fake)
        return fake

    monkeypatch.setattr(module, "_runner", factory)
    result = run_module(module, args_for(directory, **extra), check_mode=check_mode, diff=diff)
    result["_connected"] = bool(made)
    return result


def test_check_mode_lists_pending_scripts_and_applies_nothing(monkeypatch, scripts):
    fake = FakeRunner()
    result = run(monkeypatch, scripts, fake, check_mode=True, diff=True)
    assert result["changed"] and result["pending"] == ["V001__step_1.sql", "V002__step_2.sql", "V003__step_3.sql"]
    assert "lock" not in fake.calls and not [c for c in fake.calls if c.startswith("start")]
    assert result["state"] == "clean" and result["blocking"] is None
    assert result["diff"] == {
        "before": "cloud_followup schema version: None\n",
        "after": "cloud_followup schema version: 3\n",
    }


def test_pending_scripts_apply_in_order_under_the_lock_each_running_first(monkeypatch, scripts):
    fake = FakeRunner()
    result = run(monkeypatch, scripts, fake)
    assert fake.calls == [
        "history",
        "lock",
        "history",
        "ensure_history",
        "start V001__step_1.sql",
        "success V001__step_1.sql",
        "start V002__step_2.sql",
        "success V002__step_2.sql",
        "start V003__step_3.sql",
        "success V003__step_3.sql",
        "close",
    ]
    assert result["changed"] and result["schema_version"] == 3 and result["schema_version_before"] is None
    assert [a["script"] for a in result["applied"]] == result["pending"] and result["state"] == "clean"


def test_an_up_to_date_database_is_unchanged_and_takes_no_lock(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS] * 3))
    again = run(monkeypatch, scripts, fake)
    assert again["changed"] is False and again["applied"] == [] and again["schema_version"] == 3
    assert fake.calls == ["history", "close"]


def test_a_failing_script_fails_the_task_with_its_state_and_what_ran_before(monkeypatch, scripts):
    fake = FakeRunner(fail_on="V002__step_2.sql")
    result = run(monkeypatch, scripts, fake)
    assert result["failed"] and "V002__step_2.sql failed at" in result["msg"]
    assert result["state"] == FAILED and result["blocking"]["script"] == "V002__step_2.sql"
    assert [a["script"] for a in result["applied"]] == ["V001__step_1.sql"] and result["changed"] is True
    assert result["schema_version"] == 1
    assert fake.calls[-1] == "close" and "start V003__step_3.sql" not in fake.calls


def test_a_failed_migration_is_refused_without_taking_the_lock(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, FAILED]))
    result = run(monkeypatch, scripts, fake)
    assert result["failed"] and result["state"] == FAILED and "lock" not in fake.calls
    assert result["msg"].startswith("cloud_followup: migration V002__step_2.sql failed")
    assert "restore cloud_followup from the backup taken before the migration" in result["msg"]
    assert (
        "followup-ops migrations repair -i INVENTORY --engine mysql --database cloud_followup --version 2"
        in (result["msg"])
    )
    assert result["blocking"]["version"] == 2 and result["blocking"]["runner"] == "app1:4242"


def test_a_migration_left_running_by_a_killed_run_is_refused_once_the_lock_is_taken(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, RUNNING]))
    result = run(monkeypatch, scripts, fake)
    assert result["failed"] and result["state"] == INTERRUPTED
    assert fake.calls == ["history", "lock_holder", "lock", "history", "close"]
    msg = result["msg"]
    assert msg.startswith("cloud_followup: migration V002__step_2.sql was interrupted (started 2026-05-18 02:00:00 UTC")
    assert "by app1:4242" in msg and "killed or lost its connection" in msg and "\n" not in msg
    assert not [c for c in fake.calls if c.startswith("start")]


def test_a_migration_a_live_run_is_applying_is_in_progress(monkeypatch, scripts):
    holder = "MySQL connection 9 (followup_migrate from 10.89.50.12:4000, Query for 12 s)"
    fake = FakeRunner(rows_of(scripts, [SUCCESS, RUNNING]), holder=holder, lock_busy=True)
    checked = run(monkeypatch, scripts, fake, check_mode=True)
    assert checked["failed"] and checked["state"] == IN_PROGRESS and holder in checked["msg"]
    real = run(monkeypatch, scripts, FakeRunner(rows_of(scripts, [SUCCESS, RUNNING]), holder=holder, lock_busy=True))
    assert real["failed"] and real["state"] == IN_PROGRESS and "holds the lock" in real["msg"]


def test_a_live_run_that_finishes_while_this_one_waits_is_followed(monkeypatch, scripts):
    class Finishing(FakeRunner):
        def lock(self):
            super().lock()
            self.rows[1].update(state=SUCCESS, success=True)  # the other run finished V002 meanwhile

    fake = Finishing(rows_of(scripts, [SUCCESS, RUNNING]), holder="conn 9")
    result = run(monkeypatch, scripts, fake)
    assert not result.get("failed") and [a["script"] for a in result["applied"]] == ["V003__step_3.sql"]


def test_inspect_never_fails_and_reports_what_a_run_would_refuse(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, FAILED]))
    result = run(monkeypatch, scripts, fake, operation="inspect")
    assert not result.get("failed") and result["changed"] is False and result["state"] == FAILED
    assert len(result["refused"]) == 1 and "V002__step_2.sql failed" in result["refused"][0]
    clean = run(monkeypatch, scripts, FakeRunner(rows_of(scripts, [SUCCESS])), operation="inspect")
    assert clean["refused"] == [] and clean["pending"] == ["V002__step_2.sql", "V003__step_3.sql"]
    assert clean["schema_version"] == 1
    applied = rows_of(scripts, [SUCCESS])
    (scripts / "V001__step_1.sql").write_text("SELECT 'changed';\n")
    changed = run(monkeypatch, scripts, FakeRunner(applied), operation="inspect")
    assert not changed.get("failed") and "was changed after it was applied" in changed["refused"][0]


def test_a_file_the_manifest_does_not_list_is_refused_before_connecting(monkeypatch, scripts):
    result = run(monkeypatch, scripts, FakeRunner(), scripts=["V001__step_1.sql", "V002__step_2.sql"])
    assert result["failed"] and "V003__step_3.sql is not listed in the release manifest" in result["msg"]
    assert result["_connected"] is False


def test_only_the_listed_scripts_run(monkeypatch, scripts, tmp_path):
    fake = FakeRunner()
    listed = ["V001__step_1.sql", "V002__step_2.sql", "V003__step_3.sql"]
    result = run(monkeypatch, scripts, fake, scripts=listed)
    assert [a["script"] for a in result["applied"]] == listed


def test_a_transaction_statement_in_a_pending_script_is_refused_before_anything_runs(monkeypatch, scripts):
    (scripts / "V003__step_3.sql").write_text("UPDATE t SET a = 1;\nSET autocommit = 0;\n")
    fake = FakeRunner(rows_of(scripts, [SUCCESS]))
    result = run(monkeypatch, scripts, fake)
    assert result["failed"] and "V003__step_3.sql:2: 'SET AUTOCOMMIT = 0' is refused" in result["msg"]
    assert "lock" not in fake.calls and not [c for c in fake.calls if c.startswith("start")]


def repair_args(**over):
    return {
        "repair": dict(
            {"version": 2, "resolution": "applied", "reason": "finished by hand", "approved_by": "Wang"}, **over
        ),
        "operation": "repair",
    }


def test_a_repair_without_approver_is_refused_before_connecting(monkeypatch, scripts):
    result = run(monkeypatch, scripts, FakeRunner(), **repair_args(approved_by=" "))
    assert result["failed"] and result["msg"].startswith("repair.approved_by is empty") and not result["_connected"]


def test_a_repair_marks_the_failed_row_under_the_lock(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, FAILED]))
    result = run(monkeypatch, scripts, fake, diff=True, **repair_args(repaired_by="Zhang"))
    assert fake.calls == [
        "history",
        "lock",
        "history",
        "ensure_history",
        f"repair V002__step_2.sql {REPAIRED_APPLIED} by Zhang",
        "history",
        "close",
    ]
    assert result["changed"] and result["state"] == "clean" and result["schema_version"] == 2
    assert result["repair"] == {
        "version": 2,
        "script": "V002__step_2.sql",
        "state_before": FAILED,
        "state_after": REPAIRED_APPLIED,
        "reason": "finished by hand",
        "approved_by": "Wang",
        "repaired_by": "Zhang",
    }
    assert result["diff"]["before"] == "cloud_followup V002__step_2.sql: failed\n"
    assert result["diff"]["after"] == "cloud_followup V002__step_2.sql: repaired_applied (approved by Wang)\n"


def test_a_repair_in_check_mode_changes_nothing(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, FAILED]))
    result = run(monkeypatch, scripts, fake, check_mode=True, **repair_args())
    assert result["changed"] and result["repair"]["state_after"] == REPAIRED_APPLIED
    assert "lock" not in fake.calls and not [c for c in fake.calls if c.startswith("repair")]
    assert result["repair"]["repaired_by"] == f"followup_migrate@{socket.gethostname()}"


def test_a_repair_of_a_migration_that_did_not_fail_is_refused(monkeypatch, scripts):
    result = run(monkeypatch, scripts, FakeRunner(rows_of(scripts, [SUCCESS, SUCCESS])), **repair_args())
    assert result["failed"] and "V002 (V002__step_2.sql) is success, not failed or running" in result["msg"]


def test_a_repair_of_a_migration_a_live_run_is_applying_is_refused(monkeypatch, scripts):
    fake = FakeRunner(rows_of(scripts, [SUCCESS, RUNNING]), holder="MySQL connection 9")
    result = run(monkeypatch, scripts, fake, **repair_args(resolution="not_applied"))
    assert result["failed"] and result["state"] == IN_PROGRESS and "MySQL connection 9" in result["msg"]
    assert not [c for c in fake.calls if c.startswith("repair")]


def test_a_negative_lock_timeout_is_refused_before_connecting(monkeypatch, scripts):
    # GET_LOCK with a negative timeout would wait for ever.
    result = run(monkeypatch, scripts, FakeRunner(), lock_timeout=-1)
    assert result["failed"] and result["msg"].startswith("lock_timeout is -1") and not result["_connected"]


def test_a_database_name_that_is_not_a_plain_name_is_refused(monkeypatch, scripts):
    result = run(monkeypatch, scripts, FakeRunner(), database="cloud_followup`; DROP")
    assert result["failed"] and "must be letters, digits and underscores" in result["msg"]


def test_an_unexpected_error_is_one_line_without_its_text(monkeypatch, scripts):
    class Broken(FakeRunner):
        def ensure_history(self):
            raise KeyError("13800138000")

    result = run(monkeypatch, scripts, Broken())
    assert result["failed"] and result["msg"].startswith("cloud_followup: internal error KeyError at test_followup_")
    assert "13800138000" not in result["msg"] and "operation=inspect" in result["msg"]


def test_a_missing_driver_is_named(monkeypatch, scripts):
    from ansible.module_utils import followup_db

    monkeypatch.setattr(followup_db, "HAS_PYMYSQL", False)
    result = run(monkeypatch, scripts, FakeRunner())
    assert result["failed"] and "PyMySQL (python3-pymysql)" in result["msg"] and not result["_connected"]


# --- the real exit path: Ansible's no_log scrubbing runs ---------------------------------------------------------


def run_real(monkeypatch, capsys, fake, args):
    """Run main() with Ansible's own exit_json/fail_json (no stubs), and read the JSON it printed."""
    monkeypatch.setattr(module, "_runner", lambda _module: fake)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    return out, json.loads(out)


def test_the_password_is_scrubbed_by_ansible_even_from_an_error_that_echoes_it(monkeypatch, scripts, capsys):
    out, result = run_real(monkeypatch, capsys, FakeRunner(fail_on="V001__step_1.sql"), args_for(scripts))
    assert result["failed"] and "V001__step_1.sql failed" in result["msg"]
    assert PASSWORD not in out and "********" in result["msg"]
    assert result["invocation"]["module_args"]["login_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_the_mongodb_uri_is_never_in_the_output(monkeypatch, tmp_path, capsys):
    (tmp_path / "V001__a.yml").write_text("operations:\n  - create_collection: {name: a}\n")
    uri = f"mongodb://cdr_app:{PASSWORD}@10.89.50.22:27017/cdr?authSource=cdr"
    args = {"engine": "mongodb", "database": "cdr", "migrations_dir": str(tmp_path), "uri": uri}
    out, result = run_real(monkeypatch, capsys, FakeRunner(), args)
    assert not result.get("failed") and result["applied"][0]["script"] == "V001__a.yml"
    assert PASSWORD not in out and uri not in out
