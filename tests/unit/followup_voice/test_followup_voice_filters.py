"""The followup_voice role's filters (roles/followup_voice/filter_plugins/followup_voice.py): the trunk list is
checked once, with one-line errors naming the field, and rendered for kamailio."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "followup_voice_filters", ROOT / "roles/followup_voice/filter_plugins/followup_voice.py"
)
fv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fv)
FILTERS = fv.FilterModule().filters()

TRUNK1 = {"name": "trunk1", "host": "192.0.2.41", "username": "0571000", "password": "s3cret", "priority": 1}
TRUNK2 = {"name": "trunk2", "host": "sip.carrier.example", "port": 5080, "transport": "tcp", "priority": 2}


def test_every_filter_the_role_uses_is_registered_and_every_registered_one_used():
    used = set()
    for path in (ROOT / "roles/followup_voice").rglob("*"):
        if path.suffix in (".yml", ".j2"):
            used |= set(re.findall(r"(?:\|\s*|map\(')(followup_voice_[a-z_]+)", path.read_text()))
    assert used == set(FILTERS)


def test_trunks_are_normalised_and_sorted_by_priority_then_list_order():
    trunks = FILTERS["followup_voice_trunks"](
        [
            {"name": "b", "host": "192.0.2.2", "priority": 2},
            {"name": "a", "host": "192.0.2.1", "priority": 1},
            {"name": "c", "host": "192.0.2.3", "priority": 2},
        ]
    )
    assert [t["name"] for t in trunks] == ["a", "b", "c"]
    assert trunks[0] == {
        "name": "a",
        "host": "192.0.2.1",
        "port": 5060,
        "transport": "udp",
        "priority": 1,
        "uri": "sip:192.0.2.1:5060",
        "auth": False,
        "username": None,
        "password": None,
        "realm": "",
    }


def test_a_tcp_trunk_by_name_and_an_ipv6_trunk_get_their_uris():
    trunks = FILTERS["followup_voice_trunks"]([TRUNK2, {"name": "v6", "host": "2001:db8::41", "priority": 3}])
    assert trunks[0]["uri"] == "sip:sip.carrier.example:5080;transport=tcp"
    assert trunks[1]["uri"] == "sip:[2001:db8::41]:5060"


def test_ports_and_priorities_templated_into_strings_are_read_as_numbers():
    (trunk,) = FILTERS["followup_voice_trunks"]([{"name": "t", "host": "192.0.2.1", "port": "5070", "priority": "3"}])
    assert (trunk["port"], trunk["priority"]) == (5070, 3)


@pytest.mark.parametrize(
    ("trunks", "message"),
    [
        ([], "followup_voice_trunks: list at least one SIP trunk"),
        ("trunk1", "followup_voice_trunks: list at least one SIP trunk"),
        (["trunk1"], "followup_voice_trunks[0]: must be a mapping"),
        ([{"host": "192.0.2.1"}], "followup_voice_trunks[0].name: None must be"),
        ([{"name": "a b", "host": "192.0.2.1"}], "followup_voice_trunks[0].name: 'a b' must be"),
        ([{"name": "t", "host": "192.0.2.1", "pasword": "x"}], "unknown field(s) pasword"),
        ([{"name": "t"}], "followup_voice_trunks[t].host: is missing"),
        ([{"name": "t", "host": "bad host!"}], "followup_voice_trunks[t].host: 'bad host!' is neither"),
        ([{"name": "t", "host": "192.0.2.1", "port": 0}], "followup_voice_trunks[t].port: must be a whole number"),
        ([{"name": "t", "host": "192.0.2.1", "port": True}], "followup_voice_trunks[t].port: must be a whole number"),
        ([{"name": "t", "host": "192.0.2.1", "port": "50 60"}], "followup_voice_trunks[t].port: must be"),
        ([{"name": "t", "host": "192.0.2.1", "transport": "tls"}], "tls is not supported yet"),
        ([{"name": "t", "host": "192.0.2.1", "transport": "sctp"}], "'sctp' must be one of udp, tcp"),
        ([{"name": "t", "host": "192.0.2.1", "priority": -1}], "followup_voice_trunks[t].priority: must be"),
        ([TRUNK1, dict(TRUNK1, host="192.0.2.9")], "followup_voice_trunks[trunk1]: the name is used twice"),
        ([TRUNK1, dict(TRUNK2, host="192.0.2.41", port=5060, transport="udp")], "192.0.2.41:5060/udp is already"),
        ([{"name": "t", "host": "192.0.2.1", "username": "u"}], "both username and password: password is missing"),
        ([{"name": "t", "host": "192.0.2.1", "password": "p"}], "both username and password: username is missing"),
        ([{"name": "t", "host": "192.0.2.1", "realm": "r"}], "followup_voice_trunks[t].realm: is set without"),
        ([dict(TRUNK1, username=571000)], "followup_voice_trunks[trunk1].username: must be a string, not a int"),
        ([dict(TRUNK1, username="")], "followup_voice_trunks[trunk1].username: is empty"),
        ([dict(TRUNK1, realm="a\nb")], "followup_voice_trunks[trunk1].realm: 'a\\nb' holds a control character"),
    ],
)
def test_a_bad_trunk_list_is_refused_in_one_line_naming_the_field(trunks, message):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS["followup_voice_trunks"](trunks)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("password", ["line\nbreak", "", 1234])
def test_a_refused_password_is_never_shown(password):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS["followup_voice_trunks"]([dict(TRUNK1, password=password)])
    assert "followup_voice_trunks[trunk1].password" in str(caught.value)
    if password:
        assert str(password) not in str(caught.value)


def test_the_dispatcher_list_puts_the_first_trunk_first_without_credentials():
    text = FILTERS["followup_voice_dispatcher_list"]([TRUNK2, TRUNK1])
    assert text.splitlines() == [
        "1 sip:192.0.2.41:5060 10 2 duid=trunk1",
        "1 sip:sip.carrier.example:5080;transport=tcp 10 1 duid=trunk2",
    ]
    assert "s3cret" not in text and "0571000" not in text


def test_credentials_to_check_name_each_trunk_and_skip_trunks_without_them():
    values = FILTERS["followup_voice_trunk_checked_values"]([TRUNK1, TRUNK2, {"name": "half", "password": "CHANGE-ME"}])
    assert values == {
        "followup_voice_trunks[trunk1].username": "0571000",
        "followup_voice_trunks[trunk1].password": "s3cret",
        "followup_voice_trunks[half].username": None,
        "followup_voice_trunks[half].password": "CHANGE-ME",
    }
    assert FILTERS["followup_voice_trunk_checked_values"]("not a list") == {}


def test_the_facts_of_the_trunks_carry_no_credentials():
    facts = FILTERS["followup_voice_trunk_facts"]([TRUNK2, TRUNK1])
    assert facts == [
        {"name": "trunk1", "host": "192.0.2.41", "port": 5060, "transport": "udp", "priority": 1},
        {"name": "trunk2", "host": "sip.carrier.example", "port": 5080, "transport": "tcp", "priority": 2},
    ]


@pytest.mark.parametrize("value", ["plain", 'q"uote', "back\\slash", "$ru #1 'x' é", ""])
def test_a_cfg_string_reads_back_as_the_same_value(value):
    literal = FILTERS["followup_voice_cfg_string"](value)
    assert literal.startswith('"') and literal.endswith('"')
    # kamailio reads \" and \\ in a double-quoted string as JSON does (checked on the real kamailio in Molecule).
    assert json.loads(literal) == value
    assert "\\u" not in literal


@pytest.mark.parametrize("value", ["a\nb", "tab\there", "nul\x00", 5])
def test_a_cfg_string_refuses_what_kamailio_cannot_carry(value):
    with pytest.raises(AnsibleFilterError, match=r"^pw: "):
        FILTERS["followup_voice_cfg_string"](value, "pw")


def test_addresses_are_checked_and_written_with_their_port():
    assert FILTERS["followup_voice_address"](" 10.89.50.13 ") == "10.89.50.13"
    assert FILTERS["followup_voice_address"]("2001:DB8::1") == "2001:db8::1"
    with pytest.raises(AnsibleFilterError, match=r"^followup_voice_sip_listen: 'voice1' is not an IP address"):
        FILTERS["followup_voice_address"]("voice1", "followup_voice_sip_listen")
    assert FILTERS["followup_voice_hostport"]("10.89.50.13", 8090) == "10.89.50.13:8090"
    assert FILTERS["followup_voice_hostport"]("2001:db8::1", 5060) == "[2001:db8::1]:5060"


def test_the_voice_programs_addresses_become_host_networks():
    networks = FILTERS["followup_voice_host_networks"](["10.89.50.13", "2001:db8::13", "10.89.50.13"])
    assert networks == "10.89.50.13/32,2001:db8::13/128"
    with pytest.raises(AnsibleFilterError, match=r"^followup_voice_sip_clients\[1\]: '0.0.0.0/0' is not an IP"):
        FILTERS["followup_voice_host_networks"](["10.89.50.13", "0.0.0.0/0"])
    with pytest.raises(AnsibleFilterError, match=r"^followup_voice_sip_clients: list at least one"):
        FILTERS["followup_voice_host_networks"]([])
