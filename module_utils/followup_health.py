# -*- coding: utf-8 -*-
# One health check of a component, as its local fact describes it ({type: http|sip|tcp, host, port, path}): the
# status module (followup-ops status) and the upgrade's pre-checks (followup_precheck) ask the same way.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

from ansible.module_utils.followup_sip import SipError, options_ping
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.request import urlopen

CHECK_TYPES = ("http", "sip", "tcp")


def run_check(check, timeout):
    """(healthy, detail) of CHECK: HTTP 200 on its path (default /health), a SIP OPTIONS answered 200, or a TCP port
    that accepts a connection. Never raises for an unreachable or malformed target: the detail says what failed."""
    kind = check.get("type", "http")
    host = check.get("host") or "127.0.0.1"
    try:
        port = int(check["port"])
        if kind == "http":
            url = "http://%s:%d%s" % (host if ":" not in host else "[%s]" % host, port, check.get("path") or "/health")
            try:
                code = urlopen(url, timeout=timeout).getcode()
            except HTTPError as err:
                code = err.code
            return code == 200, "HTTP %d" % code
        if kind == "sip":
            code, reason, _headers, ms = options_ping(host, port, timeout)
            return code == 200, "SIP %d %s (%d ms)" % (code, reason, ms)
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.close()
        return True, "TCP %s:%d open" % (host, port)
    except (URLError, SipError, OSError, ValueError, TypeError, KeyError) as err:
        return False, str(getattr(err, "reason", err))[:160]
