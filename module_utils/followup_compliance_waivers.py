# -*- coding: utf-8 -*-
# followup-ops: waivers of the 等保 compliance check (a file the hospital's IT department signs off).
#
#   waivers:
#     - control: LNX-ACC-09            # a control id of controls/djbh-l3.yml
#       host: "*"                      # an inventory host name, or a shell pattern such as "*" or "app*"
#       justification: 实验室 ops 免口令 sudo the lab's ops account uses passwordless sudo
#       approver: 信息科 IT department, 张三
#       expiry: 2027-06-30             # YYYY-MM-DD; valid through that day, then it stops counting
#       reference: OA-2026-117         # optional: the signed document or ticket
#
# A waived control is still checked and reported with its real status, marked waived (InSpec semantics); it does not
# count towards the score or the exit code. An expired waiver does not apply, and the report says it expired.
# Controller side only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import re

WAIVER_KEYS = {"control", "host", "justification", "approver", "expiry", "reference"}
REQUIRED = ("control", "host", "justification", "approver", "expiry")


class WaiverError(ValueError):
    """A waivers file is wrong; the message is one line naming the entry and the fix."""


def _date(value, where):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    if not re.match(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", text):
        raise WaiverError("%s: expiry %r is not a date YYYY-MM-DD: write it as 2027-06-30" % (where, value))
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise WaiverError("%s: expiry %r is not a real date: write it as 2027-06-30" % (where, value))


def parse(data, catalogue, path="waivers file"):
    """The validated waivers of DATA (the loaded YAML): [{control, host, justification, approver, expiry, ...}]."""
    if data is None:
        return []
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"waivers"})
        if unknown:
            raise WaiverError(
                "%s: unknown top-level key %s: the file holds one key, waivers (a list)" % (path, ", ".join(unknown))
            )
        data = data.get("waivers") or []
    if not isinstance(data, list):
        raise WaiverError(
            "%s: waivers must be a list of entries (control, host, justification, approver, expiry)" % path
        )
    ids = catalogue["by_id"]
    out, seen = [], {}
    for index, entry in enumerate(data, 1):
        label = "waiver #%d" % index
        if isinstance(entry, dict) and entry.get("control"):
            label += " (%s on %s)" % (entry.get("control"), entry.get("host", "?"))
        where = "%s: %s" % (path, label)
        if not isinstance(entry, dict):
            raise WaiverError("%s: must be a mapping with %s" % (where, ", ".join(REQUIRED)))
        unknown = sorted(set(entry) - WAIVER_KEYS)
        if unknown:
            raise WaiverError(
                "%s: unknown key %s (known: %s)" % (where, ", ".join(unknown), ", ".join(sorted(WAIVER_KEYS)))
            )
        for key in REQUIRED:
            value = entry.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise WaiverError(
                    "%s: %s is missing: every waiver names the control, the host (or *), why, who "
                    "approved it and when it expires" % (where, key)
                )
        control = str(entry["control"]).strip().upper()
        if control not in ids:
            raise WaiverError(
                "%s: unknown control %s: use an id of %s"
                % (where, control, catalogue.get("path") or "controls/djbh-l3.yml")
            )
        host = str(entry["host"]).strip()
        key = (control, host)
        if key in seen:
            raise WaiverError("%s: duplicates waiver #%d: keep one entry per control and host" % (where, seen[key]))
        seen[key] = index
        waiver = {
            "control": control,
            "host": host,
            "justification": str(entry["justification"]).strip(),
            "approver": str(entry["approver"]).strip(),
            "expiry": _date(entry["expiry"], where).isoformat(),
            "index": index,
        }
        if entry.get("reference"):
            waiver["reference"] = str(entry["reference"]).strip()
        out.append(waiver)
    return out


def _loader():
    """A safe YAML loader that keeps dates as text, so that an impossible date is named with its entry."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = dict(
        (key, [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"])
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    )
    return Loader


def load(path, catalogue):
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_loader())  # noqa: S506 - a SafeLoader without timestamps
    except OSError as err:
        raise WaiverError("waivers file %s cannot be read (%s): give an existing file" % (path, err.strerror or err))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise WaiverError(
            "waivers file %s%s is not valid YAML: %s"
            % (path, ":%d" % (mark.line + 1) if mark else "", getattr(err, "problem", err))
        )
    return parse(data, catalogue, str(path))


def _match(waiver, control, host):
    return waiver["control"] == control and (waiver["host"] == host or fnmatch.fnmatchcase(host, waiver["host"]))


def apply(findings, waivers, today):
    """Mark every finding a waiver covers; return {used, expired, unused} for the report.

    A host-specific waiver wins over a pattern. An expired waiver (expiry before TODAY) does not apply; the finding
    carries it with active false and expired true."""
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    used, expired = {}, {}
    for finding in findings.values():
        matches = [w for w in waivers if _match(w, finding["control"], finding["host"])]
        if not matches:
            continue
        matches.sort(key=lambda w: (w["host"] != finding["host"], w["index"]))
        waiver = matches[0]
        active = datetime.date.fromisoformat(waiver["expiry"]) >= today
        record = dict((k, waiver[k]) for k in ("justification", "approver", "expiry") if k in waiver)
        if waiver.get("reference"):
            record["reference"] = waiver["reference"]
        record.update(active=active, expired=not active, host_pattern=waiver["host"])
        finding["waiver"] = record
        (used if active else expired).setdefault(waiver["index"], []).append(finding["host"])
    unused = [w for w in waivers if w["index"] not in used and w["index"] not in expired]

    def rows(table):
        return [dict(w, hosts=sorted(table[w["index"]])) for w in waivers if w["index"] in table]

    return {"used": rows(used), "expired": rows(expired), "unused": unused}
