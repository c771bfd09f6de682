"""What `backup list` prints and how `backup drill` and `restore` judge their reports."""

from types import SimpleNamespace

import pytest

from followup_ops.commands.backup import BackupDrill, render_list
from followup_ops.commands.restore import until_time


def test_backup_list_shows_tier_size_age_and_verification_newest_first():
    backups = {
        "mysql-mysql1-20261130T013000Z": {
            "engine": "mysql",
            "method": "logical",
            "tier": "weekly",
            "bytes": 12_500_000,
            "age_days": 1.4,
            "verification": "pass",
            "verified_at": "2026-11-30T04:00:00Z",
            "time": "2026-11-30T01:30:00Z",
        },
        "mongodb-mongo1-20261201T014500Z": {
            "engine": "mongodb",
            "method": "logical",
            "tier": "daily",
            "bytes": 800_000,
            "age_days": 0.3,
            "verification": "unverified",
            "time": "2026-12-01T01:45:00Z",
        },
    }
    text = render_list(
        backups,
        {
            "mysql1": {
                "count": 3,
                "bytes": 2_000_000,
                "newest": "followup-bin.000009",
                "newest_stored_at": "2026-12-01T09:00:00Z",
            }
        },
        {"host": "backup1", "free_bytes": 5e9},
    )
    lines = text.splitlines()
    assert "层级 Tier" in lines[0] and "验证 Verified" in lines[0]
    assert lines[2].startswith("mongodb-mongo1-20261201T014500Z") and "日 daily" in lines[2]
    assert "未验证 unverified" in lines[2]
    assert "12.5" in lines[3] and "周 weekly" in lines[3] and "通过 pass" in lines[3]
    assert "followup-bin.000009" in text and "5000.0 MB free" in text


def test_an_empty_store_says_how_to_take_the_first_backup():
    assert "run followup-ops backup" in render_list({}, {}, {})


class FakeOp:
    def __init__(self, drills):
        self.report = {"data": {"drill": drills}}
        self.details = {}
        self.outcome = None
        self.message = None
        self.exit_code = None

    def playbook(self, *args, **kwargs):
        self.called = (args, kwargs)

    def conclude(self, outcome, message=None):
        self.outcome, self.message = outcome, message
        self.exit_code = {"failed": 1, "ok": 0}[outcome]
        return self.exit_code


def test_a_failed_drill_fails_the_command_and_names_the_backup_and_reason():
    op = FakeOp(
        {
            "mysql-mysql1-20261201T013000Z": {"engine": "mysql", "result": "fail", "error": "wrong key"},
            "mongodb-mongo1-20261201T014500Z": {"engine": "mongodb", "result": "pass", "restore": {"load_s": 2}},
        }
    )
    code = BackupDrill().run(op, SimpleNamespace(verbose=False, db="all", backup=None))
    assert code == 1 and op.outcome == "failed"
    assert "mysql-mysql1-20261201T013000Z: wrong key" in op.message
    assert [d["result"] for d in op.details["drills"]] == ["pass", "fail"]
    assert op.called[1]["extravars"] == {"followup_backup_db": "all"}


def test_passing_drills_leave_the_outcome_to_the_operation():
    op = FakeOp({"mysql-mysql1-20261201T013000Z": {"engine": "mysql", "result": "pass"}})
    assert BackupDrill().run(op, SimpleNamespace(verbose=False, db="mysql", backup=None)) is None
    assert op.outcome is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-01T20:30:00Z", "2026-12-01T20:30:00Z"),
        ("2026-12-02T04:30:00+08:00", "2026-12-01T20:30:00Z"),
        ("2026-12-01 20:30:00Z", "2026-12-01T20:30:00Z"),
    ],
)
def test_until_times_are_normalised_to_utc(text, expected):
    assert until_time(text) == expected
