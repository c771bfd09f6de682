"""R-CURRENT: a running release more than 90 days old while a newer one exists is a failing finding."""

from datetime import date

import pytest
from ansible.module_utils.followup_currency import currency

RELEASES = [
    {"version": "1.0.0", "release_date": "2026-02-02"},
    {"version": "1.2.0", "release_date": "2026-09-07"},
    {"version": "1.1.0", "release_date": "2026-05-18"},
]


def test_an_old_release_with_newer_ones_out_fails_and_says_by_how_many_days():
    cur = currency("1.0.0", RELEASES, date(2026, 12, 1))
    assert cur["status"] == "fail" and cur["age_days"] == 302 and cur["days_over"] == 212
    assert cur["newer"] == ["1.1.0", "1.2.0"] and cur["newest_version"] == "1.2.0"
    assert cur["days_newer_available"] == 197
    assert "212" in cur["message_zh"] and "212 days over" in cur["message_en"]


@pytest.mark.parametrize(
    ("version", "today", "status", "over"),
    [
        ("1.1.0", date(2026, 8, 16), "pass", 0),  # 90 days old, newer not out yet
        ("1.1.0", date(2026, 8, 17), "warn", 0),  # 91 days old, newest: the vendor owes an update
        ("1.1.0", date(2026, 9, 8), "fail", 23),  # newer out, 113 days old
        ("1.2.0", date(2026, 12, 1), "pass", 0),
        ("1.2.0", date(2026, 12, 6), "pass", 0),  # 90 days old exactly
        ("1.2.0", date(2026, 12, 7), "warn", 0),
    ],
)
def test_the_limit_is_90_days_of_age_while_a_newer_release_exists(version, today, status, over):
    cur = currency(version, RELEASES, today)
    assert (cur["status"], cur["days_over"]) == (status, over)


def test_a_release_missing_from_the_signed_index_or_none_at_all_is_an_error():
    assert currency("1.5.0", RELEASES, date(2026, 12, 1))["status"] == "error"
    assert currency(None, RELEASES, "2026-12-01")["status"] == "error"


def test_versions_are_compared_as_numbers():
    releases = [{"version": "1.9.0", "release_date": "2026-01-01"}, {"version": "1.10.0", "release_date": "2026-06-01"}]
    cur = currency("1.9.0", releases, date(2026, 6, 2))
    assert cur["newer"] == ["1.10.0"] and cur["newest_version"] == "1.10.0" and cur["status"] == "fail"
