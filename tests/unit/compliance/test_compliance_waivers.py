"""Waivers: validated strictly (one line naming the entry), a waived control is reported as waived with its real
status and does not count, an expired waiver stops counting and is reported as expired."""

import datetime

import pytest
import yaml
from ansible.module_utils import followup_compliance_eval as ev
from ansible.module_utils import followup_compliance_waivers as wv
from evidencekit import CATALOGUE

GOOD = {
    "control": "LNX-ACC-09",
    "host": "*",
    "justification": "实验室 ops 免口令 sudo",
    "approver": "信息科 张三",
    "expiry": datetime.date(2027, 6, 30),
}


def parse(*entries):
    return wv.parse({"waivers": list(entries)}, CATALOGUE, "waivers.yml")


def finding(host, control, status="fail"):
    return {
        "host": host,
        "control": control,
        "status": status,
        "control_point": "访问控制",
        "target": "linux",
        "risk": "M",
    }


def test_a_valid_waiver_is_read_with_its_date_as_text():
    (waiver,) = parse(
        GOOD,
    )
    assert waiver["expiry"] == "2027-06-30" and waiver["control"] == "LNX-ACC-09" and waiver["index"] == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"control": "LNX-NOPE-01"}, "waiver #1 (LNX-NOPE-01 on *): unknown control LNX-NOPE-01"),
        ({"expiry": "2027-13-01"}, "expiry '2027-13-01' is not a real date"),
        ({"expiry": "30/06/2027"}, "expiry '30/06/2027' is not a date YYYY-MM-DD"),
        ({"approver": ""}, "approver is missing"),
        ({"justification": None}, "justification is missing"),
        ({"reason": "x"}, "unknown key reason"),
    ],
)
def test_a_bad_waiver_is_refused_in_one_line_naming_the_entry(change, message):
    with pytest.raises(wv.WaiverError) as caught:
        parse(dict(GOOD, **change))
    assert message in str(caught.value) and str(caught.value).startswith("waivers.yml: waiver #1")
    assert "\n" not in str(caught.value)


def test_missing_keys_and_duplicates_and_a_wrong_shape_are_refused():
    with pytest.raises(wv.WaiverError, match="host is missing"):
        parse({k: v for k, v in GOOD.items() if k != "host"})
    with pytest.raises(wv.WaiverError, match=r"waiver #2 .*duplicates waiver #1"):
        parse(GOOD, dict(GOOD))
    with pytest.raises(wv.WaiverError, match="must be a list"):
        wv.parse({"waivers": {"control": "x"}}, CATALOGUE, "waivers.yml")
    with pytest.raises(wv.WaiverError, match="unknown top-level key rules"):
        wv.parse({"rules": []}, CATALOGUE, "waivers.yml")


def test_a_waivers_file_that_is_not_yaml_names_its_line(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("waivers:\n  - control: [\n")
    with pytest.raises(wv.WaiverError, match=r"w.yml:\d+ is not valid YAML"):
        wv.load(str(path), CATALOGUE)
    with pytest.raises(wv.WaiverError, match="cannot be read"):
        wv.load(str(tmp_path / "none.yml"), CATALOGUE)


def test_the_lab_waivers_file_is_valid():
    with open(CATALOGUE["path"].replace("djbh-l3.yml", "waivers/lab.yml"), encoding="utf-8") as handle:
        waivers = wv.parse(yaml.safe_load(handle), CATALOGUE)
    assert {w["control"] for w in waivers} == {"LNX-ACC-09", "MGO-AU-01", "MGO-IA-03"}


def test_a_waived_control_keeps_its_status_and_stops_counting_until_it_expires():
    findings = {"app1/LNX-ACC-09": finding("app1", "LNX-ACC-09"), "app1/LNX-ACC-01": finding("app1", "LNX-ACC-01")}
    report = wv.apply(findings, parse(GOOD), "2027-06-30")
    waived = findings["app1/LNX-ACC-09"]
    assert waived["status"] == "fail" and waived["waiver"]["active"] and waived["waiver"]["approver"] == "信息科 张三"
    assert report["used"][0]["hosts"] == ["app1"] and not report["expired"]
    summary = ev.summarise(findings.values())
    assert summary["counts"]["waived"] == 1 and summary["counted"] == 1 and summary["failing"] == 1

    later = {"app1/LNX-ACC-09": finding("app1", "LNX-ACC-09")}
    report = wv.apply(later, parse(GOOD), "2027-07-01")
    assert later["app1/LNX-ACC-09"]["waiver"] == dict(later["app1/LNX-ACC-09"]["waiver"], active=False, expired=True)
    assert report["expired"][0]["control"] == "LNX-ACC-09" and not report["used"]
    assert ev.summarise(later.values())["failing"] == 1


def test_a_host_waiver_wins_over_a_pattern_and_unused_waivers_are_listed():
    waivers = parse(
        dict(GOOD, host="app*", expiry="2026-01-01"),
        dict(GOOD, host="app1"),
        dict(GOOD, control="SSH-AUTH-01", host="db9"),
    )
    findings = {
        "app1/LNX-ACC-09": finding("app1", "LNX-ACC-09"),
        "app2/LNX-ACC-09": finding("app2", "LNX-ACC-09"),
        "fep1/LNX-ACC-09": finding("fep1", "LNX-ACC-09"),
    }
    report = wv.apply(findings, waivers, "2026-12-01")
    assert (
        findings["app1/LNX-ACC-09"]["waiver"]["active"]
        and findings["app1/LNX-ACC-09"]["waiver"]["host_pattern"] == "app1"
    )
    assert findings["app2/LNX-ACC-09"]["waiver"]["expired"]
    assert "waiver" not in findings["fep1/LNX-ACC-09"]
    assert [w["host"] for w in report["unused"]] == ["db9"]
