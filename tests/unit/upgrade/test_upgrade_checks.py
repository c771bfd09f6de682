"""module_utils/followup_upgrade_checks.py and followup_upgrade.py: the rules of the pre-check table, what an
interrupted upgrade reached, and library/followup_precheck.py on this machine."""

import followup_precheck as precheck_module
from ansible.module_utils import followup_upgrade as fu
from ansible.module_utils import followup_upgrade_checks as checks
from modulekit import run_module

MIB = 1024 * 1024


def test_disk_and_memory_fail_below_the_need_and_say_how_much_to_free():
    bad = checks.disk_row("/opt/followup", 200 * MIB, 12 * MIB, "the release")
    assert bad["status"] == "fail" and "free 188.0 MiB on /opt/followup" in bad["fix"]
    assert checks.disk_row("/opt/followup", 1, 2, "x")["status"] == "pass"
    assert checks.memory_row(256 * MIB, 100 * MIB)["status"] == "fail"
    assert checks.memory_row(256 * MIB, 300 * MIB)["status"] == "pass"


def test_time_sync_needs_ntp_unless_the_clock_cannot_be_set_and_always_agrees_with_the_control_node():
    unsynced = {"synchronized": False, "offset_ms": 0.0, "source": "chronyc tracking"}
    assert checks.time_row(unsynced, 500, require_ntp=True)["status"] == "fail"
    assert checks.time_row(unsynced, 500, require_ntp=False, skew_s=0.4)["status"] == "warn"
    assert checks.time_row(unsynced, 500, require_ntp=False, skew_s=95.0)["status"] == "fail"
    synced = {"synchronized": True, "offset_ms": 900.0}
    assert checks.time_row(synced, 500)["status"] == "fail"
    assert checks.time_row({"synchronized": True, "offset_ms": 2.0}, 500, skew_s=1.0)["status"] == "pass"


def test_mysql_grants_are_read_per_database_with_wildcards():
    grants = [
        "GRANT USAGE ON *.* TO `followup_migrate`@`10.89.50.12`",
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON `cloud\\_followup`.* "
        "TO `followup_migrate`@`10.89.50.12`",
        "GRANT SELECT, INSERT ON `interface\\_data`.* TO `followup_migrate`@`10.89.50.12`",
    ]
    missing = checks.missing_mysql_privileges(grants, ["cloud_followup", "interface_data"])
    assert "cloud_followup" not in missing
    assert missing["interface_data"] == ["UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX"]
    assert checks.missing_mysql_privileges(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"], ["x"]) == {}
    assert checks.missing_mysql_privileges(["GRANT ALL ON `cloud%`.* TO a@b"], ["cloud_followup"]) == {}


def test_mongodb_actions_come_from_connection_status():
    privileges = [{"resource": {"db": "cdr", "collection": ""}, "actions": ["find", "insert", "update", "remove"]}]
    assert checks.mongodb_missing_actions(privileges, "cdr") == ["createIndex", "dropIndex", "createCollection"]
    assert (
        checks.mongodb_missing_actions(
            [{"resource": {"anyResource": True}, "actions": list(checks.MONGODB_MIGRATE_ACTIONS)}], "cdr"
        )
        == []
    )


def test_the_table_gathers_hosts_backup_probes_and_migration_state():
    results = {
        "app1": {"rows": [checks.disk_row("/opt/followup", 10, 5, "x")]},
        "backup1": {"skipped": True},
        "fep1": {"failed": True, "msg": "python missing"},
    }
    probes = {
        "mysql1": [{"backup": {"engine": "mysql", "estimated_bytes": 10, "target_free_bytes": 99, "target_host": "b"}}],
        "mongo1": [{"__followup_upgrade_engine": "mongodb", "msg": "/etc/followup-backup/agent.json is missing"}],
    }
    gate = {"refused": ["the backup host has 1 MiB free, the dumps need 2 MiB"]}
    inspections = [{"database": "cloud_followup", "state": "failed", "refused": ["cloud_followup: V003 failed"]}]
    view = checks.precheck_table(results, probes, gate, inspections, "app1")
    assert set(view["table"]) == {"app1", "fep1", "backup"}
    text = "\n".join(view["refused"])
    assert "app1: 磁盘空间 free disk /opt/followup" in text
    assert "fep1: 预检 pre-check" in text
    assert "mongo1: 备份 backup mongo1 mongodb" in text and "followup-ops backup" in text
    assert "backup: the backup host has 1 MiB free" in text
    assert "cloud_followup: V003 failed" in text
    resumed = checks.precheck_table({}, {}, {}, inspections, "app1", resume=True)
    assert resumed["refused"] == [] and resumed["table"]["app1"][0]["status"] == "warn"


def test_a_resumed_upgrade_is_not_refused_for_the_units_the_interrupted_one_stopped_on_the_component_hosts():
    stopped = checks.row("service:followup-fep", "服务 service followup-fep", "fail", "active", "inactive", "start it")
    refused = checks.row("health:followup-fep", "健康检查 health followup-fep", "fail", "healthy", "refused", "repair")
    disk = checks.disk_row("/opt/followup", 10, 5, "x")
    mariadb = dict(stopped, id="service:mariadb", title="服务 service mariadb")
    results = {"fep1": {"rows": [stopped, refused, disk]}, "mysql1": {"rows": [mariadb]}}
    fresh = checks.precheck_table(results, {}, {})
    assert len(fresh["refused"]) == 4
    resumed = checks.precheck_table(results, {}, {}, resume=True, component_hosts=["fep1", "app1"])
    rows = {r["id"]: r for r in resumed["table"]["fep1"]}
    assert rows["service:followup-fep"]["status"] == "warn" and "fix" not in rows["service:followup-fep"]
    assert "interrupted upgrade" in rows["health:followup-fep"]["actual"]
    # The disk of a component host and the units of a database host still refuse a resumed upgrade.
    assert [line.split(":")[0] for line in resumed["refused"]] == ["fep1", "mysql1"]
    assert "磁盘空间" in resumed["refused"][0] and "mariadb" in resumed["refused"][1]
    # Not resuming, the component hosts' units refuse as always; the rows given are not changed in place.
    again = checks.precheck_table(results, {}, {}, resume=False, component_hosts=["fep1"])
    assert len(again["refused"]) == 4 and stopped["status"] == "fail"


def test_what_an_interrupted_upgrade_reached_comes_from_the_records_it_left():
    records = [
        {
            "resumed_from": "op1",
            "steps": {"start": {}, "backup": {}, "migrate": {}},
            "data": {"backups": {"mysql1": {"mysql": "m1"}}, "migrate_started": True},
        },
        {
            "resumed_from": "op1",
            "steps": {"start": {}, "install": {}},
            "data": {"backups": {"mongo1": {"mongodb": "g1"}}},
        },
        {"steps": {"done": {}}},
    ]
    found = fu.interrupted(records, "op1")
    assert found["step"] == "migrate" and found["migrate_started"]
    assert found["backups"] == {"mysql1": {"mysql": "m1"}, "mongo1": {"mongodb": "g1"}}
    assert fu.interrupted(records, None)["step"] is None


def test_backup_ids_by_host_and_engine():
    backups = {"mysql1": {"mysql": {"id": "m1", "bytes": 3}}, "mongo1": {"mongodb": {"id": "g1"}}, "x": {}}
    assert fu.backup_ids(backups) == {"mongo1": {"mongodb": "g1"}, "mysql1": {"mysql": "m1"}}


def test_lease_states():
    lease = {"operation": "op1", "control_node": "cn1", "expires_at": 100.0}
    assert fu.lease_state(None, 50, "op2") == "free"
    assert fu.lease_state(lease, 50, "op1") == "ours"
    assert fu.lease_state(lease, 150, "op2") == "free"
    assert fu.lease_state(lease, 50, "op2") == "held"
    assert fu.lease_state(lease, 50, "op2", "cn1", trust_local=True) == "dead"
    assert fu.lease_state(lease, 50, "op2", "cn2", trust_local=True) == "held"


def test_the_precheck_module_checks_this_machine_without_failing(tmp_path):
    facts = tmp_path / "facts"
    facts.mkdir()
    result = run_module(
        precheck_module,
        {
            "host": "here",
            "facts_dir": str(facts),
            "disk": [
                {"path": str(tmp_path), "need_bytes": 1},
                {"path": str(tmp_path / "missing" / "dir"), "need_bytes": 1 << 60, "what": "too much"},
            ],
            "memory_need_bytes": 1,
            "require_ntp": False,
            "control_time": __import__("time").time() - 3600,
        },
    )
    assert not result.get("failed") and not result["changed"]
    statuses = {r["id"]: r["status"] for r in result["rows"]}
    assert statuses[f"disk:{tmp_path}"] == "pass"
    assert statuses[f"disk:{tmp_path / 'missing' / 'dir'}"] == "fail"
    assert statuses["memory"] == "pass"
    assert statuses["time"] == "fail"  # an hour from the control node's clock
    assert len(result["refused"]) == 2 and all(r.startswith("here: ") for r in result["refused"])


def test_a_host_dropped_from_the_run_is_lost_only_when_the_play_targets_it():
    upgrade_hosts = ["fep1", "app1", "voice1", "mysql1", "mongo1"]
    # voice1 became unreachable: Ansible keeps it in ansible_play_hosts_all, not in ansible_play_hosts.
    assert fu.lost_hosts(upgrade_hosts, ["fep1", "app1", "voice1"], ["fep1", "app1"]) == ["voice1"]
    # A play on the application servers does not target voice1: not its business.
    assert fu.lost_hosts(upgrade_hosts, ["app1"], ["app1"]) == []
    # Hosts outside the upgrade (the backup host, the carrier) are never lost to it.
    assert fu.lost_hosts(upgrade_hosts, ["backup1", "app1"], ["app1"]) == []
    assert fu.lost_hosts(upgrade_hosts, ["mongo1", "app1", "mysql1"], []) == ["app1", "mongo1", "mysql1"]
    assert fu.lost_hosts([], ["a"], []) == [] and fu.lost_hosts(None, None, None) == []


def test_the_reason_for_a_lost_host_names_it_the_step_and_what_to_do():
    assert fu.lost_reason([], "health") is None
    reason = fu.lost_reason(["voice1"], "health")
    assert reason.startswith("voice1 dropped out of the upgrade before step health") and "\n" not in reason
    back = fu.lost_reason(["app1", "voice1"], "rollback", rollback=True)
    assert back.startswith("app1, voice1 dropped out of the run") and "was not put back" in back
    assert "deploy the previous release" in back


def test_the_role_filters_expose_the_lost_hosts():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "roles/followup_upgrade/filter_plugins/followup_upgrade.py"
    spec = importlib.util.spec_from_file_location("followup_upgrade_role_filters", path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    filters = plugin.FilterModule().filters()
    assert filters["followup_upgrade_lost"](["a", "b"], ["a", "b"], ["a"]) == ["b"]
    assert "b dropped out" in filters["followup_upgrade_lost_reason"](["b"], "migrate")
