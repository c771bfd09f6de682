#!/usr/bin/python
# followup-ops os_hardening: set keys of a distribution's key/value configuration file in one round trip.
# ruff: noqa: E402 - the imports follow the documentation blocks, as in every Ansible module


DOCUMENTATION = r"""
---
module: followup_config_keys
short_description: Set several keys of a KEY VALUE, KEY=VALUE or key = value configuration file
description:
  - Sets each key of O(settings) in a configuration file the distribution owns (C(/etc/login.defs),
    C(/etc/default/useradd), C(/etc/audit/auditd.conf)), keeping every other line, comment and the file's order.
  - The first active line of a key gets the new value; later active lines of the same key are commented out (so
    that no reader picks another one); a key without an active line is written after its last commented-out line
    (C(#PASS_MAX_DAYS ...)), else at the end of the file.
  - One task for all keys, where a loop of C(lineinfile) would cost one round trip per key; O(edits) does several
    files in the same round trip.
version_added: "0.1.0"
author: followup-ops
options:
  path:
    description: The file to edit. It must exist unless O(create) is true. Required unless O(edits) is given.
    type: path
  edits:
    description:
      - Several files at once, each C({path, style, settings, create}) as the single-file options; a file that does
        not exist (and is not to be created) is skipped when C(optional) is true, and fails the task otherwise.
    type: list
    elements: dict
  style:
    description:
      - How a line is written and read. C(space) is C(KEY VALUE) (login.defs), C(equals) is C(KEY=VALUE)
        (/etc/default/useradd), C(spaced_equals) is C(key = value) (auditd.conf).
    type: str
    choices: [space, equals, spaced_equals]
  settings:
    description: Key to value. Values are written as strings; booleans are refused (write V(yes)/V(no) as the file
      expects).
    type: dict
  create:
    description: Create the file (mode 0644, root) when it does not exist.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Keys are matched case-sensitively at the start of a line, after white space.
"""

EXAMPLES = r"""
- name: login_defs | Set password ageing for new accounts
  followup_config_keys:
    path: /etc/login.defs
    style: space
    settings:
      PASS_MAX_DAYS: 90
      PASS_MIN_DAYS: 1
      PASS_WARN_AGE: 7
"""

RETURN = r"""
changed_keys:
  description: The keys whose line was added or changed, sorted (with O(edits), as C(path:KEY)).
  returned: always
  type: list
  elements: str
  sample: [PASS_MAX_DAYS, PASS_MIN_DAYS]
skipped:
  description: Optional files of O(edits) that do not exist.
  returned: always
  type: list
  elements: str
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

PATTERNS = {
    "space": r"^(?P<indent>\s*)%s(?P<sep>\s+)(?P<value>.*?)\s*$",
    "equals": r"^(?P<indent>\s*)%s(?P<sep>\s*=\s*)(?P<value>.*?)\s*$",
    "spaced_equals": r"^(?P<indent>\s*)%s(?P<sep>\s*=\s*)(?P<value>.*?)\s*$",
}
FORMATS = {"space": "%s\t%s", "equals": "%s=%s", "spaced_equals": "%s = %s"}


def render_value(key, value):
    if isinstance(value, bool):
        raise ValueError(f"settings.{key} is a boolean: write the word the file expects (yes/no, true/false)")
    if value is None:
        raise ValueError(f"settings.{key} has no value: give one, or leave the key out")
    text = str(value)
    if "\n" in text:
        raise ValueError(f"settings.{key} holds a line break: one line per key")
    return text


def apply_settings(text, style, settings):
    """Return (new text, changed keys) for TEXT with SETTINGS applied."""
    lines = text.splitlines()
    changed = []
    for key in sorted(settings):
        value = render_value(key, settings[key])
        active = re.compile(PATTERNS[style] % re.escape(key))
        commented = re.compile(rf"^\s*#\s*{re.escape(key)}(\s|=|$)")
        first = None
        last_comment = None
        for index, line in enumerate(lines):
            if active.match(line):
                if first is None:
                    first = index
                else:
                    lines[index] = "# " + line + "  # superseded (followup-ops)"
                    if key not in changed:
                        changed.append(key)
            elif commented.match(line):
                last_comment = index
        wanted = FORMATS[style] % (key, value)
        if first is not None:
            match = active.match(lines[first])
            if match.group("value") != value:
                lines[first] = wanted
                if key not in changed:
                    changed.append(key)
        elif last_comment is not None:
            lines.insert(last_comment + 1, wanted)
            changed.append(key)
        else:
            lines.append(wanted)
            changed.append(key)
    new = "\n".join(lines) + ("\n" if lines else "")
    return new, sorted(changed)


def write_atomically(module, path, content):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".followup-")
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    if not os.path.exists(path):
        os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


def edit(module, path, style, settings, create, optional=False):
    """(changed keys, diff or None, skipped) for one file; raises ValueError with a one-line message."""
    if style not in PATTERNS:
        raise ValueError(f"{path}: style {style!r} is not one of {', '.join(sorted(PATTERNS))}")
    if os.path.exists(path):
        try:
            with open(path) as handle:
                before = handle.read()
        except OSError as err:
            raise ValueError(f"{path} cannot be read ({err}): check the path and that it is a file") from None
    elif create:
        before = ""
    elif optional:
        return [], None, True
    else:
        raise ValueError(f"{path} does not exist: install the package that owns it, or set create: true")
    try:
        after, changed_keys = apply_settings(before, style, settings or {})
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if after == before:
        return [], None, False
    if not module.check_mode:
        write_atomically(module, path, after)
    return changed_keys, dict(before=before, after=after, before_header=path, after_header=path), False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            edits=dict(type="list", elements="dict"),
            style=dict(type="str", choices=sorted(PATTERNS)),
            settings=dict(type="dict"),
            create=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("path", "edits")],
        required_one_of=[("path", "edits")],
        required_by={"path": ("style", "settings")},
        supports_check_mode=True,
    )
    params = module.params
    jobs = params["edits"] or [
        dict(path=params["path"], style=params["style"], settings=params["settings"], create=params["create"])
    ]
    keys, diffs, skipped = [], [], []
    try:
        for job in jobs:
            changed_keys, diff, skip = edit(
                module,
                job.get("path"),
                job.get("style"),
                job.get("settings"),
                bool(job.get("create")),
                bool(job.get("optional")),
            )
            if skip:
                skipped.append(job.get("path"))
            if diff:
                diffs.append(diff)
                keys += changed_keys if not params["edits"] else [f"{job['path']}:{k}" for k in changed_keys]
    except ValueError as err:
        module.fail_json(msg=str(err))
    result = dict(changed=bool(diffs), changed_keys=keys, skipped=skipped)
    if module._diff:
        result["diff"] = diffs if params["edits"] else (diffs[0] if diffs else {})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
