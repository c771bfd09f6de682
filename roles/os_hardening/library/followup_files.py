#!/usr/bin/python
# followup-ops os_hardening: many small configuration files written in one round trip.
# ruff: noqa: E402 - the imports follow the documentation blocks, as in every Ansible module

DOCUMENTATION = r"""
---
module: followup_files
short_description: Write several small files (content, owner, mode), each checked before it replaces the old one
description:
  - Makes the directories of O(directories), then gives every file of O(files) its content, owner, group and mode,
    or removes it (C(state=absent)). A file is written to a temporary file in its own directory, checked with its
    C(validate) command when it has one (C(%s) is the temporary file; a non-zero exit leaves the old file untouched
    and fails the task), and renamed over the old one.
  - One task for all of a role's small files, where a template task per file would cost a round trip each (the
    hardening rerun of five hosts must stay under a minute). The contents are rendered on the control node by the
    role (C(lookup('ansible.builtin.template', ...))).
  - RV(changed_files) names what changed, so that the role reloads only what must be reloaded.
version_added: "0.1.0"
author: followup-ops
options:
  directories:
    description: Directories made first, C({path, mode, owner, group}) (owner and group default to root).
    type: list
    elements: dict
    default: []
  files:
    description:
      - C({dest, content, mode, owner, group, validate, state}). C(mode) is an octal string; C(owner) and C(group)
        default to root; C(state) is V(present) (default) or V(absent).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Contents are compared byte for byte; a file is rewritten only when its content, owner, group or mode differ.
"""

EXAMPLES = r"""
- name: files | Write the configuration of the enabled families
  followup_files:
    directories:
      - {path: /etc/security/pwquality.conf.d, mode: "0755"}
    files:
      - dest: /etc/security/pwquality.conf.d/60-followup.conf
        content: "{{ lookup('ansible.builtin.template', 'pwquality.conf.j2') }}"
        mode: "0644"
      - dest: /etc/sudoers.d/60-followup-hardening
        content: "Defaults use_pty\n"
        mode: "0440"
        validate: /usr/sbin/visudo -cf %s
  register: __os_hardening_files
"""

RETURN = r"""
changed_files:
  description: Paths of the files (and directories) that were, or in check mode would be, created, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/60-followup-hardening.conf]
"""

import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def ids(spec, where):
    owner, group = spec.get("owner") or "root", spec.get("group") or "root"
    try:
        return pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"{where}: owner {owner} or group {group} does not exist on this host") from None


def mode_of(spec, where):
    try:
        value = int(str(spec.get("mode")), 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise ValueError(f'{where}: mode {spec.get("mode")!r} is not an octal mode such as "0644"')
    return value


def differs(path, content, mode, uid, gid):
    """None when PATH holds exactly CONTENT with that mode and owner; else what is there now (for the diff)."""
    try:
        st = os.lstat(path)
    except OSError:
        return ""
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} exists and is not a regular file: remove it or choose another path")
    with open(path, "rb") as handle:
        before = handle.read()
    if before == content and stat.S_IMODE(st.st_mode) == mode and (st.st_uid, st.st_gid) == (uid, gid):
        return None
    return before.decode("utf-8", errors="replace")


def write(module, path, content, mode, uid, gid, validate):
    directory = os.path.dirname(path) or "/"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".followup-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        if validate:
            if "%s" not in validate:
                raise ValueError(f"{path}: validate {validate!r} has no %s for the file to check")
            rc, out, err = module.run_command(validate.replace("%s", tmp), use_unsafe_shell=False)
            if rc != 0:
                raise ValueError(f"{path}: {validate} refused the new content (rc {rc}): {(err or out).strip()}")
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[]),
            files=dict(type="list", elements="dict", required=True),
        ),
        supports_check_mode=True,
    )
    changed, diffs = [], []
    try:
        for index, spec in enumerate(module.params["directories"]):
            path = spec.get("path")
            where = f"directories[{index}]"
            if not path or not os.path.isabs(path):
                raise ValueError(f"{where}: path must be absolute")
            mode = mode_of(spec, f"{where} ({path})")
            uid, gid = ids(spec, f"{where} ({path})")
            if os.path.isdir(path):
                st = os.stat(path)
                if stat.S_IMODE(st.st_mode) == mode and (st.st_uid, st.st_gid) == (uid, gid):
                    continue
            changed.append(path)
            if not module.check_mode:
                os.makedirs(path, exist_ok=True)
                os.chown(path, uid, gid)
                os.chmod(path, mode)
        for index, spec in enumerate(module.params["files"]):
            path = spec.get("dest")
            where = f"files[{index}]"
            if not path or not os.path.isabs(path):
                raise ValueError(f"{where}: dest must be an absolute path")
            if (spec.get("state") or "present") == "absent":
                if os.path.lexists(path):
                    changed.append(path)
                    diffs.append(dict(before_header=path, after_header=path, before="(present)\n", after=""))
                    if not module.check_mode:
                        os.unlink(path)
                continue
            content = str(spec.get("content") if spec.get("content") is not None else "").encode("utf-8")
            mode = mode_of(spec, f"{where} ({path})")
            uid, gid = ids(spec, f"{where} ({path})")
            before = differs(path, content, mode, uid, gid)
            if before is None:
                continue
            changed.append(path)
            diffs.append(dict(before_header=path, after_header=path, before=before, after=content.decode("utf-8")))
            if not module.check_mode:
                write(module, path, content, mode, uid, gid, spec.get("validate"))
    except (ValueError, OSError) as err:
        module.fail_json(msg=str(err), changed_files=changed)
    result = dict(changed=bool(changed), changed_files=changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
