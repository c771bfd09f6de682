# followup-ops: whether a changed systemd unit needs its service restarted
# (roles/followup_component/tasks/activate.yml).
#
#     old_unit_text | followup_unit_restart_needed(new_unit_text)
#
# is False only when the two texts differ in their IPAddressAllow= lines alone, with IPAddressDeny= in both: systemd
# (252, Debian 12) applies a changed address allow-list to the running service's cgroup at `systemctl daemon-reload`,
# so the peers of a moved server can be let in without restarting the service that serves requests (measured on the
# lab: the PID kept, a new peer answered, a removed one refused, right after the reload). Anything else changed, a
# unit that did not exist (OLD is None or empty), or an allow-list switched on or off takes a restart.

from ansible.errors import AnsibleFilterError

_ALLOW = "IPAddressAllow="
_DENY = "IPAddressDeny="


def _lines(text):
    return [line.rstrip() for line in str(text).replace("\r\n", "\n").split("\n")]


def followup_unit_restart_needed(old, new):
    """True unless OLD and NEW (unit file texts) differ only in IPAddressAllow= lines and both deny by default."""
    if new is None:
        raise AnsibleFilterError(
            "followup_unit_restart_needed: the new unit text is missing (render the template first)"
        )
    if old is None or not str(old).strip():
        return True
    before, after = _lines(old), _lines(new)
    if before == after:
        return False
    if not any(line.startswith(_DENY) for line in before) or not any(line.startswith(_DENY) for line in after):
        return True
    return [line for line in before if not line.startswith(_ALLOW)] != [
        line for line in after if not line.startswith(_ALLOW)
    ]


class FilterModule:
    def filters(self):
        return {"followup_unit_restart_needed": followup_unit_restart_needed}
