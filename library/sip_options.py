#!/usr/bin/python
# -*- coding: utf-8 -*-
# followup-ops: health check of a SIP server by a real OPTIONS request.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sip_options
short_description: Check a SIP server by sending it a real SIP OPTIONS request over UDP
description:
  - Sends C(OPTIONS sip:<host>:<port>) over UDP with RFC 3261 retransmission and waits for a final answer.
  - Succeeds when the answer's status code is one of O(expect); fails with the code, or with the reason no answer
    came, otherwise. Used as the voice gateway's health check (kamailio answers C(200 OK)).
  - Read-only.
version_added: "0.1.0"
author: followup-ops
options:
  host:
    description: Address of the SIP server, as seen from the managed host.
    type: str
    default: 127.0.0.1
  port:
    description: UDP port of the SIP server.
    type: int
    default: 5060
  timeout:
    description: Seconds to wait for a final answer.
    type: float
    default: 5
  expect:
    description: Status codes counted as healthy.
    type: list
    elements: int
    default: [200]
attributes:
  check_mode:
    support: full
    details: Read-only; the request is sent in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check that kamailio answers SIP OPTIONS
  sip_options:
    host: 127.0.0.1
    port: 5060
  register: __followup_voice_sip
  retries: 10
  delay: 2
  until: __followup_voice_sip is succeeded
"""

RETURN = r"""
status_code:
  description: SIP status code of the final answer.
  returned: when an answer came
  type: int
  sample: 200
reason:
  description: Reason phrase of the answer.
  returned: when an answer came
  type: str
  sample: OK
server:
  description: The Server or User-Agent header of the answer.
  returned: when an answer came
  type: str
  sample: kamailio (5.6.3 (x86_64/linux))
elapsed_ms:
  description: Round-trip time of the request, in milliseconds.
  returned: when an answer came
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.followup_sip import SipError, options_ping

    HAS_UTILS = True
except ImportError:  # pragma: no cover - only outside Ansible (linters loading the file)
    HAS_UTILS = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=5060),
            timeout=dict(type="float", default=5),
            expect=dict(type="list", elements="int", default=[200]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not HAS_UTILS:
        module.fail_json(msg="module_utils/followup_sip.py is missing: run from the followup-ops repository")
    try:
        code, reason, headers, ms = options_ping(p["host"], p["port"], p["timeout"])
    except (SipError, OSError) as err:
        module.fail_json(msg="SIP OPTIONS to %s:%d failed: %s" % (p["host"], p["port"], err))
    result = dict(
        changed=False,
        status_code=code,
        reason=reason,
        server=headers.get("server") or headers.get("user-agent", ""),
        elapsed_ms=ms,
    )
    if code not in p["expect"]:
        module.fail_json(
            msg="SIP OPTIONS to %s:%d answered %d %s, expected %s" % (p["host"], p["port"], code, reason, p["expect"]),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
