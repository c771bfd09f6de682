"""What playbooks report to the command line (and to AWX): the `followup` key of ansible.builtin.set_stats.

Every playbook that has something to say to its caller reports it with `ansible.builtin.set_stats` (per_host: false,
aggregate: true) under the one key `followup`. ansible-runner hands the aggregate to us in the `playbook_on_stats`
event (`artifact_data`); AWX shows the same data as the job's artifacts. Nothing else of a run is interpreted: no task
names, no message text. The schema is fixed in docs/architecture.md ("What playbooks report"):

    followup:
      gates:       {<gate>: {refused: [<one-line reason>, ...], ...}}      # empty refused list: the gate passed
      findings:    {<id>: {control, host, status, title, expected, actual, evidence}}
      rolled_back: {<what>: {reason, restored: [...], ...}}
      files:       {<path>: {kind, sha256, bytes, host}}
      data:        {<topic>: {<host or key>: ...}}                           # what a command renders

Every section is a mapping keyed by something unique, because Ansible aggregates set_stats data by merging mappings
recursively (lists would replace each other).
"""

STATS_KEY = "followup"
SECTIONS = ("gates", "findings", "rolled_back", "files", "data")

# The status of a finding. Compliance uses all of them; inspections and status use pass/warn/fail/error.
FINDING_STATUSES = {
    "pass": ("符合", "pass"),
    "partial": ("部分符合", "partial"),
    "fail": ("不符合", "fail"),
    "na": ("不适用", "not applicable"),
    "manual": ("人工核查", "manual check"),
    "error": ("检查错误", "check error"),
    "warn": ("注意", "warning"),
}
# Statuses that make a command non-compliant (exit 4) unless a command decides otherwise.
FAILING = ("fail", "partial")


class ReportError(ValueError):
    """A playbook reported something that does not follow the schema; the message names the key."""


def empty():
    return {section: {} for section in SECTIONS}


def merge(into, part):
    """Merge one playbook's report PART into INTO (the operation's report so far), section by section."""
    if not part:
        return into
    if not isinstance(part, dict):
        raise ReportError(f"set_stats key '{STATS_KEY}' must be a mapping, not {type(part).__name__}")
    for section, value in part.items():
        if section not in SECTIONS:
            raise ReportError(f"set_stats {STATS_KEY}.{section} is not one of {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ReportError(f"set_stats {STATS_KEY}.{section} must be a mapping keyed by name")
        _merge_dict(into.setdefault(section, {}), value)
    return into


def _merge_dict(into, part):
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_dict(into[key], value)
        else:
            into[key] = value


def refusals(report):
    """[(gate, reason), ...] of every gate that refused, in gate order."""
    found = []
    for gate, result in sorted((report.get("gates") or {}).items()):
        reasons = (result or {}).get("refused") or []
        if isinstance(reasons, str):
            reasons = [reasons]
        found += [(gate, str(reason)) for reason in reasons if str(reason).strip()]
    return found


def findings(report):
    """The findings, each with its id, sorted by host then control."""
    rows = []
    for fid, finding in (report.get("findings") or {}).items():
        finding = dict(finding or {})
        finding.setdefault("id", fid)
        status = finding.get("status")
        if status not in FINDING_STATUSES:
            raise ReportError(f"finding {fid}: status '{status}' is not one of {', '.join(FINDING_STATUSES)}")
        rows.append(finding)
    rows.sort(key=lambda f: (str(f.get("host") or ""), str(f.get("control") or ""), f["id"]))
    return rows


def finding_counts(report):
    counts = {}
    for finding in findings(report):
        counts[finding["status"]] = counts.get(finding["status"], 0) + 1
    return counts


def failing(report, statuses=FAILING):
    return [f for f in findings(report) if f["status"] in statuses]


def status_label(status):
    """'不符合 fail' for a finding status: Chinese first, English second."""
    zh, en = FINDING_STATUSES.get(status, (status, status))
    return f"{zh} {en}"
