"""followup_migrate's flow with a fake database (the real ones run in Molecule and the lab): check mode changes
nothing, scripts apply in order under the lock, history is re-read under the lock, refusals name the script."""

import followup_migrate as module
import pytest
from modulekit import run_module


class FakeRunner:
    def __init__(self, history=None, fail_on=None):
        self.rows = list(history or [])
        self.calls = []
        self.fail_on = fail_on

    def history(self):
        self.calls.append("history")
        return list(self.rows)

    def lock(self):
        self.calls.append("lock")

    def ensure_history(self):
        self.calls.append("ensure_history")

    def apply(self, script, release):
        from ansible.module_utils.followup_migrations import MigrationError

        if script.name == self.fail_on:
            raise MigrationError(f"migration {script.name} failed at statement 1 of 1 (boom)")
        self.calls.append(f"apply {script.name}")
        self.rows.append({"version": script.version, "script": script.name, "checksum": script.checksum, "success": 1})
        return 5

    def close(self):
        self.calls.append("close")


@pytest.fixture
def scripts(tmp_path):
    for n in (1, 2, 3):
        (tmp_path / f"V00{n}__step_{n}.sql").write_text(f"SELECT {n};\n")
    return tmp_path


def run(monkeypatch, scripts, fake, **extra):
    monkeypatch.setattr(module, "_runner", lambda _module: fake)
    args = dict(
        engine="mysql",
        database="cloud_followup",
        migrations_dir=str(scripts),
        release="1.1.0",
        login_user="followup_migrate",
        login_password="secret",
    )
    return run_module(module, args, **extra)


def test_check_mode_lists_pending_scripts_and_applies_nothing(monkeypatch, scripts):
    fake = FakeRunner()
    result = run(monkeypatch, scripts, fake, check_mode=True, diff=True)
    assert result["changed"] and result["pending"] == ["V001__step_1.sql", "V002__step_2.sql", "V003__step_3.sql"]
    assert "lock" not in fake.calls and not [c for c in fake.calls if c.startswith("apply")]
    assert result["diff"] == {
        "before": "cloud_followup schema version: None\n",
        "after": "cloud_followup schema version: 3\n",
    }


def test_pending_scripts_apply_in_order_under_the_lock(monkeypatch, scripts):
    fake = FakeRunner()
    result = run(monkeypatch, scripts, fake)
    assert fake.calls == [
        "history",
        "lock",
        "history",
        "ensure_history",
        "apply V001__step_1.sql",
        "apply V002__step_2.sql",
        "apply V003__step_3.sql",
        "close",
    ]
    assert result["changed"] and result["schema_version"] == 3 and result["schema_version_before"] is None
    assert [a["script"] for a in result["applied"]] == result["pending"]


def test_an_up_to_date_database_is_unchanged(monkeypatch, scripts):
    fake = FakeRunner()
    run(monkeypatch, scripts, fake)
    again = run(monkeypatch, scripts, FakeRunner(fake.rows))
    assert again["changed"] is False and again["applied"] == [] and again["schema_version"] == 3


def test_a_failing_script_fails_the_task_naming_it_and_releases_the_connection(monkeypatch, scripts):
    fake = FakeRunner(fail_on="V002__step_2.sql")
    result = run(monkeypatch, scripts, fake)
    assert result["failed"] and "V002__step_2.sql failed" in result["msg"]
    assert fake.calls[-1] == "close" and "apply V003__step_3.sql" not in fake.calls


def test_the_password_never_appears_in_the_result(monkeypatch, scripts):
    result = run(monkeypatch, scripts, FakeRunner())
    assert "secret" not in repr(result)
