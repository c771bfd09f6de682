#!/usr/bin/python
# followup-ops os_hardening: the local accounts, read once and corrected in one round trip.
# ruff: noqa: E402 - the imports follow the documentation blocks, as in every Ansible module


DOCUMENTATION = r"""
---
module: followup_os_accounts
short_description: Find extra uid 0 accounts, lock accounts without a password, give system accounts no login shell
description:
  - Reads C(/etc/passwd) and C(/etc/shadow) once. Password hashes are never returned, logged or compared; only
    whether a password field is empty, locked (C(!), C(*)) or set is read.
  - Returns the accounts other than O(uid0_allowed) that have uid 0 in RV(extra_uid0). It does not change them (a
    second root account is a decision for a person); the role refuses to go on while any exists.
  - With O(lock_empty_passwords), locks every account whose password field is empty (C(usermod -L)).
  - With O(system_shell), gives every system account (uid below C(UID_MIN) of login.defs, or above C(UID_MAX))
    that has a login shell that shell instead, except O(system_shell_exceptions).
  - Locks the password of every account of O(lock_accounts) that exists with a usable or empty password (the
    distribution's default accounts, such as games, news, uucp).
  - With O(undeclared_shell), every account with a login shell that O(declared) does not list (the declared account
    inventory) gets that shell and a locked password; root is never touched.
  - With O(max_days) above 0, sets the maximum password age (C(chage -M)) of every interactive account (a login
    shell, uid from C(UID_MIN) to C(UID_MAX), a usable password) whose maximum is unset or longer, except
    O(max_days_exclude). Accounts without a usable password (key-only, locked) are never expired. A maximum already
    shorter is kept.
version_added: "0.1.0"
author: followup-ops
options:
  uid0_allowed:
    description: Accounts allowed to have uid 0.
    type: list
    elements: str
    default: [root]
  lock_empty_passwords:
    description: Lock accounts whose password field is empty.
    type: bool
    default: true
  system_shell:
    description: Shell for system accounts that have a login shell; empty leaves them alone.
    type: str
    default: ""
  system_shell_exceptions:
    description: System accounts that keep their login shell (the catalogue's C(login_accounts_allowed)).
    type: list
    elements: str
    default: [root]
  nologin_shells:
    description: Shells that give no login (the catalogue's C(nologin_shells)); an empty shell field means C(/bin/sh).
    type: list
    elements: str
    default: [/usr/sbin/nologin, /sbin/nologin, /bin/false, /usr/bin/false, /bin/sync, /sbin/shutdown, /sbin/halt]
  lock_accounts:
    description: Accounts whose password is locked when they exist (the catalogue's C(default_accounts)).
    type: list
    elements: str
    default: []
  declared:
    description: The accounts allowed a login shell (the catalogue's C(login_accounts_allowed)), for
      O(undeclared_shell).
    type: list
    elements: str
    default: []
  undeclared_shell:
    description: Shell for accounts with a login shell that O(declared) does not list; empty leaves them alone.
    type: str
    default: ""
  max_days:
    description: Maximum password age for existing interactive accounts; 0 leaves them alone.
    type: int
    default: 0
  max_days_exclude:
    description: Interactive accounts whose password age is never set (service and operations accounts).
    type: list
    elements: str
    default: []
  passwd_file:
    description: The passwd database (tests only).
    type: path
    default: /etc/passwd
  shadow_file:
    description: The shadow database (tests only).
    type: path
    default: /etc/shadow
  login_defs:
    description: Where UID_MIN and UID_MAX are read (tests only).
    type: path
    default: /etc/login.defs
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: accounts | Lock empty passwords and give system accounts no shell
  followup_os_accounts:
    lock_empty_passwords: true
    system_shell: /usr/sbin/nologin
  register: __os_hardening_accounts
"""

RETURN = r"""
extra_uid0:
  description: Accounts with uid 0 that O(uid0_allowed) does not list.
  returned: always
  type: list
  elements: str
locked:
  description: Accounts locked, because their password was empty or they are listed in O(lock_accounts).
  returned: always
  type: list
  elements: str
shells:
  description: System accounts whose shell was changed, with the old and the new shell.
  returned: always
  type: list
  elements: dict
  sample: [{user: postgres, before: /bin/bash, after: /usr/sbin/nologin}]
max_days_set:
  description: Interactive accounts whose maximum password age was set, with the old and the new value.
  returned: always
  type: list
  elements: dict
undeclared:
  description: Accounts with a login shell that O(declared) does not list (changed only with O(undeclared_shell)).
  returned: always
  type: list
  elements: str
interactive:
  description: Accounts with a login shell and a uid from UID_MIN to UID_MAX (what an assessor asks to see).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def read_login_defs(path):
    limits = {"UID_MIN": 1000, "UID_MAX": 60000}
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in limits and parts[1].isdigit():
                    limits[parts[0]] = int(parts[1])
    except OSError:
        pass
    return limits["UID_MIN"], limits["UID_MAX"]


def read_passwd(path):
    accounts = []
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line or line.startswith(("#", "+", "-")):
                continue
            fields = line.split(":")
            if len(fields) < 7 or not fields[2].lstrip("-").isdigit():
                continue
            accounts.append({"user": fields[0], "pw": fields[1], "uid": int(fields[2]), "shell": fields[6]})
    return accounts


def read_shadow(path):
    """user -> (state, max days) where state is empty, locked or set; the hash itself is dropped at once."""
    shadow = {}
    with open(path) as handle:
        for line in handle:
            fields = line.rstrip("\n").split(":")
            if len(fields) < 5:
                continue
            pw = fields[1]
            if pw == "":
                state = "empty"
            elif pw.startswith(("!", "*")):
                state = "locked"
            else:
                state = "set"
            shadow[fields[0]] = (state, fields[4])
    return shadow


def is_login_shell(shell, nologin_shells):
    # An empty shell field means /bin/sh.
    return shell not in nologin_shells


def plan(params, accounts, shadow, uid_min, uid_max):
    extra_uid0, lock, shells, ages, interactive, undeclared = [], [], [], [], [], []
    declared = set(params["declared"])
    allowed0 = set(params["uid0_allowed"])
    exceptions = set(params["system_shell_exceptions"])
    excluded = set(params["max_days_exclude"])
    nologin = set(params["nologin_shells"])
    defaults = set(params["lock_accounts"])
    for acc in accounts:
        user, uid, shell = acc["user"], acc["uid"], acc["shell"]
        state, max_days = shadow.get(user, ("empty" if acc["pw"] == "" else "locked", ""))
        if acc["pw"] == "":
            state = "empty"
        if uid == 0 and user not in allowed0:
            extra_uid0.append(user)
        if (params["lock_empty_passwords"] and state == "empty") or (user in defaults and state != "locked"):
            lock.append(user)
        system = uid < uid_min or uid > uid_max
        # A uid-0 account other than root is left to a person (extra_uid0): its shell is not touched either.
        if system and uid != 0 and params["system_shell"] and is_login_shell(shell, nologin) and user not in exceptions:
            shells.append({"user": user, "before": shell, "after": params["system_shell"]})
        if is_login_shell(shell, nologin) and uid != 0 and declared and user not in declared:
            undeclared.append(user)
            if params["undeclared_shell"] and not any(item["user"] == user for item in shells):
                shells.append({"user": user, "before": shell, "after": params["undeclared_shell"]})
                if state != "locked" and user not in lock:
                    lock.append(user)
        if not system and is_login_shell(shell, nologin):
            interactive.append(user)
            wanted = params["max_days"]
            usable = state == "set" and user not in lock
            current = int(max_days) if max_days.isdigit() else None
            if wanted > 0 and usable and user not in excluded and (current is None or current > wanted):
                ages.append({"user": user, "before": max_days, "after": wanted})
    return extra_uid0, lock, shells, ages, interactive, undeclared


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uid0_allowed=dict(type="list", elements="str", default=["root"]),
            lock_empty_passwords=dict(type="bool", default=True),
            system_shell=dict(type="str", default=""),
            system_shell_exceptions=dict(type="list", elements="str", default=["root"]),
            nologin_shells=dict(
                type="list",
                elements="str",
                default=[
                    "/usr/sbin/nologin",
                    "/sbin/nologin",
                    "/bin/false",
                    "/usr/bin/false",
                    "/bin/sync",
                    "/sbin/shutdown",
                    "/sbin/halt",
                ],
            ),
            lock_accounts=dict(type="list", elements="str", default=[]),
            declared=dict(type="list", elements="str", default=[]),
            undeclared_shell=dict(type="str", default=""),
            max_days=dict(type="int", default=0),
            max_days_exclude=dict(type="list", elements="str", default=[]),
            passwd_file=dict(type="path", default="/etc/passwd"),
            shadow_file=dict(type="path", default="/etc/shadow"),
            login_defs=dict(type="path", default="/etc/login.defs"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["max_days"] < 0:
        module.fail_json(
            msg="max_days is {}: give a number of days, or 0 to leave accounts alone".format(params["max_days"])
        )
    try:
        accounts = read_passwd(params["passwd_file"])
        shadow = read_shadow(params["shadow_file"])
    except OSError as err:
        module.fail_json(msg=f"the account databases cannot be read ({err}): run the task with become: true")
    uid_min, uid_max = read_login_defs(params["login_defs"])
    extra_uid0, lock, shells, ages, interactive, undeclared = plan(params, accounts, shadow, uid_min, uid_max)

    commands = [["usermod", "-L", user] for user in lock]
    commands += [["usermod", "-s", item["after"], item["user"]] for item in shells]
    commands += [["chage", "-M", str(item["after"]), item["user"]] for item in ages]
    if not module.check_mode:
        for argv in commands:
            rc, _out, err = module.run_command([module.get_bin_path(argv[0], required=True), *argv[1:]])
            if rc != 0:
                module.fail_json(msg="{} failed (rc {}): {}".format(" ".join(argv), rc, err.strip()))
    result = dict(
        changed=bool(commands),
        extra_uid0=extra_uid0,
        locked=lock,
        shells=shells,
        max_days_set=ages,
        interactive=interactive,
        undeclared=undeclared,
    )
    if module._diff:
        # What would run, one command per line (no password field is ever shown).
        result["diff"] = dict(before="", after="".join("{}\n".format(" ".join(argv)) for argv in commands))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
