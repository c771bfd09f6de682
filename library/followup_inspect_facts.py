#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: one inspection (巡检) pass over a host, read-only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_inspect_facts
short_description: Read in one pass what an inspection of a follow-up system host needs, read-only
description:
  - Reads CPU (sampled), load, memory and swap, the space and inodes of every mounted file system that holds data,
    the error lines of the journal since the last inspection (from the cursor the control node kept; masked before
    they leave the host), the expiry of every certificate the roles' local facts name (C(tls_certificate)) or the
    thresholds list, and time synchronisation (chrony, else systemd).
  - Where the roles' local facts say so (C(/etc/ansible/facts.d/*.fact)), also the database server (C(mysql.fact),
    status counters, connections, replica state, lock waits, buffer pool, largest tables, TLS certificate; as root
    over the unix socket), MongoDB (C(mongodb.fact), serverStatus, dbStats, collections, lock waits, replica state,
    today's call records by SIP code; as the read-only backup account), the interface service (a fact with
    C(component) C(fep), its C(/health) backlog and the last exchange cycle) and the voice gateway
    (C(followup_voice.fact), the trunks' live state from its C(trunk_state_command)).
  - Never changes anything and never fails because the host is unhealthy; a figure that cannot be read says why
    in the result. Fails only on bad input (thresholds that cannot be merged).
  - Services and health checks are read by M(followup_status), in the same play, so that status and inspection
    never disagree.
version_added: "0.1.0"
author: followup-ops
options:
  host:
    description: The host's inventory name, returned with the figures.
    type: str
    required: true
  journal:
    description:
      - Where the previous inspection stopped reading each host's journal, by inventory name, each entry with
        C(cursor) (a journal cursor) and C(since) (an ISO time). Kept on the control node, never on the host.
        A host without an entry reads back C(logs.errors.first_window_hours).
    type: dict
    default: {}
  thresholds:
    description:
      - The inspection's thresholds document (C(inspection/thresholds.yml), as M(followup_inspect_history) read
        it); when it is empty, built-in settings are used and nothing is merged.
    type: dict
    default: {}
  overrides:
    description:
      - This host's C(followup_inspection_thresholds), merged into O(thresholds) here; the merged document is
        returned so that the report step judges the host with it. A bad override fails the task with one line.
    type: dict
    default: {}
  facts_dir:
    description: Directory of the local facts the roles write.
    type: path
    default: /etc/ansible/facts.d
  mysql_option_file:
    description: root's MySQL option file, read for root's password when the server refuses unix_socket login.
    type: path
    default: /root/.my.cnf
  mongodb_secret:
    description:
      - Password of the MongoDB account named by C(mongodb.fact) C(users.backup) (read-only on the database);
        never logged. Without it MongoDB is not asked and the result says so.
    type: str
  cpu_sample_seconds:
    description: How long to sample CPU use.
    type: float
    default: 1.0
  timeout:
    description: Seconds allowed to each HTTP request and command.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: Read-only; check mode changes nothing because the module never does.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Time sync in a container is the machine's clock; set C(time.sync.required) to false for such inventories.
  - Log lines are masked on the host (anything quoted, runs of 7 or more digits, e-mail addresses and Chinese
    text), so no patient datum reaches the control node through them.
requirements:
  - PyMySQL (python3-pymysql) on database hosts, pymongo (python3-pymongo) on MongoDB hosts
seealso:
  - module: followup_status
  - module: followup_inspect_report
"""

EXAMPLES = r"""
- name: Read the system, journal, certificates, time, databases, interface and voice figures
  followup_inspect_facts:
    host: "{{ inventory_hostname }}"
    journal: "{{ hostvars['localhost']['__followup_inspect_history']['journal'] }}"
    thresholds: "{{ hostvars['localhost']['__followup_inspect_history']['thresholds'] }}"
    overrides: "{{ followup_inspection_thresholds | default({}) }}"
    mongodb_secret: "{{ mongodb_backup_password | default(omit) }}"
  register: __followup_inspect_facts
  no_log: true
"""

RETURN = r"""
inspection:
  description: The host's figures.
  returned: always
  type: dict
  sample:
    host: app1
    collected_at: "2026-12-01T23:30:05Z"
    system: {cpus: 2, cpu_percent: 12.5, load: [0.4, 0.3, 0.2], memory: {total: 8338403328, percent: 41.2},
             mounts: [{mount: /, percent: 19.0, size: 270000000000, used: 18000000000, avail: 80000000000}]}
    logs: {count: 2, by_unit: {followup-fep.service: 2}, cursor: "s=4c1e...", lines: [{unit: followup-fep.service,
           message: "exchange cycle: inbound: OperationalError: #"}]}
    certificates: [{path: /etc/nginx/tls/followup.crt, days_left: 364.2, not_after: "2027-11-30T00:00:00Z"}]
    timesync: {synchronized: true, offset_ms: 0.8, source: chronyc tracking}
    interface: {backlog: 0, last_cycle_age_min: 0.1, last_error: null}
    voice: null
    mysql: null
    mongodb: null
    thresholds: {schema: 1, timezone: "+08:00", items: {}}
    problems: []
"""

import datetime
import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    import pymongo

    HAS_PYMONGO = True
except ImportError:
    HAS_PYMONGO = False

try:
    from ansible.module_utils import followup_inspect_db as dbmod
    from ansible.module_utils import followup_inspect_host as hostmod
    from ansible.module_utils.followup_inspect import ThresholdError, merge

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False

DEFAULTS = {
    "timezone": "+08:00",
    "logs.errors": {"first_window_hours": 24, "quote_lines": 10},
    "cert.expiry": {"paths": []},
    "mysql.tables": {"top": 10},
    "mongodb.collections": {"top": 10},
    "interface.last_exchange": {"stats_path": "/api/exchange/stats"},
}


def setting(thresholds, item, key):
    if thresholds:
        return thresholds["items"][item].get(key, DEFAULTS.get(item, {}).get(key))
    return DEFAULTS[item][key]


def read_facts(facts_dir):
    facts, problems = {}, []
    if not os.path.isdir(facts_dir):
        return facts, problems
    for name in sorted(os.listdir(facts_dir)):
        if not name.endswith(".fact"):
            continue
        try:
            with open(os.path.join(facts_dir, name)) as handle:
                data = json.load(handle)
        except (OSError, ValueError) as err:
            problems.append("%s is not readable JSON (%s)" % (name, err))
            continue
        if isinstance(data, dict):
            facts[name[: -len(".fact")]] = data
    return facts, problems


def certificate_paths(facts, extra):
    """(path, source) of every certificate to check: the facts' tls_certificate(s), then EXTRA ((path, source))."""
    found = []
    for name, data in sorted(facts.items()):
        for key in ("tls_certificate", "tls_certificates"):
            value = data.get(key)
            for path in value if isinstance(value, list) else [value]:
                if isinstance(path, str) and path.startswith("/") and path not in [p for p, _ in found]:
                    found.append((path, name))
    for path, source in extra or []:
        if path not in [p for p, _ in found]:
            found.append((path, source))
    return found


def system_figures(sample_seconds):
    out = {"cpus": hostmod.cpu_count(), "cpu_sample_s": sample_seconds, "errors": []}
    try:
        out["cpu_percent"] = hostmod.cpu_percent(sample_seconds)
    except (OSError, ValueError, IndexError) as err:
        out["errors"].append("/proc/stat: %s" % err)
    try:
        out["load"] = [round(x, 2) for x in os.getloadavg()]
    except OSError as err:
        out["errors"].append("load average: %s" % err)
    try:
        out["memory"] = hostmod.meminfo()
    except (OSError, ValueError) as err:
        out["errors"].append("/proc/meminfo: %s" % err)
    try:
        out["mounts"] = hostmod.mounts()
    except OSError as err:
        out["errors"].append("/proc/mounts: %s" % err)
    try:
        with open("/proc/uptime") as handle:
            out["uptime_s"] = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        out["uptime_s"] = None
    return out


def mysql_part(module, fact, top):
    if not dbmod.HAS_PYMYSQL:
        return {"error": "PyMySQL (python3-pymysql) is missing on the host"}
    sock = fact.get("socket")
    if not sock:
        return {"error": "mysql.fact names no socket"}
    try:
        conn = dbmod.mysql_root_connect(sock, module.params["mysql_option_file"])
    except dbmod.DbError as err:
        return {"error": to_native(err)}
    try:
        figures = dbmod.mysql_figures(conn, top=top)
    finally:
        conn.close()
    figures["flavour"] = fact.get("flavour")
    return figures


def mongodb_part(module, fact, offset, top):
    if not HAS_PYMONGO:
        return {"error": "pymongo (python3-pymongo) is missing on the host"}
    secret = module.params["mongodb_secret"]
    user = (fact.get("users") or {}).get("backup")
    if not secret or not user:
        return {"error": "no read-only MongoDB account to ask (mongodb.fact users.backup and its password)"}
    host = fact.get("bind_address") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard listener is reached on loopback
        host = "127.0.0.1"
    client = None
    try:
        client = pymongo.MongoClient(
            host=host,
            port=int(fact.get("port") or 27017),
            username=user,
            password=secret,
            authSource=fact.get("auth_source") or fact.get("database") or "admin",
            authMechanism=fact.get("auth_mechanism") or "SCRAM-SHA-256",
            serverSelectionTimeoutMS=int(module.params["timeout"] * 1000),
            connectTimeoutMS=int(module.params["timeout"] * 1000),
        )
        client.admin.command("ping")
        now = datetime.datetime.utcnow()
        return dbmod.mongodb_figures(client, fact.get("database") or "cdr", now, offset, top)
    except Exception as err:  # pymongo raises many kinds; each becomes one line
        return {"error": "cannot read MongoDB on %s:%s as %s (%s)" % (host, fact.get("port"), user, _short(err))}
    finally:
        if client is not None:
            client.close()


def _short(err):
    return hostmod.mask(to_native(err).splitlines()[0] if to_native(err) else type(err).__name__, 160)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            journal=dict(type="dict", default={}),
            thresholds=dict(type="dict", default={}),
            overrides=dict(type="dict", default={}),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            mysql_option_file=dict(type="path", default="/root/.my.cnf"),
            mongodb_secret=dict(type="str", no_log=True),
            cpu_sample_seconds=dict(type="float", default=1.0),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_inspect*.py is missing: run from the followup-ops repository")
    p = module.params
    thresholds = None
    if p["thresholds"]:
        try:
            thresholds = merge(p["thresholds"], p["overrides"], "followup_inspection_thresholds of %s" % p["host"])
        except ThresholdError as err:
            module.fail_json(msg=to_native(err))
    elif p["overrides"]:
        module.fail_json(msg="overrides need the thresholds document to merge into (option thresholds)")
    facts, problems = read_facts(p["facts_dir"])
    previous = (p["journal"] or {}).get(p["host"]) or {}
    offset = (thresholds or DEFAULTS)["timezone"]
    inspection = {
        "host": p["host"],
        "hostname": socket.gethostname(),
        "collected_at": hostmod.iso_utc(time.time()),
        "facts": sorted(facts),
        "problems": problems,
        "thresholds": thresholds,
    }
    inspection["system"] = system_figures(p["cpu_sample_seconds"])
    inspection["logs"] = hostmod.journal_errors(
        cursor=previous.get("cursor"),
        since_epoch=hostmod.parse_iso_utc(previous.get("since")),
        window_hours=setting(thresholds, "logs.errors", "first_window_hours"),
        quote=int(setting(thresholds, "logs.errors", "quote_lines")),
    )
    certs = []
    mysql_fact, mongo_fact = facts.get("mysql"), facts.get("mongodb")
    inspection["mysql"] = (
        mysql_part(module, mysql_fact, setting(thresholds, "mysql.tables", "top")) if mysql_fact else None
    )
    extra = [(path, "thresholds cert.expiry.paths") for path in setting(thresholds, "cert.expiry", "paths") or []]
    variables = (inspection["mysql"] or {}).get("variables") or {}
    if variables.get("ssl_cert"):
        path = variables["ssl_cert"]
        extra.append((path if path.startswith("/") else os.path.join(variables.get("datadir") or "/", path), "mysql"))
    for path, source in certificate_paths(facts, extra):
        cert = hostmod.certificate(path)
        cert["source"] = source
        certs.append(cert)
    inspection["certificates"] = certs
    inspection["timesync"] = hostmod.timesync()
    inspection["mongodb"] = (
        mongodb_part(module, mongo_fact, offset, setting(thresholds, "mongodb.collections", "top"))
        if mongo_fact
        else None
    )
    inspection["interface"] = None
    for data in facts.values():
        if data.get("component") == "fep" and data.get("listen"):
            inspection["interface"] = hostmod.interface_state(
                data["listen"], setting(thresholds, "interface.last_exchange", "stats_path"), p["timeout"]
            )
    voice = facts.get("followup_voice")
    inspection["voice"] = hostmod.trunk_state(voice.get("trunk_state_command")) if voice else None
    module.exit_json(changed=False, inspection=inspection)


if __name__ == "__main__":
    main()
