#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: start a release beside the live one, on a second port (docs/upgrade.md, "Short unavailability").

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_upgrade_sidecar
short_description: Run a verified release of a component beside the live one, on a second port, and stop it again
description:
  - With O(state=started), runs release O(version) of O(component) (already installed in C(releases/<version>)) as
    a second systemd unit, C(followup-<component>-sidecar), listening on the host of the live service and on
    O(port), with the live service's settings (its C(shared/<component>.env), only C(FOLLOWUP_LISTEN) changed) and the
    same sandbox and IP access list (the live unit file, working directory and settings file changed). Waits until
    its health check passes and it reports the version it was started for.
  - With O(state=absent), stops that unit gracefully (the requests it is serving end first) and removes its files.
  - An upgrade sends the front-end server's requests to it (M(followup_upgrade_frontend)) while the live unit
    restarts on the new release, then back, so that the application keeps answering (C(docs/upgrade.md)).
  - Runs through its action plugin (C(action_plugins/followup_upgrade_sidecar.py)), which verifies the signed release
    on the control node and gives this module the manifest's start command, health check and the tarball's sha256;
    the module refuses a release directory whose C(.release.json) names another tarball.
version_added: "0.1.0"
author: followup-ops
options:
  component:
    description: The component.
    type: str
    required: true
    choices: [app, fep, voice]
  version:
    description: The release to run beside the live one (installed already).
    type: str
    required: true
  port:
    description: The second port (the manifest's port is the live unit's).
    type: int
    required: true
  state:
    description: V(started) or V(absent).
    type: str
    default: started
    choices: [started, absent]
  start:
    description: The start command from the verified manifest (set by the action plugin only).
    type: str
  health:
    description: The health check from the verified manifest (set by the action plugin only).
    type: dict
  sha256:
    description: The sha256 of the release tarball from the signed index (set by the action plugin only).
    type: str
  base_dir:
    description: Base directory of the components.
    type: path
    default: /opt/followup
  unit_dir:
    description: Directory of the systemd units.
    type: path
    default: /etc/systemd/system
  health_retries:
    description: Health checks tried after the start.
    type: int
    default: 30
  health_delay:
    description: Seconds between health checks.
    type: float
    default: 1.0
  stop_timeout:
    description: Seconds the unit gets to finish its requests when it stops.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details: Says what it would start or stop; starts and writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - A host firewall must admit the second port from the front-end servers as it admits the live one.
seealso:
  - module: followup_upgrade_frontend
  - module: followup_release_install
"""

EXAMPLES = r"""
- name: Start release 1.2.0 of the application beside the live one, on port 8180
  followup_upgrade_sidecar:
    component: app
    version: 1.2.0
    port: 8180

- name: Stop it once the live unit runs 1.2.0
  followup_upgrade_sidecar:
    component: app
    version: 1.2.0
    port: 8180
    state: absent
"""

RETURN = r"""
unit:
  description: The sidecar unit.
  returned: always
  type: str
  sample: followup-app-sidecar
listen:
  description: Where it listens (host:port).
  returned: when state is started
  type: str
  sample: 10.89.50.12:8180
health:
  description: The last health answer (status and the version it reported).
  returned: when state is started
  type: dict
  sample: {status: 200, version: 1.2.0, attempts: 2}
"""

import json
import os
import re
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.request import urlopen

ACTION_HINT = (
    "start, health and sha256 are set only by the action plugin action_plugins/followup_upgrade_sidecar.py from the "
    "signed release index: add the repository's action_plugins directory to the Ansible configuration"
)
ENV_LINE_RE = re.compile(r'\A([A-Z_][A-Z0-9_]*)="(.*)"\Z')


def unit_name(component):
    return "followup-%s-sidecar" % component


def sidecar_unit(live_text, component, root, version, start, stop_timeout):
    """The sidecar's unit: the live unit with its working directory, settings file and description changed, and the
    verified start command."""
    lines = []
    for line in live_text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "WorkingDirectory":
            line = "WorkingDirectory=%s/releases/%s" % (root, version)
        elif key == "EnvironmentFile":
            line = "EnvironmentFile=%s/shared/%s-sidecar.env" % (root, component)
        elif key == "Description":
            line = "Description=Follow-up system %s %s beside the live release (upgrade sidecar)" % (component, version)
        elif key in ("ExecStart", "Restart", "TimeoutStopSec"):
            continue
        elif line.strip() == "[Install]":
            break
        lines.append(line)
        if line.strip() == "[Service]":
            lines.append("ExecStart=%s" % start)
            lines.append("Restart=no")
            lines.append("TimeoutStopSec=%d" % stop_timeout)
    header = "# Written by followup_upgrade_sidecar for release %s: removed when the upgrade ends.\n" % version
    return header + "\n".join(lines).rstrip() + "\n"


def sidecar_env(live_text, port):
    """The live settings with FOLLOWUP_LISTEN moved to PORT on the same host. Returns (text, listen)."""
    out, listen = [], None
    for line in live_text.splitlines():
        match = ENV_LINE_RE.match(line)
        if match and match.group(1) == "FOLLOWUP_LISTEN":
            host = match.group(2).rsplit(":", 1)[0]
            listen = "%s:%d" % (host, port)
            line = 'FOLLOWUP_LISTEN="%s"' % listen
        out.append(line)
    return "\n".join(out) + "\n", listen


def _write(path, text, mode, gid=None):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    if gid is not None:
        os.fchown(fd, 0, gid)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.rename(tmp, path)


def _health(host, port, health, version, timeout=3):
    kind = (health or {}).get("type", "http")
    address = "[%s]" % host if ":" in host else host
    if kind == "http":
        try:
            response = urlopen("http://%s:%d%s" % (address, port, health.get("path") or "/health"), timeout=timeout)
            status, body = response.getcode(), response.read()
        except HTTPError as err:
            return {"status": err.code, "version": None}
        except (URLError, OSError, ValueError) as err:
            return {"status": None, "error": str(getattr(err, "reason", err))[:160]}
        try:
            reported = json.loads(body.decode("utf-8")).get("version")
        except (ValueError, AttributeError, UnicodeDecodeError):
            reported = None
        return {"status": status, "version": reported}
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return {"status": 200, "version": version}
    except OSError as err:
        return {"status": None, "error": str(err)[:160]}


def started(module, params, root, unit_path, env_path):
    for key in ("start", "health", "sha256"):
        if not params[key]:
            module.fail_json(msg=ACTION_HINT)
    version = params["version"]
    record_path = os.path.join(root, "releases", version, ".release.json")
    try:
        with open(record_path) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        module.fail_json(
            msg="release %s of %s is not installed (%s is missing): install it first"
            % (version, params["component"], record_path)
        )
    if record.get("sha256") != params["sha256"]:
        module.fail_json(
            msg="%s names another tarball than the signed release %s: reinstall it" % (record_path, version)
        )
    live_unit = os.path.join(params["unit_dir"], "followup-%s.service" % params["component"])
    live_env = os.path.join(root, "shared", "%s.env" % params["component"])
    try:
        with open(live_unit) as handle:
            unit_text = sidecar_unit(
                handle.read(), params["component"], root, version, params["start"], params["stop_timeout"]
            )
        with open(live_env) as handle:
            env_text, listen = sidecar_env(handle.read(), params["port"])
        env_gid = os.stat(live_env).st_gid
    except (IOError, OSError) as err:
        module.fail_json(
            msg="the live %s service is not deployed here (%s): deploy it first" % (params["component"], err)
        )
    if listen is None:
        module.fail_json(msg="%s has no FOLLOWUP_LISTEN: deploy the component again" % live_env)
    host = listen.rsplit(":", 1)[0].strip("[]")
    result = {"unit": unit_name(params["component"]), "listen": listen}
    current = {}
    for path, text in ((unit_path, unit_text), (env_path, env_text)):
        try:
            with open(path) as handle:
                current[path] = handle.read() == text
        except (IOError, OSError):
            current[path] = False
    rc, out, _ = module.run_command(["systemctl", "show", "--property=ActiveState", "--value", result["unit"]])
    active = out.strip() == "active"
    if active and all(current.values()):
        probe = _health(host, params["port"], params["health"], version)
        if probe.get("status") == 200 and probe.get("version") == version:
            result.update(changed=False, health=dict(probe, attempts=1))
            return result
    if module.check_mode:
        result.update(changed=True, health=None)
        return result
    if active:
        module.run_command(["systemctl", "stop", result["unit"]])
    _write(env_path, env_text, 0o640, env_gid)
    _write(unit_path, unit_text, 0o644)
    module.run_command(["systemctl", "daemon-reload"], check_rc=True)
    rc, _out, err = module.run_command(["systemctl", "start", result["unit"]])
    if rc != 0:
        module.fail_json(
            msg="%s did not start: %s (journalctl -u %s)" % (result["unit"], err.strip()[:200], result["unit"]),
            **result,
        )
    probe = {}
    for attempt in range(1, params["health_retries"] + 1):
        probe = _health(host, params["port"], params["health"], version)
        if probe.get("status") == 200 and probe.get("version") == version:
            result.update(changed=True, health=dict(probe, attempts=attempt))
            return result
        time.sleep(params["health_delay"])
    module.fail_json(
        msg="release %s of %s started beside the live one on %s but its health check did not pass within %d tries "
        "(last answer: %s); the live release keeps serving"
        % (version, params["component"], listen, params["health_retries"], probe),
        changed=True,
        health=probe,
        **result,
    )


def absent(module, params, unit_path, env_path):
    unit = unit_name(params["component"])
    present = os.path.exists(unit_path) or os.path.exists(env_path)
    rc, out, _ = module.run_command(["systemctl", "show", "--property=ActiveState", "--value", unit])
    active = out.strip() in ("active", "activating", "deactivating")
    if not present and not active:
        return {"changed": False, "unit": unit}
    if module.check_mode:
        return {"changed": True, "unit": unit}
    if active:
        rc, _out, err = module.run_command(["systemctl", "stop", unit])
        if rc != 0:
            module.fail_json(msg="%s did not stop: %s" % (unit, err.strip()[:200]))
    for path in (unit_path, env_path):
        if os.path.exists(path):
            os.unlink(path)
    module.run_command(["systemctl", "daemon-reload"], check_rc=True)
    module.run_command(["systemctl", "reset-failed", unit])
    return {"changed": True, "unit": unit}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True, choices=["app", "fep", "voice"]),
            version=dict(type="str", required=True),
            port=dict(type="int", required=True),
            state=dict(type="str", default="started", choices=["started", "absent"]),
            start=dict(type="str"),
            health=dict(type="dict"),
            sha256=dict(type="str"),
            base_dir=dict(type="path", default="/opt/followup"),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
            health_retries=dict(type="int", default=30),
            health_delay=dict(type="float", default=1.0),
            stop_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not re.match(r"\A[0-9]+\.[0-9]+\.[0-9]+\Z", params["version"]):
        module.fail_json(msg="version %r is not MAJOR.MINOR.PATCH" % params["version"])
    if not 1 <= params["port"] <= 65535:
        module.fail_json(msg="port %d is not 1-65535" % params["port"])
    root = os.path.join(params["base_dir"], params["component"])
    unit_path = os.path.join(params["unit_dir"], "%s.service" % unit_name(params["component"]))
    env_path = os.path.join(root, "shared", "%s-sidecar.env" % params["component"])
    if params["state"] == "started":
        module.exit_json(**started(module, params, root, unit_path, env_path))
    module.exit_json(**absent(module, params, unit_path, env_path))


if __name__ == "__main__":
    main()
