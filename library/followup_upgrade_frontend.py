#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: steer nginx on the front-end server during an upgrade (module_utils/followup_upgrade_nginx.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_upgrade_frontend
short_description: Switch the front-end server's application upstreams and maintenance answer, with a graceful reload
description:
  - Writes the two files the followup_fep role's C(nginx.conf) includes (C(docs/upgrade.md), "Short
    unavailability") - C(upstream.conf), the application servers requests go to, and C(maintenance.conf), no
    maintenance, a 503 maintenance answer to requests that change data (V(writes)) or to every request (V(full)).
    The host itself (127.0.0.1, ::1) is always let through.
  - Checks the whole configuration with C(nginx -t) after writing and puts the previous files back when it fails.
    With O(reload), reloads nginx gracefully (the old workers finish the requests they have) and, with O(drain),
    waits until the old workers are gone, so that no request can still reach an upstream switched away from.
  - Used by the followup_fep role (no maintenance, the inventory's upstreams, no reload; its handler reloads) and by
    the upgrade (roles/followup_upgrade).
version_added: "0.1.0"
author: followup-ops
options:
  upstreams:
    description: The application servers, as host:port. Omit to leave C(upstream.conf) as it is.
    type: list
    elements: str
  maintenance:
    description: The maintenance answer. Omit to leave C(maintenance.conf) as it is.
    type: str
    choices: ["off", writes, full]
  conf_dir:
    description: Directory of the two files.
    type: path
    default: /etc/nginx/followup-ops
  test:
    description: Check the configuration with C(nginx -t) after a change (the previous files come back when it fails).
    type: bool
    default: true
  reload:
    description: Reload nginx after a change.
    type: bool
    default: true
  drain:
    description: After a reload, wait until the workers that ran before it have exited (at most O(drain_timeout)).
    type: bool
    default: true
  drain_timeout:
    description: Seconds to wait for the old workers.
    type: int
    default: 60
  nginx:
    description: Path of the nginx program.
    type: path
    default: /usr/sbin/nginx
attributes:
  check_mode:
    support: full
    details: Reports what would change; writes and reloads nothing.
  diff_mode:
    support: full
    details: Shows both files before and after.
  platform:
    platforms: posix
seealso:
  - module: followup_upgrade_sidecar
"""

EXAMPLES = r"""
- name: Answer writes with 503 maintenance while the backup runs
  followup_upgrade_frontend:
    maintenance: writes

- name: Send requests to the new release started beside the old one
  followup_upgrade_frontend:
    upstreams: ["10.89.50.12:8180"]
    maintenance: writes

- name: Back to the application's own port, no maintenance
  followup_upgrade_frontend:
    upstreams: ["10.89.50.12:8080"]
    maintenance: "off"
"""

RETURN = r"""
upstreams:
  description: The upstreams now configured (as read back from C(upstream.conf)).
  returned: always
  type: list
  elements: str
  sample: ["10.89.50.12:8080"]
maintenance:
  description: The maintenance mode now configured.
  returned: always
  type: str
  sample: "off"
reloaded:
  description: Whether nginx was reloaded.
  returned: always
  type: bool
  sample: true
drained_s:
  description: Seconds the old workers took to exit after the reload (null without a reload).
  returned: always
  type: float
  sample: 0.4
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_upgrade_nginx import (
        MAINTENANCE_FILE,
        UPSTREAM_FILE,
        NginxConfError,
        maintenance_text,
        mode_of,
        upstream_text,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _write(path, text):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.rename(tmp, path)


def _restore(path, text):
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        _write(path, text)


def _upstreams_of(text):
    return re.findall(r"^server (\S+) ", text or "", re.M)


def _workers(module):
    """PIDs of nginx worker processes now."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        if cmdline.startswith("nginx: worker process") or cmdline.startswith("nginx: cache"):
            pids.append(int(name))
    return pids


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (IOError, OSError, IndexError):
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            upstreams=dict(type="list", elements="str"),
            maintenance=dict(type="str", choices=["off", "writes", "full"]),
            conf_dir=dict(type="path", default="/etc/nginx/followup-ops"),
            test=dict(type="bool", default=True),
            reload=dict(type="bool", default=True),
            drain=dict(type="bool", default=True),
            drain_timeout=dict(type="int", default=60),
            nginx=dict(type="path", default="/usr/sbin/nginx"),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_upgrade_nginx.py is not on the module_utils path (see ansible.cfg)")
    params = module.params
    paths = {
        "upstream": os.path.join(params["conf_dir"], UPSTREAM_FILE),
        "maintenance": os.path.join(params["conf_dir"], MAINTENANCE_FILE),
    }
    before = {key: _read(path) for key, path in paths.items()}
    after = dict(before)
    try:
        if params["upstreams"] is not None:
            after["upstream"] = upstream_text(params["upstreams"])
        if params["maintenance"] is not None:
            after["maintenance"] = maintenance_text(params["maintenance"])
    except NginxConfError as err:
        module.fail_json(msg=to_native(err))
    changed_keys = [key for key in paths if after[key] != before[key]]
    result = {
        "changed": bool(changed_keys),
        "upstreams": _upstreams_of(after["upstream"]),
        "maintenance": mode_of(after["maintenance"]),
        "reloaded": False,
        "drained_s": None,
    }
    if module._diff:
        result["diff"] = [
            {"before_header": paths[k], "after_header": paths[k], "before": before[k] or "", "after": after[k] or ""}
            for k in changed_keys
        ]
    if not changed_keys or module.check_mode:
        module.exit_json(**result)
    for key in changed_keys:
        _write(paths[key], after[key])
    if params["test"]:
        rc, _out, err = module.run_command([params["nginx"], "-t", "-q"])
        if rc != 0:
            for key in changed_keys:
                _restore(paths[key], before[key])
            module.fail_json(
                msg="nginx -t refused the new %s (the previous files are back): %s"
                % (", ".join(changed_keys), " ".join(err.split())[:300]),
                **result,
            )
    if params["reload"]:
        old = _workers(module)
        rc, _out, err = module.run_command(["systemctl", "reload", "nginx"])
        if rc != 0:
            module.fail_json(msg="nginx did not reload: %s" % " ".join(err.split())[:300], **result)
        result["reloaded"] = True
        started = time.time()
        if params["drain"]:
            while any(_alive(pid) for pid in old):
                if time.time() - started > params["drain_timeout"]:
                    module.warn(
                        "nginx workers %s still finish requests after %d s"
                        % (", ".join(str(p) for p in old if _alive(p)), params["drain_timeout"])
                    )
                    break
                time.sleep(0.1)
        result["drained_s"] = round(time.time() - started, 2)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
