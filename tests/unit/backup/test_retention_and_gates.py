"""Retention tiers (never the newest verified backup), expiry of binary logs, and what the gates refuse."""

import datetime
import json

from ansible.module_utils.followup_backup_gate import backup_refusals, choose_backup, restore_refusals
from ansible.module_utils.followup_backup_store import Store, expiry_plan, retention

UTC = datetime.UTC
NOW = datetime.datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def daily(days, verified=(), host="mysql1"):
    out = []
    for n in range(days):
        when = NOW - datetime.timedelta(days=n)
        bid = "mysql-{}-{}".format(host, when.strftime("%Y%m%dT%H%M%SZ"))
        out.append(
            {
                "id": bid,
                "engine": "mysql",
                "method": "logical",
                "host": host,
                "time": when,
                "verified": n in verified,
                "complete": True,
            }
        )
    return out


def test_tiers_keep_the_newest_of_each_day_week_month_and_quarter():
    backups = daily(400)
    keep = retention(backups, {"daily": 7, "weekly": 5, "monthly": 12, "quarterly": 8})
    assert all(b["id"] in keep for b in backups[:7])  # the last 7 days
    assert backups[7]["id"] not in keep or keep[backups[7]["id"]] != "daily"
    tiers = sorted(keep.values())
    assert tiers.count("quarterly") == 5  # 400 days span 5 quarters (fewer than the 8 allowed)
    # 7 days + 5 weeks + 12 months + 5 quarters at most, with overlaps counted once
    assert 12 <= len(keep) <= 29
    # the newest backup is kept by the longest tier that picks it
    assert keep[backups[0]["id"]] == "quarterly"


def test_the_newest_verified_backup_is_never_expired():
    backups = daily(60, verified={45})
    keep = retention(backups, {"daily": 3, "weekly": 0, "monthly": 0, "quarterly": 0})
    assert keep[backups[45]["id"]] == "newest-verified"
    assert backups[44]["id"] not in keep
    nothing = retention(backups, {"daily": 0, "weekly": 0, "monthly": 0, "quarterly": 0})
    assert set(nothing) == {backups[45]["id"], backups[0]["id"]}


def test_incomplete_uploads_are_never_counted_nor_removed():
    backups = daily(3)
    backups[0]["complete"] = False
    keep = retention(backups, {"daily": 1})
    assert keep[backups[0]["id"]] == "incomplete" and keep[backups[1]["id"]] == "daily"


def write(store_root, rel, data):
    path = store_root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_expiry_plan_removes_old_backups_and_their_binlogs_only(tmp_path):
    root = tmp_path / "store"
    import hashlib

    for n, (stamp, binlog) in enumerate(
        (
            ("20261101T030000Z", "followup-bin.000001"),
            ("20261130T030000Z", "followup-bin.000004"),
            ("20261201T030000Z", "followup-bin.000006"),
        )
    ):
        bid = f"mysql-mysql1-{stamp}"
        archive = write(root, f"mysql/mysql1/{bid}.sql.zst.age", b"c%d" % n)
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        (root / (f"mysql/mysql1/{bid}.sql.zst.age.sha256")).write_text(f"{sha} 2 2026-12-01T00:00:00Z\n")
        manifest = {
            "schema": 1,
            "id": bid,
            "engine": "mysql",
            "method": "logical",
            "source_host": "mysql1",
            "engine_version": "10.11",
            "tool": "mariadb-dump",
            "created_at": "",
            "finished_at": "",
            "databases": ["d"],
            "position": {"file": binlog, "pos": 4},
            "pitr": {},
            "objects": {},
            "archive": {"path": f"mysql/mysql1/{bid}.sql.zst.age", "sha256": sha, "bytes": 2},
            "duration_s": 1,
            "throughput_mb_s": 1,
            "encryption": {},
            "compression": {},
        }
        write(root, f"mysql/mysql1/{bid}.manifest.json", json.dumps(manifest).encode())
    for n in range(1, 8):
        write(root, f"binlog/mysql1/followup-bin.{n:06d}.zst.age", b"b")
    catalogue = Store(str(root)).catalogue()
    assert all(e["complete"] for e in catalogue["backups"].values())
    plan = expiry_plan(catalogue, {"daily": 2, "weekly": 0, "monthly": 0, "quarterly": 0})
    assert plan["backups"] == ["mysql-mysql1-20261101T030000Z"]
    assert "binlog/mysql1/followup-bin.000003.zst.age" in plan["files"]
    assert "binlog/mysql1/followup-bin.000004.zst.age" not in plan["files"]
    assert "mysql/mysql1/mysql-mysql1-20261101T030000Z.sql.zst.age" in plan["files"]


TARGET = {"host": "backup1", "reachable": True, "free_bytes": 10 * 10**9}
RECIPIENT = "age1" + "q" * 58


def test_backup_gate_refuses_a_missing_key_an_unreachable_target_and_too_little_space():
    assert backup_refusals([RECIPIENT], TARGET, [{"estimated_bytes": 10**9}]) == []
    assert "backup_age_recipients" in backup_refusals([], TARGET, [])[0]
    assert "not age public keys" in backup_refusals(["ssh-ed25519 AAAA"], TARGET, [])[0]
    unreachable = backup_refusals([RECIPIENT], {"host": "backup1", "reachable": False, "error": "timed out"}, [])
    assert unreachable == [
        "the backup host backup1 is unreachable (timed out): start it or fix backup_target_host, then retry"
    ]
    full = backup_refusals([RECIPIENT], dict(TARGET, free_bytes=10**8), [{"estimated_bytes": 10**9}])
    assert len(full) == 1 and "not enough free disk on the backup host" in full[0]


def catalogue():
    entry = {
        "id": "mysql-mysql1-20261201T030000Z",
        "engine": "mysql",
        "method": "logical",
        "host": "mysql1",
        "time": "2026-12-01T03:00:00Z",
        "complete": True,
        "manifest": {"pitr": {"possible": True}},
    }
    older = dict(entry, id="mysql-mysql1-20261130T030000Z", time="2026-11-30T03:00:00Z")
    broken = dict(
        entry,
        id="mysql-mysql1-20261202T030000Z",
        time="2026-12-02T03:00:00Z",
        complete=False,
        problems=["archive missing"],
    )
    return {e["id"]: e for e in (entry, older, broken)}


def test_restore_gate_names_unknown_and_incomplete_ids_and_picks_the_newest_complete_one():
    entry, refused = choose_backup(catalogue(), None, "mysql")
    assert entry["id"] == "mysql-mysql1-20261201T030000Z" and refused == []
    assert "unknown backup id" in choose_backup(catalogue(), "mysql-mysql1-20250101T000000Z")[1][0]
    assert "is incomplete" in choose_backup(catalogue(), "mysql-mysql1-20261202T030000Z")[1][0]
    assert "not of the form" in choose_backup(catalogue(), "latest")[1][0]
    assert "no complete mongodb backup" in choose_backup(catalogue(), None, "mongodb")[1][0]


def test_restore_gate_refuses_a_nonempty_target_a_missing_key_a_changed_archive_and_bad_pitr():
    entry = catalogue()["mysql-mysql1-20261201T030000Z"]
    assert restore_refusals(entry, True, 0, False) == []
    assert "not empty" in restore_refusals(entry, True, 4, False)[0]
    assert restore_refusals(entry, True, 4, True) == []
    assert "backup key is missing" in restore_refusals(entry, False, 0, False)[0]
    assert "no longer has the sha256" in restore_refusals(entry, True, 0, False, verify={"matches": False})[0]
    assert "no binary logs" in restore_refusals(entry, True, 0, False, until="2026-12-01T04:00:00Z")[0]
    before = restore_refusals(entry, True, 0, False, until="2026-12-01T02:00:00Z", binlogs=["b.000001"])
    assert "before backup" in before[0]
    assert "not a time" in restore_refusals(entry, True, 0, False, until="yesterday", binlogs=["b.000001"])[0]
    assert restore_refusals(entry, True, 0, False, until="2026-12-01T12:00:00+08:00", binlogs=["b.000001"]) == []
