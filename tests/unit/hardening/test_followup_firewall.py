"""filter_plugins/followup_firewall.py: who may reach which port of which host, what refuses a ruleset, and the
command line of the fresh SSH login."""

import pytest
from ansible.errors import AnsibleFilterError

GROUPS = {
    "fep": ["fep1"],
    "app": ["app1", "app2"],
    "voice": ["voice1"],
    "mysql": ["mysql1"],
    "mongo": ["mongo1"],
}
HOSTVARS = {
    "fep1": {"ansible_host": "10.0.0.11"},
    "app1": {"ansible_host": "10.0.0.12"},
    "app2": {"ansible_host": "10.0.0.14"},
    "voice1": {"ansible_host": "10.0.0.13"},
    "mysql1": {"ansible_host": "10.0.0.21"},
    "mongo1": {"ansible_host": "10.0.0.22"},
}
SERVICES = {
    "fep": [{"name": "https", "ports": [443, 80], "from_addresses": ["192.0.2.50", "192.0.2.0/28"]}],
    "app": [{"name": "followup-app", "ports": [8080], "from_groups": ["fep"]}],
    "voice": [
        {"name": "followup-voice", "ports": [8090], "from_groups": ["app"]},
        {"name": "sip", "ports": [5060], "protocols": ["udp", "tcp"], "from_addresses": ["10.9.9.9"]},
    ],
    "mysql": [{"name": "mysql", "ports": [3306], "from_groups": ["app", "fep"]}],
    "mongo": [{"name": "mongodb", "ports": [27017], "from_groups": ["app", "voice"]}],
}


def plan(f, host, groups, **kwargs):
    args = dict(ssh_sources=["10.0.0.1"], ssh_port=22, host=host)
    args.update(kwargs)
    return f.followup_firewall_plan(
        groups,
        kwargs.pop("services", SERVICES),
        GROUPS,
        HOSTVARS,
        args["ssh_sources"],
        args["ssh_port"],
        host,
        args.get("extra_services"),
    )


def by_name(rules):
    return {(r["name"], r["protocol"]): r for r in rules}


def test_ssh_comes_first_and_admits_the_control_node_only(firewall_filters):
    rules = plan(firewall_filters, "app1", ["followup", "app"])
    assert rules[0] == {
        "name": "ssh", "protocol": "tcp", "ports": [22], "sources4": ["10.0.0.1"], "sources6": [], "optional": False
    }  # fmt: skip


def test_each_host_is_reachable_only_on_the_ports_its_peers_use(firewall_filters):
    app = by_name(plan(firewall_filters, "app1", ["followup", "app"]))
    assert set(app) == {("ssh", "tcp"), ("followup-app", "tcp")}
    assert app[("followup-app", "tcp")]["sources4"] == ["10.0.0.11"]
    mysql = by_name(plan(firewall_filters, "mysql1", ["databases", "mysql"]))
    assert mysql[("mysql", "tcp")]["sources4"] == ["10.0.0.11", "10.0.0.12", "10.0.0.14"]
    mongo = by_name(plan(firewall_filters, "mongo1", ["databases", "mongo"]))
    # .12 and .13 collapse into one prefix.
    assert mongo[("mongodb", "tcp")]["sources4"] == ["10.0.0.12/31", "10.0.0.14"]


def test_sip_is_admitted_from_the_trunks_on_udp_and_tcp(firewall_filters):
    voice = by_name(plan(firewall_filters, "voice1", ["followup", "voice"]))
    assert voice[("sip", "udp")]["ports"] == [5060]
    assert voice[("sip", "tcp")]["sources4"] == ["10.9.9.9"]
    assert voice[("followup-voice", "tcp")]["sources4"] == ["10.0.0.12", "10.0.0.14"]


def test_addresses_and_prefixes_collapse_and_ipv6_goes_apart(firewall_filters):
    services = {
        "fep": [{"name": "https", "ports": [443], "from_addresses": ["192.0.2.1", "192.0.2.0/24", "2001:db8::5"]}]
    }
    rule = plan(firewall_filters, "fep1", ["fep"], services=services)[1]
    assert rule["sources4"] == ["192.0.2.0/24"]
    assert rule["sources6"] == ["2001:db8::5"]


def test_a_host_is_never_its_own_peer(firewall_filters):
    services = {"app": [{"name": "cluster", "ports": [7000], "from_groups": ["app"]}]}
    rule = plan(firewall_filters, "app1", ["app"], services=services)[1]
    assert rule["sources4"] == ["10.0.0.14"]


def test_extra_services_of_a_host_are_added(firewall_filters):
    rules = plan(
        firewall_filters,
        "app1",
        ["app"],
        extra_services=[{"name": "exporter", "ports": [9100], "from_addresses": ["10.0.0.99"]}],
    )
    assert by_name(rules)[("exporter", "tcp")]["sources4"] == ["10.0.0.99"]


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ({"app": [{"name": "x", "ports": [0]}]}, "is not a port number"),
        ({"app": [{"name": "x", "ports": []}]}, "must be a list of port numbers"),
        ({"app": [{"name": "x", "ports": [1], "protocols": ["icmp"]}]}, "is not tcp or udp"),
        ({"app": [{"name": "x", "ports": [1], "from": ["fep"]}]}, "unknown key from"),
        ({"app": [{"ports": [1]}]}, "must be a mapping with a name"),
        ({"app": [{"name": "x", "ports": [1], "from_addresses": ["carrier.example"]}]}, "not an IP address or prefix"),
    ],
)
def test_bad_services_are_refused_in_one_line_naming_the_entry(firewall_filters, services, message):
    with pytest.raises(AnsibleFilterError, match=message) as caught:
        plan(firewall_filters, "app1", ["app"], services=services)
    assert "firewall_group_services.app[0]" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_peer_known_by_name_only_is_refused_with_the_fix(firewall_filters):
    hostvars = dict(HOSTVARS, fep1={"ansible_host": "fep1.hospital.internal"})
    with pytest.raises(AnsibleFilterError, match=r"host fep1: ansible_host 'fep1\.hospital\.internal' is not an IP"):
        firewall_filters.followup_firewall_plan(["app"], SERVICES, GROUPS, hostvars, ["10.0.0.1"], 22, "app1")


def test_refusals_empty_ssh_sources(firewall_filters):
    rules = plan(firewall_filters, "app1", ["app"], ssh_sources=[])
    reasons = firewall_filters.followup_firewall_refusals(rules, None, "app1")
    assert len(reasons) == 1 and "firewall_ssh_sources is empty" in reasons[0]


def test_refusals_when_the_run_itself_would_be_cut_off(firewall_filters):
    rules = plan(firewall_filters, "app1", ["app"], ssh_sources=["10.0.0.0/30"])
    assert firewall_filters.followup_firewall_refusals(rules, "10.0.0.2 50000 10.0.0.12 22", "app1") == []
    reasons = firewall_filters.followup_firewall_refusals(rules, "10.0.0.7 50000 10.0.0.12 22", "app1")
    assert reasons and "reaches this host from 10.0.0.7" in reasons[0]


def test_refusals_a_service_that_admits_nobody_unless_optional(firewall_filters):
    services = {"fep": [{"name": "https", "ports": [443], "from_addresses": []}]}
    rules = plan(firewall_filters, "fep1", ["fep"], services=services)
    assert "service https (tcp 443) admits nobody" in firewall_filters.followup_firewall_refusals(rules)[0]
    services["fep"][0]["optional"] = True
    rules = plan(firewall_filters, "fep1", ["fep"], services=services)
    assert firewall_filters.followup_firewall_refusals(rules) == []


def test_the_probe_is_a_fresh_connection_with_the_inventorys_settings(firewall_filters):
    argv = firewall_filters.followup_hardening_probe_argv(
        "10.0.0.12", "ops", 2222, "/keys/id", "-o UserKnownHostsFile=/kh -o StrictHostKeyChecking=yes", ""
    )
    text = " ".join(argv)
    assert argv[0] == "ssh"
    assert "ControlPath=none" in argv and "ControlMaster=no" in argv and "BatchMode=yes" in argv
    assert "-p 2222" in text and "-i /keys/id" in text and "UserKnownHostsFile=/kh" in argv
    # The empty prompt reaches the remote shell as '' (not as nothing).
    assert argv[-9:] == ["-l", "ops", "10.0.0.12", "--", "sudo", "-S", "-p", "''", "true"]


def test_the_probe_needs_a_host_and_a_user(firewall_filters):
    with pytest.raises(AnsibleFilterError, match="needs a host and a user"):
        firewall_filters.followup_hardening_probe_argv("", "ops")
