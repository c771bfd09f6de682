#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: ship MySQL/MariaDB binary logs to the backup host for point-in-time recovery (docs/backup.md).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_backup_binlogs
short_description: Ship closed MySQL/MariaDB binary logs to the backup host, compressed and encrypted
description:
  - Runs on the database host as root. Closes the current binary log (C(FLUSH BINARY LOGS)) and sends every closed
    one that the backup host does not have yet through C(zstd) and C(age) to the receiving account. The timer
    C(followup-backup-binlogs.timer) of the backup role does the same every few minutes (RPO of at most 5 minutes).
  - A log already on the backup host (a crash between sending and recording) is recorded as shipped, never sent
    over it.
version_added: "0.1.0"
author: followup-ops
options:
  config:
    description: The agent configuration written by the backup role.
    type: path
    default: /etc/followup-backup/agent.json
  flush:
    description: Close the current binary log first, so that its events are shipped now.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Lists the closed binary logs not yet shipped; flushes and sends nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Ship the binary logs now
  followup_backup_binlogs:
"""

RETURN = r"""
sent:
  description: The binary logs sent by this run (name, bytes stored, sha256).
  returned: success
  type: list
  elements: dict
pending:
  description: In check mode, the closed binary logs that would be sent.
  returned: check mode
  type: list
  elements: str
current:
  description: The binary log the server writes now.
  returned: success
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

try:
    from ansible.module_utils.followup_backup import BackupError, binlog_index
    from ansible.module_utils.followup_backup_agent import STATE_DIR, load_config, ship_binlogs

    HAS_UTILS = True
except ImportError:  # pragma: no cover
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", default="/etc/followup-backup/agent.json"),
            flush=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        config = load_config(module.params["config"])
        index = ((config.get("mysql") or {}).get("binlog") or {}).get("index")
        if not index:
            module.fail_json(msg="binary log shipping is off on this host: set backup_mysql_binlog and log_bin")
        if module.check_mode:
            names = binlog_index(index)
            try:
                with open(os.path.join(STATE_DIR, "binlogs-shipped.json")) as handle:
                    shipped = set(json.load(handle))
            except (OSError, ValueError):
                shipped = set()
            module.exit_json(
                changed=False,
                pending=[n for n in names[:-1] if n not in shipped],
                current=names[-1] if names else None,
                sent=[],
            )
        result = ship_binlogs(config, flush=module.params["flush"])
    except BackupError as err:
        module.fail_json(msg=to_native(err))
    except OSError as err:
        module.fail_json(msg="reading the binary logs failed: %s" % to_native(err))
    module.exit_json(changed=bool(result["sent"]), sent=result["sent"], current=result["current"])


if __name__ == "__main__":
    main()
