# -*- coding: utf-8 -*-
# The two files through which an upgrade steers nginx on the front-end server (docs/upgrade.md, "Short
# unavailability"), included by the followup_fep role's nginx.conf:
#
#   <conf dir>/upstream.conf     inside `upstream followup_app {}`: the application servers requests go to
#   <conf dir>/maintenance.conf  inside the HTTPS `server {}`: nothing, or a 503 maintenance answer for writes or
#                                for every request (the host itself, 127.0.0.1 and ::1, is always let through, so
#                                that the upgrade's own health checks reach the application)
#
# The role writes them with no maintenance and the inventory's upstreams; the upgrade switches them and reloads
# nginx (a graceful reload: the old workers finish their requests). Rendering lives here once, so that the role and
# the upgrade write the same bytes. Pure Python, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

CONF_DIR = "/etc/nginx/followup-ops"
UPSTREAM_FILE = "upstream.conf"
MAINTENANCE_FILE = "maintenance.conf"
MODES = ("off", "writes", "full")
# host:port of an application server (IPv6 as [addr]:port), as followup_fep_app_upstreams gives them.
UPSTREAM_RE = re.compile(r"\A(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})\Z")
# What a client gets during maintenance (a 503 with this JSON body: probes tell it from a failure by its status).
MAINTENANCE_BODY = {
    "status": "MAINTENANCE",
    "message": "系统升级中，请稍后重试 The system is being upgraded; retry in a moment",
}
HEADER = (
    "# Written by followup-ops (followup_upgrade_frontend, docs/upgrade.md); the followup_fep role and upgrades own "
    "it.\n"
)


class NginxConfError(ValueError):
    """A value that cannot go into nginx's configuration; the message names it."""


def upstream_text(upstreams):
    if not isinstance(upstreams, (list, tuple)) or not upstreams:
        raise NginxConfError("upstreams must list at least one application server as host:port")
    lines = [HEADER, "# The application servers nginx sends requests to.\n"]
    for upstream in upstreams:
        match = UPSTREAM_RE.match(str(upstream))
        if not match or not 1 <= int(match.group(2)) <= 65535:
            raise NginxConfError("upstream %r is not host:port (a port 1-65535; IPv6 as [address]:port)" % (upstream,))
        lines.append("server %s max_fails=3 fail_timeout=10s;\n" % upstream)
    return "".join(lines)


def maintenance_text(mode):
    if mode not in MODES:
        raise NginxConfError("maintenance must be one of %s, not %r" % (", ".join(MODES), mode))
    if mode == "off":
        return HEADER + "# No maintenance: every request is answered by the application.\n"
    body = json.dumps(dict(MAINTENANCE_BODY, scope=mode), ensure_ascii=False, separators=(",", ":"))
    body = body.replace("\\", "\\\\").replace("'", "\\'")
    lines = [
        HEADER,
        "# Maintenance (%s) during an upgrade: %s get 503 and this body; the host itself is let through.\n"
        % (mode, "requests that change data" if mode == "writes" else "all requests"),
        "default_type application/json;\n",
        "add_header Retry-After 30 always;\n",
    ]
    if mode == "writes":
        lines.append('set $followup_maintenance "";\n')
        lines.append('if ($request_method !~ ^(GET|HEAD|OPTIONS)$) { set $followup_maintenance "writes"; }\n')
    else:
        lines.append('set $followup_maintenance "full";\n')
    lines.append('if ($remote_addr = 127.0.0.1) { set $followup_maintenance ""; }\n')
    lines.append('if ($remote_addr = ::1) { set $followup_maintenance ""; }\n')
    lines.append("if ($followup_maintenance) { return 503 '%s'; }\n" % body)
    return "".join(lines)


def mode_of(text):
    """The maintenance mode a maintenance.conf holds ('off' when it is missing or holds none)."""
    if not text:
        return "off"
    match = re.search(r"^# Maintenance \((writes|full)\)", text, re.M)
    return match.group(1) if match else "off"
