# followup-ops: what roles publish in their local facts (/etc/ansible/facts.d/<role>.fact) for status and other roles.
#
# Every role that runs a service publishes `services` (the systemd units that must be active) and `checks`
# ({name, type: tcp, host, port} on the address clients use); playbooks/status.yml reads them generically.

# Bind addresses that mean "every address": clients cannot connect to them, they connect to the host's own.
WILDCARDS = ("", "*", "0.0.0.0", "::", "[::]")  # noqa: S104 - names them, binds nothing


def followup_client_address(bind_address, host_address):
    """The address clients use for a server bound to BIND_ADDRESS (one address, or MySQL's comma list, whose first
    address is taken): itself, or HOST_ADDRESS (normally the host's ansible_host) when it binds every address."""
    first = str(bind_address if bind_address is not None else "").split(",")[0].strip()
    return str(host_address) if first in WILDCARDS else first


class FilterModule:
    def filters(self):
        return {"followup_client_address": followup_client_address}
