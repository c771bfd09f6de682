#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the evidence of the 等保 compliance check of one host, in one task, read-only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_compliance_facts
short_description: Collect the evidence of the 等保 level-3 compliance check of a host, read-only, in one pass
description:
  - Gathers in one task everything the host's controls of the catalogue C(controls/djbh-l3.yml) need, so that a scan
    costs one round trip per host instead of one task per control. What to read comes from the catalogue (the filter
    C(followup_djbh_collect_spec) derives it); this module has no knowledge of controls or thresholds. The controls
    are judged on the control node (C(module_utils/followup_compliance_eval.py)).
  - "Files: path, owner, group, mode, sha256 and their significant lines with line numbers (comments dropped).
    Commands (only commands that read): C(sshd -T), C(ssh -V), C(auditctl -l), C(chronyc -n tracking),
    C(systemctl show), C(ss -H -tulpn), C(dpkg-query -W) or C(rpm -qa), C(apt-get -s) or C(dnf -C updateinfo),
    C(nft list ruleset), C(nginx -v). The nginx configuration is parsed here with its includes (C(nginx -T) is not
    run: it opens the log files for writing)."
  - Accounts come from C(/etc/passwd), C(/etc/group) and C(/etc/shadow), which is reduced to a status per account
    (C(empty), C(locked), C(set)) and the crypt prefix; a password hash is never returned. Lines that look like
    secrets (C(password=...), crypt hashes, C(IDENTIFIED BY), C(user:password@) in URIs, private keys) are masked.
  - MySQL/MariaDB is read as root over the unix socket (MariaDB's unix_socket authentication, or the password of
    C(/root/.my.cnf) read by the driver, never on a command line) inside C(START TRANSACTION READ ONLY); whether an
    account has a password is compared inside the server, only the boolean comes back.
  - For MongoDB, C(mongod.conf) (or FerretDB's environment file, C(pg_hba.conf) and PostgreSQL's roles read by
    C(psql) as postgres in a read-only transaction), and with O(mongodb_uri) the server's C(buildInfo),
    C(getCmdLineOpts), C(getParameter) and C(usersInfo).
  - Changes nothing, never fails because of what it finds (a collector that cannot read reports an C(error) in its
    section); it fails only on bad input. C(changed) is always false, and check mode behaves exactly the same.
version_added: "0.1.0"
author: followup-ops
options:
  read:
    description: Files to read (shell globs), with their stat, sha256 and significant lines.
    type: list
    elements: str
    default: []
  stat:
    description: Files and directories to stat only (shell globs).
    type: list
    elements: str
    default: []
  sections:
    description:
      - Collectors to run besides the host summary and the files, any of C(accounts), C(services), C(listening),
        C(packages), C(sysctl), C(ssh), C(audit), C(firewall), C(time), C(updates), C(mac), C(world_writable),
        C(release), C(nginx), C(mysql), C(mongodb). An unknown name fails the task.
      - Checked by the module rather than with choices, because playbooks pass the list as one templated value.
    type: list
    elements: str
    default: []
  units:
    description: systemd units whose state the C(services) section reports (C(.service) is added when no suffix).
    type: list
    elements: str
    default: []
  sysctl:
    description: Kernel parameters the C(sysctl) section reads, running (C(/proc/sys)) and configured (C(sysctl.d)).
    type: list
    elements: str
    default: []
  world_writable_paths:
    description: Directories the C(world_writable) section walks (one file system each).
    type: list
    elements: path
    default: []
  max_file_bytes:
    description: Largest part of a file that is read (the sha256 is always of the whole file).
    type: int
    default: 262144
  facts_dir:
    description: Directory of the roles' local facts (the C(mysql), C(mongodb) and component facts are read there).
    type: path
    default: /etc/ansible/facts.d
  base_dir:
    description: Base directory of the follow-up system's components (C(release) section).
    type: path
    default: /opt/followup
  nginx_conf:
    description: The nginx main configuration file (C(nginx) section).
    type: path
    default: /etc/nginx/nginx.conf
  mysql:
    description:
      - How the C(mysql) section logs in. By default as root over the socket the C(mysql) local fact names, with the
        options of C(/root/.my.cnf) when it exists.
    type: dict
    default: {}
    suboptions:
      socket:
        description: Unix socket (default from the C(mysql) local fact).
        type: path
      user:
        description: Account to log in as.
        type: str
        default: root
      defaults_file:
        description: Option file the driver reads (user, password, socket).
        type: path
        default: /root/.my.cnf
  mongodb:
    description: Where the C(mongodb) section reads the server's configuration.
    type: dict
    default: {}
    suboptions:
      engine:
        description: C(mongod) or C(ferretdb) (default from the C(mongodb) local fact).
        type: str
        choices: [mongod, ferretdb]
      config:
        description: mongod's configuration file.
        type: path
        default: /etc/mongod.conf
      ferretdb_env:
        description: FerretDB's environment file.
        type: path
        default: /etc/ferretdb/ferretdb.env
  mongodb_uri:
    description:
      - Optional connection string of a read-only monitoring account (C(clusterMonitor) and C(viewUser) on mongod),
        for the live settings, users and roles. Never logged.
    type: str
attributes:
  check_mode:
    support: full
    details: Read-only; runs exactly the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Runs as root (C(become)), on Python 3.6 or later; PyMySQL, pymongo and PyYAML are used when present.
  - In a container, C(auditctl -l) and C(nft list ruleset) are refused by the kernel; their sections carry the error
    and the evaluator judges those controls by their configuration files, saying so.
seealso:
  - module: followup_status
"""

EXAMPLES = r"""
- name: collect | Gather the evidence the host's controls need
  followup_compliance_facts:
    read: [/etc/login.defs, /etc/pam.d/*, /etc/security/pwquality.conf]
    stat: [/etc/shadow, /var/log/audit]
    sections: [accounts, services, ssh, sysctl, mysql]
    units: [auditd, ssh]
    sysctl: [net.ipv4.ip_forward]
  register: __followup_djbh_evidence
"""

RETURN = r"""
evidence:
  description: The host's evidence; each section carries C(error) when it could not be read.
  returned: always
  type: dict
  sample:
    schema: 1
    host: {hostname: app1, os: {id: debian, version_id: "12", family: debian}, container: docker, uid_min: 1000}
    files:
      /etc/login.defs: {exists: true, mode: "0644", owner: root, group: root, sha256: "9f86d0...",
                        lines: [[160, "PASS_MAX_DAYS\t99999"]]}
    accounts: {users: [{name: root, uid: 0, shell: /bin/bash, password: locked, hash_prefix: null}]}
    ssh: {version: "9.2", sshd: {maxauthtries: "6"}, sshd_command: sshd -T}
    commands: {"sshd -T": {argv: [sshd, -T], rc: 0, sha256: "ab12..."}}
    duration_s: 0.8
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils import followup_layout as layout
    from ansible.module_utils.followup_compliance_facts import SECTIONS, collect

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False
    SECTIONS = ()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            read=dict(type="list", elements="str", default=[]),
            stat=dict(type="list", elements="str", default=[]),
            sections=dict(type="list", elements="str", default=[]),
            units=dict(type="list", elements="str", default=[]),
            sysctl=dict(type="list", elements="str", default=[]),
            world_writable_paths=dict(type="list", elements="path", default=[]),
            max_file_bytes=dict(type="int", default=262144),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
            base_dir=dict(type="path", default="/opt/followup"),
            nginx_conf=dict(type="path", default="/etc/nginx/nginx.conf"),
            mysql=dict(
                type="dict",
                default={},
                options=dict(
                    socket=dict(type="path"),
                    user=dict(type="str", default="root"),
                    defaults_file=dict(type="path", default="/root/.my.cnf"),
                ),
            ),
            mongodb=dict(
                type="dict",
                default={},
                options=dict(
                    engine=dict(type="str", choices=["mongod", "ferretdb"]),
                    config=dict(type="path", default="/etc/mongod.conf"),
                    ferretdb_env=dict(type="path", default="/etc/ferretdb/ferretdb.env"),
                ),
            ),
            mongodb_uri=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    if not HAS_UTILS:
        module.fail_json(
            msg="module_utils/followup_compliance_facts.py or followup_layout.py is missing: run it "
            "from the followup-ops repository (ansible.cfg names module_utils/)"
        )
    params = module.params
    unknown = [name for name in params["sections"] if name not in SECTIONS]
    if unknown:
        module.fail_json(msg="sections: %s not one of %s" % (", ".join(unknown), ", ".join(SECTIONS)))
    if params["max_file_bytes"] < 1024:
        module.fail_json(msg="max_file_bytes must be at least 1024, not %d" % params["max_file_bytes"])
    for key in ("read", "stat", "world_writable_paths"):
        for path in params[key]:
            if not path.startswith("/"):
                module.fail_json(msg="%s: '%s' is not an absolute path: give paths from / on" % (key, path))
    for key in ("sysctl",):
        for name in params[key]:
            if not name or "/" in name or ".." in name:
                module.fail_json(msg="sysctl: '%s' is not a kernel parameter name such as net.ipv4.ip_forward" % name)
    evidence = collect(module, params, layout)
    module.exit_json(changed=False, evidence=evidence)


if __name__ == "__main__":
    main()
