"""Filters of the followup_voice role: the voice gateway's SIP trunks, checked once and rendered for kamailio.

The role's templates and vars call these instead of carrying the rules as Jinja:

- ``followup_voice_trunks``: check ``followup_voice_trunks`` (names, addresses, ports, transports, credentials,
  priorities) and return it normalised, in the order the gateway tries the trunks (priority, then list order).
- ``followup_voice_dispatcher_list``: the trunks as kamailio dispatcher destinations (set 1, OPTIONS probing).
- ``followup_voice_trunk_checked_values``: ``{"followup_voice_trunks[<name>].<field>": value}`` for every credential
  a trunk carries, for the role's placeholder check (``__followup_voice_secrets``).
- ``followup_voice_trunk_facts``: what the local fact publishes of each trunk (no credentials).
- ``followup_voice_cfg_string``: a value as a kamailio configuration string literal.
- ``followup_voice_address`` / ``followup_voice_hostport``: an IP address checked, and written as host:port.
- ``followup_voice_host_networks``: the addresses allowed to call through the gateway, for kamailio.

Every error is one line that names the variable, the trunk and the field, and says what to put there.
"""

import ipaddress
import json
import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only outside Ansible

    class AnsibleFilterError(Exception):
        pass


VARIABLE = "followup_voice_trunks"
DISPATCHER_SET = 1
# Dispatcher flags of every destination: 8 = probe it with OPTIONS, 2 = "trying" until the first probe answers,
# so that a trunk is reported up only once it has really answered.
DISPATCHER_FLAGS = 8 | 2
TRANSPORTS = ("udp", "tcp")
FIELDS = ("name", "host", "port", "transport", "username", "password", "realm", "priority")
NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"\A(?=.{{1,253}}\Z){LABEL}(\.{LABEL})*\Z")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _fail(where, message):
    raise AnsibleFilterError(f"{where}: {message}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int(where, value, minimum, maximum):
    """An int, or a string of ASCII digits (inventories template numbers into strings)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}", value.strip()):
        value = int(value.strip())
    if not _is_int(value) or not minimum <= value <= maximum:
        _fail(where, f"must be a whole number from {minimum} to {maximum}, not {value!r}")
    return value


def _text(where, value, secret=False):
    shown = "the value" if secret else repr(value)
    if not isinstance(value, str):
        _fail(where, f"must be a string, not a {type(value).__name__}: quote it (YAML reads 0571... as a number)")
    if not value:
        _fail(where, "is empty: give the value the trunk's operator issued")
    if CONTROL_RE.search(value):
        _fail(where, f"{shown} holds a control character (newline, tab, ...): kamailio cannot carry it; remove it")
    return value


def address(value, field="followup_voice_address"):
    """An IP address (IPv4 or IPv6), returned in its normal written form."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        _fail(field, f"{value!r} is not an IP address: set it (or ansible_host) to the host's own address")
    return None  # pragma: no cover


def _host(where, value):
    if not isinstance(value, str) or not value.strip():
        _fail(where, "is missing: give the trunk's IP address or DNS name")
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if not HOSTNAME_RE.match(value):
        _fail(where, f"{value!r} is neither an IP address nor a DNS name")
    return value


def host_networks(values, field="followup_voice_sip_clients"):
    """IP addresses as kamailio's is_in_subnet() list: ``10.89.50.13/32,fd00::13/128`` (duplicates dropped)."""
    if not isinstance(values, list) or not values:
        _fail(field, "list at least one IP address (the voice program's own)")
    networks = []
    for index, value in enumerate(values):
        checked = ipaddress.ip_address(address(value, f"{field}[{index}]"))
        network = f"{checked}/{checked.max_prefixlen}"
        if network not in networks:
            networks.append(network)
    return ",".join(networks)


def hostport(host, port):
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def trunks(value, variable=VARIABLE):
    """Check the trunk list and return it normalised, in the order the gateway tries the trunks.

    Each trunk: name, host, port (5060), transport (udp), priority (1; lower is tried first, equal priorities
    keep the list's order), and optionally username + password (+ realm) for digest authentication.
    """
    if not isinstance(value, list) or not value:
        _fail(variable, "list at least one SIP trunk (name, host, port, transport; username/password if it asks)")
    seen_names, seen_targets, checked = {}, {}, []
    for index, trunk in enumerate(value):
        where = f"{variable}[{index}]"
        if not isinstance(trunk, dict):
            _fail(where, f"must be a mapping with name, host, port, transport, not {type(trunk).__name__}")
        unknown = sorted(set(trunk) - set(FIELDS))
        if unknown:
            _fail(where, f"unknown field(s) {', '.join(map(str, unknown))}: the fields are {', '.join(FIELDS)}")
        name = trunk.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            _fail(f"{where}.name", f"{name!r} must be 1-32 letters, digits, '.', '_' or '-' (e.g. trunk1)")
        where = f"{variable}[{name}]"
        if name in seen_names:
            _fail(where, f"the name is used twice (items {seen_names[name]} and {index}): give each trunk its own")
        seen_names[name] = index
        host = _host(f"{where}.host", trunk.get("host"))
        port = _int(f"{where}.port", trunk.get("port", 5060), 1, 65535)
        transport = trunk.get("transport", "udp")
        if transport == "tls":
            _fail(f"{where}.transport", "tls is not supported yet (no kamailio tls module on the host): use udp or tcp")
        if transport not in TRANSPORTS:
            _fail(f"{where}.transport", f"{transport!r} must be one of {', '.join(TRANSPORTS)}")
        target = (host.lower(), port, transport)
        if target in seen_targets:
            _fail(where, f"{hostport(host, port)}/{transport} is already trunk {seen_targets[target]}")
        seen_targets[target] = name
        priority = _int(f"{where}.priority", trunk.get("priority", 1), 0, 1000)
        username, password, realm = trunk.get("username"), trunk.get("password"), trunk.get("realm")
        if (username is None) != (password is None):
            missing = "password" if password is None else "username"
            _fail(where, f"digest authentication needs both username and password: {missing} is missing")
        if realm is not None and username is None:
            _fail(f"{where}.realm", "is set without username and password: add them or remove the realm")
        auth = username is not None
        checked.append(
            {
                "name": name,
                "host": host,
                "port": port,
                "transport": transport,
                "priority": priority,
                "uri": f"sip:{hostport(host, port)}" + (";transport=tcp" if transport == "tcp" else ""),
                "auth": auth,
                "username": _text(f"{where}.username", username) if auth else None,
                "password": _text(f"{where}.password", password, secret=True) if auth else None,
                "realm": _text(f"{where}.realm", realm) if realm is not None else "",
            }
        )
    # sorted() is stable: trunks of equal priority keep the list's order.
    return sorted(checked, key=lambda t: t["priority"])


def dispatcher_list(value, variable=VARIABLE):
    """kamailio's dispatcher.list for the trunks: one destination line each, tried in the order of the list.

    The dispatcher orders a set by its own priority, highest first, so the first trunk gets the highest.
    Attributes carry only the trunk's name (``duid``): credentials never reach this file or dispatcher RPC output.
    """
    checked = trunks(value, variable)
    lines = []
    for rank, trunk in enumerate(checked):
        lines.append(f"{DISPATCHER_SET} {trunk['uri']} {DISPATCHER_FLAGS} {len(checked) - rank} duid={trunk['name']}")
    return "\n".join(lines) + "\n"


def trunk_checked_values(value, variable=VARIABLE):
    """``{"followup_voice_trunks[<name>].<field>": value}`` of every trunk's credentials, raw, for the role's
    placeholder check; a trunk without credentials (authenticated by address) adds nothing."""
    if not isinstance(value, list):
        return {}
    found = {}
    for index, trunk in enumerate(value):
        if not isinstance(trunk, dict):
            continue
        if "username" not in trunk and "password" not in trunk:
            continue
        name = trunk.get("name", index)
        for field in ("username", "password"):
            found[f"{variable}[{name}].{field}"] = trunk.get(field)
    return found


def trunk_facts(value, variable=VARIABLE):
    """What the local fact tells of each trunk: name, host, port, transport, priority (no credentials)."""
    return [
        {key: trunk[key] for key in ("name", "host", "port", "transport", "priority")}
        for trunk in trunks(value, variable)
    ]


def cfg_string(value, field="value"):
    """A kamailio configuration string literal (quoted, with ``"`` and ``\\`` escaped).

    kamailio reads ``\\"`` and ``\\\\`` in double-quoted strings exactly as JSON does; characters it cannot carry
    (control characters) are refused. Assignments of such literals are not expanded (``$`` stays literal).
    """
    if not isinstance(value, str):
        _fail(field, f"must be a string, not {type(value).__name__}")
    if CONTROL_RE.search(value):
        _fail(field, "holds a control character (newline, tab, ...): kamailio cannot carry it; remove it")
    return json.dumps(value, ensure_ascii=False)


class FilterModule:
    def filters(self):
        return {
            "followup_voice_trunks": trunks,
            "followup_voice_dispatcher_list": dispatcher_list,
            "followup_voice_trunk_checked_values": trunk_checked_values,
            "followup_voice_trunk_facts": trunk_facts,
            "followup_voice_cfg_string": cfg_string,
            "followup_voice_address": address,
            "followup_voice_hostport": hostport,
            "followup_voice_host_networks": host_networks,
        }
