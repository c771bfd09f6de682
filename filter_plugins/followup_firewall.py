# followup-ops: the filters of the host firewall (roles/firewall) and of the SSH probe the hardening roles run after
# every change that could lock the operators out (roles/ssh_hardening, roles/os_hardening, roles/firewall).
#
#   followup_firewall_plan      which ports of this host which addresses may reach, computed from the inventory
#                               groups (each host is reachable only on the ports its peers use)
#   followup_firewall_refusals  one line per reason the plan would cut the control node off or admit nobody
#   followup_hardening_probe_argv
#                               the ssh command line of a fresh login (no multiplexing) as Ansible makes it
#
# Tested in tests/unit/hardening/test_followup_firewall.py.

import ipaddress
import shlex

from ansible.errors import AnsibleFilterError

PROTOCOLS = ("tcp", "udp")
SERVICE_KEYS = {"name", "ports", "protocols", "from_groups", "from_addresses", "optional"}


def _network(value, where):
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise AnsibleFilterError(
            f"{where}: {value!r} is not an IP address or prefix (nftables cannot match names): "
            "give the address, e.g. 192.0.2.10"
        ) from None


def _host_address(host, hostvars):
    """The address a host's peers see it connect from: its ansible_host, else its inventory name."""
    hv = hostvars.get(host, {}) if hostvars else {}
    address = hv.get("ansible_host") or host
    try:
        return ipaddress.ip_address(str(address))
    except ValueError:
        raise AnsibleFilterError(
            f"host {host}: ansible_host {address!r} is not an IP address; the firewall admits peers by address: "
            "set ansible_host to its address in the inventory"
        ) from None


def _ports(service, where):
    ports = service.get("ports")
    if not isinstance(ports, list) or not ports:
        raise AnsibleFilterError(f"{where}.ports must be a list of port numbers, e.g. [443]")
    result = []
    for port in ports:
        try:
            number = int(port)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= 65535 or isinstance(port, bool):
            raise AnsibleFilterError(f"{where}.ports: {port!r} is not a port number from 1 to 65535")
        result.append(number)
    return sorted(set(result))


def _collapse(networks):
    v4 = sorted(ipaddress.collapse_addresses(n for n in networks if n.version == 4))
    v6 = sorted(ipaddress.collapse_addresses(n for n in networks if n.version == 6))

    def text(n):
        return str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)

    return [text(n) for n in v4], [text(n) for n in v6]


def _service_rules(service, where, groups, hostvars, host):
    if not isinstance(service, dict) or not service.get("name"):
        raise AnsibleFilterError(f"{where} must be a mapping with a name")
    unknown = sorted(set(service) - SERVICE_KEYS)
    if unknown:
        raise AnsibleFilterError(
            "{} ({}): unknown key {}; known keys: {}".format(
                where, service["name"], ", ".join(unknown), ", ".join(sorted(SERVICE_KEYS))
            )
        )
    where = "{} ({})".format(where, service["name"])
    ports = _ports(service, where)
    protocols = service.get("protocols") or ["tcp"]
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise AnsibleFilterError(f"{where}.protocols: {protocol!r} is not tcp or udp")
    networks = []
    for peer_group in service.get("from_groups") or []:
        for peer in groups.get(peer_group, []):
            if peer == host:
                continue
            networks.append(ipaddress.ip_network(_host_address(peer, hostvars)))
    for address in service.get("from_addresses") or []:
        networks.append(_network(address, where + ".from_addresses"))
    v4, v6 = _collapse(networks)
    return [
        {
            "name": service["name"],
            "protocol": protocol,
            "ports": ports,
            "sources4": v4,
            "sources6": v6,
            "optional": bool(service.get("optional", False)),
        }
        for protocol in protocols
    ]


def followup_firewall_plan(
    group_names, services, groups, hostvars, ssh_sources, ssh_port=22, host=None, extra_services=None
):
    """The rules of one host: [{name, protocol, ports, sources4, sources6, optional}], SSH first.

    GROUP_NAMES: the host's groups; SERVICES: group -> [{name, ports, protocols, from_groups, from_addresses,
    optional}]; GROUPS/HOSTVARS: the inventory's; SSH_SOURCES: addresses or prefixes the control node (and bastion)
    connect from; EXTRA_SERVICES: further services of this host. A peer group's hosts are admitted by their
    ansible_host; the host itself is never needed (its own traffic arrives on loopback).
    """
    if not isinstance(services, dict):
        raise AnsibleFilterError("firewall_group_services must map inventory groups to lists of services")
    groups = groups or {}
    hostvars = hostvars or {}
    ssh_networks = [_network(a, "firewall_ssh_sources") for a in (ssh_sources or [])]
    s4, s6 = _collapse(ssh_networks)
    rules = [
        {
            "name": "ssh",
            "protocol": "tcp",
            "ports": _ports({"ports": [ssh_port]}, "firewall_ssh_port"),
            "sources4": s4,
            "sources6": s6,
            "optional": False,
        }
    ]
    for group in sorted(set(group_names or []) & set(services)):
        entries = services[group] or []
        if not isinstance(entries, list):
            raise AnsibleFilterError(f"firewall_group_services.{group} must be a list of services")
        for index, service in enumerate(entries):
            rules += _service_rules(service, f"firewall_group_services.{group}[{index}]", groups, hostvars, host)
    if not isinstance(extra_services or [], list):
        raise AnsibleFilterError("firewall_extra_services must be a list of services")
    for index, service in enumerate(extra_services or []):
        rules += _service_rules(service, f"firewall_extra_services[{index}]", groups, hostvars, host)
    return rules


def followup_firewall_refusals(plan, connected_from=None, host="this host"):
    """One line per reason not to apply PLAN: SSH admits nobody, or not the address the control node uses now, or a
    service admits nobody (its clients would be cut off). CONNECTED_FROM: the client address of the current SSH
    session as the host sees it (SSH_CONNECTION), when known."""
    reasons = []
    ssh = plan[0] if plan else None
    if not ssh or not (ssh["sources4"] or ssh["sources6"]):
        reasons.append(
            f"{host}: firewall_ssh_sources is empty: SSH would admit nobody and lock the control node out; list the "
            "address(es) the control node and the bastion connect from"
        )
    elif connected_from:
        try:
            client = ipaddress.ip_address(str(connected_from).split()[0])
        except ValueError:
            client = None
        if client is not None:
            admitted = [ipaddress.ip_network(s) for s in ssh["sources4"] + ssh["sources6"]]
            if not any(client in network for network in admitted if network.version == client.version):
                reasons.append(
                    "{}: the control node reaches this host from {}, which firewall_ssh_sources ({}) does not list: "
                    "the firewall would cut this very run off; add it".format(
                        host, client, ", ".join(map(str, admitted))
                    )
                )
    for rule in plan[1:]:
        if not (rule["sources4"] or rule["sources6"]) and not rule["optional"]:
            reasons.append(
                "{}: service {} ({} {}) admits nobody: its clients would be cut off; list them (from_groups or "
                "from_addresses in firewall_group_services), or mark it optional: true".format(
                    host, rule["name"], rule["protocol"], ",".join(map(str, rule["ports"]))
                )
            )
    return reasons


def followup_hardening_probe_argv(
    host,
    user,
    port=22,
    private_key_file=None,
    common_args="",
    extra_args="",
    command=("sudo", "-S", "-p", "", "true"),
    timeout=10,
):
    """The ssh command line of a fresh login as Ansible makes it (key, user, port, the inventory's ssh args), never
    through a multiplexed connection: after a change, only a new connection proves that the next run gets in."""
    if not host or not user:
        raise AnsibleFilterError("the SSH probe needs a host and a user (ansible_host, ansible_user)")
    argv = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        f"ConnectTimeout={int(timeout)}",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=2",
        "-p",
        str(int(port)),
    ]
    if private_key_file:
        argv += ["-i", str(private_key_file)]
    for args in (common_args, extra_args):
        if args:
            argv += shlex.split(str(args))
    argv += ["-l", str(user), str(host), "--"]
    argv += [str(part) if part != "" else "''" for part in command]
    return argv


class FilterModule:
    def filters(self):
        return {
            "followup_firewall_plan": followup_firewall_plan,
            "followup_firewall_refusals": followup_firewall_refusals,
            "followup_hardening_probe_argv": followup_hardening_probe_argv,
        }
