# followup-ops ssh_hardening: the role's decisions, in Python (tested in tests/unit/hardening/).

import hashlib
import re

from ansible.errors import AnsibleFilterError

# Strong algorithms, strongest first, with the OpenSSH release that brought each (sshd refuses names it does not
# know, so a 7.4 server must not be offered a 9.x name).
CIPHERS = [
    ("chacha20-poly1305@openssh.com", (6, 5)),
    ("aes256-gcm@openssh.com", (6, 2)),
    ("aes128-gcm@openssh.com", (6, 2)),
    ("aes256-ctr", (5, 2)),
    ("aes192-ctr", (5, 2)),
    ("aes128-ctr", (5, 2)),
]
MACS = [
    ("hmac-sha2-512-etm@openssh.com", (6, 2)),
    ("hmac-sha2-256-etm@openssh.com", (6, 2)),
    ("umac-128-etm@openssh.com", (6, 2)),
    ("hmac-sha2-512", (5, 9)),
    ("hmac-sha2-256", (5, 9)),
]
KEX = [
    ("mlkem768x25519-sha256", (9, 9)),
    ("sntrup761x25519-sha512@openssh.com", (8, 5)),
    ("curve25519-sha256", (7, 4)),
    ("curve25519-sha256@libssh.org", (6, 5)),
    ("diffie-hellman-group16-sha512", (7, 3)),
    ("diffie-hellman-group18-sha512", (7, 3)),
    ("diffie-hellman-group-exchange-sha256", (5, 7)),
]


def ssh_hardening_version(text):
    """(major, minor) of OpenSSH from `ssh -V` / `sshd -V` output, e.g. 'OpenSSH_9.2p1 Debian-2' -> (9, 2)."""
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", str(text or ""))
    if not match:
        raise AnsibleFilterError(
            f"ssh_hardening: cannot tell the OpenSSH version from {str(text)[:80]!r}: is openssh-server installed?"
        )
    return [int(match.group(1)), int(match.group(2))]


def _pick(table, version, weak):
    version = tuple(int(v) for v in version)
    weak = {str(w).lower() for w in weak or []}
    return [name for name, since in table if version >= since and name.lower() not in weak]


def ssh_hardening_crypto(version, weak_ciphers=(), weak_macs=(), weak_kex=()):
    """{ciphers, macs, kex}: the strong algorithms this OpenSSH knows, none of the catalogue's weak ones."""
    crypto = {
        "ciphers": _pick(CIPHERS, version, weak_ciphers),
        "macs": _pick(MACS, version, weak_macs),
        "kex": _pick(KEX, version, weak_kex),
    }
    for key, names in crypto.items():
        if not names:
            raise AnsibleFilterError(
                f"ssh_hardening: no {key} is left for OpenSSH {'.'.join(map(str, version))} once the weak ones are "
                "removed: shorten the weak list"
            )
    return crypto


def ssh_hardening_dropin_supported(version, sshd_config_text):
    """True when sshd reads /etc/ssh/sshd_config.d (OpenSSH 8.2+ with an Include of it in sshd_config)."""
    if tuple(int(v) for v in version) < (8, 2):
        return False
    for line in str(sshd_config_text or "").splitlines():
        if re.match(r"^\s*Include\s+/etc/ssh/sshd_config\.d/\S*", line, re.IGNORECASE):
            return True
    return False


def ssh_hardening_checksums(text):
    """path -> sha1 from `sha1sum` output lines ("<40 hex>  <path>"); other lines are ignored."""
    sums = {}
    for line in str(text or "").splitlines():
        match = re.match(r"^([0-9a-f]{40})\s+\*?(/\S.*)$", line.strip())
        if match:
            sums[match.group(2)] = match.group(1)
    return sums


def ssh_hardening_pending(current_checksum, text):
    """True when the file whose sha1 is CURRENT_CHECKSUM (None: absent) does not hold TEXT."""
    return current_checksum != hashlib.sha1(str(text).encode("utf-8")).hexdigest()  # noqa: S324 - Ansible's stat checksum is sha1


def ssh_hardening_block_pending(sshd_config_text, block, marker):
    """True when sshd_config does not hold the role's block (legacy OpenSSH without sshd_config.d) as written."""
    begin = f"# BEGIN {marker}"
    end = f"# END {marker}"
    wanted = "{}\n{}\n{}".format(begin, str(block).rstrip("\n"), end)
    return wanted not in str(sshd_config_text or "")


def ssh_hardening_refusals(settings):
    """One line per opt-in that would lock the control node out, from SETTINGS: {user, has_password, allow_users,
    allow_groups, allow_enabled, mfa_enabled, user_groups}."""
    reasons = []
    user = settings.get("user")
    if settings.get("allow_enabled"):
        users = [str(u).split("@", 1)[0] for u in settings.get("allow_users") or []]
        groups = set(settings.get("allow_groups") or [])
        member = set(settings.get("user_groups") or [])
        if not users and not groups:
            reasons.append(
                "ssh_hardening_allow_users_enabled is true but ssh_hardening_allow_users and "
                f"ssh_hardening_allow_groups are empty: sshd would admit nobody; list {user} (the account Ansible uses)"
            )
        elif user not in users and not (groups & member):
            reasons.append(
                f"ssh_hardening_allow_users/allow_groups do not admit {user}, the account Ansible logs in as: "
                "add it, or the run would lock itself out"
            )
    if settings.get("mfa_enabled") and not settings.get("has_password"):
        reasons.append(
            "ssh_hardening_mfa_enabled asks a key and a password of everyone, but the inventory gives Ansible no SSH "
            "password (ansible_password): Ansible would be locked out; set it from vault first"
        )
    return reasons


class FilterModule:
    def filters(self):
        return {
            "ssh_hardening_version": ssh_hardening_version,
            "ssh_hardening_crypto": ssh_hardening_crypto,
            "ssh_hardening_dropin_supported": ssh_hardening_dropin_supported,
            "ssh_hardening_pending": ssh_hardening_pending,
            "ssh_hardening_checksums": ssh_hardening_checksums,
            "ssh_hardening_block_pending": ssh_hardening_block_pending,
            "ssh_hardening_refusals": ssh_hardening_refusals,
        }
