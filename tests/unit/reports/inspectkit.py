"""Realistic inspection inputs for the unit tests: what followup_inspect_facts and followup_status answer on a healthy
lab host, which each test then breaks in one way (a stopped service, a full disk, an expiring certificate ...)."""

import copy
from pathlib import Path

import yaml
from ansible.module_utils.followup_inspect import validate

ROOT = Path(__file__).resolve().parents[3]
THRESHOLDS = validate(yaml.safe_load((ROOT / "inspection" / "thresholds.yml").read_text()))
NOW = 1796168400.0  # 2026-12-01T23:40:00Z
GiB = 1 << 30

INDEX = {
    "releases": [
        {"version": "1.0.0", "release_date": "2026-02-02"},
        {"version": "1.1.0", "release_date": "2026-06-01"},
        {"version": "1.2.0", "release_date": "2026-11-20"},
    ],
    "newest": "1.2.0",
    "signer": "vendor-release",
    "refused": [],
}


def thresholds(**overrides):
    data = copy.deepcopy(THRESHOLDS)
    for item, settings in overrides.items():
        data["items"][item.replace("__", ".")].update(settings)
    return data


def mount(path="/", size=100 * GiB, used=20 * GiB, inodes=6_000_000, inodes_used=300_000, fstype="ext4"):
    avail = size - used
    return {
        "mount": path,
        "device": "/dev/vda1",
        "fstype": fstype,
        "size": size,
        "used": used,
        "avail": avail,
        "percent": round(100.0 * used / size, 1),
        "inodes": inodes,
        "inodes_used": inodes_used,
        "inode_percent": round(100.0 * inodes_used / inodes, 1),
    }


def inspection(host, **parts):
    data = {
        "host": host,
        "collected_at": "2026-12-01T23:40:00Z",
        "facts": [],
        "problems": [],
        "thresholds": THRESHOLDS,
        "system": {
            "cpus": 2,
            "cpu_percent": 12.5,
            "cpu_sample_s": 1.0,
            "load": [0.4, 0.5, 0.3],
            "memory": {"total": 8 * GiB, "available": 5 * GiB, "percent": 37.5, "swap_total": 0, "swap_used": 0},
            "mounts": [mount()],
            "errors": [],
        },
        "logs": {"count": 0, "by_unit": {}, "lines": [], "cursor": "s=abc;i=10", "since": {"time": "x"}, "error": None},
        "certificates": [],
        "timesync": {"synchronized": True, "offset_ms": 0.8, "source": "chronyc tracking", "reference": "0A59"},
        "mysql": None,
        "mongodb": None,
        "interface": None,
        "voice": None,
    }
    data.update(parts)
    return data


def status(services=None, checks=None, components=None):
    services = {"followup-app": "active"} if services is None else services
    checks = [{"name": "app", "ok": True, "detail": "HTTP 200"}] if checks is None else checks
    result = {"services": services, "facts": ["followup_component_app"], "problems": [], "components": {}}
    if checks:
        result["health"] = {"ok": all(c["ok"] for c in checks), "detail": "", "checks": checks}
    for name, version in (components or {}).items():
        result["components"][name] = {"version": version, "release_date": None, "root": f"/opt/followup/{name}"}
    return result


def mysql_figures(**status_values):
    base = {
        "Uptime": 864000,
        "Threads_connected": 12,
        "Max_used_connections": 30,
        "Slow_queries": 5,
        "Innodb_row_lock_current_waits": 0,
        "Innodb_row_lock_waits": 3,
        "Innodb_buffer_pool_read_requests": 50_000_000,
        "Innodb_buffer_pool_reads": 10_000,
    }
    base.update(status_values)
    return {
        "status": base,
        "variables": {"max_connections": "151", "slow_query_log": "ON", "long_query_time": "1.000000"},
        "replica": None,
        "lock_waits": base["Innodb_row_lock_current_waits"],
        "tables": [
            {
                "name": "cloud_followup.followup_tasks",
                "rows": 10000,
                "data": 300 << 20,
                "index": 100 << 20,
                "bytes": 400 << 20,
                "free": 0,
            },
            {
                "name": "interface_data.his_patient_inbound",
                "rows": 1000,
                "data": 2 << 20,
                "index": 1 << 20,
                "bytes": 3 << 20,
                "free": 0,
            },
        ],
        "errors": [],
    }


def mongodb_figures(by_code=None):
    by_code = {"200": 40, "486": 5, "480": 3} if by_code is None else by_code
    return {
        "engine": "ferretdb",
        "version": "7.0.42",
        "connections": None,
        "replica": None,
        "lock_waits": 0,
        "database": "cdr",
        "size": 1 << 20,
        "collections": [
            {
                "name": "cdr.call_records",
                "count": 500,
                "data": 1 << 20,
                "index": 1 << 18,
                "bytes": (1 << 20) + (1 << 18),
            }
        ],
        "calls_today": {
            "since": "2026-12-01T16:00:00Z",
            "placed": sum(by_code.values()),
            "answered": by_code.get("200", 0),
            "by_code": by_code,
        },
        "errors": [],
    }


def evidence(**parts):
    data = {
        "records": True,
        "runs_dir": "/srv/followup-ops/runs",
        "backup": {"operation": "20261201T180000Z-backup", "at": "2026-12-01T18:05:00Z", "id": "B1", "summary": "B1"},
        "drill": {"operation": "20261120T020000Z-backup-drill", "at": "2026-11-20T02:30:00Z", "result": "pass"},
        "compliance": {"operation": "20261125T010000Z-compliance", "at": "2026-11-25T01:10:00Z", "score": 93.0},
        "faults": {"open": []},
    }
    data.update(parts)
    return data


def healthy_results():
    """A small healthy system: an app host, a fep host with its interface and certificate, a database host."""
    return {
        "app1": {"host": "app1", "inspection": inspection("app1"), "status": status(components={"app": "1.2.0"})},
        "fep1": {
            "host": "fep1",
            "inspection": inspection(
                "fep1",
                certificates=[
                    {
                        "path": "/etc/nginx/tls/followup.crt",
                        "days_left": 300.0,
                        "not_after": "2027-09-28",
                        "subject": "fep",
                        "error": None,
                        "source": "followup_fep",
                    }
                ],
                interface={
                    "url": "http://127.0.0.1:8081",
                    "status": "UP",
                    "backlog": 3,
                    "last_cycle_at": "x",
                    "last_cycle_age_min": 0.1,
                    "last_error": None,
                    "error": None,
                    "stats_error": None,
                },
            ),
            "status": status({"nginx": "active", "followup-fep": "active"}, components={"fep": "1.2.0"}),
        },
        "mysql1": {
            "host": "mysql1",
            "inspection": inspection("mysql1", mysql=mysql_figures()),
            "status": status({"mariadb": "active"}),
        },
        "mongo1": {
            "host": "mongo1",
            "inspection": inspection("mongo1", mongodb=mongodb_figures()),
            "status": status({"ferretdb": "active", "postgresql": "active"}),
        },
    }
