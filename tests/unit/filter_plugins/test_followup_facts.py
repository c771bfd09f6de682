"""filter_plugins/followup_facts.py: the address clients use, for the checks the database roles publish."""

import followup_facts
import pytest

F = followup_facts.FilterModule().filters()


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("10.89.50.21", "10.89.50.21"),
        ("127.0.0.1", "127.0.0.1"),
        ("10.89.50.21,127.0.0.1", "10.89.50.21"),  # MariaDB >= 10.11 takes a list: clients use the first
        ("0.0.0.0", "10.89.50.99"),  # noqa: S104
        ("::", "10.89.50.99"),
        ("*", "10.89.50.99"),
        ("", "10.89.50.99"),
        (None, "10.89.50.99"),
    ],
)
def test_client_address(bind, expected):
    assert F["followup_client_address"](bind, "10.89.50.99") == expected
