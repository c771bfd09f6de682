# -*- coding: utf-8 -*-
# followup-ops: judging the 等保 controls of a host from its evidence, on the control node.
#
#   findings = evaluate_host(catalogue, evidence, params, host, targets, context)
#
# EVIDENCE is what library/followup_compliance_facts.py collected on the host (one task per host); CATALOGUE is the
# validated controls/djbh-l3.yml (followup_compliance_catalogue.load); PARAMS the effective parameters of that host.
# Each control's `check` is a small declarative description interpreted here (check types below, documented in
# docs/compliance.md, "Check types"); checks that need real logic name a rule of RULES. The result of every control
# is a finding in the operation core's schema (followup_ops/report.py): status pass | partial | fail | na | manual |
# error | warn, expected, actual, and its evidence (file:line with the file's sha256, or the command and the sha256 of
# its output), secrets masked again here. A control that cannot be judged is `error`, never `pass`.
#
# Controller side only (Python 3.9+), used by filter_plugins/followup_djbh.py, the compliance command and the
# hardening engineer's rescan. Pure functions of their inputs: no I/O.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import re

from ansible.module_utils.followup_compliance_facts import mask_line, mask_values

STATUSES = ("pass", "partial", "fail", "na", "manual", "error", "warn")
# Internal only: a runtime part of a check skipped in a container (never reported as such).
SKIP = "skip"
LABELS = {
    "pass": ("符合", "pass"),
    "partial": ("部分符合", "partial"),
    "fail": ("不符合", "fail"),
    "na": ("不适用", "not applicable"),
    "manual": ("人工核查", "manual check"),
    "error": ("检查错误", "check error"),
    "warn": ("注意", "warning"),
}
SOCKET_PLUGINS = ("unix_socket", "auth_socket")
ENABLED_STATES = ("enabled", "enabled-runtime", "static", "generated", "indirect", "alias")
CONTAINER_NOTE = "容器内无法验证运行状态 the running state cannot be verified in a container: judged by configuration"
MAX_ACTUAL = 600
MAX_EVIDENCE = 12


class Result(object):
    """What one check found: a status, a one-line actual value, evidence items and notes."""

    __slots__ = ("actual", "configuration_only", "evidence", "notes", "status")

    def __init__(self, status, actual, evidence=None, notes=None, configuration_only=False):
        self.status = status
        self.actual = actual
        self.evidence = list(evidence or [])
        self.notes = list(notes or [])
        self.configuration_only = configuration_only


class EvidenceError(Exception):
    """The evidence a check needs is missing or could not be collected (the control becomes `error`)."""


# --- the context of one host ---------------------------------------------------------------------------------------
class Context(object):
    def __init__(self, evidence, params, host, targets, catalogue=None, extra=None):
        self.ev = evidence or {}
        self.params = params or {}
        self.host = host
        self.targets = set(targets or [])
        self.catalogue = catalogue or {}
        self.extra = extra or {}
        host_info = self.ev.get("host") or {}
        self.family = (host_info.get("os") or {}).get("family") or "unknown"
        self.container = host_info.get("container")
        self.results = {}
        today = self.extra.get("today")
        if isinstance(today, str):
            today = datetime.date.fromisoformat(today)
        self.today = today or datetime.datetime.now(datetime.timezone.utc).date()

    # sections
    def section(self, name):
        data = self.ev.get(name)
        if data is None:
            raise EvidenceError("no %s evidence was collected" % name)
        if isinstance(data, dict) and data.get("error") and len(data) <= 3:
            raise EvidenceError(str(data["error"]))
        return data

    def file(self, path):
        return (self.ev.get("files") or {}).get(path) or {"exists": False}

    def expand(self, patterns):
        """Existing paths of PATTERNS (globs), in order, as the collector found them."""
        globs = self.ev.get("globs") or {}
        files = self.ev.get("files") or {}
        out = []
        for pattern in patterns:
            matches = globs.get(pattern)
            if matches is None:
                matches = [p for p in sorted(files) if fnmatch.fnmatchcase(p, pattern)]
            for path in matches:
                if (files.get(path) or {}).get("exists") and path not in out:
                    out.append(path)
        return out

    def lines(self, path):
        return (self.file(path).get("lines")) or []

    def param(self, name):
        if name not in self.params:
            raise EvidenceError("parameter %s is not defined" % name)
        return self.params[name]


# --- evidence items ------------------------------------------------------------------------------------------------
def file_item(ctx, path, line=None, text=None):
    info = ctx.file(path)
    item = {"source": "file", "path": path}
    if line is not None:
        item["line"] = line
    if text is not None:
        item["text"] = mask_line(str(text))[:300]
    if info.get("sha256"):
        item["sha256"] = info["sha256"]
    elif info.get("exists"):
        item.update(mode=info.get("mode"), owner=info.get("owner"), group=info.get("group"))
    return item


def command_item(ctx, name, text=None, line=None):
    record = (ctx.ev.get("commands") or {}).get(name) or {}
    item = {"source": "command", "command": " ".join(record.get("argv") or [name])}
    if text is not None:
        item["text"] = mask_line(str(text))[:300]
    if line is not None:
        item["line"] = line
    if record.get("sha256"):
        item["sha256"] = record["sha256"]
    return item


def section_item(ctx, section, text):
    sources = {
        "mysql": "SQL in a read-only transaction (%s)" % ((ctx.ev.get("mysql") or {}).get("via") or "socket"),
        "mongodb": (ctx.ev.get("mongodb") or {}).get("config_source") or "mongodb",
        "services": "systemctl show",
        "packages": (ctx.ev.get("packages") or {}).get("tool") or "package database",
        "listening": "ss -H -tulpn",
        "host": "/etc/os-release",
        "updates": (ctx.ev.get("updates") or {}).get("tool") or "package manager",
        "time": (ctx.ev.get("time") or {}).get("source") or "time service",
        "ssh": "ssh -V",
        "mac": "/sys/fs/selinux, /sys/module/apparmor",
        "world_writable": "directory walk",
        "release": "/opt/followup/<component>/current",
        "nginx": "nginx configuration (parsed)",
        "sysctl": "/proc/sys and sysctl.d",
    }
    item = {"source": section, "command": sources.get(section, section), "text": mask_line(str(text))[:300]}
    sha = (ctx.ev.get(section) or {}).get("sha256") if isinstance(ctx.ev.get(section), dict) else None
    if isinstance(sha, str):
        item["sha256"] = sha
    return item


def render_item(item):
    """One evidence item as a line an assessor reads: path:line text (sha256 1234abcd…)."""
    where = item.get("path") or item.get("command") or item.get("source")
    if item.get("line") is not None and item.get("path"):
        where = "%s:%s" % (where, item["line"])
    elif item.get("line") is not None:
        where = "%s (line %s)" % (where, item["line"])
    text = item.get("text")
    out = "%s %s" % (where, text) if text else where
    if item.get("mode"):
        out += " mode %s %s:%s" % (item.get("mode"), item.get("owner"), item.get("group"))
    if item.get("sha256"):
        out += " (sha256 %s)" % item["sha256"][:16]
    return out


# --- values and comparisons ----------------------------------------------------------------------------------------
TRUE_WORDS = ("1", "on", "yes", "true", "enabled", "y", "force", "force_plus_permanent")
FALSE_WORDS = ("0", "off", "no", "false", "disabled", "n", "none")


def _number(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    match = re.match(r"^-?[0-9]+(\.[0-9]+)?", text)
    if not match:
        raise ValueError("'%s' is not a number" % value)
    return float(match.group(0))


def _items(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [x for x in re.split(r"[,\s]+", str(value).strip()) if x]


def _norm(value, ignore_case):
    text = str(value).strip()
    return text.lower() if ignore_case else text


def _version_tuple(value):
    return tuple(int(x) for x in re.findall(r"[0-9]+", str(value))[:4])


def show(value):
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (k, show(v)) for k, v in value.items())
    if value is True:
        return "set"
    return str(value)


def compare(value, spec, ctx):
    """(ok, detail): VALUE against SPEC's op and value/param (plus accept, min, max, ignore_case)."""
    op = spec.get("op", "eq")
    expected = ctx.param(spec["param"]) if "param" in spec else spec.get("value")
    ignore_case = bool(spec.get("ignore_case"))
    accept = spec.get("accept")
    if accept is not None and _norm(value, ignore_case) in [_norm(a, ignore_case) for a in _items(accept)]:
        return True, "accepted value %s" % show(value)
    try:
        if op == "present":
            return value not in (None, "", False, []), "set" if value not in (None, "", False, []) else "not set"
        if op == "truthy":
            ok = value is True or _norm(value, True) in TRUE_WORDS
            return ok, show(value)
        if op == "falsy":
            ok = value is False or _norm(value, True) in FALSE_WORDS
            return ok, show(value)
        if op in ("le", "ge", "lt", "gt"):
            number = _number(value)
            limit = _number(expected)
            ok = {"le": number <= limit, "ge": number >= limit, "lt": number < limit, "gt": number > limit}[op]
            if "min" in spec and number < _number(spec["min"]):
                return False, "%s is below %s" % (show(value), spec["min"])
            if "max" in spec and number > _number(spec["max"]):
                return False, "%s is above %s" % (show(value), spec["max"])
            return ok, show(value)
        if op in ("eq", "ne"):
            try:
                same = _number(value) == _number(expected) and re.match(r"^-?[0-9.]+$", str(value).strip())
            except ValueError:
                same = False
            same = bool(same) or _norm(value, ignore_case) == _norm(expected, ignore_case)
            return (same if op == "eq" else not same), show(value)
        if op in ("in", "not_in"):
            options = (
                [_norm(x, ignore_case) for x in _items(expected)]
                if not isinstance(expected, list)
                else [_norm(x, ignore_case) for x in expected]
            )
            found = _norm(value, ignore_case) in options
            return (found if op == "in" else not found), show(value)
        if op == "subset":
            allowed = [_norm(x, ignore_case) for x in _items(expected)]
            extra = [x for x in _items(value) if _norm(x, ignore_case) not in allowed]
            return not extra, ("%s (not allowed: %s)" % (show(value), ", ".join(extra))) if extra else show(value)
        if op == "none_in":
            banned = [_norm(x, ignore_case) for x in _items(expected)]
            offered = [x for x in _items(value) if _norm(x, ignore_case) in banned]
            return not offered, ("offers %s" % ", ".join(offered)) if offered else "none of them offered"
        if op in ("contains", "not_contains"):
            has = _norm(expected, ignore_case) in [_norm(x, ignore_case) for x in _items(value)]
            return (has if op == "contains" else not has), show(value)
        if op == "matches":
            return bool(re.search(str(expected), str(value))), show(value)
        if op == "version_ge":
            return _version_tuple(value) >= _version_tuple(expected), show(value)
    except ValueError as err:
        return False, str(err)
    raise EvidenceError("unknown comparison %s" % op)


def expected_text(spec, ctx):
    op = spec.get("op", "eq")
    expected = ctx.params.get(spec["param"]) if "param" in spec else spec.get("value")
    words = {
        "le": "≤",
        "ge": "≥",
        "lt": "<",
        "gt": ">",
        "eq": "=",
        "ne": "≠",
        "in": "in",
        "not_in": "not in",
        "subset": "within",
        "none_in": "none of",
        "contains": "contains",
        "not_contains": "without",
        "matches": "matches",
        "version_ge": "≥",
        "present": "set",
        "truthy": "on",
        "falsy": "off",
    }
    if op in ("present", "truthy", "falsy"):
        return words[op]
    return "%s %s" % (words.get(op, op), show(expected))


# --- combining results ---------------------------------------------------------------------------------------------
def combine_all(results):
    """Every part must hold: pass; none holds: fail; some: partial. Errors win only when nothing failed."""
    statuses = [r.status for r in results if r.status not in ("na", SKIP)]
    if not statuses:
        return SKIP if any(r.status == SKIP for r in results) else "na"
    passed = sum(1 for s in statuses if s in ("pass", "warn"))
    failed = sum(1 for s in statuses if s == "fail")
    partial = sum(1 for s in statuses if s == "partial")
    errors = sum(1 for s in statuses if s == "error")
    manual = sum(1 for s in statuses if s == "manual")
    if failed == partial == errors == manual == 0:
        return "warn" if "warn" in statuses else "pass"
    if failed == partial == 0 and errors:
        return "error"
    if failed == partial == errors == 0 and manual:
        return "manual"
    if passed == partial == 0 and failed:
        return "fail"
    return "partial"


def combine_any(results):
    statuses = [r.status for r in results if r.status not in ("na", SKIP)]
    if not statuses:
        return SKIP if any(r.status == SKIP for r in results) else "na"
    for status in ("pass", "warn", "partial", "manual", "error"):
        if status in statuses:
            return status
    return "fail"


def _joined(results, labels):
    parts = []
    for label, result in zip(labels, results, strict=False):
        if result.status == "na" and not result.actual:
            continue
        if result.status == SKIP:
            text = "not verifiable in a container"
        else:
            text = result.actual or LABELS.get(result.status, (result.status,))[0]
        parts.append("%s: %s" % (label, text) if label else text)
    return "; ".join(parts)


def _label(spec):
    if spec.get("label"):
        return spec["label"]
    kind = spec.get("type")
    if kind in ("setting", "sshd", "fact"):
        return spec.get("key") or spec.get("path")
    if kind == "rule":
        return None
    if kind == "service":
        return ", ".join(spec.get("units") or []) or spec.get("param")
    return None


# --- check types ---------------------------------------------------------------------------------------------------
def evaluate(spec, ctx):
    """The Result of one check SPEC (recursively)."""
    if spec.get("runtime") and ctx.container:
        return Result(SKIP, "", notes=[CONTAINER_NOTE])
    kind = spec["type"]
    handler = CHECKS[kind]
    try:
        result = handler(spec, ctx)
    except EvidenceError as err:
        result = Result("error", mask_values(str(err)))
    if result.status == "fail" and spec.get("otherwise"):
        result.status = spec["otherwise"]
    return result


def _check_all_of(spec, ctx):
    parts = [evaluate(c, ctx) for c in spec["checks"]]
    status = combine_all(parts)
    # A part marked required (e.g. the PAM module) makes the others meaningless when it fails: the whole fails.
    if any(p.status == "fail" and c.get("required") for p, c in zip(parts, spec["checks"], strict=True)):
        status = "fail"
    return _merge(parts, [_label(c) for c in spec["checks"]], status)


def _check_any_of(spec, ctx):
    parts = [evaluate(c, ctx) for c in spec["checks"]]
    status = combine_any(parts)
    if status == "pass":
        chosen = [(p, c) for p, c in zip(parts, spec["checks"], strict=False) if p.status in ("pass", "warn")]
        return _merge([chosen[0][0]], [_label(chosen[0][1])], "pass")
    return _merge(parts, [_label(c) for c in spec["checks"]], status)


def _merge(parts, labels, status):
    evidence, notes = [], []
    for part in parts:
        evidence += part.evidence
        for note in part.notes:
            if note not in notes:
                notes.append(note)
    configuration_only = any(p.status == SKIP or p.configuration_only for p in parts)
    return Result(status, _joined(parts, labels), evidence, notes, configuration_only)


def _check_variants(spec, ctx):
    by = spec["by"]
    if by == "os_family":
        key = ctx.family
    elif by == "mongodb_engine":
        key = ctx.section("mongodb").get("engine")
    elif by == "mysql_flavour":
        key = ctx.section("mysql").get("flavour")
    else:  # pragma: no cover - the validator refuses it
        raise EvidenceError("unknown variant key %s" % by)
    case = (spec.get("cases") or {}).get(key) or spec.get("default")
    if case is None:
        raise EvidenceError("no %s variant for %s" % (by, key))
    result = evaluate(case, ctx)
    result.notes.append("%s: %s" % (by, key))
    return result


def _check_fixed(spec, ctx):
    return Result(spec["status"], spec.get("actual") or "")


def _check_manual(spec, ctx):
    required = spec.get("evidence_required") or []
    return Result("manual", "人工核查 to be checked by a person" + (": " + "; ".join(required) if required else ""))


def _check_na(spec, ctx):
    return Result("na", spec.get("reason") or "")


def _check_derived(spec, ctx):
    found = [(cid, ctx.results[cid]) for cid in spec["controls"] if cid in ctx.results]
    if not found:
        return Result("na", "none of %s applies to this host" % ", ".join(spec["controls"]))
    parts = [Result(f["status"], f.get("actual") or "") for _cid, f in found]
    status = combine_all(parts)
    actual = "; ".join("%s %s" % (cid, LABELS.get(f["status"], (f["status"],))[0]) for cid, f in found)
    return Result(status, actual, [{"source": "derived", "command": cid, "text": f["status"]} for cid, f in found])


def _check_fleet(spec, ctx):
    rows = (ctx.extra.get("fleet") or {}).get(spec["control"]) or []
    if not rows:
        return Result("na", "no host reported %s" % spec["control"])
    parts = [Result(status, "") for _host, status in rows]
    status = combine_all(parts)
    bad = ["%s %s" % (h, LABELS.get(s, (s,))[0]) for h, s in rows if s not in ("pass", "na")]
    return Result(
        status,
        "; ".join(bad) or "all hosts %s" % LABELS["pass"][0],
        [{"source": "derived", "command": spec["control"], "text": "%s: %s" % (h, s)} for h, s in rows],
    )


# --- settings in files ---------------------------------------------------------------------------------------------
def split_setting(line):
    """(key, value) of one configuration line: `key = value`, `key=value`, `key value` or a bare `key` (True)."""
    text = line.strip()
    equals = text.find("=")
    space = re.search(r"\s", text)
    if equals > 0 and (space is None or equals < space.start() or text[space.start() : equals].strip() == ""):
        return text[:equals].strip(), text[equals + 1 :].strip().strip('"').strip("'")
    parts = text.split(None, 1)
    if len(parts) == 1:
        return parts[0], True
    return parts[0], parts[1].strip().strip('"')


def find_setting(ctx, files, key, section=None, ignore_case=False):
    """(value, path, line, text) of the last definition of KEY in FILES (in order), or (None, ...)."""
    found = (None, None, None, None)
    want = key.lower() if ignore_case else key
    for path in ctx.expand(files):
        current = None
        for number, line in ctx.lines(path):
            text = line.strip()
            if text.startswith("[") and text.endswith("]"):
                current = text[1:-1].strip()
                continue
            if section and current != section:
                continue
            name, value = split_setting(text)
            if (name.lower() if ignore_case else name) == want:
                found = (value, path, number, text)
    return found


PAM_STACKS = {
    "debian": {
        "auth": ["/etc/pam.d/common-auth"],
        "account": ["/etc/pam.d/common-account"],
        "password": ["/etc/pam.d/common-password"],
        "session": ["/etc/pam.d/common-session"],
    },
    "redhat": {
        k: ["/etc/pam.d/system-auth", "/etc/pam.d/password-auth"] for k in ("auth", "account", "password", "session")
    },
}
MODULE_STACK = {
    "pam_pwquality.so": "password",
    "pam_cracklib.so": "password",
    "pam_pwhistory.so": "password",
    "pam_faillock.so": "auth",
    "pam_tally2.so": "auth",
    "pam_unix.so": "password",
}


def pam_lines(ctx, files, kind=None, depth=0):
    """[(path, number, type, control, module, {arg: value}, text)] of the PAM FILES, includes resolved."""
    out = []
    for path in ctx.expand(files):
        for number, line in ctx.lines(path):
            text = line.strip()
            if text.startswith("@include"):
                parts = text.split()
                if len(parts) > 1 and depth < 4:
                    out += pam_lines(ctx, ["/etc/pam.d/" + parts[1]], kind, depth + 1)
                continue
            match = re.match(r"^-?(auth|account|password|session)\s+(\[[^\]]*\]|\S+)\s+(\S+)\s*(.*)$", text)
            if not match:
                continue
            ptype, control, module, rest = match.groups()
            if control in ("include", "substack") and depth < 4:
                out += pam_lines(ctx, ["/etc/pam.d/" + module], kind or ptype, depth + 1)
                continue
            if kind and ptype != kind:
                continue
            args = {}
            for arg in rest.split():
                if "=" in arg:
                    name, value = arg.split("=", 1)
                    args[name] = value
                else:
                    args[arg] = True
            out.append((path, number, ptype, control, module.rsplit("/", 1)[-1], args, text))
    return out


def pam_files(spec, ctx):
    if spec.get("files"):
        return spec["files"]
    stack = spec.get("stack") or "auth"
    family = ctx.family if ctx.family in PAM_STACKS else "debian"
    return PAM_STACKS[family][stack]


def _check_setting(spec, ctx):
    files = spec["files"]
    value, path, line, text = find_setting(ctx, files, spec["key"], spec.get("section"), spec.get("ignore_case"))
    evidence = []
    source = None
    if spec.get("pam_override"):
        module = spec["pam_override"]
        stack = MODULE_STACK.get(module, "auth")
        for ppath, pnum, _t, _c, pmod, args, ptext in pam_lines(ctx, pam_files({"stack": stack}, ctx), stack):
            if pmod == module and spec["key"] in args:
                value, path, line, text = args[spec["key"]], ppath, pnum, ptext
                source = "PAM argument"
    existing = ctx.expand(files)
    if value is None:
        if not existing and source is None:
            return Result(
                "fail", "%s missing" % " or ".join(files), [{"source": "file", "path": files[0], "text": "missing"}]
            )
        if "default" in spec:
            value = spec["default"]
            shown = "%s not set (default %s)" % (spec["key"], show(value))
            evidence = [file_item(ctx, existing[0], None, "%s not set" % spec["key"])] if existing else []
        else:
            return Result(
                "fail",
                "%s not set" % spec["key"],
                [file_item(ctx, existing[0], None, "%s not set" % spec["key"])] if existing else [],
            )
    else:
        shown = "%s %s" % (spec["key"], show(value))
        evidence = [file_item(ctx, path, line, text)]
    ok, detail = compare(value, spec, ctx)
    if not ok and detail and detail != show(value):
        shown += " (%s)" % detail
    return Result("pass" if ok else "fail", shown, evidence)


def _check_pam(spec, ctx):
    modules = spec["module"] if isinstance(spec["module"], list) else [spec["module"]]
    kind = spec.get("kind") or spec.get("stack")
    files = pam_files(spec, ctx)
    lines = [x for x in pam_lines(ctx, files, kind) if x[4] in modules]
    existing = ctx.expand(files)
    if not existing:
        return Result("fail", "%s missing" % " / ".join(files))
    if spec.get("absent"):
        if lines:
            return Result("fail", "%s present" % lines[0][4], [file_item(ctx, lines[0][0], lines[0][1], lines[0][6])])
        return Result("pass", "%s absent" % "/".join(modules), [file_item(ctx, existing[0])])
    if not lines:
        return Result(
            "fail",
            "%s not in the %s stack (%s)" % ("/".join(modules), kind or "", ", ".join(existing)),
            [file_item(ctx, p) for p in existing[:2]],
        )
    args_spec = spec.get("args") or {}
    if not args_spec:
        path, number, _t, _c, module, _a, text = lines[0]
        return Result("pass", "%s in %s" % (module, path), [file_item(ctx, path, number, text)])
    best = None
    for path, number, _t, _c, module, args, text in lines:
        problems = []
        for name, arg_spec in args_spec.items():
            if name not in args:
                problems.append("%s not set" % name)
                continue
            ok, _detail = compare(args[name], arg_spec, ctx)
            if not ok:
                problems.append("%s=%s" % (name, show(args[name])))
        if not problems:
            return Result(
                "pass",
                "%s %s" % (module, " ".join("%s=%s" % (k, show(args[k])) for k in args_spec)),
                [file_item(ctx, path, number, text)],
            )
        if best is None:
            best = (path, number, text, module, problems)
    path, number, text, module, problems = best
    return Result("fail", "%s: %s" % (module, ", ".join(problems)), [file_item(ctx, path, number, text)])


def _check_file_contains(spec, ctx):
    flags = re.I if spec.get("ignore_case") else 0
    if spec.get("command"):
        name = spec["command"]
        record = (ctx.ev.get("commands") or {}).get(name)
        if not record:
            raise EvidenceError("%s was not run" % name)
        if record.get("error") and not record.get("lines"):
            raise EvidenceError("%s: %s" % (name, record["error"]))
        sources = [(None, n, text) for n, text in enumerate(record.get("lines") or [], 1)]
    else:
        existing = ctx.expand(spec["files"])
        if not existing:
            if spec.get("present", True):
                return Result("fail", "none of %s exists" % ", ".join(spec["files"]))
            return Result("pass", "none of %s exists" % ", ".join(spec["files"]))
        sources = [(p, n, text) for p in existing for n, text in ctx.lines(p)]
    if "each_param" in spec:
        items = ctx.param(spec["each_param"])
        patterns = [(item, spec["each_pattern"].replace("{item}", re.escape(str(item).rstrip("/")))) for item in items]
    else:
        patterns = [(p, p) for p in (spec.get("patterns") or [spec["pattern"]])]
    found, missing, evidence = [], [], []
    for label, pattern in patterns:
        regex = re.compile(pattern, flags)
        hit = next(((p, n, t) for p, n, t in sources if regex.search(t.strip())), None)
        if hit:
            found.append(label)
            if len(evidence) < MAX_EVIDENCE:
                evidence.append(
                    file_item(ctx, hit[0], hit[1], hit[2])
                    if hit[0]
                    else command_item(ctx, spec["command"], hit[2], hit[1])
                )
        else:
            missing.append(label)
    if not spec.get("present", True):
        if found:
            return Result("fail", "present: %s" % ", ".join(found), evidence)
        return Result("pass", "absent", [])
    if not missing:
        return Result(
            "pass", "found: %s" % ", ".join(str(f) for f in found) if len(patterns) > 1 else "found", evidence
        )
    if not evidence and not spec.get("command"):
        evidence = [file_item(ctx, p) for p in ctx.expand(spec["files"])[:3]]
    status = "partial" if found else "fail"
    return Result(status, "missing: %s" % ", ".join(str(m) for m in missing), evidence)


def _check_file_mode(spec, ctx):
    entries = spec.get("paths") or ctx.param(spec["param"])
    problems, good, evidence = [], [], []
    for pattern, want in sorted(entries.items()):
        paths = ctx.expand([pattern])
        if not paths:
            if spec.get("missing") == "fail":
                problems.append("%s missing" % pattern)
            continue
        for path in paths:
            info = ctx.file(path)
            bad = []
            allowed = int(str(want.get("mode", "7777")), 8)
            actual = int(info.get("mode") or "0", 8)
            if actual & ~allowed & 0o7777:
                bad.append("mode %s (at most %s)" % (info.get("mode"), want.get("mode")))
            if want.get("owner") and info.get("owner") != want["owner"]:
                bad.append("owner %s (want %s)" % (info.get("owner"), want["owner"]))
            groups = want.get("group")
            if groups and info.get("group") not in (groups if isinstance(groups, list) else [groups]):
                bad.append("group %s (want %s)" % (info.get("group"), show(groups)))
            item = {
                "source": "stat",
                "path": path,
                "mode": info.get("mode"),
                "owner": info.get("owner"),
                "group": info.get("group"),
            }
            if bad:
                problems.append("%s %s" % (path, ", ".join(bad)))
                evidence.append(item)
            else:
                good.append(path)
                if len(evidence) < 4:
                    evidence.append(item)
    if not problems and not good:
        return Result("na", "none of the files exists")
    if not problems:
        return Result("pass", "%d files as required" % len(good), evidence[:MAX_EVIDENCE])
    return Result("partial" if good else "fail", "; ".join(problems), evidence[:MAX_EVIDENCE])


def _check_file_exists(spec, ctx):
    present = ctx.expand(spec["paths"])
    quantifier = spec.get("quantifier", "all")
    if (present and quantifier == "any") or (len(present) == len(spec["paths"]) and quantifier == "all"):
        return Result("pass", "present: %s" % ", ".join(present), [file_item(ctx, p) for p in present[:3]])
    missing = [p for p in spec["paths"] if p not in present]
    return Result("fail", "missing: %s" % ", ".join(missing))


# --- sshd, sysctl, services, packages, ports, facts ---------------------------------------------------------------
def _check_sshd(spec, ctx):
    ssh = ctx.section("ssh")
    if ssh.get("sshd_error"):
        raise EvidenceError("sshd -T: %s" % ssh["sshd_error"])
    values = ssh.get("sshd") or {}
    key = spec["key"].lower()
    if key not in values:
        if spec.get("missing") == "skip":
            return Result("na", "")
        if spec.get("op") == "present":
            return Result("fail", "%s not set" % key, [command_item(ctx, "sshd -T", "%s not set" % key)])
        return Result("fail", "%s not reported by sshd -T" % key)
    value = values[key]
    if spec.get("op") == "present" and value in ("", "none"):
        return Result("fail", "%s not set" % key, [command_item(ctx, "sshd -T", "%s %s" % (key, value))])
    ok, detail = compare(value, spec, ctx)
    line = (ssh.get("sshd_lines") or {}).get(key)
    shown = "%s %s" % (key, value) if len(value) < 120 else "%s %s…" % (key, value[:120])
    if not ok and detail != show(value):
        shown = "%s: %s" % (key, detail)
    return Result("pass" if ok else "fail", shown, [command_item(ctx, "sshd -T", "%s %s" % (key, value), line)])


def _sysctl_ok(value, expected):
    options = expected if isinstance(expected, list) else [expected]
    return value is not None and str(value).strip() in [str(o) for o in options]


def _check_sysctl(spec, ctx):
    data = ctx.section("sysctl")
    wanted = spec.get("keys") or dict((k, {"op": "eq", "value": v}) for k, v in ctx.param(spec["param_map"]).items())
    runtime, config = data.get("runtime") or {}, data.get("config") or {}
    results, evidence = [], []
    for key, rule in sorted(wanted.items()):
        expected = ctx.param(rule["param"]) if "param" in rule else rule.get("value")
        conf = config.get(key)
        conf_ok = conf is not None and _sysctl_ok(conf["value"], expected)
        if conf:
            evidence.append(
                {
                    "source": "file",
                    "path": conf["file"],
                    "line": conf["line"],
                    "text": "%s = %s" % (key, conf["value"]),
                    "sha256": conf.get("sha256"),
                }
            )
        if ctx.container:
            if conf_ok:
                results.append(("pass", "%s = %s (sysctl.d)" % (key, conf["value"])))
            elif conf:
                results.append(("fail", "%s = %s in %s (want %s)" % (key, conf["value"], conf["file"], show(expected))))
            else:
                results.append(("fail", "%s not set in sysctl.d (want %s)" % (key, show(expected))))
            continue
        value = runtime.get(key)
        evidence.append(
            {"source": "sysctl", "command": "/proc/sys/" + key.replace(".", "/"), "text": "%s = %s" % (key, value)}
        )
        if not _sysctl_ok(value, expected):
            results.append(("fail", "%s = %s (want %s)" % (key, value, show(expected))))
        elif not conf_ok:
            results.append(("partial", "%s = %s running, not persistent in sysctl.d" % (key, value)))
        else:
            results.append(("pass", "%s = %s" % (key, value)))
    parts = [Result(s, a) for s, a in results]
    status = combine_all(parts)
    bad = [a for s, a in results if s != "pass"]
    actual = "; ".join(bad) if bad else "; ".join(a for _s, a in results)
    notes = [CONTAINER_NOTE] if ctx.container else []
    return Result(status, actual, evidence[:MAX_EVIDENCE], notes, bool(ctx.container))


def _unit_ok(info, state):
    active = info.get("active_state") == "active"
    enabled = info.get("unit_file_state") in ENABLED_STATES
    if state == "active":
        return active
    if state == "enabled":
        return enabled
    if state == "enabled_active":
        return active and enabled
    if state == "disabled":
        return info.get("load_state") in ("not-found", "masked") or (not enabled and not active)
    raise EvidenceError("unknown unit state %s" % state)


def _check_service(spec, ctx):
    services = ctx.section("services")
    units = spec.get("units") or ctx.param(spec["param"])
    state = spec.get("state", "active")
    quantifier = spec.get("quantifier", "all")
    rows = []
    for unit in units:
        info = services.get(unit)
        if info is None:
            raise EvidenceError("the state of %s was not collected" % unit)
        if info.get("error"):
            raise EvidenceError("systemctl: %s" % info["error"])
        rows.append((unit, info, _unit_ok(info, state)))
    evidence = [
        section_item(
            ctx, "services", "%s %s/%s" % (u, i.get("active_state"), i.get("unit_file_state") or i.get("load_state"))
        )
        for u, i, ok in rows
        if ok or state == "disabled" or quantifier == "all" or len(rows) <= 3
    ][:MAX_EVIDENCE]
    good = [u for u, _i, ok in rows if ok]
    bad = [(u, i) for u, i, ok in rows if not ok]
    if state == "disabled":
        if bad:
            return Result(
                "fail",
                "enabled or running: %s"
                % ", ".join("%s (%s/%s)" % (u, i.get("active_state"), i.get("unit_file_state")) for u, i in bad),
                [
                    section_item(ctx, "services", "%s %s/%s" % (u, i.get("active_state"), i.get("unit_file_state")))
                    for u, i in bad
                ][:MAX_EVIDENCE],
            )
        return Result("pass", "none of %d units enabled or running" % len(rows), [])
    if quantifier == "any":
        if good:
            return Result("pass", "%s %s" % (", ".join(good), state.replace("_", " and ")), evidence)
        present = [(u, i) for u, i, _ok in rows if i.get("load_state") not in ("not-found",)]
        if not present:
            return Result("fail", "none of %s installed" % ", ".join(units))
        return Result(
            "fail",
            ", ".join("%s %s/%s" % (u, i.get("active_state"), i.get("unit_file_state")) for u, i in present),
            evidence,
        )
    if not bad:
        return Result("pass", "%s %s" % (", ".join(good), state.replace("_", " and ")), evidence)
    return Result(
        "partial" if good else "fail",
        ", ".join(
            "%s %s/%s" % (u, i.get("active_state"), i.get("unit_file_state") or i.get("load_state")) for u, i in bad
        ),
        evidence,
    )


def _check_package(spec, ctx):
    packages = ctx.section("packages")
    installed = packages.get("installed") or {}
    names = spec.get("names") or ctx.param(spec["param"])
    present = [n for n in names if n in installed]
    tool = packages.get("tool") or "packages"
    evidence = [section_item(ctx, "packages", "%s %s" % (n, installed[n])) for n in present][:MAX_EVIDENCE]
    if spec.get("state", "present") == "absent":
        if present:
            return Result("fail", "installed: %s" % ", ".join(present), evidence)
        return Result(
            "pass", "none installed (%s)" % tool, [section_item(ctx, "packages", "none of %d installed" % len(names))]
        )
    quantifier = spec.get("quantifier", "all")
    if (present and quantifier == "any") or len(present) == len(names):
        return Result("pass", "installed: %s" % ", ".join(present), evidence)
    return Result("fail", "not installed: %s" % ", ".join(n for n in names if n not in installed), evidence)


def _check_ports(spec, ctx):
    if spec.get("unless_target") and spec["unless_target"] in ctx.targets:
        return Result("na", "%s host" % spec["unless_target"])
    listening = ctx.section("listening")
    ports = [int(p) for p in (spec.get("ports") or ctx.param(spec["param"]))]
    open_ = [s for s in listening.get("sockets") or [] if s["port"] in ports and s["address"] not in ("127.0.0.11",)]
    if open_:
        return Result(
            "fail",
            "listening: %s"
            % ", ".join(
                "%s/%s on %s (%s)" % (s["port"], s["proto"], s["address"], s.get("process") or "?") for s in open_
            ),
            [
                section_item(ctx, "listening", "%s %s:%s %s" % (s["proto"], s["address"], s["port"], s.get("process")))
                for s in open_
            ][:MAX_EVIDENCE],
        )
    return Result(
        "pass",
        "none of %d ports listening" % len(ports),
        [section_item(ctx, "listening", "%d sockets listening" % len(listening.get("sockets") or []))],
    )


def resolve(data, path):
    """The value at the dotted PATH of DATA, or raise KeyError."""
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(part)
    return node


def _check_fact(spec, ctx):
    parts = spec["path"].split(".")
    section = ctx.section(parts[0])
    try:
        value = resolve(section, parts[1:])
    except KeyError:
        value = None
    if value is None:
        if isinstance(section, dict) and section.get("error"):
            raise EvidenceError(section["error"])
        if "default" in spec:
            value = spec["default"]
            shown = "%s not set (default %s)" % (parts[-1], show(value))
        else:
            missing = spec.get("missing", "fail")
            text = "%s not set" % ".".join(parts[1:])
            if missing == "skip":
                return Result("na", "")
            return Result(missing if missing in STATUSES else "fail", text, [section_item(ctx, parts[0], text)])
    else:
        shown = "%s %s" % (parts[-1], show(value))
    ok, detail = compare(value, spec, ctx)
    if not ok and detail and detail != show(value):
        shown += " (%s)" % detail
    return Result("pass" if ok else "fail", shown, [section_item(ctx, parts[0], "%s = %s" % (parts[-1], show(value)))])


def _check_rule(spec, ctx):
    func = RULES[spec["rule"]][0]
    return func(spec, ctx)


CHECKS = {
    "all_of": _check_all_of,
    "any_of": _check_any_of,
    "variants": _check_variants,
    "setting": _check_setting,
    "pam": _check_pam,
    "sshd": _check_sshd,
    "sysctl": _check_sysctl,
    "service": _check_service,
    "package": _check_package,
    "ports": _check_ports,
    "file_mode": _check_file_mode,
    "file_exists": _check_file_exists,
    "file_contains": _check_file_contains,
    "fact": _check_fact,
    "rule": _check_rule,
    "derived": _check_derived,
    "fleet": _check_fleet,
    "fixed": _check_fixed,
    "manual": _check_manual,
    "na": _check_na,
}

# Keys each check type accepts (besides type, label, runtime, otherwise), and which of them are required.
_VALUE = ("op", "value", "param", "ignore_case", "accept", "min", "max", "default")
CHECK_KEYS = {
    "all_of": ({"checks"}, set()),
    "any_of": ({"checks"}, set()),
    "variants": ({"by", "cases"}, {"default"}),
    "setting": ({"files", "key"}, {"section", "pam_override"} | set(_VALUE)),
    "pam": ({"module"}, {"stack", "files", "kind", "args", "absent"}),
    "sshd": ({"key"}, {"missing"} | set(_VALUE)),
    "sysctl": (set(), {"keys", "param_map"}),
    "service": ({"state"}, {"units", "param", "quantifier"}),
    "package": ({"state"}, {"names", "param", "quantifier"}),
    "ports": (set(), {"ports", "param", "unless_target"}),
    "file_mode": (set(), {"paths", "param", "missing"}),
    "file_exists": ({"paths"}, {"quantifier"}),
    "file_contains": (
        set(),
        {"files", "command", "pattern", "patterns", "each_param", "each_pattern", "present", "ignore_case"},
    ),
    "fact": ({"path"}, {"missing"} | set(_VALUE)),
    "rule": ({"rule"}, set()),
    "derived": ({"controls"}, set()),
    "fleet": ({"control"}, set()),
    "fixed": ({"status"}, {"actual"}),
    "manual": (set(), {"evidence_required"}),
    "na": ({"reason"}, set()),
}
COMMON_KEYS = {"type", "label", "runtime", "otherwise", "required"}
OPS = (
    "eq",
    "ne",
    "le",
    "ge",
    "lt",
    "gt",
    "in",
    "not_in",
    "subset",
    "none_in",
    "contains",
    "not_contains",
    "matches",
    "version_ge",
    "present",
    "truthy",
    "falsy",
)
NUMERIC_OPS = ("le", "ge", "lt", "gt")
VARIANT_KEYS = {
    "os_family": ("debian", "redhat"),
    "mongodb_engine": ("mongod", "ferretdb"),
    "mysql_flavour": ("mariadb", "mysql"),
}
COMMANDS = ("auditctl", "nft", "sshd -T", "chronyc")


# --- rules: accounts -----------------------------------------------------------------------------------------------
def _accounts(ctx):
    data = ctx.section("accounts")
    if data.get("problems") and not data.get("users"):
        raise EvidenceError("; ".join(data["problems"]))
    return data


def _account_item(ctx, user, text, field="shadow_line", path="/etc/shadow"):
    data = ctx.ev.get("accounts") or {}
    item = {"source": "file", "path": path, "line": user.get(field), "text": "%s: %s" % (user["name"], text)}
    sha = (data.get("sha256") or {}).get(path)
    if sha:
        item["sha256"] = sha
    return item


def _login_shell(user, ctx):
    return user.get("shell") not in ctx.param("nologin_shells")


def rule_accounts_no_empty_password(spec, ctx):
    data = _accounts(ctx)
    empty = [u for u in data["users"] if u.get("password") == "empty" or u.get("passwd_field") == "empty"]
    if empty:
        return Result(
            "fail",
            "empty password field for %s" % ", ".join(u["name"] for u in empty),
            [_account_item(ctx, u, "empty password field") for u in empty][:MAX_EVIDENCE],
        )
    return Result(
        "pass",
        "no empty password among %d accounts" % len(data["users"]),
        [_account_item(ctx, {"name": "all", "shadow_line": None}, "no empty password field")],
    )


def rule_accounts_unique_ids(spec, ctx):
    data = _accounts(ctx)
    users, groups = data["users"], data.get("groups") or []
    problems, evidence = [], []
    for user in users:
        if user.get("uid") == 0 and user["name"] != "root":
            problems.append("%s has UID 0" % user["name"])
            evidence.append(_account_item(ctx, user, "UID 0", "passwd_line", "/etc/passwd"))
    for label, values in (
        ("user name", [u["name"] for u in users]),
        ("UID", [u.get("uid") for u in users]),
        ("group name", [g["name"] for g in groups]),
    ):
        seen = set()
        for value in values:
            if value in seen:
                problems.append("duplicate %s %s" % (label, value))
            seen.add(value)
    if problems:
        return Result("fail", "; ".join(problems), evidence)
    return Result(
        "pass",
        "only root has UID 0; names and UIDs unique",
        [_account_item(ctx, {"name": "root", "passwd_line": 1}, "UID 0", "passwd_line", "/etc/passwd")],
    )


def _pwquality_value(ctx, key):
    files = ["/etc/security/pwquality.conf", "/etc/security/pwquality.conf.d/*.conf"]
    value, path, line, text = find_setting(ctx, files, key)
    for ppath, pnum, _t, _c, module, args, ptext in pam_lines(ctx, pam_files({"stack": "password"}, ctx), "password"):
        if module in ("pam_pwquality.so", "pam_cracklib.so") and key in args:
            value, path, line, text = args[key], ppath, pnum, ptext
    return value, path, line, text


def rule_pwquality_classes(spec, ctx):
    need = int(ctx.param("password_min_classes"))
    value, path, line, text = _pwquality_value(ctx, "minclass")
    evidence = [file_item(ctx, path, line, text)] if path else []
    if value is not None and _number(value) >= need:
        return Result("pass", "minclass %s" % value, evidence)
    negative = []
    for key in ("dcredit", "ucredit", "lcredit", "ocredit"):
        credit, cpath, cline, ctext = _pwquality_value(ctx, key)
        if credit is not None and _number(credit) < 0:
            negative.append(key)
            evidence.append(file_item(ctx, cpath, cline, ctext))
    if len(negative) >= need:
        return Result("pass", "required classes: %s" % ", ".join(negative), evidence)
    have = max(int(_number(value)) if value is not None else 0, len(negative))
    return Result(
        "fail",
        "%d character classes required (minclass %s; negative credits: %s)"
        % (have, value if value is not None else "not set", ", ".join(negative) or "none"),
        evidence,
    )


def rule_accounts_password_max_days(spec, ctx):
    data = _accounts(ctx)
    limit = int(ctx.param("password_max_days"))
    exempt = ctx.param("password_ageing_exempt")
    checked, bad = [], []
    for user in data["users"]:
        if user.get("password") != "set" or not _login_shell(user, ctx) or user["name"] in exempt:
            continue
        checked.append(user["name"])
        if user.get("max_days") is None or user["max_days"] > limit:
            bad.append(user)
    if bad:
        return Result(
            "fail",
            "maximum password age above %d days: %s"
            % (limit, ", ".join("%s (%s)" % (u["name"], u.get("max_days")) for u in bad)),
            [_account_item(ctx, u, "max days %s" % u.get("max_days")) for u in bad][:MAX_EVIDENCE],
        )
    if not checked:
        return Result(
            "pass",
            "no interactive account has a usable password (key-only or locked)",
            [_account_item(ctx, {"name": "all", "shadow_line": None}, "no usable password")],
        )
    return Result(
        "pass",
        "%s: at most %d days" % (", ".join(checked), limit),
        [_account_item(ctx, {"name": n, "shadow_line": None}, "max days ok") for n in checked][:4],
    )


def rule_accounts_hash_scheme(spec, ctx):
    data = _accounts(ctx)
    allowed = ctx.param("password_hash_prefixes")
    users = [u for u in data["users"] if u.get("password") == "set"]
    bad = [u for u in users if u.get("hash_prefix") not in allowed]
    if bad:
        return Result(
            "fail",
            "weak or unknown hash scheme: %s" % ", ".join("%s (%s)" % (u["name"], u.get("hash_prefix")) for u in bad),
            [_account_item(ctx, u, "hash scheme %s" % u.get("hash_prefix")) for u in bad][:MAX_EVIDENCE],
        )
    return Result(
        "pass",
        "%d passwords, all %s"
        % (len(users), ", ".join(sorted(set(u.get("hash_prefix") or "" for u in users))) or "none set"),
        [],
    )


PROFILE_FILES = ["/etc/profile", "/etc/profile.d/*.sh", "/etc/bash.bashrc", "/etc/bashrc"]


def rule_shell_tmout(spec, ctx):
    limit = int(ctx.param("shell_idle_timeout"))
    value, readonly, evidence = None, False, []
    for path in ctx.expand(PROFILE_FILES):
        for number, line in ctx.lines(path):
            text = line.strip()
            match = re.match(
                r"^(?:export\s+|readonly\s+|declare\s+-[a-z]*\s+|typeset\s+-[a-z]*\s+)?TMOUT=([0-9]+)", text
            )
            if match:
                value = int(match.group(1))
                evidence.append(file_item(ctx, path, number, text))
                if re.match(r"^(readonly|declare\s+-[a-z]*r|typeset\s+-[a-z]*r)", text):
                    readonly = True
            elif re.match(
                r"^(readonly\s+(-[a-z]+\s+)?|declare\s+-[a-z]*r[a-z]*\s+|typeset\s+-[a-z]*r[a-z]*\s+)"
                r"(.*\s)?TMOUT\b",
                text,
            ):
                readonly = True
                evidence.append(file_item(ctx, path, number, text))
    if value is None:
        return Result("fail", "TMOUT not set in %s" % ", ".join(PROFILE_FILES))
    if not 0 < value <= limit:
        return Result("fail", "TMOUT=%d (limit %d)" % (value, limit), evidence)
    if not readonly:
        return Result("partial", "TMOUT=%d but not read-only (a user can unset it)" % value, evidence)
    return Result("pass", "TMOUT=%d, read-only" % value, evidence)


def rule_accounts_system_nologin(spec, ctx):
    data = _accounts(ctx)
    uid_min = int((ctx.ev.get("host") or {}).get("uid_min") or 1000)
    allowed = set(ctx.param("login_accounts_allowed")) | {"root"}
    bad = [
        u
        for u in data["users"]
        if u.get("uid") is not None and u["uid"] < uid_min and u["name"] not in allowed and _login_shell(u, ctx)
    ]
    if bad:
        return Result(
            "fail",
            "system accounts with a login shell: %s" % ", ".join("%s (%s)" % (u["name"], u.get("shell")) for u in bad),
            [_account_item(ctx, u, "shell %s" % u.get("shell"), "passwd_line", "/etc/passwd") for u in bad][:12],
        )
    return Result(
        "pass",
        "every system account has a non-login shell",
        [_account_item(ctx, {"name": "system accounts", "passwd_line": None}, "nologin", "passwd_line", "/etc/passwd")],
    )


def rule_accounts_default_locked(spec, ctx):
    data = _accounts(ctx)
    names = ctx.param("default_accounts")
    present = [u for u in data["users"] if u["name"] in names]
    bad = [u for u in present if u.get("password") not in ("locked", "no shadow entry")]
    if bad:
        return Result(
            "fail",
            "not locked: %s" % ", ".join(u["name"] for u in bad),
            [_account_item(ctx, u, "password %s" % u.get("password")) for u in bad],
        )
    return Result(
        "pass",
        "%s locked; the others absent" % (", ".join(u["name"] for u in present) or "none present"),
        [_account_item(ctx, u, "locked") for u in present][:4],
    )


def rule_accounts_login_declared(spec, ctx):
    data = _accounts(ctx)
    allowed = set(ctx.param("login_accounts_allowed"))
    login = [u for u in data["users"] if _login_shell(u, ctx)]
    extra = [u for u in login if u["name"] not in allowed]
    if extra:
        return Result(
            "fail",
            "not in the account inventory: %s" % ", ".join("%s (%s)" % (u["name"], u.get("shell")) for u in extra),
            [_account_item(ctx, u, "shell %s" % u.get("shell"), "passwd_line", "/etc/passwd") for u in extra][:12],
        )
    return Result(
        "pass",
        "login accounts: %s" % ", ".join(u["name"] for u in login),
        [_account_item(ctx, u, "shell %s" % u.get("shell"), "passwd_line", "/etc/passwd") for u in login][:6],
    )


def rule_accounts_admin_roles(spec, ctx):
    data = _accounts(ctx)
    groups = dict((g["name"], g) for g in data.get("groups") or [])
    primary = {}
    for user in data["users"]:
        primary.setdefault(user.get("gid"), []).append(user["name"])
    missing, empty, ok = [], [], []
    for name in ctx.param("admin_role_groups"):
        group = groups.get(name)
        if not group:
            missing.append(name)
        elif not (group.get("members") or primary.get(group.get("gid"))):
            empty.append(name)
        else:
            ok.append(name)
    evidence = [
        _account_item(
            ctx,
            {"name": n, "group_line": groups[n].get("group_line")},
            "members %s" % show(groups[n].get("members")),
            "group_line",
            "/etc/group",
        )
        for n in ok + empty
    ]
    if not missing and not empty:
        return Result("pass", "groups with members: %s" % ", ".join(ok), evidence)
    text = "; ".join(
        x
        for x in (
            "missing: %s" % ", ".join(missing) if missing else "",
            "without members: %s" % ", ".join(empty) if empty else "",
        )
        if x
    )
    return Result("partial" if ok else "fail", text, evidence)


SUDOERS = ["/etc/sudoers", "/etc/sudoers.d/*"]


def _sudoers_lines(ctx):
    return [(p, n, t.strip()) for p in ctx.expand(SUDOERS) for n, t in ctx.lines(p)]


def rule_sudo_nopasswd(spec, ctx):
    allowed = set(ctx.param("sudo_nopasswd_allowed"))
    lines = _sudoers_lines(ctx)
    if not lines and not ctx.expand(SUDOERS):
        return Result("fail", "/etc/sudoers cannot be read")
    bad = []
    for path, number, text in lines:
        if text.startswith(("Defaults", "#", "@", "User_Alias", "Cmnd_Alias", "Host_Alias", "Runas_Alias")):
            continue
        match = re.match(r"^(\S+)\s+.*?\bNOPASSWD\s*:\s*(.*)$", text)
        if match and "ALL" in [c.strip() for c in match.group(2).split(",")]:
            subject = match.group(1)
            if subject not in allowed and subject.lstrip("%") not in allowed:
                bad.append((path, number, text, subject))
    if bad:
        return Result(
            "fail",
            "passwordless sudo to ALL: %s" % ", ".join(b[3] for b in bad),
            [file_item(ctx, p, n, t) for p, n, t, _s in bad],
        )
    return Result(
        "pass",
        "no NOPASSWD rule grants ALL%s" % (" (allowed: %s)" % ", ".join(sorted(allowed)) if allowed else ""),
        [file_item(ctx, p) for p in ctx.expand(SUDOERS)[:3]],
    )


def rule_sudo_logging(spec, ctx):
    lines = _sudoers_lines(ctx)
    defaults = [(p, n, t) for p, n, t in lines if t.startswith("Defaults")]
    use_pty = [(p, n, t) for p, n, t in defaults if re.search(r"\buse_pty\b", t) and "!use_pty" not in t]
    no_syslog = [(p, n, t) for p, n, t in defaults if re.search(r"!\s*syslog\b", t)]
    logfile = [(p, n, t) for p, n, t in defaults if re.search(r"\blogfile\s*=", t)]
    evidence = [file_item(ctx, p, n, t) for p, n, t in use_pty + logfile + no_syslog][:MAX_EVIDENCE]
    problems = []
    if not use_pty:
        problems.append("Defaults use_pty not set")
    if no_syslog and not logfile:
        problems.append("syslog turned off and no logfile")
    if not problems:
        return Result("pass", "use_pty; logged to %s" % ("a logfile" if logfile else "syslog"), evidence)
    return Result("partial" if use_pty or logfile else "fail", "; ".join(problems), evidence)


def _umask_strict(value, required):
    return (int(value, 8) & required) == required


def rule_umask(spec, ctx):
    required = int(str(ctx.param("umask")), 8)
    evidence, bad = [], []
    value, path, line, text = find_setting(ctx, ["/etc/login.defs"], "UMASK")
    if value is None:
        bad.append("login.defs UMASK not set")
    else:
        evidence.append(file_item(ctx, path, line, text))
        if not _umask_strict(str(value), required):
            bad.append("login.defs UMASK %s" % value)
    for fpath in ctx.expand(PROFILE_FILES):
        for number, fline in ctx.lines(fpath):
            match = re.match(r"^\s*umask\s+([0-7]{3,4})\b", fline)
            if match:
                evidence.append(file_item(ctx, fpath, number, fline))
                if not _umask_strict(match.group(1), required):
                    bad.append("%s:%d umask %s" % (fpath, number, match.group(1)))
    if bad:
        return Result("fail", "looser than %s: %s" % (ctx.param("umask"), "; ".join(bad)), evidence[:MAX_EVIDENCE])
    return Result("pass", "umask %s or stricter everywhere" % ctx.param("umask"), evidence[:MAX_EVIDENCE])


def rule_world_writable(spec, ctx):
    data = ctx.section("world_writable")
    allowed = ctx.param("world_writable_allowed")

    def keep(path):
        return not any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)

    files = [p for p in data.get("files") or [] if keep(p)]
    dirs = [p for p in data.get("dirs") or [] if keep(p)]
    unowned = [p for p in data.get("unowned") or [] if keep(p)]
    notes = ["the walk stopped early: %d entries scanned" % data.get("scanned", 0)] if data.get("truncated") else []
    evidence = [
        {"source": "world_writable", "command": "walk of %s" % ", ".join(data.get("roots") or []), "text": p}
        for p in (files + dirs + unowned)[:MAX_EVIDENCE]
    ]
    if files or dirs or unowned:
        parts = []
        if files:
            parts.append("world-writable files: %s" % ", ".join(files[:10]))
        if dirs:
            parts.append("world-writable directories without sticky bit: %s" % ", ".join(dirs[:10]))
        if unowned:
            parts.append("unowned: %s" % ", ".join(unowned[:10]))
        return Result("fail", "; ".join(parts), evidence, notes)
    return Result(
        "pass",
        "none among %d entries of %s" % (data.get("scanned", 0), ", ".join(data.get("roots") or [])),
        [
            {
                "source": "world_writable",
                "command": "walk of %s" % ", ".join(data.get("roots") or []),
                "text": "%d entries" % data.get("scanned", 0),
            }
        ],
        notes,
    )


def rule_mac(spec, ctx):
    mac = ctx.section("mac")
    selinux, apparmor = mac.get("selinux"), mac.get("apparmor")
    evidence = [section_item(ctx, "mac", "selinux %s, apparmor %s" % (selinux, apparmor))]
    if selinux == "enforcing":
        return Result("pass", "SELinux enforcing", evidence)
    if selinux == "permissive":
        return Result("partial", "SELinux permissive", evidence)
    if apparmor == "enabled":
        return Result("partial", "AppArmor enabled (no security labels on subjects and objects)", evidence)
    return Result("fail", "no mandatory access control (SELinux %s, AppArmor %s)" % (selinux, apparmor), evidence)


# --- rules: logging ------------------------------------------------------------------------------------------------
JOURNALD = ["/etc/systemd/journald.conf", "/etc/systemd/journald.conf.d/*.conf"]
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "month": 2629800,
    "months": 2629800,
    "M": 2629800,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}


def duration_seconds(text):
    """systemd time span (`186day`, `6month`, `1y 2d`, `15552000`) in seconds."""
    text = str(text).strip()
    if re.match(r"^[0-9]+$", text):
        return int(text)
    total = 0
    for number, unit in re.findall(r"([0-9.]+)\s*([A-Za-z]+)", text):
        if unit not in _UNITS and unit.lower() not in _UNITS:
            raise ValueError("unknown time unit %s" % unit)
        total += float(number) * _UNITS.get(unit, _UNITS.get(unit.lower()))
    return int(total)


def rule_journal_retention(spec, ctx):
    days = int(ctx.param("log_retention_days"))
    storage, spath, sline, stext = find_setting(ctx, JOURNALD, "Storage", "Journal")
    retention, rpath, rline, rtext = find_setting(ctx, JOURNALD, "MaxRetentionSec", "Journal")
    max_use, mpath, mline, mtext = find_setting(ctx, JOURNALD, "SystemMaxUse", "Journal")
    evidence = [
        file_item(ctx, p, n, t)
        for p, n, t in ((spath, sline, stext), (rpath, rline, rtext), (mpath, mline, mtext))
        if p
    ]
    persistent = storage == "persistent" or (storage in (None, "auto") and ctx.file("/var/log/journal").get("exists"))
    if not persistent:
        return Result(
            "fail", "journal not persistent (Storage=%s)" % (storage or "auto, no /var/log/journal"), evidence
        )
    if retention in (None, "", "0"):
        return Result(
            "partial",
            "no MaxRetentionSec: entries go when SystemMaxUse (%s) is reached; the oldest "
            "entry must be evidenced" % (max_use or "default"),
            evidence,
        )
    seconds = duration_seconds(retention)
    if seconds >= days * 86400:
        return Result(
            "pass",
            "Storage=persistent, MaxRetentionSec=%s (≥ %d days), SystemMaxUse=%s"
            % (retention, days, max_use or "default"),
            evidence,
        )
    return Result("fail", "MaxRetentionSec=%s is under %d days" % (retention, days), evidence)


LOGROTATE_PERIOD = {"daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


def _logrotate_directives(lines):
    """(global directives, [block directives]) of a logrotate file."""
    glob_, blocks, current = {}, [], None
    for number, line in lines:
        text = line.strip()
        if text.endswith("{"):
            current = {"paths": text[:-1].split(), "line": number}
            continue
        if text == "}":
            if current is not None:
                blocks.append(current)
            current = None
            continue
        parts = text.split()
        if not parts:
            continue
        target = current if current is not None else glob_
        if parts[0] in LOGROTATE_PERIOD:
            target["period"] = parts[0]
        elif parts[0] in ("rotate", "maxage") and len(parts) > 1:
            target[parts[0]] = parts[1]
            target[parts[0] + "_line"] = number
    return glob_, blocks


def rule_logrotate_retention(spec, ctx):
    packages = ctx.section("packages").get("installed") or {}
    if "rsyslog" not in packages:
        return Result("na", "rsyslog is not installed (the journal keeps the logs: LNX-AUD-07)")
    days = int(ctx.param("log_retention_days"))
    glob_, _ = _logrotate_directives(ctx.lines("/etc/logrotate.conf"))
    for path in ctx.expand(["/etc/logrotate.d/rsyslog", "/etc/logrotate.d/syslog"]):
        _g, blocks = _logrotate_directives(ctx.lines(path))
        for block in blocks:
            period = block.get("period") or glob_.get("period") or "weekly"
            rotate = int(block.get("rotate") or glob_.get("rotate") or 4)
            kept = rotate * LOGROTATE_PERIOD[period]
            evidence = [
                file_item(ctx, path, block.get("rotate_line") or block["line"], "%s rotate %d" % (period, rotate))
            ]
            if kept >= days:
                return Result("pass", "%s rotate %d: %d days" % (period, rotate, kept), evidence)
            return Result("fail", "%s rotate %d keeps %d days (need %d)" % (period, rotate, kept, days), evidence)
    return Result("fail", "no logrotate rule for the rsyslog files")


def rule_auditd_retention(spec, ctx):
    conf = ["/etc/audit/auditd.conf"]
    if not ctx.expand(conf):
        return Result("fail", "/etc/audit/auditd.conf missing (auditd not installed)")
    action, path, line, text = find_setting(ctx, conf, "max_log_file_action", ignore_case=True)
    num, npath, nline, ntext = find_setting(ctx, conf, "num_logs", ignore_case=True)
    size, zpath, zline, ztext = find_setting(ctx, conf, "max_log_file", ignore_case=True)
    evidence = [
        file_item(ctx, p, n, t) for p, n, t in ((path, line, text), (npath, nline, ntext), (zpath, zline, ztext)) if p
    ]
    action = str(action or "ROTATE").upper()
    if action == "KEEP_LOGS":
        return Result("pass", "max_log_file_action KEEP_LOGS (archive and clean up the old files)", evidence)
    if action == "ROTATE":
        return Result(
            "partial",
            "ROTATE keeps %s × %s MB: evidence that this covers six months is needed" % (num or 5, size or 8),
            evidence,
        )
    return Result("fail", "max_log_file_action %s" % action, evidence)


def _nft_analysis(text_lines):
    text = "\n".join(text_lines)
    deny = bool(re.search(r"hook\s+input\b[^}]*?policy\s+drop", text, re.S))
    ssh_rules = [x for x in text_lines if re.search(r"dport\s+(\{[^}]*\b(22|ssh)\b[^}]*\}|22\b|ssh\b)", x)]
    restricted = bool(ssh_rules) and all(re.search(r"\bsaddr\b", x) for x in ssh_rules)
    return deny, restricted, ssh_rules


def rule_firewall(spec, ctx):
    config_files = ctx.expand(["/etc/nftables.conf", "/etc/nftables.d/*.nft", "/etc/sysconfig/nftables.conf"])
    config_lines = [t for p in config_files for _n, t in ctx.lines(p)]
    evidence = [file_item(ctx, p) for p in config_files[:3]]
    deny, restricted, _ssh_rules = _nft_analysis(config_lines)
    if deny and restricted:
        config_status, config_text = "pass", "configured: input policy drop, SSH only from given addresses"
    elif deny:
        config_status, config_text = "partial", "configured: input policy drop, SSH open to any source"
    else:
        config_status, config_text = (
            "fail",
            "no default-deny input chain in %s" % (", ".join(config_files) or "/etc/nftables.conf (missing)"),
        )
    if ctx.container:
        return Result(config_status, config_text, evidence, [CONTAINER_NOTE], True)
    record = (ctx.ev.get("commands") or {}).get("nft") or {}
    if record.get("error") and not record.get("lines"):
        return Result("error", "nft list ruleset: %s" % record["error"], evidence)
    deny_r, restricted_r, _ = _nft_analysis(record.get("lines") or [])
    evidence.append(command_item(ctx, "nft", "%d lines" % len(record.get("lines") or [])))
    if deny_r and restricted_r:
        running = ("pass", "loaded: input policy drop, SSH only from given addresses")
    elif deny_r:
        running = ("partial", "loaded: input policy drop, SSH open to any source")
    else:
        running = ("fail", "no default-deny input chain loaded")
    if running[0] == "pass" and config_status != "pass":
        return Result("partial", "%s; but %s (not persistent)" % (running[1], config_text), evidence)
    return Result(running[0], "%s; %s" % (running[1], config_text), evidence)


def rule_time_offset(spec, ctx):
    data = ctx.section("time")
    limit = float(ctx.param("time_max_offset_seconds"))
    evidence = [
        section_item(
            ctx,
            "time",
            "leap %s, reference %s, offset %s" % (data.get("leap"), data.get("reference"), data.get("offset_seconds")),
        )
    ]
    if not data.get("synchronised"):
        return Result("fail", "not synchronised (%s)" % (data.get("leap") or data.get("ntp") or "unknown"), evidence)
    offset = data.get("offset_seconds")
    if offset is None:
        return Result("pass", "synchronised (offset not reported)", evidence)
    if offset <= limit:
        return Result("pass", "synchronised, offset %.6f s" % offset, evidence)
    return Result("fail", "offset %.3f s (limit %s s)" % (offset, limit), evidence)


def _support(ctx, table, key, version, what):
    entries = table.get(key) or {}
    candidates = [str(version)]
    parts = str(version).split(".")
    candidates += [".".join(parts[:2]), parts[0]]
    for candidate in candidates:
        if candidate in entries:
            end = datetime.date.fromisoformat(str(entries[candidate]))
            text = "%s %s supported until %s" % (what, candidate, end.isoformat())
            if end >= ctx.today:
                return Result("pass", text)
            return Result("fail", "%s %s: support ended %s" % (what, candidate, end.isoformat()))
    return Result(
        "manual", "no end-of-support date known for %s %s: add it to the catalogue parameter" % (what, version)
    )


def rule_os_supported(spec, ctx):
    os_info = (ctx.ev.get("host") or {}).get("os") or {}
    if not os_info.get("id"):
        raise EvidenceError("/etc/os-release could not be read")
    result = _support(ctx, ctx.param("os_support_end"), os_info["id"], os_info.get("version_id") or "", os_info["id"])
    result.evidence = [
        section_item(
            ctx, "host", "ID=%s VERSION_ID=%s (%s)" % (os_info["id"], os_info.get("version_id"), os_info.get("name"))
        )
    ]
    return result


# --- rules: MySQL --------------------------------------------------------------------------------------------------
def _mysql(ctx):
    data = ctx.section("mysql")
    if data.get("error"):
        raise EvidenceError(data["error"])
    return data


def _account(user):
    return "'%s'@'%s'" % (user["user"], user["host"])


def _mysql_item(ctx, text, query="mysql.user"):
    return {
        "source": "mysql",
        "command": "%s (read-only transaction, %s)" % (query, (ctx.ev.get("mysql") or {}).get("via")),
        "text": mask_line(text)[:300],
    }


def _socket_only(user):
    return user.get("plugin") in SOCKET_PLUGINS or (
        user.get("password_invalid") and any(p in SOCKET_PLUGINS for p in user.get("alternative_plugins") or [])
    )


def rule_mysql_no_empty_password(spec, ctx):
    data = _mysql(ctx)
    bad = [
        u
        for u in data.get("users") or []
        if u.get("no_password")
        and not u.get("locked")
        and not u.get("is_role")
        and u.get("plugin") not in SOCKET_PLUGINS
    ]
    if bad:
        return Result(
            "fail",
            "without a password, %s" % ", ".join(_account(u) for u in bad),
            [
                _mysql_item(ctx, "%s plugin %s, empty authentication string" % (_account(u), u.get("plugin")))
                for u in bad
            ],
        )
    users = data.get("users") or []
    return Result(
        "pass",
        "%d accounts: each has a password, socket authentication, or is locked" % len(users),
        [
            _mysql_item(ctx, "%s %s%s" % (_account(u), u.get("plugin"), " locked" if u.get("locked") else ""))
            for u in users
        ][:MAX_EVIDENCE],
    )


def _active_plugin(data, names):
    for plugin in data.get("plugins") or []:
        if plugin["name"].lower() in names and plugin.get("status") == "ACTIVE":
            return plugin
    return None


def rule_mysql_password_policy(spec, ctx):
    data = _mysql(ctx)
    v = data.get("variables") or {}
    length = int(ctx.param("password_min_length"))
    digits, mixed, special = (
        int(ctx.param(k)) for k in ("mysql_password_digits", "mysql_password_mixed_case", "mysql_password_special")
    )
    if data.get("flavour") == "mariadb":
        if _active_plugin(data, ("simple_password_check",)):
            got = dict(
                (k, v.get("simple_password_check_" + k))
                for k in ("minimal_length", "digits", "letters_same_case", "other_characters")
            )
            want = {"minimal_length": length, "digits": digits, "letters_same_case": mixed, "other_characters": special}
            short = [k for k in want if _number(got.get(k) or 0) < want[k]]
            evidence = [
                _mysql_item(ctx, "simple_password_check_%s = %s" % (k, got[k]), "SHOW GLOBAL VARIABLES") for k in want
            ]
            if short:
                return Result(
                    "partial",
                    "simple_password_check too weak: %s"
                    % ", ".join("%s=%s (want ≥ %s)" % (k, got[k], want[k]) for k in short),
                    evidence,
                )
            return Result("pass", "simple_password_check: %s" % show(got), evidence)
        if _active_plugin(data, ("cracklib_password_check",)):
            return Result(
                "pass",
                "cracklib_password_check active (dictionary and complexity checks)",
                [_mysql_item(ctx, "cracklib_password_check ACTIVE", "information_schema.PLUGINS")],
            )
        return Result(
            "fail",
            "no password policy plugin (simple_password_check or cracklib_password_check)",
            [_mysql_item(ctx, "no password plugin ACTIVE", "information_schema.PLUGINS")],
        )
    prefix = "validate_password." if "validate_password.length" in v else "validate_password_"
    if prefix + "length" not in v:
        return Result(
            "fail",
            "validate_password is not installed",
            [_mysql_item(ctx, "no validate_password variables", "SHOW GLOBAL VARIABLES")],
        )
    got = dict(
        (k, v.get(prefix + k)) for k in ("length", "number_count", "mixed_case_count", "special_char_count", "policy")
    )
    want = {"length": length, "number_count": digits, "mixed_case_count": mixed, "special_char_count": special}
    short = [k for k in want if _number(got.get(k) or 0) < want[k]]
    policy_ok = str(got.get("policy") or "").upper() in [p.upper() for p in ctx.param("mysql_password_policies")]
    evidence = [_mysql_item(ctx, "%s%s = %s" % (prefix, k, got[k]), "SHOW GLOBAL VARIABLES") for k in got]
    if short or not policy_ok:
        problems = ["%s=%s (want ≥ %s)" % (k, got[k], want[k]) for k in short]
        if not policy_ok:
            problems.append("policy %s" % got.get("policy"))
        return Result("partial", "validate_password too weak: %s" % ", ".join(problems), evidence)
    return Result("pass", "validate_password settings %s" % show(got), evidence)


def rule_mysql_login_failure(spec, ctx):
    data = _mysql(ctx)
    v = data.get("variables") or {}
    if data.get("flavour") == "mariadb":
        value = v.get("max_password_errors")
        evidence = [_mysql_item(ctx, "max_password_errors = %s" % value, "SHOW GLOBAL VARIABLES")]
        if value is None:
            return Result("fail", "max_password_errors not available (MariaDB 10.4.2+)", evidence)
        if _number(value) <= int(ctx.param("mysql_max_password_errors")):
            return Result("pass", "max_password_errors %s (localhost and SUPER accounts are exempt)" % value, evidence)
        return Result("fail", "max_password_errors %s (no lockout)" % value, evidence)
    locking = [u for u in data.get("users") or [] if (u.get("failed_login_attempts") or 0) > 0]
    if locking:
        return Result(
            "pass",
            "FAILED_LOGIN_ATTEMPTS on %s" % ", ".join(_account(u) for u in locking),
            [
                _mysql_item(ctx, "%s failed_login_attempts %s" % (_account(u), u["failed_login_attempts"]))
                for u in locking
            ][:MAX_EVIDENCE],
        )
    if _active_plugin(data, ("connection_control",)):
        threshold = v.get("connection_control_failed_connections_threshold")
        delay = v.get("connection_control_min_connection_delay")
        evidence = [
            _mysql_item(
                ctx, "connection_control threshold %s, min delay %s ms" % (threshold, delay), "SHOW GLOBAL VARIABLES"
            )
        ]
        if _number(threshold or 0) <= int(ctx.param("mysql_connection_control_threshold")) and _number(
            delay or 0
        ) >= int(ctx.param("mysql_connection_control_min_delay_ms")):
            return Result(
                "partial",
                "connection_control delays (threshold %s, %s ms) but does not lock" % (threshold, delay),
                evidence,
            )
        return Result("fail", "connection_control too lax (threshold %s, delay %s ms)" % (threshold, delay), evidence)
    return Result(
        "fail",
        "no login-failure handling (no FAILED_LOGIN_ATTEMPTS, no connection_control)",
        [_mysql_item(ctx, "connection_control not ACTIVE", "information_schema.PLUGINS")],
    )


def rule_mysql_anonymous(spec, ctx):
    data = _mysql(ctx)
    anonymous = [u for u in data.get("users") or [] if u.get("user") == ""]
    if anonymous:
        return Result(
            "fail",
            "anonymous accounts: %s" % ", ".join(_account(u) for u in anonymous),
            [_mysql_item(ctx, _account(u)) for u in anonymous],
        )
    return Result(
        "pass", "no anonymous account among %d" % len(data.get("users") or []), [_mysql_item(ctx, "no user ''")]
    )


def rule_mysql_root_local(spec, ctx):
    data = _mysql(ctx)
    local = ctx.param("mysql_local_hosts")
    roots = [u for u in data.get("users") or [] if u.get("user") == "root"]
    remote = [u for u in roots if u.get("host") not in local]
    evidence = [_mysql_item(ctx, _account(u)) for u in roots]
    if remote:
        return Result("fail", "root from elsewhere: %s" % ", ".join(_account(u) for u in remote), evidence)
    return Result(
        "pass", "root only on %s" % (", ".join(u["host"] for u in roots) or "no host (no root account)"), evidence
    )


def rule_mysql_root_disabled(spec, ctx):
    data = _mysql(ctx)
    roots = [u for u in data.get("users") or [] if u.get("user") == "root"]
    evidence = [
        _mysql_item(
            ctx,
            "%s plugin %s%s%s"
            % (
                _account(u),
                u.get("plugin"),
                " or " + ", ".join(u["alternative_plugins"]) if u.get("alternative_plugins") else "",
                " locked" if u.get("locked") else "",
            ),
        )
        for u in roots
    ]
    if not roots:
        return Result("pass", "no account named root (renamed or removed)", evidence)
    usable = [u for u in roots if not u.get("locked")]
    if not usable:
        return Result("pass", "root locked", evidence)
    if all(_socket_only(u) for u in usable):
        return Result(
            "partial",
            "root exists but logs in only over the socket as the OS root (%s)" % ", ".join(_account(u) for u in usable),
            evidence,
        )
    return Result("fail", "root can log in with a password (%s)" % ", ".join(_account(u) for u in usable), evidence)


def rule_mysql_no_wildcard_hosts(spec, ctx):
    data = _mysql(ctx)
    allowed = ctx.param("mysql_wildcard_host_accounts")
    wild = [
        u
        for u in data.get("users") or []
        if ("%" in (u.get("host") or "") or "_" in (u.get("host") or ""))
        and u.get("user") not in allowed
        and not u.get("is_role")
    ]
    if wild:
        return Result(
            "fail",
            "wildcard hosts: %s" % ", ".join(_account(u) for u in wild),
            [_mysql_item(ctx, _account(u)) for u in wild][:MAX_EVIDENCE],
        )
    users = [u for u in data.get("users") or [] if not u.get("is_role")]
    return Result(
        "pass",
        "%d accounts, none with a wildcard host" % len(users),
        [_mysql_item(ctx, _account(u)) for u in users][:MAX_EVIDENCE],
    )


def _grantee_user(grantee):
    match = re.match(r"^'(.*)'@'(.*)'$", grantee)
    return (match.group(1), match.group(2)) if match else (grantee, "")


def rule_mysql_least_privilege(spec, ctx):
    data = _mysql(ctx)
    allowed = ctx.param("mysql_global_privilege_accounts")
    dangerous = [p.upper() for p in ctx.param("mysql_dangerous_privileges")]
    bad, evidence = [], []
    for grantee, privileges in sorted((data.get("global_privileges") or {}).items()):
        user, _host = _grantee_user(grantee)
        real = [p for p in privileges if p.upper() != "USAGE"]
        if real and user not in allowed:
            risky = [p for p in real if p.upper() in dangerous]
            bad.append("%s holds global %s" % (grantee, ", ".join(risky or real[:6])))
            evidence.append(
                _mysql_item(ctx, "%s: %s" % (grantee, ", ".join(real)), "information_schema.USER_PRIVILEGES")
            )
    if bad:
        return Result("fail", "; ".join(bad), evidence[:MAX_EVIDENCE])
    holders = [g for g, p in (data.get("global_privileges") or {}).items() if [x for x in p if x.upper() != "USAGE"]]
    return Result(
        "pass",
        "global privileges only for %s" % (", ".join(sorted(holders)) or "nobody"),
        [_mysql_item(ctx, "%s global privileges" % g, "information_schema.USER_PRIVILEGES") for g in sorted(holders)][
            :MAX_EVIDENCE
        ],
    )


AUDIT_PLUGINS = ("server_audit", "audit_log")


def rule_mysql_audit(spec, ctx):
    data = _mysql(ctx)
    v = data.get("variables") or {}
    plugin = _active_plugin(data, AUDIT_PLUGINS)
    if plugin and plugin["name"].lower() == "server_audit":
        events = [e.upper() for e in _items(v.get("server_audit_events") or "")]
        required = [e.upper() for e in ctx.param("mysql_audit_events")]
        evidence = [
            _mysql_item(
                ctx,
                "server_audit_logging = %s; server_audit_events = %s"
                % (v.get("server_audit_logging"), v.get("server_audit_events")),
                "SHOW GLOBAL VARIABLES",
            )
        ]
        if _norm(v.get("server_audit_logging"), True) not in TRUE_WORDS:
            return Result(
                "fail", "server_audit loaded but server_audit_logging %s" % v.get("server_audit_logging"), evidence
            )
        missing = [e for e in required if events and e not in events]
        if missing:
            return Result("partial", "server_audit does not record %s" % ", ".join(missing), evidence)
        return Result("pass", "server_audit logging %s" % (", ".join(events) or "all events"), evidence)
    if plugin:
        return Result(
            "pass",
            "audit_log plugin active (policy %s)" % v.get("audit_log_policy"),
            [_mysql_item(ctx, "audit_log ACTIVE", "information_schema.PLUGINS")],
        )
    if _norm(v.get("general_log"), True) in TRUE_WORDS:
        return Result(
            "partial",
            "only general_log is on (no protection, heavy)",
            [_mysql_item(ctx, "general_log = %s" % v.get("general_log"), "SHOW GLOBAL VARIABLES")],
        )
    return Result(
        "fail",
        "no audit plugin and general_log %s" % v.get("general_log"),
        [_mysql_item(ctx, "no audit plugin ACTIVE", "information_schema.PLUGINS")],
    )


def rule_mysql_log_files(spec, ctx):
    data = _mysql(ctx)
    v = data.get("variables") or {}
    paths = data.get("paths") or {}
    active = []
    if v.get("log_error"):
        active.append("log_error")
    if _norm(v.get("general_log"), True) in TRUE_WORDS:
        active.append("general_log_file")
    if (
        _norm(v.get("server_audit_logging"), True) in TRUE_WORDS
        and str(v.get("server_audit_output_type") or "file").lower() == "file"
    ):
        active.append("server_audit_file_path")
    checked, bad, evidence = [], [], []
    for key in active:
        info = paths.get(key) or {}
        if not info.get("exists"):
            continue
        checked.append(info["path"])
        evidence.append(
            {
                "source": "stat",
                "path": info["path"],
                "mode": info.get("mode"),
                "owner": info.get("owner"),
                "group": info.get("group"),
            }
        )
        if int(info.get("mode") or "0", 8) & ~0o640 & 0o7777 or info.get("owner") not in ("mysql", "root"):
            bad.append("%s %s %s" % (info["path"], info.get("mode"), info.get("owner")))
    if not checked:
        return Result("na", "no log file: the error log goes to the journal (LNX-AUD-06), no general or audit file")
    if bad:
        return Result("fail", "; ".join(bad), evidence)
    return Result("pass", "at most 0640: %s" % ", ".join(checked), evidence)


def rule_mysql_audit_permanent(spec, ctx):
    data = _mysql(ctx)
    plugins = [p for p in data.get("plugins") or [] if p["name"].lower() in AUDIT_PLUGINS]
    if not plugins:
        return Result(
            "fail",
            "no audit plugin loaded (MYS-AU-01)",
            [_mysql_item(ctx, "no server_audit or audit_log", "information_schema.PLUGINS")],
        )
    plugin = plugins[0]
    evidence = [
        _mysql_item(
            ctx,
            "%s %s %s" % (plugin["name"], plugin.get("status"), plugin.get("load_option")),
            "information_schema.PLUGINS",
        )
    ]
    if str(plugin.get("load_option")).upper() == "FORCE_PLUS_PERMANENT":
        return Result("pass", "%s FORCE_PLUS_PERMANENT" % plugin["name"], evidence)
    return Result("fail", "%s load option %s" % (plugin["name"], plugin.get("load_option")), evidence)


def rule_mysql_version_supported(spec, ctx):
    data = _mysql(ctx)
    version = str(data.get("version") or "")
    match = re.match(r"^([0-9]+\.[0-9]+)", version)
    if not match:
        raise EvidenceError("the server version %r cannot be read" % version)
    result = _support(ctx, ctx.param("mysql_support_end"), data.get("flavour"), match.group(1), data.get("flavour"))
    result.evidence = [_mysql_item(ctx, "VERSION() = %s" % version, "SELECT VERSION()")]
    return result


def rule_mysql_os(spec, ctx):
    data = _mysql(ctx)
    info = (data.get("paths") or {}).get("datadir") or {}
    problems, evidence = [], []
    if not info.get("exists"):
        problems.append("data directory %s not found" % info.get("path"))
    else:
        evidence.append(
            {
                "source": "stat",
                "path": info["path"],
                "mode": info.get("mode"),
                "owner": info.get("owner"),
                "group": info.get("group"),
            }
        )
        if int(info.get("mode") or "0", 8) & ~0o750 & 0o7777:
            problems.append("%s mode %s (at most 0750)" % (info["path"], info.get("mode")))
        if info.get("owner") != "mysql":
            problems.append("%s owner %s" % (info["path"], info.get("owner")))
    user = data.get("process_user")
    if user and user != "mysql":
        problems.append("the server runs as %s" % user)
    if user:
        evidence.append(_mysql_item(ctx, "server process user %s" % user, "/proc/<pid>/status"))
    if problems:
        return Result("fail", "; ".join(problems), evidence)
    return Result(
        "pass",
        "%s %s %s; server runs as %s" % (info.get("path"), info.get("mode"), info.get("owner"), user or "unknown"),
        evidence,
    )


# --- rules: MongoDB ------------------------------------------------------------------------------------------------
def _mongo(ctx):
    data = ctx.section("mongodb")
    if data.get("error"):
        raise EvidenceError(data["error"])
    return data


def _mongo_item(ctx, text, source=None):
    data = ctx.ev.get("mongodb") or {}
    return {
        "source": "mongodb",
        "command": source or data.get("config_source") or data.get("config_path") or data.get("env_path") or "mongodb",
        "text": mask_line(text)[:300],
    }


def rule_ferretdb_authentication(spec, ctx):
    data = _mongo(ctx)
    files = data.get("pg_hba") or {}
    if not files:
        raise EvidenceError("pg_hba.conf not found")
    bad, evidence = [], []
    for path, info in sorted(files.items()):
        for number, line in info.get("lines") or []:
            parts = line.split()
            if not parts or parts[0] not in ("local", "host", "hostssl", "hostnossl", "hostgssenc"):
                continue
            method = parts[-1] if "=" not in parts[-1] else next((p for p in reversed(parts) if "=" not in p), "")
            evidence.append(
                {"source": "file", "path": path, "line": number, "text": line, "sha256": info.get("sha256")}
            )
            if method in ("trust", "password"):
                bad.append("%s:%d %s" % (path, number, line))
    if bad:
        return Result("fail", "PostgreSQL admits without a (hashed) password, %s" % "; ".join(bad), evidence[:12])
    return Result("pass", "PostgreSQL requires a password (scram-sha-256/md5) or peer for every line", evidence[:12])


def _env(ctx):
    data = _mongo(ctx)
    env = data.get("env") or {}
    if env.get("error"):
        raise EvidenceError("%s: %s" % (data.get("env_path"), env["error"]))
    return env.get("values") or {}, env.get("lines") or {}, data.get("env_path")


def rule_ferretdb_tls(spec, ctx):
    values, lines, path = _env(ctx)
    tls = values.get("FERRETDB_LISTEN_TLS")
    plain = values.get("FERRETDB_LISTEN_ADDR")
    evidence = [
        {"source": "file", "path": path, "line": lines.get(k), "text": "%s=%s" % (k, values.get(k))}
        for k in ("FERRETDB_LISTEN_ADDR", "FERRETDB_LISTEN_TLS")
        if k in values
    ]
    if tls and not plain:
        return Result("pass", "TLS listener %s only" % tls, evidence)
    if tls:
        return Result("partial", "TLS on %s but also plain on %s" % (tls, plain), evidence)
    return Result("fail", "no TLS listener (plain on %s)" % (plain or "the default address"), evidence)


WILDCARD_HOSTS = ("0.0.0.0", "::", "", "*", "[::]")  # noqa: S104 - addresses compared, never bound


def _firewall_passes(ctx):
    return (ctx.results.get("LNX-NET-05") or {}).get("status") == "pass"


def rule_mongod_bind(spec, ctx):
    data = _mongo(ctx)
    net = (data.get("config") or {}).get("net") or {}
    bind_all = net.get("bindIpAll") in (True, "true")
    addresses = _items(net.get("bindIp") or "127.0.0.1")
    evidence = [_mongo_item(ctx, "net.bindIp %s, bindIpAll %s" % (net.get("bindIp"), net.get("bindIpAll")))]
    if bind_all or any(a in WILDCARD_HOSTS for a in addresses):
        if _firewall_passes(ctx):
            return Result("pass", "listens on all addresses, the firewall limits it (LNX-NET-05)", evidence)
        return Result("fail", "listens on all addresses (bindIpAll or 0.0.0.0)", evidence)
    return Result("pass", "bindIp %s" % ", ".join(addresses), evidence)


def rule_ferretdb_bind(spec, ctx):
    values, lines, path = _env(ctx)
    evidence = []
    bad = []
    for key in ("FERRETDB_LISTEN_ADDR", "FERRETDB_LISTEN_TLS"):
        if values.get(key):
            host, _port = ([*values[key].rsplit(":", 1), ""])[:2]
            evidence.append(
                {"source": "file", "path": path, "line": lines.get(key), "text": "%s=%s" % (key, values[key])}
            )
            if host in WILDCARD_HOSTS:
                bad.append("%s=%s" % (key, values[key]))
    if bad:
        if _firewall_passes(ctx):
            return Result("pass", "%s; the firewall limits it (LNX-NET-05)" % ", ".join(bad), evidence)
        return Result("fail", "listens on all addresses: %s" % ", ".join(bad), evidence)
    return Result(
        "pass",
        ", ".join("%s=%s" % (k, values[k]) for k in ("FERRETDB_LISTEN_ADDR", "FERRETDB_LISTEN_TLS") if values.get(k)),
        evidence,
    )


ADMIN_ROLES = (
    "root",
    "__system",
    "userAdminAnyDatabase",
    "userAdmin",
    "dbOwner",
    "clusterAdmin",
    "dbAdminAnyDatabase",
    "readWriteAnyDatabase",
    "restore",
    "backup",
    "hostManager",
)


def _mongo_users(data):
    users = ((data.get("live") or {}).get("users") or {}).get("users")
    if users is None:
        error = (data.get("live") or {}).get("users_error") or (data.get("live") or {}).get("error")
        raise EvidenceError(
            "the users could not be read (%s): set followup_djbh_mongodb_uri to a monitoring account "
            "with the viewUser privilege" % (error or "no followup_djbh_mongodb_uri")
        )
    return users


def rule_mongod_least_privilege(spec, ctx):
    data = _mongo(ctx)
    admins = ctx.param("mongodb_admin_accounts")
    allowed = ctx.param("mongodb_app_roles")
    bad, evidence = [], []
    for user in _mongo_users(data):
        roles = ["%s@%s" % (r.get("role"), r.get("db")) for r in user.get("roles") or []]
        evidence.append(
            _mongo_item(ctx, "%s@%s: %s" % (user.get("user"), user.get("db"), ", ".join(roles)), "usersInfo")
        )
        if user.get("user") in admins:
            continue
        extra = [r.get("role") for r in user.get("roles") or [] if r.get("role") not in allowed]
        if extra:
            bad.append("%s holds %s" % (user.get("user"), ", ".join(extra)))
    if bad:
        return Result("fail", "; ".join(bad), evidence[:MAX_EVIDENCE])
    return Result("pass", "only %s hold administrative roles" % ", ".join(admins), evidence[:MAX_EVIDENCE])


def _pg_roles(data):
    pg = data.get("pg") or {}
    if pg.get("error"):
        raise EvidenceError("PostgreSQL roles: %s" % pg["error"])
    return pg.get("roles") or []


def rule_ferretdb_least_privilege(spec, ctx):
    data = _mongo(ctx)
    bad, evidence = [], []
    for role in _pg_roles(data):
        if role["name"] == "postgres" or not role.get("login"):
            continue
        flags = [k for k in ("superuser", "createrole", "createdb", "replication", "bypassrls") if role.get(k)]
        evidence.append(
            {
                "source": "psql",
                "command": "pg_roles (read-only transaction, as postgres)",
                "text": "%s %s" % (role["name"], ", ".join(flags) or "no special attributes"),
            }
        )
        if flags:
            bad.append("%s is %s" % (role["name"], ", ".join(flags)))
    if bad:
        return Result("fail", "; ".join(bad), evidence)
    return Result("pass", "no MongoDB account is a PostgreSQL superuser or may create roles or databases", evidence)


def rule_mongodb_default_accounts(spec, ctx):
    data = _mongo(ctx)
    names = ctx.param("mongodb_default_account_names")
    if data.get("engine") == "ferretdb":
        accounts = [r["name"] for r in _pg_roles(data) if r.get("login")]
        source = "pg_roles"
    else:
        try:
            accounts = [u.get("user") for u in _mongo_users(data)]
        except EvidenceError as err:
            return Result("manual", str(err))
        source = "usersInfo"
    leftover = [a for a in accounts if a in names]
    evidence = [_mongo_item(ctx, "accounts: %s" % ", ".join(accounts), source)]
    if leftover:
        return Result("fail", "leftover accounts: %s" % ", ".join(leftover), evidence)
    return Result("pass", "none of %s among %s" % (", ".join(names), ", ".join(accounts) or "no accounts"), evidence)


def _mongod_path(ctx, key, max_mode, what):
    data = _mongo(ctx)
    info = (data.get("paths") or {}).get(key)
    if not info:
        return Result("na", "no %s configured" % what)
    if not info.get("exists"):
        return Result("fail", "%s %s does not exist" % (what, info.get("path")))
    evidence = [
        {
            "source": "stat",
            "path": info["path"],
            "mode": info.get("mode"),
            "owner": info.get("owner"),
            "group": info.get("group"),
        }
    ]
    problems = []
    if int(info.get("mode") or "0", 8) & ~max_mode & 0o7777:
        problems.append("mode %s (at most %04o)" % (info.get("mode"), max_mode))
    if info.get("owner") not in ("mongodb", "mongod"):
        problems.append("owner %s" % info.get("owner"))
    if problems:
        return Result("fail", "%s %s" % (info["path"], ", ".join(problems)), evidence)
    return Result("pass", "%s %s %s" % (info["path"], info.get("mode"), info.get("owner")), evidence)


def rule_mongod_log_file(spec, ctx):
    return _mongod_path(ctx, "log", 0o640, "systemLog.path")


def rule_mongod_dbpath(spec, ctx):
    return _mongod_path(ctx, "dbpath", 0o750, "storage.dbPath")


def rule_mongod_version_supported(spec, ctx):
    data = _mongo(ctx)
    version = str(data.get("version") or "")
    match = re.match(r"^([0-9]+\.[0-9]+)", version)
    if not match:
        raise EvidenceError("the mongod version %r is not known" % version)
    result = _support(ctx, {"mongod": ctx.param("mongodb_support_end")}, "mongod", match.group(1), "mongod")
    result.evidence = [_mongo_item(ctx, "version %s" % version, "buildInfo or the mongodb local fact")]
    return result


# --- rules: nginx --------------------------------------------------------------------------------------------------
def nginx_servers(directives):
    """[{label, file, line, listen: [(port, ssl)], directives: [...], http: [...]}] of the http servers."""
    http = [d for d in directives if d["ctx"] == ["http"] and "block" not in d]
    servers = []
    for block in [d for d in directives if d.get("block", "").startswith("server#") and d["ctx"] == ["http"]]:
        label = block["block"]
        inside = [d for d in directives if d["ctx"][:2] == ["http", label]]
        listen = []
        for d in inside:
            if d["name"] == "listen" and d["ctx"] == ["http", label] and d["args"]:
                addr = d["args"][0]
                port = addr.rsplit(":", 1)[-1] if not addr.startswith("unix:") else addr
                ssl = "ssl" in d["args"][1:] or ("http2" in d["args"][1:] and "ssl" in d["args"])
                listen.append((port, ssl))
        if not listen:
            listen = [("80", False)]
        servers.append(
            {
                "label": label,
                "file": block["file"],
                "line": block["line"],
                "listen": listen,
                "directives": inside,
                "http": http,
            }
        )
    return servers


def _server_value(server, name, level_only=False):
    """Directives NAME of a server at server level, else inherited from http."""
    own = [d for d in server["directives"] if d["name"] == name and len(d["ctx"]) == 2]
    if own or level_only:
        return own
    return [d for d in server["http"] if d["name"] == name]


def _nginx(ctx):
    data = ctx.section("nginx")
    if data.get("error"):
        raise EvidenceError(data["error"])
    return data


def _ngx_item(ctx, directive):
    data = ctx.ev.get("nginx") or {}
    return {
        "source": "file",
        "path": directive["file"],
        "line": directive["line"],
        "text": "%s %s" % (directive["name"], " ".join(directive["args"])),
        "sha256": (data.get("files") or {}).get(directive["file"]),
    }


def _tls_servers(ctx):
    data = _nginx(ctx)
    servers = nginx_servers(data.get("directives") or [])
    return data, servers, [s for s in servers if any(ssl for _p, ssl in s["listen"])]


def _default_protocols(version):
    return (
        ["TLSv1.2", "TLSv1.3"]
        if _version_tuple(version or "0") >= (1, 23, 4)
        else ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    )


def rule_nginx_tls_protocols(spec, ctx):
    data, servers, tls = _tls_servers(ctx)
    if not tls:
        return Result(
            "fail",
            "no TLS listener (%d servers, none with listen ... ssl)" % len(servers),
            [
                {
                    "source": "file",
                    "path": s["file"],
                    "line": s["line"],
                    "text": "server listen %s" % ", ".join(p for p, _s in s["listen"]),
                }
                for s in servers
            ][:6],
        )
    allowed = ctx.param("tls_protocols")
    bad, evidence, shown = [], [], []
    for server in tls:
        found = _server_value(server, "ssl_protocols")
        protocols = found[-1]["args"] if found else _default_protocols(data.get("version"))
        evidence += [_ngx_item(ctx, d) for d in found[-1:]]
        extra = [p for p in protocols if p not in allowed]
        shown.append(
            "%s: %s%s"
            % (server["label"], " ".join(protocols), "" if found else " (nginx %s default)" % data.get("version"))
        )
        if extra:
            bad.append("%s offers %s" % (server["label"], ", ".join(extra)))
    if bad:
        return Result("fail", "; ".join(bad), evidence)
    return Result("pass", "; ".join(shown), evidence)


def rule_nginx_ciphers(spec, ctx):
    _data, _servers, tls = _tls_servers(ctx)
    if not tls:
        return Result("na", "no TLS listener (NGX-TLS-01)")
    weak = [w.upper() for w in ctx.param("tls_weak_ciphers")]
    bad, evidence = [], []
    for server in tls:
        found = _server_value(server, "ssl_ciphers")
        ciphers = found[-1]["args"][0] if found and found[-1]["args"] else "HIGH:!aNULL:!MD5"
        evidence += [_ngx_item(ctx, d) for d in found[-1:]]
        for token in re.split(r"[:\s,]+", ciphers):
            if not token or token[0] in "!-+" or token.startswith("@"):
                continue
            parts = [p.upper() for p in token.split("-")]
            hit = [w for w in weak if w == token.upper() or w in parts]
            if hit:
                bad.append("%s enables %s" % (server["label"], token))
    if bad:
        return Result("fail", "; ".join(bad), evidence)
    return Result("pass", "no weak cipher enabled", evidence)


def rule_nginx_http_redirect(spec, ctx):
    _data, servers, _tls = _tls_servers(ctx)
    plain = [s for s in servers if not any(ssl for _p, ssl in s["listen"])]
    if not plain:
        return Result("pass", "no plain-HTTP server")
    bad, evidence = [], []
    for server in plain:
        redirect = [
            d
            for d in server["directives"]
            if len(d["ctx"]) == 2
            and (
                (
                    d["name"] == "return"
                    and d["args"][:1]
                    and d["args"][0] in ("301", "302", "307", "308")
                    and any("https://" in a for a in d["args"][1:])
                )
                or (d["name"] == "rewrite" and any(a.startswith("https://") for a in d["args"]))
            )
        ]
        if redirect:
            evidence.append(_ngx_item(ctx, redirect[0]))
        else:
            bad.append(
                "%s (%s:%s, listen %s)"
                % (server["label"], server["file"], server["line"], ", ".join(p for p, _s in server["listen"]))
            )
            evidence.append(
                {
                    "source": "file",
                    "path": server["file"],
                    "line": server["line"],
                    "text": "server without a redirect to https",
                }
            )
    if bad:
        return Result("fail", "plain-HTTP servers that do not redirect: %s" % "; ".join(bad), evidence)
    return Result("pass", "every plain-HTTP server redirects to https", evidence)


def rule_nginx_server_tokens(spec, ctx):
    data = _nginx(ctx)
    directives = data.get("directives") or []
    found = [d for d in directives if d["name"] == "server_tokens"]
    http = [d for d in found if d["ctx"] == ["http"]]
    on = [d for d in found if d["args"][:1] != ["off"]]
    evidence = [_ngx_item(ctx, d) for d in found][:MAX_EVIDENCE]
    if http and http[-1]["args"][:1] == ["off"] and not on:
        return Result("pass", "server_tokens off", evidence)
    if on:
        return Result(
            "fail",
            "server_tokens %s" % ", ".join("%s at %s:%s" % (" ".join(d["args"]), d["file"], d["line"]) for d in on),
            evidence,
        )
    return Result("fail", "server_tokens not set (nginx shows its version by default)", evidence)


def rule_nginx_headers(spec, ctx):
    _data, _servers, tls = _tls_servers(ctx)
    if not tls:
        return Result("na", "no TLS listener (NGX-TLS-01)")
    required = ctx.param("nginx_security_headers")
    problems, evidence, good = [], [], 0
    for server in tls:
        headers = _server_value(server, "add_header")
        names = [d["args"][0].lower() for d in headers if d["args"]]
        evidence += [_ngx_item(ctx, d) for d in headers][:4]
        missing = [h for h in required if h.lower() not in names]
        if missing:
            problems.append("%s lacks %s" % (server["label"], ", ".join(missing)))
        else:
            good += 1
    if problems:
        return Result("partial" if good else "fail", "; ".join(problems), evidence[:MAX_EVIDENCE])
    return Result("pass", "%s sent by every TLS server" % ", ".join(required), evidence[:MAX_EVIDENCE])


def rule_nginx_client_restriction(spec, ctx):
    _data, _servers, tls = _tls_servers(ctx)
    if not tls:
        return Result("na", "no TLS listener (NGX-TLS-01)")
    bad, evidence = [], []
    for server in tls:
        verify = _server_value(server, "ssl_verify_client")
        if verify and verify[-1]["args"][:1] == ["on"]:
            evidence.append(_ngx_item(ctx, verify[-1]))
            continue
        own = [d for d in server["directives"] if d["name"] in ("allow", "deny") and len(d["ctx"]) == 2]
        rules = own or [d for d in server["http"] if d["name"] in ("allow", "deny")]
        if rules and rules[-1]["name"] == "deny" and rules[-1]["args"][:1] == ["all"]:
            evidence += [_ngx_item(ctx, d) for d in rules][:4]
            continue
        locations = sorted(set(tuple(d["ctx"][:3]) for d in server["directives"] if len(d["ctx"]) >= 3))
        if locations and all(
            any(
                d["name"] == "deny" and d["args"][:1] == ["all"] and tuple(d["ctx"][:3]) == loc
                for d in server["directives"]
            )
            for loc in locations
        ):
            continue
        bad.append("%s (%s:%s) admits any client" % (server["label"], server["file"], server["line"]))
        evidence.append(
            {
                "source": "file",
                "path": server["file"],
                "line": server["line"],
                "text": "no deny all, no ssl_verify_client",
            }
        )
    if bad:
        return Result("fail", "; ".join(bad), evidence[:MAX_EVIDENCE])
    return Result("pass", "every TLS server restricts its clients", evidence[:MAX_EVIDENCE])


def _cert_date(text):
    return datetime.datetime.strptime(re.sub(r"\s+", " ", text.strip()), "%b %d %H:%M:%S %Y %Z").date()


def rule_nginx_certificates(spec, ctx):
    data = _nginx(ctx)
    certs = data.get("certificates") or {}
    if not certs:
        return Result("na", "no ssl_certificate configured (NGX-TLS-01)")
    need = int(ctx.param("certificate_min_days"))
    bad, shown, evidence = [], [], []
    for path, info in sorted(certs.items()):
        if info.get("error") or not info.get("not_after"):
            bad.append("%s unreadable (%s)" % (path, info.get("error")))
            continue
        end = _cert_date(info["not_after"])
        left = (end - ctx.today).days
        evidence.append(
            {
                "source": "certificate",
                "path": path,
                "text": "notAfter %s, subject %s%s"
                % (info["not_after"], info.get("subject"), ", self-signed" if info.get("self_signed") else ""),
            }
        )
        if left < need:
            bad.append("%s expires %s (%d days)" % (path, end.isoformat(), left))
        else:
            shown.append(
                "%s valid until %s (%d days)%s"
                % (path, end.isoformat(), left, ", self-signed" if info.get("self_signed") else "")
            )
    if bad:
        return Result("fail", "; ".join(bad), evidence)
    return Result("pass", "; ".join(shown), evidence)


# --- rules: the follow-up application ------------------------------------------------------------------------------
def _components(ctx):
    data = ctx.section("release")
    return data.get("components") or {}


def rule_release_currency(spec, ctx):
    from ansible.module_utils.followup_currency import currency

    index = ctx.extra.get("release_index") or {}
    if index.get("error"):
        raise EvidenceError("the signed release index could not be verified: %s" % index["error"])
    releases = index.get("releases")
    if releases is None:
        raise EvidenceError("no signed release index was read (followup_release_repository)")
    components = _components(ctx)
    if not components:
        return Result("fail", "no release of the follow-up system is deployed here")
    parts, evidence = [], []
    for name, info in sorted(components.items()):
        cur = currency(info.get("version"), releases, ctx.today, int(ctx.param("release_max_age_days")))
        parts.append(Result(cur["status"], "%s: %s" % (name, cur["message_en"])))
        evidence.append(
            {
                "source": "release",
                "path": "%s/current" % info.get("root"),
                "text": "-> %s; signed index newest %s" % (info.get("version"), cur.get("newest_version")),
            }
        )
    status = combine_all(parts)
    return Result(status, "; ".join(p.actual for p in parts), evidence)


def rule_release_approval(spec, ctx):
    components = dict((n, i) for n, i in _components(ctx).items() if i.get("version"))
    if not components:
        return Result("na", "no release deployed")
    missing, evidence = [], []
    for name, info in sorted(components.items()):
        evidence.append(
            {
                "source": "file",
                "path": info.get("record_path") or info.get("root"),
                "text": "approval %s" % ("present" if info.get("approval") else "absent"),
            }
        )
        if not info.get("approval"):
            missing.append("%s %s" % (name, info["version"]))
    if missing:
        status = ctx.param("release_approval_missing_status")
        return Result(
            status,
            "installed without an approval: %s (no release carries one until signed upgrades "
            "land)" % ", ".join(missing),
            evidence,
        )
    return Result("pass", "every running release carries its approval", evidence)


def rule_app_listen_scope(spec, ctx):
    components = _components(ctx)
    ports = sorted(set(p for info in components.values() for p in info.get("ports") or []))
    if not ports:
        return Result("na", "no component port is registered on this host")
    sockets = [s for s in ctx.section("listening").get("sockets") or [] if s["port"] in ports and s["proto"] == "tcp"]
    if not sockets:
        return Result("na", "no component listens (ports %s)" % ", ".join(str(p) for p in ports))
    wide = [s for s in sockets if s["address"] in WILDCARD_HOSTS]
    evidence = [
        section_item(ctx, "listening", "%s:%s %s" % (s["address"], s["port"], s.get("process"))) for s in sockets
    ]
    if wide and not _firewall_passes(ctx):
        return Result(
            "fail",
            "plain HTTP on all addresses: %s" % ", ".join("%s:%s" % (s["address"], s["port"]) for s in wide),
            evidence,
        )
    return Result(
        "pass",
        "components listen on %s%s"
        % (
            ", ".join("%s:%s" % (s["address"], s["port"]) for s in sockets),
            "; the firewall limits them" if wide else "",
        ),
        evidence,
    )


# --- the rules and what evidence each needs ------------------------------------------------------------------------
def _needs(read=(), stat=(), sections=(), units=()):
    return {"read": list(read), "stat": list(stat), "sections": list(sections), "units": list(units)}


PAM_ALL = ["/etc/pam.d/*"]
PWQUALITY = ["/etc/security/pwquality.conf", "/etc/security/pwquality.conf.d/*.conf"]
RULES = {
    "accounts_no_empty_password": (rule_accounts_no_empty_password, _needs(sections=["accounts"])),
    "accounts_unique_ids": (rule_accounts_unique_ids, _needs(sections=["accounts"])),
    "pwquality_classes": (rule_pwquality_classes, _needs(read=PWQUALITY + PAM_ALL)),
    "accounts_password_max_days": (rule_accounts_password_max_days, _needs(sections=["accounts"])),
    "accounts_hash_scheme": (rule_accounts_hash_scheme, _needs(sections=["accounts"])),
    "shell_tmout": (rule_shell_tmout, _needs(read=PROFILE_FILES)),
    "accounts_system_nologin": (rule_accounts_system_nologin, _needs(sections=["accounts"])),
    "accounts_default_locked": (rule_accounts_default_locked, _needs(sections=["accounts"])),
    "accounts_login_declared": (rule_accounts_login_declared, _needs(sections=["accounts"])),
    "accounts_admin_roles": (rule_accounts_admin_roles, _needs(sections=["accounts"])),
    "sudo_nopasswd": (rule_sudo_nopasswd, _needs(read=SUDOERS)),
    "sudo_logging": (rule_sudo_logging, _needs(read=SUDOERS)),
    "umask": (rule_umask, _needs(read=["/etc/login.defs", *PROFILE_FILES])),
    "world_writable": (rule_world_writable, _needs(sections=["world_writable"])),
    "mac": (rule_mac, _needs(sections=["mac"])),
    "journal_retention": (rule_journal_retention, _needs(read=JOURNALD, stat=["/var/log/journal"])),
    "logrotate_retention": (
        rule_logrotate_retention,
        _needs(
            read=["/etc/logrotate.conf", "/etc/logrotate.d/rsyslog", "/etc/logrotate.d/syslog"], sections=["packages"]
        ),
    ),
    "auditd_retention": (rule_auditd_retention, _needs(read=["/etc/audit/auditd.conf"])),
    "firewall": (
        rule_firewall,
        _needs(
            read=["/etc/nftables.conf", "/etc/nftables.d/*.nft", "/etc/sysconfig/nftables.conf"], sections=["firewall"]
        ),
    ),
    "time_offset": (rule_time_offset, _needs(sections=["time"])),
    "os_supported": (rule_os_supported, _needs()),
    "mysql_no_empty_password": (rule_mysql_no_empty_password, _needs(sections=["mysql"])),
    "mysql_password_policy": (rule_mysql_password_policy, _needs(sections=["mysql"])),
    "mysql_login_failure": (rule_mysql_login_failure, _needs(sections=["mysql"])),
    "mysql_anonymous": (rule_mysql_anonymous, _needs(sections=["mysql"])),
    "mysql_root_local": (rule_mysql_root_local, _needs(sections=["mysql"])),
    "mysql_root_disabled": (rule_mysql_root_disabled, _needs(sections=["mysql"])),
    "mysql_no_wildcard_hosts": (rule_mysql_no_wildcard_hosts, _needs(sections=["mysql"])),
    "mysql_least_privilege": (rule_mysql_least_privilege, _needs(sections=["mysql"])),
    "mysql_audit": (rule_mysql_audit, _needs(sections=["mysql"])),
    "mysql_log_files": (rule_mysql_log_files, _needs(sections=["mysql"])),
    "mysql_audit_permanent": (rule_mysql_audit_permanent, _needs(sections=["mysql"])),
    "mysql_version_supported": (rule_mysql_version_supported, _needs(sections=["mysql"])),
    "mysql_os": (rule_mysql_os, _needs(sections=["mysql"])),
    "ferretdb_authentication": (rule_ferretdb_authentication, _needs(sections=["mongodb"])),
    "ferretdb_tls": (rule_ferretdb_tls, _needs(sections=["mongodb"])),
    "mongod_bind": (rule_mongod_bind, _needs(sections=["mongodb"])),
    "ferretdb_bind": (rule_ferretdb_bind, _needs(sections=["mongodb"])),
    "mongod_least_privilege": (rule_mongod_least_privilege, _needs(sections=["mongodb"])),
    "ferretdb_least_privilege": (rule_ferretdb_least_privilege, _needs(sections=["mongodb"])),
    "mongodb_default_accounts": (rule_mongodb_default_accounts, _needs(sections=["mongodb"])),
    "mongod_log_file": (rule_mongod_log_file, _needs(sections=["mongodb"])),
    "mongod_version_supported": (rule_mongod_version_supported, _needs(sections=["mongodb"])),
    "mongod_dbpath": (rule_mongod_dbpath, _needs(sections=["mongodb"])),
    "nginx_tls_protocols": (rule_nginx_tls_protocols, _needs(sections=["nginx"])),
    "nginx_ciphers": (rule_nginx_ciphers, _needs(sections=["nginx"])),
    "nginx_http_redirect": (rule_nginx_http_redirect, _needs(sections=["nginx"])),
    "nginx_server_tokens": (rule_nginx_server_tokens, _needs(sections=["nginx"])),
    "nginx_headers": (rule_nginx_headers, _needs(sections=["nginx"])),
    "nginx_client_restriction": (rule_nginx_client_restriction, _needs(sections=["nginx"])),
    "nginx_certificates": (rule_nginx_certificates, _needs(sections=["nginx"])),
    "release_currency": (rule_release_currency, _needs(sections=["release"])),
    "release_approval": (rule_release_approval, _needs(sections=["release"])),
    "app_listen_scope": (rule_app_listen_scope, _needs(sections=["release", "listening"])),
}
# Controls a rule reads the result of (evaluated first).
RULE_DEPENDS = {"mongod_bind": ["LNX-NET-05"], "ferretdb_bind": ["LNX-NET-05"], "app_listen_scope": ["LNX-NET-05"]}


def check_needs(spec, params):
    """What evidence SPEC needs: {read, stat, sections, units, sysctl}."""
    need = {"read": [], "stat": [], "sections": [], "units": [], "sysctl": []}

    def add(key, values):
        for value in values:
            if value not in need[key]:
                need[key].append(value)

    def walk(node):
        kind = node["type"]
        if kind in ("all_of", "any_of"):
            for child in node["checks"]:
                walk(child)
        elif kind == "variants":
            for child in list((node.get("cases") or {}).values()) + ([node["default"]] if node.get("default") else []):
                walk(child)
        elif kind == "setting":
            add("read", node["files"])
            if node.get("pam_override"):
                add("read", PAM_ALL)
        elif kind == "pam":
            add("read", PAM_ALL)
        elif kind == "sshd":
            add("sections", ["ssh"])
        elif kind == "sysctl":
            add("sections", ["sysctl"])
            add("sysctl", list((node.get("keys") or {}).keys()) or list(params.get(node.get("param_map"), {}).keys()))
        elif kind == "service":
            add("sections", ["services"])
            add("units", node.get("units") or params.get(node.get("param")) or [])
        elif kind == "package":
            add("sections", ["packages"])
        elif kind == "ports":
            add("sections", ["listening"])
        elif kind == "file_mode":
            add("stat", list((node.get("paths") or params.get(node.get("param")) or {}).keys()))
        elif kind == "file_exists":
            add("stat", node["paths"])
        elif kind == "file_contains":
            if node.get("command"):
                add(
                    "sections",
                    [{"auditctl": "audit", "nft": "firewall", "sshd -T": "ssh", "chronyc": "time"}[node["command"]]],
                )
            else:
                add("read", node["files"])
        elif kind == "fact":
            section = node["path"].split(".", 1)[0]
            if section != "host":
                add("sections", [section])
            if section == "services":
                add("units", [node["path"].split(".")[1]])
        elif kind == "rule":
            rule_need = RULES[node["rule"]][1]
            for key in ("read", "stat", "sections", "units"):
                add(key, rule_need[key])

    walk(spec)
    if "world_writable" in need["sections"]:
        need["world_writable_paths"] = list(params.get("world_writable_scan_paths") or [])
    return need


def check_depends(spec):
    """Control ids SPEC reads the results of."""
    out = []
    kind = spec["type"]
    if kind in ("all_of", "any_of"):
        for child in spec["checks"]:
            out += check_depends(child)
    elif kind == "variants":
        for child in list((spec.get("cases") or {}).values()) + ([spec["default"]] if spec.get("default") else []):
            out += check_depends(child)
    elif kind == "derived":
        out += spec["controls"]
    elif kind == "rule":
        out += RULE_DEPENDS.get(spec["rule"], [])
    return out


# --- controls to findings ------------------------------------------------------------------------------------------
class _Params(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def render_expected(text, params):
    def value(v):
        return show(v) if not isinstance(v, dict) else ", ".join("%s=%s" % (k, show(x)) for k, x in v.items())

    return re.sub(
        r"\{([a-z0-9_]+)\}", lambda m: value(params[m.group(1)]) if m.group(1) in params else m.group(0), str(text)
    )


def _summary(items):
    return "; ".join(render_item(i) for i in items[:4]) + (" (+%d more)" % (len(items) - 4) if len(items) > 4 else "")


def finding_for(control, host, status, actual, evidence=(), notes=(), params=None, configuration_only=False):
    """The finding of CONTROL on HOST in the core's schema, plus the catalogue's fields."""
    items = [
        dict(
            (k, mask_line(v) if k == "text" and isinstance(v, str) else mask_values(v) if isinstance(v, str) else v)
            for k, v in i.items()
        )
        for i in evidence
    ]
    actual = mask_values(str(actual or ""))
    if len(actual) > MAX_ACTUAL:
        actual = actual[:MAX_ACTUAL] + "…"
    finding = {
        "control": control["id"],
        "host": host,
        "status": status,
        "title": "%s %s" % (control["title_zh"], control["title_en"]),
        "title_zh": control["title_zh"],
        "title_en": control["title_en"],
        "expected": render_expected(control["expected"], params or {}),
        "actual": actual,
        "evidence": _summary(items) if items else (actual if status in ("error", "manual", "na") else ""),
        "evidence_items": items[:MAX_EVIDENCE],
        "clause": control["clause"],
        "test_unit": control["test_unit"],
        "control_point": control["control_point"],
        "target": control["target"],
        "mode": control["mode"],
        "risk": control["risk"],
        "opt_in": control["opt_in"],
        "lab_provable": control["lab_provable"],
        "basis": "configuration" if configuration_only else "runtime",
        "remediation": {k: control["remediation"].get(k) for k in ("role", "family", "zh", "en")},
    }
    if notes:
        finding["notes"] = list(notes)
    if control.get("evidence_required") and status in ("manual", "fail", "partial", "na"):
        finding["evidence_required"] = list(control["evidence_required"])
    if control.get("ref"):
        finding["ref"] = control["ref"]
    return finding


def order_controls(controls):
    """CONTROLS with every control after the ones its check reads (derived, dependent rules)."""
    by_id = dict((c["id"], c) for c in controls)
    done, out = set(), []

    def visit(control, stack=()):
        if control["id"] in done:
            return
        for dep in check_depends(control["check"]):
            if dep in by_id and dep not in stack:
                visit(by_id[dep], (*stack, control["id"]))
        done.add(control["id"])
        out.append(control)

    for control in controls:
        visit(control)
    return out


def evaluate_control(control, ctx):
    try:
        result = evaluate(control["check"], ctx)
    except Exception as err:  # a bug or an unexpected evidence shape is an error finding, never a pass
        result = Result("error", "evaluator error: %s: %s" % (type(err).__name__, err))
    status = result.status
    notes = list(result.notes)
    if status == SKIP:
        status = "manual"
        result.actual = "cannot be verified in a container; verify on the real host (%s)" % CONTAINER_NOTE
    if ctx.container and result.configuration_only and CONTAINER_NOTE not in notes:
        notes.append(CONTAINER_NOTE)
    finding = finding_for(
        control, ctx.host, status, result.actual, result.evidence, notes, ctx.params, result.configuration_only
    )
    ctx.results[control["id"]] = finding
    return finding


def evaluate_host(catalogue, evidence, params, host, targets, extra=None, controls=None):
    """{<host>/<control id>: finding} of every selected control of HOST's TARGETS."""
    ctx = Context(evidence, params, host, targets, catalogue, extra)
    chosen = [
        c
        for c in (controls if controls is not None else catalogue["controls"])
        if c["target"] in ctx.targets and c["target"] != "central"
    ]
    findings = {}
    for control in order_controls(chosen):
        findings["%s/%s" % (host, control["id"])] = evaluate_control(control, ctx)
    return findings


def unreachable_findings(catalogue, host, targets, reason, params=None, controls=None):
    """Every control of HOST is `error` (检查错误) when the host gave no evidence: never `pass`."""
    reason = mask_values(str(reason or "the host did not answer")).splitlines()[0][:300]
    chosen = [
        c
        for c in (controls if controls is not None else catalogue["controls"])
        if c["target"] in set(targets) and c["target"] != "central"
    ]
    return dict(
        (
            "%s/%s" % (host, c["id"]),
            finding_for(
                c,
                host,
                "error",
                "no evidence: %s" % reason,
                [],
                ["主机不可达或采集失败 host unreachable or collection failed"],
                params,
            ),
        )
        for c in chosen
    )


def evaluate_central(catalogue, findings, params, extra=None, controls=None, host="control-node"):
    """The `central` controls, once per run, from every host's findings (fleet checks) or as manual rows."""
    fleet = {}
    for finding in findings.values():
        fleet.setdefault(finding["control"], []).append((finding["host"], finding["status"]))
    extra = dict(extra or {}, fleet=fleet)
    ctx = Context({}, params, host, ["central"], catalogue, extra)
    chosen = [c for c in (controls if controls is not None else catalogue["controls"]) if c["target"] == "central"]
    return dict(("%s/%s" % (host, c["id"]), evaluate_control(c, ctx)) for c in chosen)


# --- scores --------------------------------------------------------------------------------------------------------
COUNTED = ("pass", "partial", "fail", "error")
PARTIAL_WEIGHT = 0.5


def counted(finding):
    """A finding counts towards the score and the exit code unless it is waived, manual, not applicable or a warning."""
    return finding["status"] in COUNTED and not (finding.get("waiver") or {}).get("active")


def score(findings):
    rows = [f for f in findings if counted(f)]
    if not rows:
        return None
    value = sum(1.0 if f["status"] == "pass" else PARTIAL_WEIGHT if f["status"] == "partial" else 0.0 for f in rows)
    return round(100.0 * value / len(rows), 1)


def tally(findings):
    counts = dict((s, 0) for s in STATUSES)
    counts["waived"] = 0
    for finding in findings:
        if (finding.get("waiver") or {}).get("active"):
            counts["waived"] += 1
        else:
            counts[finding["status"]] = counts.get(finding["status"], 0) + 1
    return counts


def summarise(findings, control_points=None):
    """Score and counts overall, per host, per 控制点 and per target; H-risk failures listed apart."""
    findings = list(findings)

    def group(key):
        out = {}
        for finding in findings:
            out.setdefault(finding.get(key), []).append(finding)
        return dict(
            (k, {"score": score(v), "counts": tally(v), "controls": len(v)})
            for k, v in sorted(out.items(), key=lambda kv: str(kv[0]))
        )

    per_point = group("control_point")
    if control_points:
        per_point = dict((k, per_point[k]) for k in control_points if k in per_point)
    failing = [f for f in findings if counted(f) and f["status"] != "pass"]
    return {
        "score": score(findings),
        "partial_weight": PARTIAL_WEIGHT,
        "counts": tally(findings),
        "controls": len(set(f["control"] for f in findings)),
        "hosts": sorted(set(f["host"] for f in findings)),
        "findings": len(findings),
        "counted": sum(1 for f in findings if counted(f)),
        "failing": len(failing),
        "high_risk_failing": sorted("%s/%s" % (f["host"], f["control"]) for f in failing if f.get("risk") == "H"),
        "compliant": not failing,
        "per_host": group("host"),
        "per_control_point": per_point,
        "per_target": group("target"),
    }
