"""The inspection's judgement: thresholds as data, and injected problems reported as 异常 with their host."""

import copy

import pytest
from ansible.module_utils.followup_inspect import (
    ThresholdError,
    evaluate,
    exit_level,
    expected_text,
    judge,
    merge,
    validate,
)
from inspectkit import (
    INDEX,
    NOW,
    THRESHOLDS,
    GiB,
    evidence,
    healthy_results,
    inspection,
    mount,
    mysql_figures,
    status,
)

TARGETS = ["app1", "fep1", "mongo1", "mysql1"]


def run(results=None, history=None, ev=None, index=INDEX, targets=TARGETS, groups=None, rules=THRESHOLDS):
    results = healthy_results() if results is None else results
    return evaluate(
        targets, results, history or {}, evidence() if ev is None else ev, index, rules, now=NOW, groups=groups or {}
    )


def statuses(report, host=None):
    return {fid: f["status"] for fid, f in report["findings"].items() if host is None or f["host"] == host}


# -- thresholds --------------------------------------------------------------------------------------------------
def test_the_shipped_thresholds_validate_and_every_limit_has_its_direction():
    assert THRESHOLDS["timezone"] == "+08:00"
    for item_id, rule in THRESHOLDS["items"].items():
        assert rule["title_zh"] and rule["title_en"], item_id
        if "warn" in rule:
            assert rule["direction"] in ("above", "below"), item_id
    assert THRESHOLDS["service_levels"]["faults_per_year"] == 5
    assert THRESHOLDS["service_levels"]["response_minutes"] == {"fault": 60, "issue": 120}


def test_an_override_changes_one_setting_and_keeps_the_others():
    merged = merge(THRESHOLDS, {"disk.space": {"warn": 70}, "time.sync": {"required": False}})
    assert merged["items"]["disk.space"] == dict(THRESHOLDS["items"]["disk.space"], warn=70)
    assert merged["items"]["time.sync"]["required"] is False
    assert THRESHOLDS["items"]["disk.space"]["warn"] == 80, "the base document is not changed"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"disk.spaces": {"warn": 70}}, "disk.spaces is not an inspection item"),
        ({"disk.space": {"warn": 95}}, "warn 95 must be at most crit 90"),
        ({"disk.space": {"warn": "eighty"}}, "disk.space.warn must be a number"),
        ({"disk.space": {"colour": "red"}}, "disk.space.colour is not a setting"),
        ({"cert.expiry": {"warn": 5}}, "warn 5 must be at least crit 7"),
        ({"backup.newest": {"missing": "panic"}}, "backup.newest.missing must be one of"),
        ({"timezone": "Asia/Shanghai"}, "timezone must be an offset like +08:00"),
        ({"service_levels": {"faults_per_year": -1}}, "faults_per_year must be a positive number"),
        ({"service_levels": {"contract_year_start": "13-40"}}, "contract_year_start must be MM-DD"),
        ({"cert.expiry": {"paths": ["relative.pem"]}}, "must list absolute paths"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_item_and_key(overrides, words):
    with pytest.raises(ThresholdError) as caught:
        merge(THRESHOLDS, overrides)
    message = str(caught.value)
    assert words in message and "\n" not in message and "followup_inspection_thresholds" in message


def test_a_thresholds_document_without_schema_or_titles_is_refused():
    broken = copy.deepcopy(THRESHOLDS)
    del broken["items"]["disk.space"]["title_zh"]
    with pytest.raises(ThresholdError, match=r"item disk\.space has no title_zh"):
        validate(broken, "t.yml")
    with pytest.raises(ThresholdError, match="schema must be 1"):
        validate(dict(THRESHOLDS, schema=2), "t.yml")


def test_judging_is_inclusive_at_the_limits_in_both_directions():
    above = {"direction": "above", "warn": 80, "crit": 90}
    assert [judge(v, above) for v in (79.9, 80, 89.9, 90)] == ["pass", "warn", "warn", "fail"]
    below = {"direction": "below", "warn": 30, "crit": 7}
    assert [judge(v, below) for v in (31, 30, 8, 7, -1)] == ["pass", "warn", "warn", "fail", "fail"]
    assert judge(None, above) == "na"
    assert expected_text(dict(above, unit="%")) == "正常 < 80%；注意 ≥ 80%；异常 ≥ 90%"


# -- a healthy system --------------------------------------------------------------------------------------------
def test_a_healthy_system_is_all_normal_and_exits_0():
    report = run()
    bad = {k: v for k, v in statuses(report).items() if v not in ("pass", "na")}
    assert bad == {}
    assert exit_level(report["findings"]) == "pass"
    data = report["data"]["inspection"]
    assert data["level"] == "pass" and data["counts"]["fail"] == 0
    assert report["findings"]["fep1/interface.backlog"]["actual"].startswith("3 条待处理")
    assert report["findings"]["mongo1/voice.calls"]["status"] == "pass"
    assert data["hosts"]["mysql1"]["sample"]["tables"]["cloud_followup.followup_tasks"] == 400 << 20


# -- injected problems: each 异常, with the host -------------------------------------------------------------------
def test_a_stopped_service_is_abnormal_on_its_host():
    results = healthy_results()
    results["fep1"]["status"]["services"]["followup-fep"] = "inactive"
    report = run(results)
    finding = report["findings"]["fep1/services"]
    assert finding["status"] == "fail" and finding["host"] == "fep1" and finding["level"].startswith("异常")
    assert "followup-fep inactive" in finding["actual"]
    assert exit_level(report["findings"]) == "fail"


def test_a_nearly_full_disk_is_abnormal_with_its_mount():
    results = healthy_results()
    results["mysql1"]["inspection"]["system"]["mounts"].append(mount("/var/lib/mysql", 50 * GiB, int(47.5 * GiB)))
    report = run(results)
    finding = report["findings"]["mysql1/disk.space//var/lib/mysql"]
    assert finding["status"] == "fail" and finding["host"] == "mysql1" and finding["value"] == 95.0
    assert "95%" in finding["actual"] and finding["expected"] == "正常 < 80%；注意 ≥ 80%；异常 ≥ 90%"
    assert report["findings"]["mysql1/disk.space//"]["status"] == "pass"


def test_an_expiring_certificate_is_abnormal_and_an_expired_one_too():
    results = healthy_results()
    certs = results["fep1"]["inspection"]["certificates"]
    certs[0]["days_left"] = 3.2
    certs.append(
        {
            "path": "/etc/mysql/tls/old.crt",
            "days_left": -2.0,
            "not_after": "2026-11-29",
            "error": None,
            "subject": "db",
            "source": "mysql",
        }
    )
    certs.append(
        {
            "path": "/etc/nginx/tls/next.crt",
            "days_left": 20.0,
            "not_after": "2026-12-21",
            "error": None,
            "subject": "next",
            "source": "followup_fep",
        }
    )
    report = run(results)
    assert report["findings"]["fep1/cert.expiry//etc/nginx/tls/followup.crt"]["status"] == "fail"
    expired = report["findings"]["fep1/cert.expiry//etc/mysql/tls/old.crt"]
    assert expired["status"] == "fail" and "已过期" in expired["actual"]
    assert report["findings"]["fep1/cert.expiry//etc/nginx/tls/next.crt"]["status"] == "warn"


def test_an_interface_backlog_is_abnormal_on_the_fep():
    results = healthy_results()
    results["fep1"]["inspection"]["interface"]["backlog"] = 2500
    report = run(results)
    finding = report["findings"]["fep1/interface.backlog"]
    assert finding["status"] == "fail" and finding["host"] == "fep1" and finding["value"] == 2500


def test_an_interface_that_does_not_answer_is_abnormal_and_a_stale_exchange_too():
    results = healthy_results()
    results["fep1"]["inspection"]["interface"] = {"error": "GET /health: Connection refused", "url": "http://x"}
    report = run(results)
    assert report["findings"]["fep1/interface.backlog"]["status"] == "fail"
    assert report["findings"]["fep1/interface.last_exchange"]["status"] == "fail"
    results = healthy_results()
    results["fep1"]["inspection"]["interface"].update(last_cycle_age_min=45.0, last_error="inbound: timeout")
    finding = run(results)["findings"]["fep1/interface.last_exchange"]
    assert finding["status"] == "warn" and "the last cycle failed" in finding["actual"]


def test_an_unreachable_host_is_abnormal_for_every_item_it_is_due_never_normal():
    results = healthy_results()
    del results["mysql1"]
    report = run(results, groups={"mysql1": ["mysql", "databases"]})
    mine = statuses(report, "mysql1")
    assert mine["mysql1/host.reach"] == "fail"
    assert set(mine.values()) <= {"fail", "error"}, mine
    for item in ("system.cpu", "disk.space", "services", "logs.errors", "mysql.connections", "mysql.slow_queries"):
        assert mine[f"mysql1/{item}"] == "error", item
    assert report["data"]["inspection"]["hosts"]["mysql1"]["level"] == "fail"
    assert exit_level(report["findings"]) == "fail"


def test_a_host_whose_inspection_failed_says_why_and_is_abnormal():
    results = healthy_results()
    results["app1"] = {
        "host": "app1",
        "error": "followup_inspect_facts: thresholds of app1: disk.spaces is not an item",
    }
    report = run(results)
    reach = report["findings"]["app1/host.reach"]
    assert reach["status"] == "error" and "disk.spaces" in reach["actual"]
    assert all(s in ("fail", "error") for s in statuses(report, "app1").values())


def test_a_stopped_replica_and_lock_waits_are_abnormal():
    results = healthy_results()
    figures = mysql_figures(Innodb_row_lock_current_waits=7)
    figures["replica"] = {
        "io_running": True,
        "sql_running": False,
        "lag_s": None,
        "source": "10.0.0.1:3306",
        "error": "Duplicate entry",
    }
    results["mysql1"]["inspection"]["mysql"] = figures
    report = run(results)
    assert report["findings"]["mysql1/mysql.replication"]["status"] == "fail"
    assert report["findings"]["mysql1/mysql.lock_waits"]["status"] == "fail"


def test_mysql_that_cannot_be_read_is_not_checked_not_normal():
    results = healthy_results()
    results["mysql1"]["inspection"]["mysql"] = {"error": "cannot log in to MySQL as root over /run/mysqld/mysqld.sock"}
    report = run(results)
    assert report["findings"]["mysql1/mysql.connections"]["status"] == "error"


def test_too_few_buffer_reads_say_nothing_and_a_low_hit_rate_is_abnormal():
    results = healthy_results()
    results["mysql1"]["inspection"]["mysql"] = mysql_figures(
        Innodb_buffer_pool_read_requests=1232, Innodb_buffer_pool_reads=170
    )
    assert run(results)["findings"]["mysql1/mysql.buffer_hit"]["status"] == "na"
    results["mysql1"]["inspection"]["mysql"] = mysql_figures(
        Innodb_buffer_pool_read_requests=1_000_000, Innodb_buffer_pool_reads=80_000
    )
    finding = run(results)["findings"]["mysql1/mysql.buffer_hit"]
    assert finding["status"] == "fail" and finding["value"] == 92.0


def test_slow_queries_count_since_the_previous_inspection_unless_the_server_restarted():
    results = healthy_results()
    results["mysql1"]["inspection"]["mysql"] = mysql_figures(Slow_queries=150, Uptime=864000)
    prev = {
        "at": "2026-11-30T23:40:00Z",
        "mysql": {"Slow_queries": 100, "Innodb_buffer_pool_read_requests": 0, "Innodb_buffer_pool_reads": 0},
    }
    finding = run(results, history={"mysql1": [prev]})["findings"]["mysql1/mysql.slow_queries"]
    assert finding["value"] == 50.0 and finding["status"] == "warn"
    results["mysql1"]["inspection"]["mysql"] = mysql_figures(Slow_queries=150, Uptime=3600)
    finding = run(results, history={"mysql1": [prev]})["findings"]["mysql1/mysql.slow_queries"]
    assert finding["value"] == 150.0 and finding["status"] == "fail", "a restart resets the counter: all of it counts"


def test_disk_growth_from_the_previous_inspections_gives_the_days_until_full():
    results = healthy_results()
    results["app1"]["inspection"]["system"]["mounts"] = [mount("/", 100 * GiB, 60 * GiB)]
    history = {
        "app1": [
            {"at": "2026-11-30T23:40:00Z", "mounts": {"/": {"used": 55 * GiB, "avail": 45 * GiB}}},
            {"at": "2026-11-24T23:40:00Z", "mounts": {"/": {"used": 32 * GiB, "avail": 68 * GiB}}},
        ]
    }
    finding = run(results, history=history)["findings"]["app1/disk.trend//"]
    # 28 GiB in 7 days: 4 GiB a day; 40 GiB free: 10 days
    assert finding["value"] == 10.0 and finding["status"] == "warn"
    assert finding["rate_bytes_per_day"] == 4 * GiB
    no_history = run(results)["findings"]["app1/disk.trend//"]
    assert no_history["status"] == "na"


def test_a_fast_growing_large_table_is_judged_and_small_ones_are_not():
    results = healthy_results()
    history = {
        "mysql1": [
            {
                "at": "2026-11-29T23:40:00Z",
                "tables": {"cloud_followup.followup_tasks": 200 << 20, "interface_data.his_patient_inbound": 1 << 20},
            }
        ]
    }
    finding = run(results, history=history)["findings"]["mysql1/mysql.tables"]
    # 200 MiB -> 400 MiB in 2 days: 50 % a day (the small table grew 100 % a day but is below min_bytes)
    assert finding["value"] == 50.0 and finding["status"] == "fail"
    assert "cloud_followup.followup_tasks" in finding["actual"]


def test_calls_failed_by_the_system_are_judged_and_busy_callees_are_not():
    results = healthy_results()
    results["mongo1"]["inspection"]["mongodb"]["calls_today"].update(
        placed=40, answered=10, by_code={"200": 10, "486": 15, "503": 15}
    )
    finding = run(results)["findings"]["mongo1/voice.calls"]
    assert finding["value"] == 37.5 and finding["status"] == "warn"
    assert "SIP 503 ×15" in finding["actual"]


def test_voice_trunks_some_down_is_attention_all_down_abnormal():
    results = healthy_results()
    results["app1"]["inspection"]["voice"] = {
        "trunks": [{"name": "t1", "state": "up", "uri": ""}, {"name": "t2", "state": "down", "uri": ""}],
        "error": None,
    }
    assert run(results)["findings"]["app1/voice.trunks"]["status"] == "warn"
    results["app1"]["inspection"]["voice"]["trunks"][0]["state"] = "down"
    assert run(results)["findings"]["app1/voice.trunks"]["status"] == "fail"


def test_a_release_more_than_90_days_behind_is_attention_like_status_exits_4():
    results = healthy_results()
    results["app1"]["status"] = status(components={"app": "1.0.0"})
    report = run(results)
    finding = report["findings"]["app1/release.currency/app"]
    assert finding["status"] == "warn" and finding["currency"] == "fail" and finding["requirement"] == "R-CURRENT"
    assert exit_level(report["findings"]) == "warn"


def test_an_unverified_release_index_is_abnormal():
    report = run(index={"releases": [], "refused": ["index.yml.sig does not verify"]})
    assert report["findings"]["control-node/release.currency/index"]["status"] == "fail"
    assert report["findings"]["app1/release.currency/app"]["status"] == "error"


def test_time_not_synchronised_is_attention_unless_the_inventory_says_it_is_not_ours():
    results = healthy_results()
    results["app1"]["inspection"]["timesync"] = {"synchronized": False, "offset_ms": None, "source": "timedatectl"}
    assert run(results)["findings"]["app1/time.sync"]["status"] == "warn"
    rules = merge(THRESHOLDS, {"time.sync": {"required": False}})
    results["app1"]["inspection"]["thresholds"] = rules
    assert run(results)["findings"]["app1/time.sync"]["status"] == "na"


def test_error_lines_since_the_last_inspection_are_counted_by_unit():
    results = healthy_results()
    results["app1"]["inspection"]["logs"] = {
        "count": 3,
        "by_unit": {"followup-app.service": 3},
        "error": None,
        "lines": [{"unit": "followup-app.service", "message": "x"}],
        "cursor": "s=1",
        "since": {"cursor": "s=0"},
    }
    finding = run(results)["findings"]["app1/logs.errors"]
    assert finding["status"] == "warn" and "followup-app.service ×3" in finding["actual"]
    assert "after the cursor of the last inspection" in finding["evidence"]


def test_the_control_node_records_missing_backup_failed_drill_old_score_open_faults():
    ev = evidence(
        backup=None,
        drill={"operation": "d", "at": "2026-11-30T02:00:00Z", "result": "fail"},
        compliance={"operation": "c", "at": "2026-09-01T00:00:00Z", "score": 95.0},
        faults={"open": ["F2026-004"]},
    )
    report = run(ev=ev)
    f = report["findings"]
    assert f["control-node/backup.newest"]["status"] == "fail"
    assert f["control-node/backup.drill"]["status"] == "fail" and "FAILED" in f["control-node/backup.drill"]["actual"]
    assert (
        f["control-node/compliance.score"]["status"] == "warn"
        and "out of date" in f["control-node/compliance.score"]["actual"]
    )
    assert f["control-node/faults.open"]["status"] == "warn" and "F2026-004" in f["control-node/faults.open"]["actual"]


def test_a_backup_older_than_two_days_is_abnormal_and_a_low_score_too():
    ev = evidence(
        backup={"operation": "b", "at": "2026-11-29T12:00:00Z", "id": "B0"},
        compliance={"operation": "c", "at": "2026-11-30T00:00:00Z", "score": 65.0},
    )
    f = run(ev=ev)["findings"]
    assert (
        f["control-node/backup.newest"]["status"] == "fail" and f["control-node/backup.newest"]["value"] == 59.7
    )  # 2026-11-29T12:00 to 12-01T23:40
    assert f["control-node/compliance.score"]["status"] == "fail"


def test_without_run_records_the_control_node_items_are_not_applicable_not_guessed():
    f = run(ev={"records": False, "runs_dir": "/runner/project/runs"})["findings"]
    for item in ("backup.newest", "backup.drill", "compliance.score", "faults.open"):
        assert f[f"control-node/{item}"]["status"] == "na"


def test_swap_in_use_and_a_busy_cpu_are_judged_per_cpu():
    results = healthy_results()
    system = results["app1"]["inspection"]["system"]
    system["load"] = [7.0, 6.5, 6.0]
    system["memory"].update(swap_total=2 * GiB, swap_used=GiB, swap_percent=50.0)
    f = run(results)["findings"]
    assert f["app1/system.load"]["value"] == 3.25 and f["app1/system.load"]["status"] == "fail"
    assert f["app1/system.swap"]["status"] == "warn"


def test_every_finding_follows_the_core_schema():
    from followup_ops import report as reportmod

    results = healthy_results()
    del results["fep1"]
    report = run(results, groups={"fep1": ["fep", "followup"]})
    merged = reportmod.merge(reportmod.empty(), report)
    for finding in reportmod.findings(merged):
        for key in ("control", "host", "status", "title", "expected", "actual", "evidence"):
            assert key in finding, (finding["id"], key)
    assert inspection("x")["system"]["mounts"][0]["percent"] == 20.0
