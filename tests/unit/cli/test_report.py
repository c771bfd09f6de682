"""The `followup` set_stats report: merging playbooks' parts, refusals, findings and their statuses."""

import pytest

from followup_ops import report


def test_parts_of_several_playbooks_merge_section_by_section():
    merged = report.empty()
    report.merge(merged, {"gates": {"release": {"refused": [], "version": "1.0.0"}}})
    report.merge(merged, {"gates": {"secrets": {"refused": ["x is a placeholder"]}}, "files": {"/r/a.html": {}}})
    report.merge(merged, {"findings": {"a/1": {"status": "pass", "host": "a", "control": "1"}}})
    report.merge(merged, {"findings": {"b/1": {"status": "fail", "host": "b", "control": "1"}}})
    assert sorted(merged["gates"]) == ["release", "secrets"] and merged["gates"]["release"]["version"] == "1.0.0"
    assert report.refusals(merged) == [("secrets", "x is a placeholder")]
    assert [f["id"] for f in report.findings(merged)] == ["a/1", "b/1"]
    assert report.finding_counts(merged) == {"pass": 1, "fail": 1}
    assert [f["id"] for f in report.failing(merged)] == ["b/1"]


def test_a_gate_with_a_single_reason_string_still_refuses():
    assert report.refusals({"gates": {"approval": {"refused": "expired"}}}) == [("approval", "expired")]
    assert report.refusals({"gates": {"release": {"refused": ["", "  "]}}}) == []


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"verdict": {}}, "followup.verdict is not one of"),
        ({"findings": [{"id": 1}]}, "followup.findings must be a mapping keyed by name"),
        ("refused", "must be a mapping, not str"),
    ],
)
def test_a_part_outside_the_schema_names_the_key(part, message):
    with pytest.raises(report.ReportError, match=message):
        report.merge(report.empty(), part)


def test_an_unknown_finding_status_names_the_finding():
    with pytest.raises(report.ReportError, match=r"finding x/y: status 'ok' is not one of"):
        report.findings({"findings": {"x/y": {"status": "ok"}}})


def test_status_labels_speak_chinese_first():
    assert report.status_label("fail") == "不符合 fail" and report.status_label("error") == "检查错误 check error"
