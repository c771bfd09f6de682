#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what a host runs, read-only: releases, services and health, from what the roles published.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_status
short_description: Report what a follow-up system host runs, read-only
description:
  - Reads the local facts the roles published on the host (the JSON files C(/etc/ansible/facts.d/*.fact)), that is
    every fact's C(services) (systemd units that must be active) and C(checks) (health checks), and for every fact
    that names a C(component), the release its C(current) link points at (layout of C(docs/architecture.md)).
  - Then asks systemd for the state of each unit and runs each health check (HTTP GET answering 200, SIP OPTIONS
    answering 200, or a TCP connect).
  - Changes nothing, never fails on an unhealthy host (the result says what is wrong); fails only on bad input.
version_added: "0.1.0"
author: followup-ops
options:
  facts_dir:
    description: Directory of the local facts the roles write.
    type: path
    default: /etc/ansible/facts.d
  base_dir:
    description: Base directory of the application tier's components (a fact's C(root) wins over it).
    type: path
    default: /opt/followup
  services:
    description: systemd units to report besides those the local facts name.
    type: list
    elements: str
    default: []
  health_checks:
    description:
      - Checks to run besides those the local facts name. Each has C(type) (C(http), C(sip) or C(tcp)), C(port),
        optional C(host) (default 127.0.0.1), C(path) for http (default C(/health)) and C(name).
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
seealso:
  - module: followup_release_install
"""

EXAMPLES = r"""
- name: Report what the host runs, from the roles' local facts
  followup_status:
  register: __followup_status
"""

RETURN = r"""
status:
  description: What the host runs.
  returned: always
  type: dict
  sample:
    components:
      app: {version: 1.0.0, release_date: "2026-02-02", installed_at: "2026-11-29T15:40:00Z",
            installed_versions: [1.0.0], unit: followup-app}
    services: {followup-app: active}
    health: {ok: true, detail: "app: HTTP 200", checks: [{name: app, ok: true, detail: "HTTP 200"}]}
    facts: [followup_component_app]
    problems: []
"""

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_health import CHECK_TYPES, run_check
    from ansible.module_utils.followup_layout import (
        component_root,
        current_version,
        installed_versions,
        read_record,
        unit_name,
    )

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False

PORT_RE = re.compile(r"\A[0-9]{1,5}\Z")


def read_facts(facts_dir):
    """Every JSON local fact in FACTS_DIR: ({name: data}, [problems])."""
    facts, problems = {}, []
    if not os.path.isdir(facts_dir):
        return facts, problems
    for name in sorted(os.listdir(facts_dir)):
        if not name.endswith(".fact"):
            continue
        path = os.path.join(facts_dir, name)
        try:
            with open(path) as handle:
                data = json.load(handle)
        except (OSError, ValueError) as err:
            problems.append("%s is not readable JSON (%s)" % (path, err))
            continue
        if isinstance(data, dict):
            facts[name[: -len(".fact")]] = data
    return facts, problems


def collect(facts, services, checks):
    """The components, units and checks the facts name, merged with the given ones, without duplicates."""
    components = {}
    units = list(services)
    all_checks = list(checks)
    for data in facts.values():
        if data.get("component"):
            components[str(data["component"])] = data
        for unit in data.get("services") or []:
            if unit not in units:
                units.append(str(unit))
        for check in data.get("checks") or []:
            if isinstance(check, dict) and check not in all_checks:
                all_checks.append(check)
    return components, units, all_checks


def release_info(name, fact, base_dir):
    root = fact.get("root") or component_root(name, base_dir)
    version = current_version(root)
    info = {
        "version": version,
        "release_date": None,
        "installed_at": None,
        "installed_versions": installed_versions(root),
        "unit": fact.get("unit") or unit_name(name),
        "root": root,
    }
    if version:
        record = read_record(root, version)
        if record is None:
            info["release_damaged"] = True
        else:
            for key in ("release_date", "installed_at", "approval", "sha256"):
                if record.get(key) is not None:
                    info[key] = record[key]
    return info


def service_state(module, unit):
    rc, out, _err = module.run_command(["systemctl", "show", "--property=ActiveState", "--value", unit])
    state = out.strip() if rc == 0 else ""
    return state or "unknown"


def valid_port(value):
    """Whether VALUE is a TCP/UDP port (1-65535, ASCII digits; JSON facts may carry it as text)."""
    text = str(value)
    return not isinstance(value, bool) and bool(PORT_RE.match(text)) and 1 <= int(text) <= 65535


def main():
    module = AnsibleModule(
        argument_spec=dict(
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            base_dir=dict(type="path", default="/opt/followup"),
            services=dict(type="list", elements="str", default=[]),
            health_checks=dict(type="list", elements="dict", default=[]),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_layout.py or followup_health.py is missing: run from followup-ops")
    for check in p["health_checks"]:
        if check.get("type", "http") not in CHECK_TYPES or "port" not in check:
            module.fail_json(msg="each health check needs a port and a type of http, sip or tcp: %s" % check)
    facts, problems = read_facts(p["facts_dir"])
    components, units, checks = collect(facts, p["services"], p["health_checks"])
    status = {
        "components": dict(
            (name, release_info(name, fact, p["base_dir"])) for name, fact in sorted(components.items())
        ),
        "services": dict((unit, service_state(module, unit)) for unit in units),
        "facts": sorted(facts),
        "problems": problems,
    }
    results = []
    for check in checks:
        if check.get("type", "http") not in CHECK_TYPES or not valid_port(check.get("port")):
            problems.append("a local fact names a health check without a port 1-65535 or a known type: %s" % check)
            continue
        ok, detail = run_check(check, p["timeout"])
        results.append({"name": check.get("name") or check.get("type"), "ok": ok, "detail": detail})
    if results:
        status["health"] = {
            "ok": all(c["ok"] for c in results),
            "detail": "; ".join("%s: %s" % (c["name"], c["detail"]) for c in results),
            "checks": results,
        }
    module.exit_json(changed=False, status=status)


if __name__ == "__main__":
    main()
