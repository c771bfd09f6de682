"""module_utils/followup_dbmove.py: phases, the gate's refusals, estimates, the inventory diff, accounts, findings."""

import pytest
import yaml
from ansible.module_utils import followup_dbmove as dm

MIB = 1024 * 1024
GIB = 1024 * MIB


def probe(version="10.11.6-MariaDB-0+deb12u1-log", running=True, data_bytes=100 * MIB, free=50 * GIB, **engine):
    base = {
        "running": running,
        "version": version,
        "flavour": dm.flavour_of(version),
        "log_bin": True,
        "server_id": 1,
        "user_data": [],
    }
    base.update(engine)
    return {"engine": base, "data_bytes": data_bytes, "free_bytes": free, "data_dir": "/var/lib/mysql"}


def context(**over):
    base = {
        "source_name": "mysql1",
        "target_name": "mysql2",
        "id": "db-mysql-mysql1-mysql2-x",
        "state": None,
        "target_groups": ["spare"],
        "min_free_bytes": 0,
        "disk_headroom": 0.5,
    }
    base.update(over)
    return base


# -- phases ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("plan", ["plan"]),
        ("cutover,sync", ["sync", "cutover"]),
        ("all", ["plan", "prepare", "sync", "cutover", "verify"]),
        ("verify,rollback", ["rollback", "verify"]),
        ("finish verify", ["verify", "finish"]),
    ],
)
def test_phases_come_out_in_the_order_they_run(text, expected):
    assert dm.parse_phases(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no phase given"),
        ("copy", "unknown phase 'copy'"),
        ("rollback,cutover", "rollback runs on its own"),
        ("finish,rollback", "rollback runs on its own"),
    ],
)
def test_bad_phases_are_named(text, words):
    with pytest.raises(dm.MoveError, match=words):
        dm.parse_phases(text)


@pytest.mark.parametrize(
    "phase, state, ok",
    [
        ("prepare", None, True),
        ("sync", None, False),
        ("sync", "prepared", True),
        ("cutover", "prepared", False),
        ("cutover", "synced", True),
        ("cutover", "cutover", False),
        ("rollback", "cutover", True),
        ("rollback", "prepared", False),
        ("finish", "synced", False),
        ("finish", "cutover", True),
        ("plan", "finished", False),
    ],
)
def test_each_phase_runs_only_from_the_states_it_needs(phase, state, ok):
    refusal = dm.phase_refusal(phase, state)
    assert (refusal is None) is ok
    if not ok:
        assert refusal.startswith(f"phase {phase} cannot run") or "finished" in refusal


def test_versions_and_flavours_are_read_from_the_servers_words():
    assert dm.parse_version("10.11.19-MariaDB-0+deb12u1-log") == (10, 11, 19)
    assert dm.parse_version("8.0") == (8, 0, 0)
    assert dm.parse_version("unknown") is None
    assert dm.flavour_of("10.11.6-MariaDB") == "mariadb" and dm.flavour_of("8.0.36") == "mysql"


def test_server_id_is_stable_for_an_address_and_never_the_sources():
    assert dm.server_id_for("10.89.85.23") == 85 * 256 + 23
    assert dm.server_id_for("10.89.85.23", avoid=[85 * 256 + 23]) == 85 * 256 + 24
    assert dm.server_id_for("mysql2") == dm.server_id_for("mysql2") >= 2


def test_made_passwords_meet_the_policy_and_need_no_quoting():
    for _ in range(20):
        value = dm.new_password()
        assert len(value) == 32 and not set(value) - set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + dm.PASSWORD_SPECIALS
        )
        assert any(c.isupper() for c in value) and any(c.isdigit() for c in value)
        assert any(c in dm.PASSWORD_SPECIALS for c in value)


# -- estimates ---------------------------------------------------------------------------------------------------------
def test_replication_downtime_does_not_grow_with_the_data_but_a_dump_window_does():
    rates = dm.merged_rates({})
    small = dm.estimate("mysql", 100e6, 0, rates)
    big = dm.estimate("mysql", 100e9, 0, rates)
    assert small["write_downtime_s"] == big["write_downtime_s"] == rates["switch_s"] + rates["app_restart_s"]
    assert big["copy_s"] == pytest.approx(100e3 / rates["mysql_load_mb_s"], rel=1e-3)
    dump = dm.estimate("mongodb", 400e6, 0, rates, mode="dump")
    assert dump["write_downtime_s"] == pytest.approx(100 + rates["switch_s"] + rates["app_restart_s"], abs=0.1)


def test_a_slow_network_bounds_the_copy_rate():
    est = dm.estimate("mysql", 50e6, 5.0, dm.merged_rates({}))
    assert est["copy_rate_mb_s"] == 5.0 and est["copy_s"] == 10.0


@pytest.mark.parametrize(
    "rates, words",
    [({"nope": 1}, "unknown key nope"), ({"switch_s": "x"}, "must be a number"), ({"switch_s": -1}, "negative")],
)
def test_bad_rates_are_named(rates, words):
    with pytest.raises(dm.MoveError, match=words):
        dm.merged_rates(rates)


# -- the gate ----------------------------------------------------------------------------------------------------------
def test_a_fresh_spare_target_passes_prepare():
    assert dm.gate("prepare", "mysql", probe(), probe(running=False, version=None), context()) == []


def test_a_target_in_a_serving_group_is_in_use():
    reasons = dm.gate("plan", "mysql", probe(), probe(), context(target_groups=["app", "followup"]))
    assert any("is in use" in r and "app, followup" in r for r in reasons)


def test_a_target_holding_data_is_in_use():
    reasons = dm.gate("prepare", "mysql", probe(), probe(user_data=["billing"]), context())
    assert any("holds data (billing)" in r for r in reasons)


def test_a_target_of_another_migration_is_refused():
    target = probe()
    target["move"] = {"id": "db-mysql-other", "state": "synced"}
    reasons = dm.gate("prepare", "mysql", probe(), target, context())
    assert any("part of another migration (db-mysql-other)" in r for r in reasons)


def test_an_older_engine_on_the_target_is_refused():
    reasons = dm.gate("prepare", "mysql", probe(version="10.11.6-MariaDB"), probe(version="10.6.1-MariaDB"), context())
    assert len(reasons) == 1 and "older than mysql 10.11.6" in reasons[0]


def test_a_target_lacking_disk_is_refused_with_the_figures():
    source = probe(data_bytes=10 * GIB)
    small = probe(free=12 * GIB, server_id=2)
    reasons = dm.gate("sync", "mysql", source, small, context(state="prepared", min_free_bytes=GIB))
    assert len(reasons) == 1 and "lacks disk" in reasons[0] and "16.0 GiB needed" in reasons[0]
    big = probe(free=16 * GIB, server_id=2)
    ok = dm.gate("sync", "mysql", source, big, context(state="prepared", min_free_bytes=GIB))
    assert ok == []


def test_sync_needs_the_sources_binary_log_and_another_server_id():
    reasons = dm.gate("sync", "mysql", probe(log_bin=False), probe(), context(state="prepared"))
    assert any("writes no binary log" in r for r in reasons)
    assert any("same server_id 1" in r for r in reasons)


def test_cutover_needs_running_replication():
    ours = context(state="synced")
    stopped = probe(replica={"configured": True, "io_running": True, "sql_running": False, "last_error": "dup key"})
    stopped["move"] = {"id": ours["id"], "state": "synced"}
    reasons = dm.gate("cutover", "mysql", probe(), stopped, ours)
    assert reasons == [
        "replication on mysql2 is stopped (IO thread running, SQL thread stopped; last error: dup key): run sync to "
        "restart it, then retry"
    ]
    none = probe()
    none["move"] = {"id": ours["id"], "state": "synced"}
    assert any("does not replicate" in r for r in dm.gate("cutover", "mysql", probe(), none, ours))


def test_finish_needs_a_verify_that_passed_since_the_cutover():
    ours = context(state="cutover", last_verify={"equal": False, "state": "cutover", "at": "T1"})
    reasons = dm.gate("finish", "mysql", probe(), probe(), ours)
    assert any("found differences" in r for r in reasons)
    ours["last_verify"] = {"equal": True, "state": "cutover", "at": "T2"}
    assert dm.gate("finish", "mysql", probe(), probe(), ours) == []


def test_an_unreachable_host_is_the_only_reason_given():
    reasons = dm.gate("plan", "mysql", probe(), {"unreachable": True, "msg": "ssh timeout"}, context())
    assert reasons == ["host mysql2 could not be probed (ssh timeout): check that it is up and reachable over SSH"]


def test_the_lag_refusal_names_the_lag():
    assert dm.lag_refusal("mysql2", {"caught_up": True}, 20, 0) is None
    text = dm.lag_refusal("mysql2", {"caught_up": False, "seconds_behind": 7}, 20, 0)
    assert "did not reach zero within 20 s (7 s behind" in text


def test_verify_refusals_name_the_table_and_the_chunks():
    result = {
        "tables": {
            "cloud_followup.patient": {"equal": False, "counts": [10, 9], "chunks_differ": [{"range": "(5, 10]"}]},
            "cloud_followup.visit": {"equal": True, "counts": [3, 3]},
        },
        "indexes": {"differ": ["cloud_followup.visit index ix_date only on the source"]},
    }
    reasons = dm.verify_refusals(result, "verify")
    assert reasons[0].startswith("verify (2 in all): verify found a difference in cloud_followup.patient: 10 rows")
    assert "1 chunk differs ((5, 10])" in reasons[0]
    assert (
        reasons[1] == "verify found a difference in the indexes: cloud_followup.visit index ix_date only on the source"
    )
    assert dm.verify_refusals({"tables": {"a.b": {"equal": True}}}, "verify") == []


# -- the inventory change ----------------------------------------------------------------------------------------------
HOSTS = """all:
  children:
    databases:
      children:
        mysql:
          hosts:
            mysql1:
              ansible_host: 10.89.50.21
        mongo:
          hosts:
            mongo1:
              ansible_host: 10.89.50.22
    spare:
      hosts:
        mysql2:
          ansible_host: 10.89.50.23
        mongo2:
          ansible_host: 10.89.50.24
"""


def test_the_inventory_change_swaps_the_hosts_and_stays_valid_yaml():
    new, diff, words = dm.inventory_change(HOSTS, [("mysql2", "spare", "mysql"), ("mysql1", "mysql", "spare")])
    data = yaml.safe_load(new)
    mysql = data["all"]["children"]["databases"]["children"]["mysql"]["hosts"]
    spare = data["all"]["children"]["spare"]["hosts"]
    assert mysql == {"mysql2": {"ansible_host": "10.89.50.23"}}
    assert set(spare) == {"mysql1", "mongo2"} and spare["mysql1"] == {"ansible_host": "10.89.50.21"}
    assert diff.startswith("--- a/hosts.yml\n+++ b/hosts.yml\n") and "-        mysql2:" in diff
    assert words == [
        "move host mysql2 from group spare to group mysql",
        "move host mysql1 from group mysql to group spare",
    ]


def test_a_group_left_empty_is_written_as_an_empty_mapping():
    new = dm.move_host(HOSTS, "mongo1", "mongo", "spare")
    data = yaml.safe_load(new)
    assert data["all"]["children"]["databases"]["children"]["mongo"]["hosts"] == {}
    assert "mongo1" in data["all"]["children"]["spare"]["hosts"]


def test_a_host_not_in_the_group_is_a_named_error():
    with pytest.raises(dm.MoveError, match="host mysql9 is not listed under group spare"):
        dm.move_host(HOSTS, "mysql9", "spare", "mysql")


# -- accounts and findings ---------------------------------------------------------------------------------------------
def test_accounts_differ_by_rights_or_password_never_showing_either():
    src = {"followup_app@%": {"grants": ["SELECT"], "auth": "h1"}, "followup_ro@%": {"grants": ["SELECT"]}}
    tgt = {"followup_app@%": {"grants": ["SELECT"], "auth": "h2"}, "followup_new@%": {"grants": []}}
    differ = dm.compare_users(src, tgt)
    assert differ == [
        "account followup_app@% has another password on the target",
        "account followup_new@% exists only on the target",
        "account followup_ro@% exists only on the source",
    ]
    assert dm.compare_users(src, src) == []
    assert dm.compare_users(None, src) == ["the accounts could not be read on the source"]


def test_findings_fail_a_different_table_and_an_application_still_on_the_old_server():
    data = {
        "tables": {
            "cloud_followup.patient": {"equal": True, "counts": [5, 5], "chunks": 1},
            "cloud_followup.visit": {"equal": False, "counts": [4, 3]},
        },
        "indexes": {"differ": []},
    }
    apps = {
        "app1": {
            "component": "app",
            "health_status": 200,
            "health": {"mysql": "UP"},
            "request_status": 200,
            "request_items": 1,
        }
    }
    findings, refused = dm.verify_findings(
        "mysql", "mysql2", data, [], apps, {"followup_app@10.0.0.9": 2}, "cutover", {"app1": "10.0.0.12"}
    )
    status = {k.split("/migrate/")[1]: f["status"] for k, f in findings.items()}
    assert status == {
        "table/cloud_followup.patient": "pass",
        "table/cloud_followup.visit": "fail",
        "indexes": "pass",
        "users": "pass",
        "app/app1": "pass",
        "request/app1": "pass",
        "connected/app1": "fail",
    }
    assert len(refused) == 2 and "4 rows on the source, 3 on the target" in refused[0]


# -- the gate module ---------------------------------------------------------------------------------------------------
def gate_module(**over):
    import followup_migrate_db_gate as module
    from modulekit import run_module

    args = {"phase": "plan", "engine": "mysql", "source_name": "mysql1", "target_name": "mysql2"}
    args.update(over)
    return run_module(module, args)


def test_the_gate_module_refuses_a_target_outside_the_inventory_without_failing():
    result = gate_module(in_inventory=False)
    assert result["changed"] is False and "failed" not in result
    assert result["refused"] == [
        "the target mysql2 is not a host of the inventory: add it (in group spare) to the inventory's hosts file, or "
        "name one of its hosts with --to"
    ]


def test_the_gate_module_plans_and_fails_only_on_bad_input():
    result = gate_module(
        source=probe(data_bytes=200 * 10**6), target=probe(server_id=7), target_address="10.89.85.23", id="m"
    )
    assert result["refused"] == [] and result["plan"]["data_bytes"] == 200 * 10**6
    assert result["plan"]["copy_s"] == 10.0 and result["plan"]["target_server_id"] == 85 * 256 + 23
    bad = gate_module(rates={"warp": 9})
    assert bad["failed"] is True and "unknown key warp" in bad["msg"]
