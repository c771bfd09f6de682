#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what a host runs, read-only: release, services and health.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_status
short_description: Report what a follow-up system host runs, read-only
description:
  - Reads the release a component's C(current) link points at and its C(.release.json), the state of the given
    systemd units, and runs the running release's own health check (port and check from its manifest, recorded in
    C(.release.json)) followed by the given ones (HTTP GET, SIP OPTIONS, TCP connect).
  - Changes nothing, never fails on an unhealthy host (the result says what is wrong); fails only on bad input.
version_added: "0.1.0"
author: followup-ops
options:
  component:
    description: Component whose release to report (C(app), C(fep), C(voice)); omit on database hosts.
    type: str
    choices: [app, fep, voice]
  root:
    description: Directory of the component.
    type: path
    default: /opt/followup/<component>
  services:
    description: systemd units whose state to report.
    type: list
    elements: str
    default: []
  health_checks:
    description:
      - Checks to run. Each has C(type) (C(http), C(sip) or C(tcp)), C(port), optional C(host) (default
        127.0.0.1), C(path) for http (default C(/health)) and C(name).
    type: list
    elements: dict
    default: []
  timeout:
    description: Seconds allowed to each health check.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Report the app host
  followup_status:
    component: app
    services: [followup-app]
    health_checks:
      - {name: app, type: http, port: 8080, path: /health}
"""

RETURN = r"""
status:
  description: What the host runs.
  returned: always
  type: dict
  sample:
    component: app
    version: 1.0.0
    release_date: "2026-02-02"
    installed_at: "2026-11-29T15:40:00Z"
    installed_versions: [1.0.0]
    services: {followup-app: active}
    health: {ok: true, detail: "app: 200", checks: [{name: app, ok: true, detail: "200"}]}
"""

import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_sip import SipError, options_ping

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.request import urlopen


def _release(root):
    link = os.path.join(root, "current")
    info = {"version": None, "release_date": None, "installed_at": None, "installed_versions": []}
    releases = os.path.join(root, "releases")
    if os.path.isdir(releases):
        info["installed_versions"] = sorted(
            (n for n in os.listdir(releases) if not n.startswith(".")),
            key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")],
        )
    if os.path.islink(link):
        info["version"] = os.path.basename(os.readlink(link).rstrip("/"))
        try:
            with open(os.path.join(link, ".release.json")) as handle:
                record = json.load(handle)
            info["release_date"] = record.get("release_date")
            info["installed_at"] = record.get("installed_at")
            if record.get("port") and record.get("health"):
                info["release_health"] = dict(record["health"], port=record["port"], name=os.path.basename(root))
        except (OSError, ValueError):
            info["release_damaged"] = True
    return info


def _service(module, unit):
    rc, out, _err = module.run_command(["systemctl", "show", "--property=ActiveState", "--value", unit])
    state = out.strip() if rc == 0 else ""
    return state or "unknown"


def _check(check, timeout):
    kind = check.get("type", "http")
    host = check.get("host") or "127.0.0.1"
    port = int(check["port"])
    try:
        if kind == "http":
            url = "http://%s:%d%s" % (host, port, check.get("path") or "/health")
            try:
                response = urlopen(url, timeout=timeout)
                code = response.getcode()
            except HTTPError as err:
                code = err.code
            return code == 200, "HTTP %d" % code
        if kind == "sip":
            code, reason, _headers, ms = options_ping(host, port, timeout)
            return code == 200, "SIP %d %s (%d ms)" % (code, reason, ms)
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.close()
        return True, "TCP %d open" % port
    except (URLError, SipError, OSError) as err:
        return False, str(getattr(err, "reason", err))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", choices=["app", "fep", "voice"]),
            root=dict(type="path"),
            services=dict(type="list", elements="str", default=[]),
            health_checks=dict(type="list", elements="dict", default=[]),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_sip.py is missing: run from the followup-ops repository")
    for check in p["health_checks"]:
        if check.get("type", "http") not in ("http", "sip", "tcp") or "port" not in check:
            module.fail_json(msg="each health check needs a port and a type of http, sip or tcp: %s" % check)
    status = {"component": p["component"]}
    health_checks = list(p["health_checks"])
    if p["component"]:
        status.update(_release(p["root"] or "/opt/followup/%s" % p["component"]))
        # The running release says how its health is checked (manifest: port and health).
        release_health = status.pop("release_health", None)
        if release_health:
            health_checks.insert(0, release_health)
    status["services"] = dict((unit, _service(module, unit)) for unit in p["services"])
    checks = []
    for check in health_checks:
        ok, detail = _check(check, p["timeout"])
        checks.append({"name": check.get("name") or check.get("type"), "ok": ok, "detail": detail})
    if checks:
        status["health"] = {
            "ok": all(c["ok"] for c in checks),
            "detail": "; ".join("%s: %s" % (c["name"], c["detail"]) for c in checks),
            "checks": checks,
        }
    module.exit_json(changed=False, status=status)


if __name__ == "__main__":
    main()
