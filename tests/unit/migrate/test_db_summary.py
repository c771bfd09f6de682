"""The one-line summaries `migrate db` prints per phase."""

from followup_ops.commands.migrate import DbMove


def test_a_verify_that_compared_no_data_does_not_say_equal():
    line = DbMove().summary("verify", {"equal": True, "compared": False, "rows": 0, "seconds": 0})
    assert line.startswith("data not compared") and "equal:" not in line


def test_a_verify_that_compared_says_how_many_rows_were_equal():
    line = DbMove().summary("verify", {"equal": True, "compared": True, "rows": 12, "seconds": 0.5, "rows_per_s": 24})
    assert line == "equal: 12 rows in 0.5s (24 rows/s)"


def test_a_verify_that_found_differences_names_them():
    line = DbMove().summary("verify", {"equal": False, "differences": ["cloud_followup.patients: 1 chunk differs"]})
    assert line == "DIFFERENT: cloud_followup.patients: 1 chunk differs"
