#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: at a database cutover, put a component's staged settings and unit in place, restart it and wait for
# its health check, in one task (docs/migration.md, "The cutover's downtime").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_db_switch
short_description: Put a component's staged settings in place and restart it on the new database server
description:
  - Runs on an application-tier host at the cutover of a database move. The settings file and the unit were rendered
    before writes stopped, from followup_component's own templates with the new database server, into a staging
    directory (O(files)); this module moves each staged file over its live file when it differs (a temporary file in
    the same directory, then a rename; never a half-written file), reloads systemd when the unit changed, restarts
    O(unit) and waits until O(health_url) answers 200, all in one task so the restart starts as soon as possible.
  - The component's role, run afterwards, renders the same files and changes nothing, which proves the staged files
    were the role's own.
version_added: "0.1.0"
author: followup-ops
options:
  files:
    description: Staged files, each C(src) (the staged file) and C(dest) (the live file). The staged file keeps its mode
      and owner; it is removed once in place or found equal.
    type: list
    elements: dict
    required: true
  unit:
    description: The systemd unit to restart.
    type: str
    required: true
  health_url:
    description: Health check to wait for after the restart (200); empty to wait for nothing.
    type: str
    default: ""
  health_timeout:
    description: Seconds the health check may take to pass.
    type: int
    default: 60
  restart:
    description: Restart even when no file changed (the component must reconnect to the new server).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Reports which files would change; moves and restarts nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: followup_replication
"""

EXAMPLES = r"""
- name: Restart the application on the new MySQL server
  followup_migrate_db_switch:
    files:
      - {src: /var/lib/followup-dbmove/stage/app.env, dest: /opt/followup/app/shared/app.env}
      - {src: /var/lib/followup-dbmove/stage/followup-app.service, dest: /etc/systemd/system/followup-app.service}
    unit: followup-app
    health_url: http://10.89.50.12:8080/health
"""

RETURN = r"""
changed_files:
  description: The live files replaced.
  returned: always
  type: list
  elements: str
restarted:
  description: Whether the unit was restarted.
  returned: always
  type: bool
restart_s:
  description: Seconds from the restart to the first passing health check.
  returned: when restarted
  type: float
restart_started_at:
  description: When the restart began (seconds since the epoch, this host's clock).
  returned: when restarted
  type: float
healthy_at:
  description: When the health check passed (seconds since the epoch, this host's clock).
  returned: when restarted
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, IOError):
        return None


def put(src, dest):
    """Replace DEST by SRC's content, mode and owner: a temporary file beside DEST, fsynced, then a rename."""
    st = os.stat(src)
    data = read(src)
    tmp = "%s.followup-dbmove.%d" % (dest, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.rename(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def wait_health(url, timeout):
    started = time.time()
    last = None
    while time.time() - started < timeout:
        try:
            resp = open_url(url, timeout=3, validate_certs=False)
            if resp.getcode() == 200:
                return time.time() - started, None
            last = "answered %s" % resp.getcode()
        except Exception as err:  # not up yet
            last = to_native(err)
        time.sleep(0.2)
    return None, last


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True),
            unit=dict(type="str", required=True),
            health_url=dict(type="str", default=""),
            health_timeout=dict(type="int", default=60),
            restart=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    changed_files, unit_changed = [], False
    for item in p["files"]:
        src, dest = item.get("src"), item.get("dest")
        if not src or not dest:
            module.fail_json(msg="every entry of files needs src and dest, not %s" % item)
        staged = read(src)
        if staged is None:
            module.fail_json(msg="the staged file %s is missing: run the cutover's staging again" % src)
        if staged != read(dest):
            changed_files.append(dest)
            unit_changed = unit_changed or dest.endswith(".service")
    if module.check_mode:
        module.exit_json(changed=bool(changed_files) or p["restart"], changed_files=changed_files, restarted=False)
    try:
        for item in p["files"]:
            if item["dest"] in changed_files:
                put(item["src"], item["dest"])
            os.unlink(item["src"])
    except (OSError, IOError) as err:
        module.fail_json(msg="putting the staged files in place failed: %s" % to_native(err))
    if not (changed_files or p["restart"]):
        module.exit_json(changed=False, changed_files=[], restarted=False)
    systemctl = module.get_bin_path("systemctl", required=True)
    if unit_changed:
        rc, _out, err = module.run_command([systemctl, "daemon-reload"])
        if rc != 0:
            module.fail_json(msg="systemctl daemon-reload failed: %s" % err.strip(), changed_files=changed_files)
    started = time.time()
    restart_started_at = started
    rc, _out, err = module.run_command([systemctl, "restart", p["unit"]])
    if rc != 0:
        module.fail_json(msg="restarting %s failed: %s" % (p["unit"], err.strip()), changed_files=changed_files)
    seconds = 0.0
    if p["health_url"]:
        seconds, last = wait_health(p["health_url"], p["health_timeout"])
        if seconds is None:
            module.fail_json(
                msg="%s did not pass its health check %s within %s s after the restart (%s)"
                % (p["unit"], p["health_url"], p["health_timeout"], last),
                changed_files=changed_files,
            )
    module.exit_json(
        changed=True,
        changed_files=changed_files,
        restarted=True,
        restart_s=round(seconds if seconds else time.time() - started, 2),
        restart_started_at=round(restart_started_at, 3),
        healthy_at=round(time.time(), 3),
    )


if __name__ == "__main__":
    main()
