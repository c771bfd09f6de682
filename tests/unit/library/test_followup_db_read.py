"""followup_db_read refuses anything but a read before it connects."""

import followup_db_read as module
import pytest
from modulekit import run_module


@pytest.mark.parametrize("query", ["DELETE FROM patients", "UPDATE t SET a = 1", "DROP TABLE x", "  insert into t"])
def test_writes_are_refused_before_connecting(query):
    result = run_module(
        module,
        {"engine": "mysql", "database": "cloud_followup", "query": query, "login_host": "192.0.2.1", "login_user": "x"},
    )
    assert result["failed"] and "never writes" in result["msg"]


def test_mongodb_needs_a_collection_and_uri():
    result = run_module(module, {"engine": "mongodb", "database": "cdr"})
    assert result["failed"] and "collection" in result["msg"]


def test_values_are_made_json_safe():
    import datetime
    import decimal

    row = {"d": datetime.date(2026, 1, 2), "n": decimal.Decimal("1.50"), "b": b"x", "l": [datetime.time(1, 2)]}
    assert module._plain(row) == {"d": "2026-01-02", "n": "1.50", "b": "x", "l": ["01:02:00"]}
