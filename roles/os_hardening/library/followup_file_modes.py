#!/usr/bin/python
# followup-ops os_hardening: owners and permissions of sensitive files, in one round trip.
# ruff: noqa: E402 - the imports follow the documentation blocks, as in every Ansible module


DOCUMENTATION = r"""
---
module: followup_file_modes
short_description: Give sensitive files their owner and group, and take away permissions beyond a maximum
description:
  - For every existing path of O(files), sets the owner and group and removes every permission bit the maximum mode
    does not allow. It never adds a permission, so a file kept stricter than the maximum stays as it is (RHEL keeps
    C(/etc/shadow) at 0000, Debian at 0640; both pass a maximum of 0640).
  - A path may be a glob (C(/var/log/audit/audit.log*)); paths that do not exist are reported in RV(missing) and left
    alone; symbolic links are reported in RV(links) and never followed.
  - O(files) is the catalogue's form (parameters C(sensitive_files), C(log_file_modes) of controls/djbh-l3.yml),
    path to C({mode, owner, group}), where C(group) is one group or a list of accepted groups. A file whose group is
    none of them gets the first.
  - One task for every file, where a loop of C(ansible.builtin.file) would cost one round trip per file.
version_added: "0.1.0"
author: followup-ops
options:
  files:
    description:
      - Absolute path or glob to C({mode, owner, group}). C(mode) is the most permissive mode allowed, as an octal
        string (V("0640")); C(owner) the user that must own it; C(group) a group or a list of accepted groups.
        C(owner) and C(group) are left as they are when omitted.
    type: dict
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: files | Restrict the account databases
  followup_file_modes:
    files:
      /etc/passwd: {mode: "0644", owner: root, group: [root]}
      /etc/shadow: {mode: "0640", owner: root, group: [root, shadow]}
"""

RETURN = r"""
changed_files:
  description: One entry per path that was (or in check mode would be) changed, with what changed.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/crontab, mode: ["0644", "0600"]}]
missing:
  description: Paths that do not exist.
  returned: always
  type: list
  elements: str
links:
  description: Paths that are symbolic links (left alone).
  returned: always
  type: list
  elements: str
"""

import glob
import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

GLOB_CHARS = ("*", "?", "[")


def parse_mode(path, spec):
    text = str(spec.get("mode"))
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise ValueError(f'files[{path}].mode {text!r} is not an octal mode such as "0640"')
    return value


def groups_of(spec):
    group = spec.get("group")
    if group is None or group == "":
        return []
    return [str(g) for g in group] if isinstance(group, list) else [str(group)]


def resolve(path, spec):
    """(uid or None, [accepted gids]) for SPEC; ValueError naming the entry when a name is unknown here."""
    uid = None
    if spec.get("owner"):
        try:
            uid = pwd.getpwnam(spec["owner"]).pw_uid
        except KeyError:
            raise ValueError("files[{}].owner {} is not a user on this host".format(path, spec["owner"])) from None
    names = groups_of(spec)
    gids = []
    for name in names:
        try:
            gids.append(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue  # a group of the other OS family (shadow exists on Debian only)
    if names and not gids:
        raise ValueError("files[{}].group: none of {} is a group on this host".format(path, ", ".join(names)))
    return uid, gids


def expand(path):
    if any(c in path for c in GLOB_CHARS):
        return sorted(glob.glob(path))
    return [path]


def plan(spec, st, uid, gids, path):
    """What must change on a file with stat ST: {mode: [old, new], owner: [...], group: [...]}, and the new mode."""
    changes = {}
    current = stat.S_IMODE(st.st_mode)
    wanted = current & parse_mode(path, spec)
    if wanted != current:
        changes["mode"] = [f"{current:04o}", f"{wanted:04o}"]
    if uid is not None and st.st_uid != uid:
        changes["owner"] = [st.st_uid, spec["owner"]]
    if gids and st.st_gid not in gids:
        changes["group"] = [st.st_gid, gids[0]]
    return changes, wanted


def main():
    module = AnsibleModule(
        argument_spec=dict(files=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    changed_files, missing, links = [], [], []
    before, after = [], []
    for pattern in sorted(module.params["files"]):
        spec = module.params["files"][pattern] or {}
        if not isinstance(spec, dict) or not os.path.isabs(pattern):
            module.fail_json(msg=f"files[{pattern}] must be an absolute path mapped to {{mode, owner, group}}")
        try:
            parse_mode(pattern, spec)
            uid, gids = resolve(pattern, spec)
        except ValueError as err:
            module.fail_json(msg=str(err))
        paths = expand(pattern)
        if not paths:
            missing.append(pattern)
        for path in paths:
            try:
                st = os.lstat(path)
            except OSError:
                missing.append(path)
                continue
            if stat.S_ISLNK(st.st_mode):
                links.append(path)
                continue
            changes, wanted = plan(spec, st, uid, gids, path)
            if not changes:
                continue
            changed_files.append(dict(changes, path=path))
            before.append(f"{path} {stat.S_IMODE(st.st_mode):04o} {st.st_uid}:{st.st_gid}")
            new_uid = st.st_uid if uid is None else uid
            new_gid = gids[0] if "group" in changes else st.st_gid
            after.append(f"{path} {wanted:04o} {new_uid}:{new_gid}")
            if module.check_mode:
                continue
            try:
                if "owner" in changes or "group" in changes:
                    os.chown(path, -1 if uid is None else uid, gids[0] if "group" in changes else -1)
                # chown clears set-id bits: the mode is set afterwards, from what was read before.
                if "mode" in changes or "owner" in changes or "group" in changes:
                    os.chmod(path, wanted)
            except OSError as err:
                module.fail_json(msg=f"{path}: cannot change its owner or mode ({err})")
    result = dict(changed=bool(changed_files), changed_files=changed_files, missing=missing, links=links)
    if module._diff:
        result["diff"] = dict(before="\n".join(before) + "\n", after="\n".join(after) + "\n")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
