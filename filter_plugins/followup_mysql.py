# followup-ops: the decisions of roles/mysql, as small tested functions instead of Jinja programs.
#
# Accounts: which account@host pairs the server must have (from the inventory's client groups) and which of the
# server's own are stale. Version: the server binary's version, how root logs in and how a drop-in is checked. Option
# files: writing a value the way the server's and clients' option-file parser reads it back, and reading one.

import os
import re
from collections.abc import Mapping

import ansible.module_utils
from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_inspect_db import option_file_value  # noqa: E402

# Option-file escapes written (the reader, module_utils/followup_inspect_db.py, knows these and "\\s" for a space).
_WRITE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}
# A bare value may not hold these: a # starts a comment, quotes and backslashes change the value, and leading or
# trailing white space is dropped.
_NEEDS_QUOTES = re.compile(r"""[#"'\\\n\r\t\b]|\A\s|\s\Z|\A\Z""")

_VERSION = re.compile(r"Ver\s+([0-9]+\.[0-9]+\.[0-9]+)")
UNKNOWN = "unknown"


def _version_tuple(version):
    return tuple(int(part) for part in str(version).split("."))


def _names(value, where):
    """VALUE as a list of strings; a single string or anything else is refused (it would be read letter by letter)."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
        raise AnsibleFilterError(f"{where} must be a list, got {value!r}: write it as a YAML list, e.g. [app]")
    return [str(item) for item in value]


def followup_mysql_account_entries(accounts, client_groups, client_hosts, groups, hostvars):
    """One {name, host, priv} per account and client host, in order and without repeats: the addresses of the hosts
    in the account's client groups (each host's ansible_host, else its inventory name), then its extra client hosts.

    accounts: [{name, priv}]; client_groups / client_hosts: account name -> list (mysql_account_client_groups,
    mysql_account_client_hosts); groups and hostvars: Ansible's magic variables of the same names."""
    names = [account["name"] for account in accounts]
    for option, mapping in (
        ("mysql_account_client_groups", client_groups),
        ("mysql_account_client_hosts", client_hosts),
    ):
        unknown = sorted(set(mapping or {}) - set(names))
        if unknown:
            raise AnsibleFilterError(
                f"{option} names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not an account "
                f"of this role: use only {', '.join(names)}"
            )
    entries = []
    for account in accounts:
        name = account["name"]
        addresses = []
        for group in _names((client_groups or {}).get(name), f"mysql_account_client_groups.{name}"):
            for member in groups.get(group) or []:
                member_vars = hostvars.get(member, {})
                addresses.append(str(member_vars["ansible_host"]) if "ansible_host" in member_vars else str(member))
        addresses += _names((client_hosts or {}).get(name), f"mysql_account_client_hosts.{name}")
        seen = set()
        for address in addresses:
            if address not in seen:
                seen.add(address)
                entries.append({"name": name, "host": address, "priv": dict(account["priv"])})
    return entries


def followup_mysql_accounts_without_hosts(accounts, entries):
    """Names of the ACCOUNTS that have no entry in ENTRIES (they would have no client host)."""
    present = {entry["name"] for entry in entries}
    return [account["name"] for account in accounts if account["name"] not in present]


def followup_mysql_stale_accounts(users, entries, accounts):
    """The {name, host} accounts on the server (USERS: community.mysql.mysql_info's `users`, host -> user -> ...) of
    the role's ACCOUNTS whose host is not one of ENTRIES, sorted by name then host."""
    managed = {account["name"] for account in accounts}
    wanted = {(entry["name"], entry["host"]) for entry in entries}
    stale = [
        {"name": user, "host": host}
        for host, host_users in (users or {}).items()
        for user in host_users
        if user in managed and (user, host) not in wanted
    ]
    return sorted(stale, key=lambda account: (account["name"], account["host"]))


def followup_mysql_version(probe):
    """The x.y.z version in the output of `<mysqld> --version` (e.g. 'mariadbd  Ver 10.11.19-MariaDB ...'), or
    'unknown' (check mode on a host where the server is not installed yet)."""
    found = _VERSION.search(str(probe or ""))
    return found.group(1) if found else UNKNOWN


def followup_mysql_root_auth(requested, flavour, version):
    """How Ansible logs in as root: REQUESTED unless it is 'auto', which is 'socket' on MariaDB >= 10.4 (its
    root@localhost authenticates by unix socket; also when the version is not known yet, as on a fresh host in check
    mode, since the flavour's packages are that recent) and 'password' otherwise."""
    if requested not in ("auto", "socket", "password"):
        raise AnsibleFilterError(f"mysql_root_auth is {requested!r}: use auto, socket or password")
    if requested != "auto":
        return requested
    if flavour == "mariadb" and (version == UNKNOWN or _version_tuple(version) >= (10, 4)):
        return "socket"
    return "password"


def followup_mysql_validate_command(daemon, flavour, version):
    """The `validate:` command of the server drop-in: the server's own option parser. MySQL >= 8.0.16 has
    --validate-config; MariaDB and older MySQL parse the file with --help --verbose, which fails on an unknown option,
    a bad value or an unknown collation."""
    checks_config = flavour == "mysql" and version != UNKNOWN and _version_tuple(version) >= (8, 0, 16)
    return f"{daemon} --defaults-file=%s {'--validate-config' if checks_config else '--help --verbose'}"


def followup_mysql_option_value(value, quote=False):
    """VALUE written for a MySQL/MariaDB option file (`name = <this>`) so that the server's and the clients' parser
    read back exactly VALUE: bare when it can be, else in double quotes with \\ " and control characters escaped
    (a # inside quotes is no comment). QUOTE: always quote (for secrets, whose text says nothing in advance)."""
    text = str(value)
    if "\x00" in text:
        raise AnsibleFilterError("an option-file value cannot hold a NUL character")
    if not quote and not _NEEDS_QUOTES.search(text):
        return text
    escaped = "".join(_WRITE_ESCAPES.get(char, char) for char in text)
    return f'"{escaped}"'


def followup_mysql_option_file_value(text, group, option, default=None):
    """The value of OPTION in [GROUP] of the option file TEXT, read as the MySQL/MariaDB parser reads it (comments,
    quotes, escapes; the last occurrence wins; - and _ are the same in names), or DEFAULT when it is not there.
    The parser is module_utils/followup_inspect_db.py's, which the inspection reads the hosts' option files with."""
    found = option_file_value(text, group, option)
    return default if found is None else found


class FilterModule:
    def filters(self):
        return {
            "followup_mysql_account_entries": followup_mysql_account_entries,
            "followup_mysql_accounts_without_hosts": followup_mysql_accounts_without_hosts,
            "followup_mysql_stale_accounts": followup_mysql_stale_accounts,
            "followup_mysql_version": followup_mysql_version,
            "followup_mysql_root_auth": followup_mysql_root_auth,
            "followup_mysql_validate_command": followup_mysql_validate_command,
            "followup_mysql_option_value": followup_mysql_option_value,
            "followup_mysql_option_file_value": followup_mysql_option_file_value,
        }
