"""filter_plugins/followup_systemd.py: a unit changed only in its address allow-list is reloaded, not restarted;
anything else changed takes a restart."""

import followup_systemd
import pytest
from ansible.errors import AnsibleFilterError

needed = followup_systemd.FilterModule().filters()["followup_unit_restart_needed"]

UNIT = """[Unit]
Description=随访 application

[Service]
User=followup
ExecStart=
# Only these peers (and loopback) may exchange IP packets with the service, in either direction.
IPAddressDeny=any
IPAddressAllow=localhost {allow}

[Install]
WantedBy=multi-user.target
"""
OLD = UNIT.format(allow="10.89.50.11 10.89.50.12")


def test_only_the_allow_list_changed_needs_no_restart():
    assert needed(OLD, UNIT.format(allow="10.89.50.11 10.89.50.15 10.89.50.12")) is False
    assert needed(OLD, UNIT.format(allow="10.89.50.12")) is False


def test_the_same_text_needs_no_restart_whatever_its_line_endings():
    assert needed(OLD, OLD.replace("\n", "\r\n")) is False


def test_any_other_line_changed_needs_a_restart():
    assert needed(OLD, OLD.replace("User=followup", "User=root")) is True
    assert needed(OLD, OLD + "Restart=always\n") is True
    changed_both = UNIT.format(allow="10.89.50.15").replace("Description=随访", "Description=随访 new")
    assert needed(OLD, changed_both) is True


def test_a_fresh_unit_needs_a_start():
    assert needed(None, OLD) is True
    assert needed("", OLD) is True


def test_an_allow_list_switched_on_or_off_needs_a_restart():
    without = "\n".join(line for line in OLD.split("\n") if not line.startswith(("IPAddress", "# Only")))
    assert needed(without, OLD) is True
    assert needed(OLD, without) is True
    # Deny removed but Allow kept: the default changes from deny to allow, which is not a list change.
    assert needed(OLD, OLD.replace("IPAddressDeny=any\n", "")) is True


def test_a_missing_new_text_is_an_error_naming_the_fix():
    with pytest.raises(AnsibleFilterError, match="render the template first"):
        needed(OLD, None)
