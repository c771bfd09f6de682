# -*- coding: utf-8 -*-
# Signed change approvals (变更审批单): the hospital IT department's signed "yes" to one upgrade (R-SIGNOFF,
# docs/upgrade.md). An approval is a small YAML document, approval.yml, and its SSH signature approval.yml.sig
# (`ssh-keygen -Y sign -n followup-approval`), made by a key listed in the inventory's followup_approval_signers.
#
# Trust flows one way, as for releases: the allowed signers (inventory) -> the signature over the exact bytes of
# approval.yml -> those same bytes parsed strictly -> the release and test document they name, by sha256.
# Nothing read from an approval is used before its signature verified, except to name it in a refusal.
#
# This file holds the format (parse, render), the conditions of the upgrade gate (evaluate) and the records of use
# (one approval, one upgrade). Pure Python (PyYAML, ssh-keygen through followup_sshsig), used by the gate module on
# the control node, the host module and the command line (followup-ops approval new|sign|verify|show).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import re

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    HAS_YAML = False

from ansible.module_utils.followup_layout import VERSION_RE, version_key
from ansible.module_utils.followup_sshsig import SignatureError, SignersError, verify

NAMESPACE = "followup-approval"
SIGNERS_VAR = "followup_approval_signers"
DOCUMENT = "approval.yml"
SIGNATURE_SUFFIX = ".sig"
SYSTEM = "followup"
FORMAT = 1
MAX_BYTES = 64 * 1024
MAX_NOTES = 4000
# Who signs, in the messages an operator reads: the hospital's IT department.
IT_DEPARTMENT = "信息科 (the IT department)"

CHANGE_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
ENVIRONMENT_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
FILE_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
TIME_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})\Z")

# The fields, in the order `approval new` writes them: (name, required, what it is).
FIELDS = (
    ("format", True, "format of the approval document (1)"),
    ("change_id", True, "the change's id in the hospital's change register, e.g. CHG-2026-014"),
    ("system", True, "the system changed: followup"),
    ("environment", True, "the inventory the upgrade runs on, e.g. production"),
    ("from_release", True, "the release the hosts run before the upgrade"),
    ("to_release", True, "the release they are upgraded to"),
    ("release_sha256", True, "sha256 of followup-<to_release>.tar.gz, as the signed release index gives it"),
    ("test_document", True, "file name of the pre-upgrade test document (更新前测试文档), kept beside approval.yml"),
    ("test_document_sha256", True, "sha256 of that file"),
    ("approver", True, "who approves, e.g. 王丽 (信息科)"),
    ("approved_at", True, "when, ISO 8601 with the zone, e.g. 2026-12-01T10:00:00+08:00"),
    ("valid_until", True, "until when the upgrade may start, ISO 8601 with the zone"),
    ("notes", False, "free text: the maintenance window, conditions"),
)
FIELD_NAMES = tuple(name for name, _, _ in FIELDS)

# States of a record of use (control node ledger and hosts).
IN_PROGRESS = "in_progress"
FINISHED_STATES = ("completed", "rolled_back", "failed")


class ApprovalError(Exception):
    """An approval that cannot be used. The message is one line naming the file, the field and the fix."""


# --- Reading -------------------------------------------------------------------------------------------------------

if HAS_YAML:

    class _StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (PyYAML would silently keep the last)."""

    def _construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(None, None, "a key is not text", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, "key %s is given twice" % key, key_node.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _has_control(text, allow_newlines=False):
    allowed = "\n\t" if allow_newlines else ""
    return any((ord(c) < 0x20 and c not in allowed) or 0x7F <= ord(c) <= 0x9F for c in text)


def parse_time(value, where):
    """An ISO 8601 time with its zone (quoted text) -> an aware datetime."""
    if not isinstance(value, str):
        raise ApprovalError("%s must be quoted text YYYY-MM-DDTHH:MM[:SS]+HH:MM, not %s" % (where, _show(value)))
    if not TIME_RE.match(value):
        raise ApprovalError("%s %s is not YYYY-MM-DDTHH:MM[:SS] with a zone (+08:00 or Z)" % (where, _show(value)))
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApprovalError("%s %s is not a real time" % (where, _show(value)))


def parse(data, where=DOCUMENT):
    """Parse the bytes of an approval document strictly; return it as a dict of its fields (times as text).

    Raises ApprovalError naming WHERE and the field for anything missing, unknown, mistyped or malformed.
    """
    if not HAS_YAML:  # pragma: no cover
        raise ApprovalError("PyYAML is missing: install python3-yaml")
    if len(data) > MAX_BYTES:
        raise ApprovalError("%s is larger than %d bytes, which no approval is" % (where, MAX_BYTES))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApprovalError("%s is not UTF-8 text" % where)
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None)
        line = " line %d" % (mark.line + 1) if mark else ""
        raise ApprovalError("%s is not valid YAML%s%s" % (where, line, ": %s" % problem if problem else ""))
    except (ValueError, TypeError, OverflowError) as err:
        raise ApprovalError("%s is not valid YAML: %s" % (where, err))
    if not isinstance(doc, dict):
        raise ApprovalError("%s must be a YAML mapping of the approval's fields" % where)
    unknown = sorted(str(k) for k in doc if k not in FIELD_NAMES)
    if unknown:
        raise ApprovalError("%s: unknown field '%s' (the fields are %s)" % (where, unknown[0], ", ".join(FIELD_NAMES)))
    for name, required, what in FIELDS:
        if required and (name not in doc or doc[name] in (None, "")):
            raise ApprovalError("%s lacks the required field '%s' (%s)" % (where, name, what))
    if doc["format"] != FORMAT or isinstance(doc["format"], bool):
        raise ApprovalError("%s: format must be %d (it is %s)" % (where, FORMAT, _show(doc["format"])))
    result = {"format": FORMAT}
    for name in FIELD_NAMES[1:]:
        value = doc.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ApprovalError("%s: %s must be quoted text, not %s" % (where, name, _show(value)))
        if _has_control(value, allow_newlines=(name == "notes")):
            raise ApprovalError("%s: %s holds a control character" % (where, name))
        result[name] = value
    checks = (
        ("change_id", CHANGE_ID_RE, "letters, digits, - and _ (at most 64), e.g. CHG-2026-014"),
        ("environment", ENVIRONMENT_RE, "the inventory's environment name, lower-case letters, digits, - and _"),
        ("from_release", VERSION_RE, "MAJOR.MINOR.PATCH (ASCII digits)"),
        ("to_release", VERSION_RE, "MAJOR.MINOR.PATCH (ASCII digits)"),
        ("release_sha256", SHA256_RE, "64 lower-case hex digits"),
        ("test_document", FILE_RE, "a file name without a directory (the document lies beside approval.yml)"),
        ("test_document_sha256", SHA256_RE, "64 lower-case hex digits"),
    )
    for name, pattern, what in checks:
        if not pattern.match(result[name]):
            raise ApprovalError("%s: %s %s is not %s" % (where, name, _show(result[name]), what))
    if result["system"] != SYSTEM:
        raise ApprovalError("%s: system must be '%s' (it is %s)" % (where, SYSTEM, _show(result["system"])))
    if ".." in result["test_document"]:
        raise ApprovalError("%s: test_document may not contain '..'" % where)
    if not 0 < len(result["approver"].strip()) <= 200:
        raise ApprovalError("%s: approver must name who approves (1 to 200 characters)" % where)
    if len(result.get("notes") or "") > MAX_NOTES:
        raise ApprovalError("%s: notes are longer than %d characters" % (where, MAX_NOTES))
    approved = parse_time(result["approved_at"], "%s: approved_at" % where)
    until = parse_time(result["valid_until"], "%s: valid_until" % where)
    if until <= approved:
        raise ApprovalError(
            "%s: valid_until %s is not after approved_at %s" % (where, result["valid_until"], result["approved_at"])
        )
    return result


def render(fields):
    """The text of an approval document with FIELDS (as `approval new` writes it): fixed order, quoted values."""
    doc = parse(_dump(fields).encode("utf-8"), "the new approval")  # the same rules as a signed one
    return _dump(doc)


def _dump(fields):
    lines = [
        "# 变更审批单 Change approval of the follow-up system (docs/upgrade.md).",
        "# Signed by the hospital's IT department with: followup-ops approval sign (ssh-keygen -Y sign -n %s)."
        % NAMESPACE,
        "# Any change to this file after signing makes the signature fail.",
    ]
    for name in FIELD_NAMES:
        if name not in fields or fields[name] is None:
            continue
        value = fields[name]
        if name == "format":
            lines.append("format: %d" % value if isinstance(value, int) else "format: %s" % json.dumps(value))
        elif name == "notes" and "\n" in str(value):
            lines.append("notes: |-")
            lines.extend(("  " + part) if part else "" for part in str(value).split("\n"))
        else:
            lines.append("%s: %s" % (name, json.dumps(str(value), ensure_ascii=False)))
    return "\n".join(lines) + "\n"


def signature_path(path):
    return path + SIGNATURE_SUFFIX


def _read(path, limit, what):
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ApprovalError("%s is larger than %d bytes, which no %s is" % (path, limit, what))
    return data


def load(path):
    """Read approval.yml once (and its signature) -> (data bytes, signature bytes or None, parsed fields or None,
    parse error or None). A missing or unreadable document raises ApprovalError."""
    if not isinstance(path, str) or not path:
        raise ApprovalError(
            "no approval was given: an upgrade needs the change approval signed by %s; make one with "
            "`followup-ops approval new`, have it signed with `followup-ops approval sign`, then pass "
            "--approval FILE (playbooks: -e followup_approval_file=FILE)" % IT_DEPARTMENT
        )
    if not os.path.isfile(path):
        raise ApprovalError("approval %s does not exist: give the path of the signed approval.yml" % path)
    try:
        data = _read(path, MAX_BYTES, "approval")
    except OSError as err:
        raise ApprovalError("approval %s cannot be read (%s)" % (path, err.strerror or err))
    signature = None
    sig_path = signature_path(path)
    if os.path.isfile(sig_path):
        try:
            signature = _read(sig_path, 64 * 1024, "signature")
        except OSError as err:
            raise ApprovalError("signature %s cannot be read (%s)" % (sig_path, err.strerror or err))
    try:
        fields, problem = parse(data, path), None
    except ApprovalError as err:
        fields, problem = None, str(err)
    return data, signature, fields, problem


def peek_change_id(data):
    """The change_id of an approval that cannot be parsed, to name it in a refusal (None when not found)."""
    match = re.search(rb"^change_id:\s*[\"']?([A-Za-z0-9_-]{1,64})", data, re.M)
    return match.group(1).decode("ascii") if match else None


def verify_signature(data, signature, signers, path=DOCUMENT):
    """Verify the approval's signature; return the signer {principal, key}; raise ApprovalError in one line."""
    if signature is None:
        raise ApprovalError(
            "%s is not signed (%s is missing): have %s sign it with `followup-ops approval sign`"
            % (path, signature_path(path), IT_DEPARTMENT)
        )
    try:
        return verify(data, signature, signers, NAMESPACE, name=SIGNERS_VAR, what=path)
    except SignersError as err:
        raise ApprovalError(
            "%s: set %s in the inventory (group_vars/all/approval.yml) to the allowed_signers lines of the IT "
            'department\'s approval keys, each restricted to namespaces="%s"' % (err, SIGNERS_VAR, NAMESPACE)
        )
    except SignatureError as err:
        text = str(err)
        if "changed after it was signed" in text:
            text = "%s was modified after it was signed (the signature no longer matches): ask %s to sign it again" % (
                path,
                IT_DEPARTMENT,
            )
        elif "not in %s" % SIGNERS_VAR in text:
            text = (
                "%s is signed by a key that is not an allowed approver (not in %s): only the IT department's "
                "approvers listed in the inventory may approve an upgrade" % (path, SIGNERS_VAR)
            )
        raise ApprovalError(text)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


# --- The gate -------------------------------------------------------------------------------------------------------


def newest_release(releases, today):
    """The newest release of the signed index that exists on TODAY (release_date <= today), or None."""
    present = [r for r in releases if str(r["release_date"]) <= today.isoformat()]
    if not present:
        return None
    return max(present, key=lambda r: version_key(r["version"]))


def _record_live(record, lease, now_epoch, alive_here):
    """Whether the operation of an in-progress RECORD of use is still running.

    ALIVE_HERE(record) says True or False when this control node knows (the record is its own), None when it cannot
    tell; then the operation lives while it holds a host lease (LEASE, or None) that has not expired.
    """
    verdict = alive_here(record) if alive_here is not None else None
    if verdict is not None:
        return bool(verdict)
    if lease and lease.get("operation") == record.get("operation"):
        return float(lease.get("expires_at") or 0) > now_epoch
    return False


def use_refusals(change_id, ledger, host_records, host_leases, now_epoch, alive_here=None):
    """Reasons the approval CHANGE_ID may not be used (it was used before) and whether this run resumes it.

    LEDGER: the control node's record of it (or None); HOST_RECORDS: host -> its record (hosts without one left out);
    HOST_LEASES: host -> the host lease (or None). An approval whose upgrade is recorded as finished (completed, rolled
    back, failed) is used; one recorded in progress by an operation that still runs is in use; one recorded in
    progress by an operation that died (killed, power loss) is resumed by this run: it finishes that upgrade.
    Returns (refused, resume, previous) where previous is the operation id being resumed.
    """
    refused = []
    seen = []
    if ledger:
        lease = next(
            (h for h in (host_leases or {}).values() if h and h.get("operation") == ledger.get("operation")), None
        )
        seen.append(("the control node %s" % (ledger.get("control_node") or "?"), ledger, lease))
    for host in sorted(host_records):
        seen.append(("host %s" % host, host_records[host], (host_leases or {}).get(host)))
    resume = False
    previous = None
    for where, record, lease in seen:
        state = record.get("state")
        op = record.get("operation") or "?"
        if state in FINISHED_STATES:
            refused.append(
                "approval %s was used already: operation %s (%s, %s on %s) recorded it on %s; one approval, one "
                "upgrade: ask %s to sign a new approval"
                % (
                    change_id,
                    op,
                    state,
                    record.get("started_at") or "?",
                    record.get("control_node") or "?",
                    where,
                    IT_DEPARTMENT,
                )
            )
            return refused, False, None
        if state == IN_PROGRESS:
            if _record_live(record, lease, now_epoch, alive_here):
                refused.append(
                    "approval %s is in use by operation %s (started %s on %s), which is still running: wait for it "
                    "to finish" % (change_id, op, record.get("started_at") or "?", record.get("control_node") or "?")
                )
                return refused, False, None
            resume = True
            previous = op
        else:
            refused.append("the record of approval %s on %s has an unknown state %s" % (change_id, where, _show(state)))
    return refused, resume, previous


def evaluate(
    fields,
    problem,
    signer_error,
    environment,
    now,
    releases,
    index_error,
    running,
    test_document_path,
    use=None,
):
    """Every condition of the upgrade gate that fails, as one-line reasons (an empty list when the approval passes).

    FIELDS / PROBLEM: the parsed approval or why it could not be parsed; SIGNER_ERROR: why its signature does not
    verify (None when it does); ENVIRONMENT: the inventory's environment name; NOW: an aware datetime; RELEASES: the
    signed release index (entries with version, release_date, sha256) or None with INDEX_ERROR; RUNNING: host ->
    {component: version or None} of the application-tier hosts; TEST_DOCUMENT_PATH: where the test document the
    approval names should be; USE: (refused, resume) from use_refusals. In resume mode the hosts may run the from- or
    the to-release (the interrupted upgrade may have switched some).
    """
    refused = []
    if problem:
        refused.append("%s: fix the document, then have it signed again" % problem)
    if signer_error:
        refused.append(signer_error)
    if fields is None:
        return refused
    cid = fields["change_id"]
    resume = bool(use and use[1])
    if use:
        refused.extend(use[0])
    # Validity in time.
    approved = parse_time(fields["approved_at"], "approved_at")
    until = parse_time(fields["valid_until"], "valid_until")
    if now > until and not resume:
        refused.append(
            "approval %s expired at %s; ask %s to sign a new one" % (cid, fields["valid_until"], IT_DEPARTMENT)
        )
    if approved - now > datetime.timedelta(minutes=5):
        refused.append(
            "approval %s is dated %s, in the future of this control node's clock (%s): check the clocks, or ask %s "
            "to sign it with the right time"
            % (cid, fields["approved_at"], now.isoformat(timespec="seconds"), IT_DEPARTMENT)
        )
    # The environment.
    if fields["environment"] != environment:
        refused.append(
            "approval %s is for environment '%s', but this inventory is '%s': use the approval made for this "
            "environment" % (cid, fields["environment"], environment)
        )
    # Releases.
    frm, to = fields["from_release"], fields["to_release"]
    if version_key(to) <= version_key(frm):
        refused.append(
            "approval %s goes from %s to %s, which is a downgrade or no change: upgrades only go forward (a failed "
            "upgrade is rolled back automatically)" % (cid, frm, to)
        )
    if releases is None:
        refused.append(
            "the signed release index cannot be read, so approval %s cannot be checked against it: %s"
            % (cid, index_error or "unknown error")
        )
    else:
        entry = next((r for r in releases if r["version"] == to), None)
        newest = newest_release(releases, now.date())
        if entry is None:
            refused.append(
                "approval %s names release %s, which is not in the signed release index (available: %s)"
                % (cid, to, ", ".join(r["version"] for r in releases))
            )
        else:
            if fields["release_sha256"] != entry["sha256"]:
                refused.append(
                    "approval %s names release_sha256 %s..., but the signed index gives %s %s...: the approval was "
                    "made for another build of %s; ask %s for an approval of this build"
                    % (
                        cid,
                        fields["release_sha256"][:12],
                        entry.get("file", to),
                        entry["sha256"][:12],
                        to,
                        IT_DEPARTMENT,
                    )
                )
            if newest is not None and newest["version"] != to:
                refused.append(
                    "approval %s upgrades to %s, but the newest release in the signed index is %s: every update must "
                    "go to the vendor's newest release (R-CURRENT); rehearse %s and ask %s for its approval"
                    % (cid, to, newest["version"], newest["version"], IT_DEPARTMENT)
                )
    # What the hosts run.
    allowed = {frm, to} if resume else {frm}
    for host in sorted(running):
        for component, version in sorted((running[host] or {}).items()):
            if version is None:
                refused.append(
                    "%s has no release of %s deployed: deploy %s first (followup-ops deploy), then upgrade"
                    % (host, component, frm)
                )
            elif version not in allowed:
                detail = " (or %s, resuming an interrupted upgrade)" % to if resume else ""
                if version_key(version) >= version_key(to):
                    hint = "it already runs the target or newer: nothing to upgrade"
                else:
                    hint = "ask %s for an approval from %s" % (IT_DEPARTMENT, version)
                refused.append(
                    "%s runs %s %s, not the approval's from-release %s%s: %s"
                    % (host, component, version, frm, detail, hint)
                )
    if not running:
        refused.append("no application-tier host (groups fep, app, voice) is in the inventory: nothing to upgrade")
    # The test document.
    if not os.path.isfile(test_document_path):
        refused.append(
            "test document %s that approval %s names is missing: put the pre-upgrade test document (更新前测试文档) "
            "beside approval.yml" % (test_document_path, cid)
        )
    else:
        actual = sha256_file(test_document_path)
        if actual != fields["test_document_sha256"]:
            refused.append(
                "test document %s was changed after approval %s (sha256 %s..., the approval says %s...): use the "
                "document that was approved, or ask %s to approve the new one"
                % (test_document_path, cid, actual[:12], fields["test_document_sha256"][:12], IT_DEPARTMENT)
            )
    return refused


def public(fields, signer=None):
    """What reports and the audit record may carry of an approval (no secrets exist in it; notes are kept short)."""
    if not fields:
        return None
    data = {k: fields.get(k) for k in FIELD_NAMES if k not in ("format", "notes")}
    data["id"] = fields["change_id"]
    if fields.get("notes"):
        data["notes"] = fields["notes"][:500]
    if signer:
        data["signer"] = signer
    return data


# --- Records of use -------------------------------------------------------------------------------------------------


def ledger_path(directory, change_id):
    if not CHANGE_ID_RE.match(str(change_id)):
        raise ApprovalError("change id %s cannot name a record" % _show(change_id))
    return os.path.join(directory, "%s.json" % change_id)


def read_record(directory, change_id):
    """The record of use of CHANGE_ID in DIRECTORY, or None. An unreadable record counts as used (refused)."""
    path = ledger_path(directory, change_id)
    if not os.path.lexists(path):
        return None
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {"state": "failed", "operation": "unreadable record %s" % path}
    return data if isinstance(data, dict) else {"state": "failed", "operation": "unreadable record %s" % path}


def write_record(directory, change_id, record):
    """Write the record of use atomically (0644 in a 0755 directory). Returns the path."""
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    path = ledger_path(directory, change_id)
    tmp = os.path.join(directory, ".%s.%d.tmp" % (change_id, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out, indent=2, sort_keys=True, ensure_ascii=False)
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, path)
    return path
