"""The status report filter: rows and findings from each host's followup_status result and the signed index."""

from datetime import date

from followup_status_report import FilterModule

report = FilterModule().filters()["followup_status_report"]

INDEX = {
    "releases": [
        {"version": "1.0.0", "release_date": "2026-02-02", "file": "x", "sha256": "0" * 64},
        {"version": "1.2.0", "release_date": "2026-09-07", "file": "y", "sha256": "1" * 64},
    ],
    "newest": {"version": "1.2.0", "release_date": "2026-09-07"},
    "signer": "lab-release",
    "refused": [],
}


def status(version="1.0.0", services=None, ok=True):
    return {
        "status": {
            "components": {"app": {"version": version, "root": "/opt/followup/app", "installed_versions": [version]}},
            "services": services if services is not None else {"followup-app": "active"},
            "health": {
                "ok": ok,
                "detail": "app: HTTP %s" % (200 if ok else 503),
                "checks": [{"name": "app", "ok": ok, "detail": "x"}],
            },
            "facts": ["followup_component_app"],
            "problems": [],
        }
    }


def test_rows_and_findings_per_host_and_component():
    hostvars = {
        "app1": {"__followup_status": status()},
        "mysql1": {"__followup_status": {"status": {"services": {"mariadb": "active"}, "components": {}}}},
    }
    out = report(hostvars, ["app1", "mysql1"], INDEX, today=date(2026, 12, 1))
    rows, findings = out["data"]["status"], out["findings"]
    assert rows["app1"]["components"]["app"]["currency"]["status"] == "fail"
    assert findings["app1/app/currency"]["status"] == "fail" and findings["app1/app/currency"]["days_over"] == 212
    assert findings["app1/health"]["status"] == "pass" and findings["mysql1/health"]["status"] == "pass"
    assert (
        out["data"]["releases"]["signer"] == "lab-release" and out["data"]["releases"]["newest"]["version"] == "1.2.0"
    )
    assert "sha256" not in out["data"]["releases"]["releases"][0]


def test_a_host_that_did_not_answer_is_an_error_never_a_pass():
    hostvars = {"voice1": {"__followup_status": {"unreachable": True, "msg": "Failed to connect\nmore"}}, "fep1": {}}
    out = report(hostvars, ["voice1", "fep1"], INDEX, today=date(2026, 12, 1))
    assert out["findings"]["voice1/reach"]["status"] == "error"
    assert out["findings"]["voice1/reach"]["actual"] == "Failed to connect"
    assert out["findings"]["fep1/reach"]["status"] == "error" and out["data"]["status"]["fep1"]["reachable"] is False


def test_a_down_service_or_failing_check_fails_health():
    hostvars = {
        "a": {"__followup_status": status(services={"followup-app": "failed"})},
        "b": {"__followup_status": status(ok=False)},
    }
    out = report(hostvars, ["a", "b"], INDEX, today=date(2026, 12, 1))
    assert (
        out["findings"]["a/health"]["status"] == "fail"
        and "followup-app failed" in out["findings"]["a/health"]["actual"]
    )
    assert out["findings"]["b/health"]["status"] == "fail"


def test_an_index_that_failed_verification_is_a_finding():
    out = report({}, [], dict(INDEX, refused=["index.yml.sig is missing"]), today=date(2026, 12, 1))
    assert out["findings"]["control-node/release-index"]["status"] == "error"
    assert "index.yml.sig is missing" in out["findings"]["control-node/release-index"]["actual"]
