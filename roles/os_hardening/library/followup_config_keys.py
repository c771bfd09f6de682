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
  - One task for all keys, where a loop of C(lineinfile) would cost one round trip per key.
version_added: "0.1.0"
author: followup-ops
options:
  path:
    description: The file to edit. It must exist unless O(create) is true.
    type: path
    required: true
  style:
    description:
      - How a line is written and read. C(space) is C(KEY VALUE) (login.defs), C(equals) is C(KEY=VALUE)
        (/etc/default/useradd), C(spaced_equals) is C(key = value) (auditd.conf).
    type: str
    required: true
    choices: [space, equals, spaced_equals]
  settings:
    description: Key to value. Values are written as strings; booleans are refused (write V(yes)/V(no) as the file
      expects).
    type: dict
    required: true
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
  description: The keys whose line was added or changed, sorted.
  returned: always
  type: list
  elements: str
  sample: [PASS_MAX_DAYS, PASS_MIN_DAYS]
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            style=dict(type="str", required=True, choices=sorted(PATTERNS)),
            settings=dict(type="dict", required=True),
            create=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    if os.path.exists(path):
        try:
            with open(path) as handle:
                before = handle.read()
        except OSError as err:
            module.fail_json(msg=f"{path} cannot be read ({err}): check the path and that it is a file")
    elif module.params["create"]:
        before = ""
    else:
        module.fail_json(msg=f"{path} does not exist: install the package that owns it, or set create: true")
    try:
        after, changed_keys = apply_settings(before, module.params["style"], module.params["settings"])
    except ValueError as err:
        module.fail_json(msg=f"{path}: {err}")
    changed = after != before
    if changed and not module.check_mode:
        write_atomically(module, path, after)
    result = dict(changed=changed, changed_keys=changed_keys)
    if module._diff:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
