"""report.json (the source of truth), junit.xml (one testcase per control × host) and the trend between runs."""

import xml.etree.ElementTree as ET

from ansible.module_utils import followup_compliance_catalogue as cat
from ansible.module_utils import followup_compliance_eval as ev
from ansible.module_utils import followup_compliance_report as rep
from ansible.module_utils import followup_compliance_waivers as wv
from evidencekit import CATALOGUE, accounts, evidence, user

PARAMS = cat.defaults(CATALOGUE)
RUN = {"id": "20261201T020000Z-compliance", "started_at": "2026-12-01T02:00:00Z", "user": "ops", "inventory": "lab"}
CONTROLS = cat.select(CATALOGUE, "LNX-ACC-01,LNX-ACC-03,LNX-PWD-02,LNX-ACC-09,LNX-TRU-01,LNX-AUD-08")


def scan(with_postgres_shell=True, waiver_expiry="2027-06-30"):
    users = [user("root", 0, "/bin/bash"), user("ops", 1000, "/bin/bash")]
    if with_postgres_shell:
        users.append(user("postgres", 105, "/bin/bash"))
    data = evidence(
        {
            "/etc/login.defs": "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nPASS_WARN_AGE 7\n",
            "/etc/sudoers.d/ops": "ops ALL=(ALL) NOPASSWD: ALL\n",
        },
        accounts=accounts(*users),
        packages={"installed": {}, "tool": "dpkg-query"},
    )
    findings = ev.evaluate_host(CATALOGUE, data, PARAMS, "app1", ["linux"], {"today": "2026-12-01"}, CONTROLS)
    findings.update(ev.unreachable_findings(CATALOGUE, "fep1", ["linux"], "ssh: timed out", PARAMS, CONTROLS))
    waivers = wv.parse(
        {
            "waivers": [
                {
                    "control": "LNX-ACC-09",
                    "host": "*",
                    "justification": "lab sudo",
                    "approver": "IT",
                    "expiry": waiver_expiry,
                }
            ]
        },
        CATALOGUE,
    )
    used = wv.apply(findings, waivers, "2026-12-01")
    compliance = {
        "catalogue": {"id": "djbh-l3", "version": "x"},
        "summary": ev.summarise(findings.values()),
        "unreachable": ["fep1"],
        "waivers": used,
        "collect_seconds": {"app1": 0.8},
    }
    return rep.report_document(findings, compliance, RUN, CATALOGUE)


def test_report_json_has_the_documented_sections_and_every_finding_once():
    doc = scan()
    assert doc["schema"] == "followup-ops/compliance-report/1"
    for key in ("run", "catalogue", "summary", "hosts", "unreachable", "findings", "waivers", "limitations", "files"):
        assert key in doc, key
    ids = [f["id"] for f in doc["findings"]]
    assert len(ids) == len(set(ids)) == 2 * len(CONTROLS)
    row = next(f for f in doc["findings"] if f["id"] == "app1/LNX-ACC-03")
    for key in (
        "control",
        "host",
        "status",
        "status_zh",
        "title_zh",
        "title_en",
        "clause",
        "test_unit",
        "control_point",
        "expected",
        "actual",
        "evidence",
        "evidence_items",
        "risk",
        "remediation",
        "basis",
    ):
        assert key in row, key
    assert row["status"] == "fail" and row["status_zh"] == "不符合" and "postgres" in row["actual"]
    assert doc["hosts"]["fep1"]["reachable"] is False and doc["hosts"]["app1"]["collect_seconds"] == 0.8


def test_failures_first_puts_high_risk_then_fail_before_error():
    doc = scan()
    rows = rep.failures_first(doc["findings"])
    assert rows and all(r["status"] in ("fail", "partial", "error") for r in rows)
    order = [(rep.RISK_ORDER[r["risk"]], rep.SEVERITY[r["status"]]) for r in rows]
    assert order == sorted(order)
    assert not any(r.get("waived") for r in rows)


def test_junit_has_one_testcase_per_control_and_host_with_failures_errors_and_skips():
    doc = scan()
    root = ET.fromstring(rep.junit_xml(doc))  # noqa: S314 - XML this code wrote
    cases = root.findall(".//testcase")
    assert len(cases) == len(doc["findings"])
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"app1", "fep1"}
    # the unreachable host's controls are errors, except the one the "*" waiver covers (skipped as waived)
    assert int(suites["fep1"].get("errors")) == len(CONTROLS) - 1 and suites["fep1"].get("failures") == "0"
    assert suites["fep1"].get("skipped") == "1"
    acc03 = next(c for c in cases if c.get("name").startswith("LNX-ACC-03") and c.get("classname") == "app1.linux")
    assert acc03.find("failure").get("type") == "fail" and "postgres" in acc03.find("failure").get("message")
    waived = next(c for c in cases if c.get("name").startswith("LNX-ACC-09") and c.get("classname") == "app1.linux")
    assert waived.find("skipped").get("message").startswith("豁免 waived: lab sudo (IT, until 2027-06-30)")
    manual = next(c for c in cases if c.get("name").startswith("LNX-TRU-01") and c.get("classname") == "app1.linux")
    assert manual.find("skipped").get("message").startswith("人工核查")
    passed = next(c for c in cases if c.get("name").startswith("LNX-ACC-01") and c.get("classname") == "app1.linux")
    assert passed.find("failure") is None and passed.find("error") is None and passed.find("skipped") is None
    total = sum(int(s.get("tests")) for s in suites.values())
    assert root.get("tests") == str(total) and root.get("failures") == str(
        sum(int(s.get("failures")) for s in suites.values())
    )


def test_an_expired_waiver_is_a_failure_again_in_junit():
    doc = scan(waiver_expiry="2026-11-30")
    root = ET.fromstring(rep.junit_xml(doc))  # noqa: S314 - XML this code wrote
    case = next(
        c
        for c in root.iter("testcase")
        if c.get("name").startswith("LNX-ACC-09") and c.get("classname") == "app1.linux"
    )
    assert case.find("failure") is not None and case.find("skipped") is None
    assert doc["waivers"]["expired"][0]["control"] == "LNX-ACC-09"


def test_the_trend_names_new_failures_and_fixed_controls_and_the_score_change():
    before = rep.history_record(dict(scan(with_postgres_shell=True), run=dict(RUN, id="r1", started_at="2026-11-01")))
    after_doc = scan(with_postgres_shell=False)
    after = rep.history_record(dict(after_doc, run=dict(RUN, id="r2", started_at="2026-12-01")))
    trend = rep.trend(after, [before])
    assert "app1/LNX-ACC-03" in trend["fixed"] and trend["new_failures"] == []
    assert trend["previous"]["id"] == "r1" and [r["id"] for r in trend["runs"]] == ["r1", "r2"]
    assert trend["score_change"] > 0
    assert after["statuses"]["app1/LNX-ACC-09"] == "waived"
    first = rep.trend(before, [])
    assert first["previous"] is None and len(first["runs"]) == 1


def test_waivers_expiring_soon_are_listed():
    waivers = {
        "used": [
            {"control": "A", "host": "*", "expiry": "2026-12-20"},
            {"control": "B", "host": "*", "expiry": "2027-12-20"},
        ]
    }
    soon = rep.expiring_waivers(waivers, "2026-12-01")
    assert [w["control"] for w in soon] == ["A"] and soon[0]["days_left"] == 19
