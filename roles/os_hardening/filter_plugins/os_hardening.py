# followup-ops os_hardening: the role's decisions, in Python (tested in tests/unit/hardening/).

import hashlib

from ansible.errors import AnsibleFilterError

# What each of the role's pam-auth-update profiles puts into the stacks it writes: a profile is enabled when its
# marker is in the generated files (pam-auth-update keeps no list of what is enabled).
PAM_PROFILE_MARKERS = {
    "followup-pwhistory": "pam_pwhistory.so",
    "followup-faillock-preauth": "pam_faillock.so preauth",
    "followup-faillock": "pam_faillock.so authfail",
    "followup-faillock-authsucc": "pam_faillock.so authsucc",
    "followup-tally2": "pam_tally2.so",
}

CONTAINER_TYPES = ("docker", "container", "containerd", "lxc", "podman", "openvz", "systemd-nspawn", "wsl")


def os_hardening_in_container(facts):
    """True on a container guest, where the kernel (sysctl, audit) belongs to the host."""
    facts = facts or {}
    return facts.get("virtualization_role") == "guest" and facts.get("virtualization_type") in CONTAINER_TYPES


def _first(value):
    """The value to write for a setting given as a value or a list of accepted values (the first)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise AnsibleFilterError("an empty list of accepted values has nothing to write")
        return value[0]
    return value


def os_hardening_sysctl(network, extra=None, ip_forward=None):
    """The kernel parameters the role writes: [{name, value}] in a stable order.

    NETWORK: the catalogue's sysctl_network (name -> value or list of accepted values, the first written); EXTRA:
    further name -> value, written after; IP_FORWARD: 0 or 1 to manage net.ipv4.ip_forward, None to leave it alone.
    """
    settings = []
    seen = set()
    for source, where in ((network or {}, "os_hardening_sysctl_network"), (extra or {}, "os_hardening_sysctl_extra")):
        if not isinstance(source, dict):
            raise AnsibleFilterError(f"{where} must map kernel parameter names to values")
        for name in source:
            if not isinstance(name, str) or not name or " " in name or "=" in name or "/" in name:
                raise AnsibleFilterError(f"{where} has a bad key {name!r}: use a name like net.ipv4.tcp_syncookies")
            value = _first(source[name])
            if isinstance(value, bool):
                value = int(value)
            if name in seen:
                settings = [s for s in settings if s["name"] != name]
            seen.add(name)
            settings.append({"name": name, "value": str(value)})
    if ip_forward is not None and ip_forward != "":
        if str(ip_forward) not in ("0", "1"):
            raise AnsibleFilterError(f"os_hardening_ip_forward is {ip_forward!r}: use 0 or 1")
        settings = [s for s in settings if s["name"] != "net.ipv4.ip_forward"]
        settings.insert(0, {"name": "net.ipv4.ip_forward", "value": str(ip_forward)})
    return settings


def os_hardening_lockout_module(found):
    """faillock, tally2 or '' from the paths of PAM modules a find returned (faillock wins where both exist)."""
    names = {str(path).rsplit("/", 1)[-1] for path in found or []}
    if "pam_faillock.so" in names:
        return "faillock"
    if "pam_tally2.so" in names:
        return "tally2"
    return ""


def os_hardening_pam_profiles(password_remember, lockout_enabled, lockout_module):
    """The role's pam-auth-update profiles that must be enabled."""
    wanted = []
    if int(password_remember) > 0:
        wanted.append("followup-pwhistory")
    if lockout_enabled:
        if lockout_module == "faillock":
            wanted += ["followup-faillock-preauth", "followup-faillock", "followup-faillock-authsucc"]
        elif lockout_module == "tally2":
            wanted.append("followup-tally2")
        else:
            raise AnsibleFilterError(
                "os_hardening_faillock_enabled is true but this host has neither pam_faillock nor pam_tally2: install "
                "the PAM modules package, or leave the lockout off"
            )
    return wanted


def os_hardening_pam_plan(stack_text, wanted, present, texts=None):
    """What pam-auth-update must do: {'enable': [...], 'remove': [...], 'write': [...], 'run': bool}.

    STACK_TEXT: the generated common-* files; WANTED: profiles that must be on; PRESENT: the role's profile files on
    the host as a find returned them ({path, checksum}: sha1); TEXTS: profile -> the content it must have. A profile
    whose file differs is written and enabled again, so that its new lines reach the stacks.
    """
    text = stack_text or ""
    checksums = {}
    for entry in present or []:
        if isinstance(entry, dict):
            checksums[str(entry.get("path", "")).rsplit("/", 1)[-1]] = entry.get("checksum")
        else:
            checksums[str(entry).rsplit("/", 1)[-1]] = None
    write = []
    for profile in wanted:
        data = str((texts or {}).get(profile, "")).encode("utf-8")
        expected = hashlib.sha1(data).hexdigest()  # noqa: S324 - compared with the sha1 checksum find returns
        if checksums.get(profile) != expected:
            write.append(profile)
    enable = [p for p in wanted if PAM_PROFILE_MARKERS[p] not in text or p in write]
    remove = sorted(
        p for p in PAM_PROFILE_MARKERS if p not in wanted and (p in checksums or PAM_PROFILE_MARKERS[p] in text)
    )
    return {"enable": enable, "remove": remove, "write": write, "run": bool(enable or remove or write)}


def os_hardening_authselect_plan(current, wanted_features):
    """Features authselect must enable and disable: {'profile', 'enable', 'disable', 'managed'}.

    CURRENT is the output of `authselect current --raw` ("sssd with-faillock ..."), empty when authselect does not
    manage the host.
    """
    words = (current or "").split()
    if not words:
        return {"managed": False, "profile": "", "enable": [], "disable": []}
    profile, features = words[0], set(words[1:])
    ours = ("with-faillock", "with-pwhistory")
    enable = [f for f in wanted_features if f not in features]
    disable = [f for f in ours if f in features and f not in wanted_features]
    return {"managed": True, "profile": profile, "enable": enable, "disable": disable}


def os_hardening_logrotate_count(days, period="weekly"):
    """How many rotated files logrotate must keep so that DAYS of logs stay (one more for the current period)."""
    per = {"daily": 1, "weekly": 7, "monthly": 31}.get(period)
    if per is None:
        raise AnsibleFilterError(f"logrotate period {period!r}: use daily, weekly or monthly")
    days = int(days)
    return -(-days // per) + 1


def os_hardening_unit_names(names, keep=()):
    """Unit names as systemctl matches them: a name without a suffix is a .service; KEEP is left out."""
    kept = {n if "." in n else n + ".service" for n in keep or []}
    units = []
    for name in names or []:
        unit = name if "." in name else name + ".service"
        if unit not in kept and unit not in units:
            units.append(unit)
    return units


def os_hardening_units_to_mask(list_unit_files):
    """The units of `systemctl list-unit-files --no-legend NAME...` output that are not masked yet."""
    units = []
    for line in (list_unit_files or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] not in ("masked", "masked-runtime"):
            units.append(parts[0])
    return units


def os_hardening_admin_members(roles):
    """[{group, member}] from the mapping group -> [accounts], sorted."""
    pairs = []
    for group, members in sorted((roles or {}).items()):
        if isinstance(members, str) or not isinstance(members, list):
            raise AnsibleFilterError(f"os_hardening_admin_roles.{group} must be a list of account names")
        pairs += [{"group": str(group), "member": str(m)} for m in members]
    return pairs


def os_hardening_auditd_settings(base, admin_groups, admin_enabled):
    """auditd.conf keys: BASE, plus log_group = the audit group of separation of duties when it is on."""
    settings = dict(base or {})
    if admin_enabled and admin_groups:
        settings["log_group"] = admin_groups[-1]
    return settings


def os_hardening_installed_packages(query_output):
    """Names of installed packages from `dpkg-query --show` or `rpm -q` output ("<name> installed" lines)."""
    names = []
    for line in (query_output or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "installed":
            names.append(parts[0].split(":", 1)[0])
    return sorted(set(names))


def os_hardening_pam_read(output):
    """{modules: [paths], profiles: [{path, checksum}], stacks: text} from the output of the role's PAM read
    (module paths, then '--- profiles' and sha1sum lines, then '--- stacks' and the stacks' text)."""
    modules, profiles, stacks = [], [], []
    section = "modules"
    for line in (output or "").splitlines():
        if line == "--- profiles":
            section = "profiles"
            continue
        if line == "--- stacks":
            section = "stacks"
            continue
        if section == "modules" and line.startswith("/"):
            modules.append(line.strip())
        elif section == "profiles":
            parts = line.split(None, 1)
            if len(parts) == 2 and len(parts[0]) == 40:
                profiles.append({"path": parts[1].lstrip("*").strip(), "checksum": parts[0]})
        elif section == "stacks":
            stacks.append(line)
    return {"modules": modules, "profiles": profiles, "stacks": "\n".join(stacks)}


def os_hardening_units_ok(show_output):
    """unit -> True when enabled and active, from `systemctl show --property=Id,UnitFileState,ActiveState` output
    (blocks separated by blank lines)."""
    units = {}
    for block in (show_output or "").strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props.get("UnitFileState") == "enabled" and props.get("ActiveState") == "active"
    return units


class FilterModule:
    def filters(self):
        return {
            "os_hardening_in_container": os_hardening_in_container,
            "os_hardening_sysctl": os_hardening_sysctl,
            "os_hardening_lockout_module": os_hardening_lockout_module,
            "os_hardening_pam_profiles": os_hardening_pam_profiles,
            "os_hardening_pam_plan": os_hardening_pam_plan,
            "os_hardening_authselect_plan": os_hardening_authselect_plan,
            "os_hardening_logrotate_count": os_hardening_logrotate_count,
            "os_hardening_units_to_mask": os_hardening_units_to_mask,
            "os_hardening_unit_names": os_hardening_unit_names,
            "os_hardening_installed_packages": os_hardening_installed_packages,
            "os_hardening_pam_read": os_hardening_pam_read,
            "os_hardening_units_ok": os_hardening_units_ok,
            "os_hardening_admin_members": os_hardening_admin_members,
            "os_hardening_auditd_settings": os_hardening_auditd_settings,
        }
