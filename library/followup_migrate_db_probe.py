#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: what a database move needs to know about one of its two hosts, read-only (docs/migration.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_db_probe
short_description: Read what a database move needs to know about its source or target host
description:
  - Runs on the source or the target of a move, as root, and changes nothing. Reports the engine (running, version,
    flavour, server id, binary log, replication state, read-only), the data it holds (size per database, databases
    that hold data), the free space where the data goes, the engine version the package manager would install on a
    host without it, whether this host reaches the other one on the database port, and the move's own state on the
    host (the local fact C(followup_dbmove.fact)).
  - For MySQL it logs in as root over the unix socket (or with root's password from C(/root/.my.cnf)); for MongoDB
    with the administrator's connection string O(mongodb_uri); the accounts and rights of the follow-up system are
    read without any secret (a password hash only as its sha256, to compare).
version_added: "0.1.0"
author: followup-ops
options:
  engine:
    description: The engine being moved.
    type: str
    required: true
    choices: [mysql, mongodb]
  peer_address:
    description: Address of the other host of the move; when set, a TCP connection to O(peer_port) there is tried.
    type: str
  peer_port:
    description: Database port on O(peer_address).
    type: int
    default: 3306
  packages:
    description: Engine packages whose candidate version the package manager is asked for when no server runs here.
    type: list
    elements: str
    default: []
  mongodb_uri:
    description: Administrator's connection string for O(engine=mongodb) (carries a password; never logged).
    type: str
  mongodb_database:
    description: The MongoDB database of the follow-up system.
    type: str
    default: cdr
  data_dir:
    description: Where the engine keeps its data, for the free space (the nearest existing parent is measured).
    type: path
  fact_path:
    description: The move's local fact on this host.
    type: path
    default: /etc/ansible/facts.d/followup_dbmove.fact
  throughput:
    description:
      - Measure the network between the two hosts instead of probing the engine. V(send) (on the source, run with
        async) listens on O(throughput_port) and sends O(throughput_bytes) bytes of zeros to the first connection
        from O(peer_address); V(receive) (on the target) connects to O(peer_address) and reports the rate.
      - No data of the follow-up system is sent; nothing is written.
    type: str
    default: none
    choices: [none, send, receive]
  throughput_port:
    description: TCP port of the measurement.
    type: int
    default: 47017
  throughput_bytes:
    description: Bytes sent by the measurement.
    type: int
    default: 67108864
  throughput_timeout:
    description: Seconds the measurement waits for its peer.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - PyMySQL (python3-pymysql) for O(engine=mysql), pymongo (python3-pymongo) for O(engine=mongodb)
seealso:
  - module: followup_migrate_db_gate
"""

EXAMPLES = r"""
- name: Probe the target of a MySQL move
  followup_migrate_db_probe:
    engine: mysql
    peer_address: 10.89.50.21
    peer_port: 3306
    packages: [mariadb-server]
    data_dir: /var/lib/mysql
  register: __db_move_probe
"""

RETURN = r"""
engine:
  description: The engine on this host (C(running) false when none answers; then C(candidate_version) is what the
    package manager would install).
  returned: always
  type: dict
  sample: {running: true, version: 10.11.19-MariaDB-0+deb12u1-log, flavour: mariadb, server_id: 12821, log_bin: true,
           read_only: false, databases: {cloud_followup: {tables: 7, bytes: 1654784}}, user_data: [cloud_followup],
           replica: {configured: false}}
data_bytes:
  description: Bytes of the follow-up system's data on this host (tables and indexes; MongoDB data and indexes).
  returned: always
  type: int
free_bytes:
  description: Free bytes on the file system that holds (or will hold) the data.
  returned: always
  type: int
data_dir:
  description: The directory measured for O(data_dir)'s free space.
  returned: always
  type: str
reaches_peer:
  description: Whether a TCP connection to O(peer_address):O(peer_port) succeeded (null when not asked).
  returned: always
  type: bool
reach_msg:
  description: Why the connection failed.
  returned: when reaches_peer is false
  type: str
users:
  description: The follow-up system's accounts and their rights (no secret; MySQL password hashes as sha256).
  returned: when the engine runs
  type: dict
move:
  description: The move's local fact on this host (id, engine, role, state, peer, primary), empty when none.
  returned: always
  type: dict
throughput_mb_s:
  description: The rate measured (V(receive)), MB/s.
  returned: throughput receive
  type: float
"""

import json
import os
import socket
import subprocess
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_dbmove import MoveError

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible
    HAS_UTILS = False


def free_space(path):
    probe = path or "/"
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    st = os.statvfs(probe)
    return probe, st.f_bavail * st.f_frsize


def reach(address, port, timeout=5):
    try:
        conn = socket.create_connection((address, int(port)), timeout=timeout)
        conn.close()
        return True, None
    except (OSError, socket.error) as err:
        return False, to_native(err)


def candidate_version(packages):
    """What the package manager would install (apt-cache policy / dnf info), or None."""
    for package in packages:
        try:
            proc = subprocess.run(
                ["apt-cache", "policy", package], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False
            )
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                line = line.strip()
                if line.startswith("Candidate:") and "(none)" not in line:
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        try:
            proc = subprocess.run(
                ["dnf", "-q", "info", package], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False
            )
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                if line.startswith("Version"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return None


def send_zeros(module):
    p = module.params
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("", p["throughput_port"]))
    server.listen(1)
    server.settimeout(p["throughput_timeout"])
    sent = 0
    try:
        while True:
            conn, addr = server.accept()
            if p["peer_address"] and addr[0] != p["peer_address"]:
                conn.close()
                continue
            block = b"\0" * (1 << 20)
            with conn:
                while sent < p["throughput_bytes"]:
                    conn.sendall(block[: min(len(block), p["throughput_bytes"] - sent)])
                    sent += min(len(block), p["throughput_bytes"] - sent)
            break
    except socket.timeout:
        return dict(
            changed=False,
            sent=sent,
            msg="no connection from %s within %s s" % (p["peer_address"], p["throughput_timeout"]),
        )
    finally:
        server.close()
    return dict(changed=False, sent=sent)


def receive_zeros(module):
    import time

    p = module.params
    deadline = time.time() + p["throughput_timeout"]
    while True:
        try:
            conn = socket.create_connection((p["peer_address"], p["throughput_port"]), timeout=5)
            break
        except (OSError, socket.error) as err:
            if time.time() > deadline:
                return dict(
                    changed=False,
                    throughput_mb_s=None,
                    msg="could not connect to %s:%s (%s)" % (p["peer_address"], p["throughput_port"], to_native(err)),
                )
            time.sleep(0.2)
    started = time.time()
    got = 0
    with conn:
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            got += len(data)
    seconds = max(time.time() - started, 1e-6)
    return dict(
        changed=False,
        received=got,
        seconds=round(seconds, 3),
        throughput_mb_s=round(got / 1e6 / seconds, 1) if got else None,
    )


def read_fact(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, IOError, ValueError):
        return {}


def mysql_probe(module):
    from ansible.module_utils.followup_dbmove_mysql import engine_facts, local_server, users_and_grants

    try:
        server = local_server()
    except MoveError as err:
        return {
            "running": False,
            "msg": to_native(err),
            "candidate_version": candidate_version(module.params["packages"]),
        }, None
    try:
        facts = engine_facts(server)
        users = users_and_grants(server)
    finally:
        server.close()
    return facts, users


def mongodb_probe(module):
    from ansible.module_utils.followup_dbmove_mongo import client, engine_facts, ferretdb_users, mongod_users

    p = module.params
    fact = read_fact("/etc/ansible/facts.d/mongodb.fact")
    if not p["mongodb_uri"]:
        return {"running": False, "msg": "no administrator connection string given"}, None
    try:
        cli = client(p["mongodb_uri"], timeout_ms=5000)
        facts = engine_facts(cli, p["mongodb_database"])
    except Exception as err:  # a server that does not answer is a fact, not a failure
        text = to_native(err).splitlines()[0][:300]
        return {
            "running": False,
            "msg": text,
            "engine": fact.get("engine"),
            "auth_failed": "auth" in text.lower() or "unsupported authentication" in text.lower(),
        }, None
    facts["engine"] = fact.get("engine") or ("ferretdb" if facts.get("ferretdb") else "mongod")
    if fact.get("version"):
        facts["version"] = fact["version"] if facts["engine"] == "ferretdb" else facts["version"]
    users = None
    try:
        if facts["engine"] == "ferretdb":
            names = sorted(set((fact.get("users") or {}).values()) | {"followup_admin"})
            users = ferretdb_users("ferretdb", p["mongodb_database"], names)
        else:
            users = mongod_users(cli, p["mongodb_database"])
    except Exception as err:  # reported, not fatal: the comparison says it could not read them
        users = {"error": to_native(err)[:300]}
    finally:
        cli.close()
    facts["services"] = fact.get("services") or []
    return facts, users


def main():
    module = AnsibleModule(
        argument_spec=dict(
            engine=dict(type="str", required=True, choices=["mysql", "mongodb"]),
            peer_address=dict(type="str"),
            peer_port=dict(type="int", default=3306),
            packages=dict(type="list", elements="str", default=[]),
            mongodb_uri=dict(type="str", no_log=True),
            mongodb_database=dict(type="str", default="cdr"),
            data_dir=dict(type="path"),
            fact_path=dict(type="path", default="/etc/ansible/facts.d/followup_dbmove.fact"),
            throughput=dict(type="str", default="none", choices=["none", "send", "receive"]),
            throughput_port=dict(type="int", default=47017),
            throughput_bytes=dict(type="int", default=67108864),
            throughput_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_dbmove.py is missing: run from the followup-ops repository")
    p = module.params
    if p["throughput"] != "none":
        if not p["peer_address"]:
            module.fail_json(msg="throughput needs peer_address")
        try:
            module.exit_json(**(send_zeros(module) if p["throughput"] == "send" else receive_zeros(module)))
        except (OSError, socket.error) as err:
            module.exit_json(changed=False, throughput_mb_s=None, msg="the measurement failed: %s" % to_native(err))
    try:
        if p["engine"] == "mysql":
            engine, users = mysql_probe(module)
        else:
            engine, users = mongodb_probe(module)
        data_dir = p["data_dir"] or (engine.get("datadir") if engine.get("running") else None) or "/var/lib"
        measured, free = free_space(data_dir)
        result = dict(
            changed=False,
            engine=engine,
            data_bytes=int(engine.get("data_bytes") or 0),
            free_bytes=free,
            data_dir=measured,
            move=read_fact(p["fact_path"]),
            reaches_peer=None,
        )
        if users is not None:
            result["users"] = users
        if p["peer_address"]:
            ok, msg = reach(p["peer_address"], p["peer_port"])
            result["reaches_peer"] = ok
            if not ok:
                result["reach_msg"] = msg
        module.exit_json(**result)
    except MoveError as err:
        module.fail_json(msg=to_native(err))
    except Exception as err:  # an internal error, with the traceback for the record
        module.fail_json(
            msg="probing the %s server failed: %s" % (p["engine"], to_native(err)), exception=traceback.format_exc()
        )


if __name__ == "__main__":
    main()
