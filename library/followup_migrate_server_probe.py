#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what the move of a server program needs to know about one host (read-only).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_server_probe
short_description: Read what the move of a server program needs to know about a host, changing nothing
description:
  - Reads the operating system (C(/etc/os-release)), the free disk under the component's base directory, the state
    of the component's systemd units, the release its C(current) link names and its size, the sizes of the
    directories the move copies, and the host's part in server moves (the local fact C(followup_srvmove)).
  - Used by C(playbooks/migrate_server.yml) on the source and the target before its gate
    (M(followup_migrate_server_gate)).
version_added: "0.1.0"
author: followup-ops
options:
  component:
    description: The component moved.
    type: str
    required: true
    choices: [app, fep, voice]
  base_dir:
    description: Where the components live (the followup_component role's C(followup_component_base_dir)).
    type: path
    default: /opt/followup
  units:
    description: The component's systemd units (without C(.service)).
    type: list
    elements: str
    required: true
  paths:
    description: The directories the move copies.
    type: list
    elements: path
    default: []
  id:
    description: The migration's id, to pick its entry of the local fact (empty - the open move of this host).
    type: str
    default: ""
  fact_path:
    description: The local fact of server moves.
    type: path
    default: /etc/ansible/facts.d/followup_srvmove.fact
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Read what the move needs to know about this host
  followup_migrate_server_probe:
    component: app
    units: [followup-app]
    paths: [/opt/followup/app/shared/data]
"""

RETURN = r"""
os:
  description: ID and VERSION_ID of /etc/os-release.
  type: dict
  returned: always
free_bytes:
  description: Free bytes on the file system that holds the base directory (or its nearest existing parent).
  type: int
  returned: always
units:
  description: Per unit, whether it exists, is active and is enabled.
  type: dict
  returned: always
release:
  description: The release the component's current link names (null when none).
  type: str
  returned: always
data_bytes:
  description: Bytes of the directories the move copies.
  type: int
  returned: always
move:
  description: The host's entry of the followup_srvmove fact for this migration (or its open one), or {}.
  type: dict
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def os_release(path="/etc/os-release"):
    info = {}
    try:
        with open(path) as handle:
            for line in handle:
                if "=" in line:
                    key, _, value = line.strip().partition("=")
                    info[key] = value.strip().strip('"')
    except (IOError, OSError):
        return {}
    return {"id": info.get("ID"), "version_id": info.get("VERSION_ID"), "pretty": info.get("PRETTY_NAME")}


def tree_size(path):
    total, files = 0, 0
    if not os.path.exists(path):
        return {"exists": False, "bytes": 0, "files": 0}
    if os.path.isfile(path):
        return {"exists": True, "bytes": os.path.getsize(path), "files": 1}
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except OSError:
                pass
    return {"exists": True, "bytes": total, "files": files}


def free_space(path):
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    st = os.statvfs(probe or "/")
    return probe, st.f_bavail * st.f_frsize


def unit_state(module, unit):
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return {"exists": False, "active": False, "enabled": False}
    _rc, out, _err = module.run_command(
        [systemctl, "show", unit + ".service", "--property=LoadState,ActiveState,UnitFileState"]
    )
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {
        "exists": props.get("LoadState") == "loaded",
        "active": props.get("ActiveState") in ("active", "activating", "reloading"),
        "enabled": props.get("UnitFileState") == "enabled",
        "state": props.get("ActiveState"),
    }


def read_fact(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {}


def pick_move(fact, mid):
    moves = (fact or {}).get("moves") or {}
    if mid and mid in moves:
        return dict(moves[mid], id=mid)
    open_moves = [
        dict(m, id=k)
        for k, m in moves.items()
        if m.get("role") in ("source", "target") and m.get("state") != "finished"
    ]
    return max(open_moves, key=lambda m: m.get("updated_at", "")) if open_moves else {}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True, choices=["app", "fep", "voice"]),
            base_dir=dict(type="path", default="/opt/followup"),
            units=dict(type="list", elements="str", required=True),
            paths=dict(type="list", elements="path", default=[]),
            id=dict(type="str", default=""),
            fact_path=dict(type="path", default="/etc/ansible/facts.d/followup_srvmove.fact"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root = os.path.join(p["base_dir"], p["component"])
    current = os.path.join(root, "current")
    release, release_bytes = None, 0
    if os.path.islink(current):
        release = os.path.basename(os.path.realpath(current).rstrip("/"))
        release_bytes = tree_size(os.path.realpath(current))["bytes"]
    data = dict((path, tree_size(path)) for path in p["paths"])
    free_path, free = free_space(p["base_dir"])
    fact = read_fact(p["fact_path"])
    module.exit_json(
        changed=False,
        os=os_release(),
        free_bytes=free,
        free_path=free_path,
        units=dict((u, unit_state(module, u)) for u in p["units"]),
        release=release,
        release_bytes=release_bytes,
        data=data,
        data_bytes=sum(d["bytes"] for d in data.values()),
        move=pick_move(fact, p["id"]),
        moves=fact.get("moves") or {},
    )


if __name__ == "__main__":
    main()
