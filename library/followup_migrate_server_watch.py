#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: the downtime probe of a server move: requests every 100 ms while the traffic is switched.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: followup_migrate_server_watch
short_description: Send a request every interval until told to stop, and report the failures and the downtime
description:
  - Started in the background (C(async), C(poll 0)) on the front-end server before a server move switches the
    traffic; sends one GET to O(url) every O(interval) seconds until the file O(stop_file) appears (or O(timeout)),
    then reports the attempts, the failures and the longest run of failures (the downtime), with the failures'
    times, so the cutover can say whether any fell outside the switch.
  - Changes nothing (the stop file is the caller's); a request that answers other than 2xx or not within
    O(request_timeout) counts as failed.
version_added: "0.1.0"
author: followup-ops
options:
  url:
    description: What to request (through nginx on the front-end server).
    type: str
    required: true
  interval:
    description: Seconds between requests.
    type: float
    default: 0.1
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 2
  stop_file:
    description: The probe stops when this file exists (and removes nothing).
    type: path
    required: true
  timeout:
    description: The probe stops after this many seconds at most.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
"""

EXAMPLES = r"""
- name: Probe the front-end server during the switch
  followup_migrate_server_watch:
    url: https://127.0.0.1/api/patients?limit=1
    stop_file: /run/followup-srvmove.stop
  async: 900
  poll: 0
"""

RETURN = r"""
requests:
  description: Requests sent (not C(attempts), which a task's C(until) overwrites).
  type: int
  returned: always
failures:
  description: Requests that failed.
  type: int
  returned: always
downtime_s:
  description: The longest run of failed requests, seconds (0 when none failed).
  type: float
  returned: always
failed_at:
  description: Epoch seconds of each failed request (at most 200).
  type: list
  returned: always
started_at:
  description: Epoch seconds of the first request.
  type: float
  returned: always
ended_at:
  description: Epoch seconds of the last request.
  type: float
  returned: always
"""

import os
import ssl
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.followup_srvmove import downtime
from ansible.module_utils.six.moves.urllib.request import urlopen


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            interval=dict(type="float", default=0.1),
            request_timeout=dict(type="float", default=2),
            stop_file=dict(type="path", required=True),
            timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    p = module.params
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the probe asks its own nginx on 127.0.0.1; the certificate names others
    samples = []
    start = time.time()
    while time.time() - start < p["timeout"] and not os.path.exists(p["stop_file"]):
        t = time.time()
        try:
            ok = 200 <= urlopen(p["url"], timeout=p["request_timeout"], context=context).getcode() < 300
        except Exception:  # any failure of one request is a failed request
            ok = False
        samples.append((t, ok))
        time.sleep(max(0.0, p["interval"] - (time.time() - t)))
    figures = downtime(samples)
    module.exit_json(
        changed=False,
        failed_at=[round(t, 3) for t, ok in samples if not ok][:200],
        started_at=samples[0][0] if samples else start,
        ended_at=samples[-1][0] if samples else start,
        **figures,
    )


if __name__ == "__main__":
    main()
