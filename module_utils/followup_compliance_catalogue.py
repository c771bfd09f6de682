# -*- coding: utf-8 -*-
# followup-ops: the 等保 control catalogue (controls/djbh-l3.yml): load it, validate it strictly, and derive from it
# the effective parameters of a host, the controls of a host's targets and what the host's evidence must contain.
#
#   catalogue = load()                                     # refuses a broken catalogue with one line (CatalogueError)
#   params = effective_parameters(catalogue, inventory_overrides, group_overrides, host_overrides)
#   controls = select(catalogue, ["LNX-PWD-01", ...])      # unknown ids refused with one line
#   spec = collect_spec(catalogue, controls, targets, params)   # the options of followup_compliance_facts
#
# Controller side only. Used by filter_plugins/followup_djbh.py (playbooks, hardening roles), the compliance command
# and tests. Every error message names the file, the control or parameter, and what to do.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import os
import re

from ansible.module_utils import followup_compliance_eval as ev

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATH = os.path.join(ROOT, "controls", "djbh-l3.yml")

TOP_KEYS = {"catalogue", "control_points", "targets", "parameters", "controls"}
CATALOGUE_KEYS = {"id", "version", "title_zh", "title_en", "standard"}
CONTROL_REQUIRED = {
    "id",
    "clause",
    "test_unit",
    "control_point",
    "target",
    "title_zh",
    "title_en",
    "mode",
    "check",
    "expected",
    "remediation",
    "risk",
    "opt_in",
    "platforms",
    "lab_provable",
}
CONTROL_OPTIONAL = {"ref", "also", "lab_note", "evidence_required", "notes"}
REMEDIATION_KEYS = {"role", "family", "parameters", "zh", "en"}
PLATFORM_KEYS = {"debian", "redhat", "mariadb", "mysql", "mongod", "ferretdb"}
PARAMETER_KEYS = {"type", "default", "min", "max", "unit", "choices", "description_zh", "description_en"}
PARAMETER_TYPES = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "map": (dict,),
}
MODES = ("auto", "semi", "manual", "na")
RISKS = ("L", "M", "H")
TARGET_PREFIX = {
    "LNX": "linux",
    "SSH": "ssh",
    "MYS": "mysql",
    "MGO": "mongodb",
    "NGX": "nginx",
    "APP": "app",
    "CEN": "central",
}
ID_RE = re.compile(r"\A(LNX|SSH|MYS|MGO|NGX|APP|CEN)-[A-Z]{2,4}-[0-9]{2}\Z")
CLAUSE_RE = re.compile(r"\A8\.1\.([345])\.([0-9]{1,2})(?: ([a-g])\))?\Z")
UNIT_RE = re.compile(r"\AL3-(CES1|SMC1|ABS1)-([0-9]{2})\Z")
PLACEHOLDER_RE = re.compile(r"\{([a-z0-9_]+)\}")

# GB/T 28448-2019 test units of §8.1.4 (安全计算环境, level 3): L3-CES1-01 … -35, there is no -16.
CES1 = {}
_n = 0
for _item, _letters in (
    (1, "abcd"),
    (2, "abcdefg"),
    (3, "abcd"),
    (4, "abcdef"),
    (5, ""),
    (6, ""),
    (7, "ab"),
    (8, "ab"),
    (9, "abc"),
    (10, "ab"),
    (11, "ab"),
):
    for _letter in _letters or [None]:
        _n += 1
        if _n == 16:
            _n += 1
        CES1[(_item, _letter)] = _n
# §8.1.5 (安全管理中心) test units as the public MLPS3 mapper orders them (verify): SMC1-01 … -12.
SMC1 = {
    (1, "a"): 1,
    (1, "b"): 2,
    (2, "a"): 3,
    (2, "b"): 4,
    (3, "a"): 5,
    (3, "b"): 6,
    (4, "a"): 7,
    (4, "b"): 8,
    (4, "c"): 9,
    (4, "d"): 10,
    (4, "e"): 11,
    (4, "f"): 12,
}


class CatalogueError(ValueError):
    """The catalogue, a parameter override or a control selection is wrong; the message is one line with the fix."""


def _yaml():
    import yaml

    return yaml


def load(path=None, data=None):
    """The validated catalogue (a dict) from PATH (default controls/djbh-l3.yml) or from DATA."""
    path = path or DEFAULT_PATH
    if data is None:
        yaml = _yaml()
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except OSError as err:
            raise CatalogueError(
                "%s cannot be read (%s): give the path of controls/djbh-l3.yml" % (path, err.strerror or err)
            )
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = ":%d" % (mark.line + 1) if mark else ""
            raise CatalogueError(
                "%s%s is not valid YAML (%s): fix the file" % (path, where, str(getattr(err, "problem", err)))
            )
    validate(data, path)
    catalogue = copy.deepcopy(data)
    catalogue["path"] = path
    catalogue["by_id"] = dict((c["id"], c) for c in catalogue["controls"])
    return catalogue


def _fail(path, where, message):
    raise CatalogueError("%s: %s: %s" % (path, where, message))


def _keys(path, where, data, allowed, required=()):
    if not isinstance(data, dict):
        _fail(path, where, "must be a mapping")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        _fail(path, where, "unknown key %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(allowed))))
    missing = sorted(set(required) - set(data))
    if missing:
        _fail(path, where, "missing %s" % ", ".join(missing))


def _text(value):
    return isinstance(value, str) and value.strip() != ""


def check_parameter_value(name, spec, value, where):
    """Refuse VALUE for parameter NAME when it does not fit SPEC (type, min, max, choices)."""
    kind = spec["type"]
    types = PARAMETER_TYPES[kind]
    if isinstance(value, bool) and kind in ("int", "float"):
        raise CatalogueError("%s: parameter %s must be %s, not %r" % (where, name, kind, value))
    if not isinstance(value, types):
        raise CatalogueError(
            "%s: parameter %s must be %s, not %s (%r)" % (where, name, kind, type(value).__name__, value)
        )
    if kind in ("int", "float"):
        if "min" in spec and value < spec["min"]:
            raise CatalogueError("%s: parameter %s = %s is below its minimum %s" % (where, name, value, spec["min"]))
        if "max" in spec and value > spec["max"]:
            raise CatalogueError("%s: parameter %s = %s is above its maximum %s" % (where, name, value, spec["max"]))
    if "choices" in spec and value not in spec["choices"]:
        raise CatalogueError(
            "%s: parameter %s = %r is not one of %s" % (where, name, value, ", ".join(str(c) for c in spec["choices"]))
        )


def validate(data, path="controls/djbh-l3.yml"):
    """Raise CatalogueError (one line naming the control and the fix) unless DATA is a valid catalogue."""
    if not isinstance(data, dict):
        raise CatalogueError("%s: the catalogue must be a mapping with %s" % (path, ", ".join(sorted(TOP_KEYS))))
    _keys(path, "top level", data, TOP_KEYS, TOP_KEYS)
    _keys(path, "catalogue", data["catalogue"], CATALOGUE_KEYS, {"id", "version"})
    points = data["control_points"]
    if not isinstance(points, dict) or not points:
        _fail(path, "control_points", "must map each 控制点 to {en, clause}")
    for name, point in points.items():
        _keys(path, "control_points.%s" % name, point, {"en", "clause"}, {"en", "clause"})
    targets = data["targets"]
    if not isinstance(targets, dict):
        _fail(path, "targets", "must be a mapping")
    for name, target in targets.items():
        _keys(path, "targets.%s" % name, target, {"title_zh", "title_en", "groups"}, {"title_zh", "title_en", "groups"})
        if name not in TARGET_PREFIX.values():
            _fail(path, "targets.%s" % name, "unknown target (known: %s)" % ", ".join(sorted(TARGET_PREFIX.values())))
    params = data["parameters"]
    if not isinstance(params, dict):
        _fail(path, "parameters", "must be a mapping")
    for name, spec in params.items():
        where = "parameter %s" % name
        if not re.match(r"\A[a-z][a-z0-9_]*\Z", str(name)):
            _fail(path, where, "names are lower_case_with_underscores")
        _keys(path, where, spec, PARAMETER_KEYS, {"type", "default", "description_zh", "description_en"})
        if spec["type"] not in PARAMETER_TYPES:
            _fail(path, where, "type %s is not one of %s" % (spec["type"], ", ".join(PARAMETER_TYPES)))
        check_parameter_value(name, spec, spec["default"], "%s: default" % path)
    controls = data["controls"]
    if not isinstance(controls, list) or not controls:
        _fail(path, "controls", "must be a list of controls")
    seen = {}
    for index, control in enumerate(controls):
        cid = control.get("id") if isinstance(control, dict) else None
        where = "control %s" % (cid or "#%d" % (index + 1))
        _keys(path, where, control, CONTROL_REQUIRED | CONTROL_OPTIONAL, CONTROL_REQUIRED)
        if not ID_RE.match(str(cid)):
            _fail(path, where, "id must look like LNX-PWD-01 (LNX|SSH|MYS|MGO|NGX|APP|CEN, family, two digits)")
        if cid in seen:
            _fail(
                path,
                where,
                "duplicate id (also control #%d): ids are stable, give the new control a new number" % seen[cid],
            )
        seen[cid] = index + 1
        if control["target"] not in targets:
            _fail(path, where, "target %s is not one of %s" % (control["target"], ", ".join(targets)))
        if TARGET_PREFIX[cid.split("-")[0]] != control["target"]:
            _fail(path, where, "id prefix %s does not match target %s" % (cid.split("-")[0], control["target"]))
        _validate_clause(path, where, control, points)
        for key in ("title_zh", "title_en"):
            if not _text(control[key]):
                _fail(path, where, "%s must be a non-empty string" % key)
        if control["mode"] not in MODES:
            _fail(path, where, "mode %s is not one of %s" % (control["mode"], ", ".join(MODES)))
        if control["risk"] not in RISKS:
            _fail(path, where, "risk %s is not one of L, M, H" % control["risk"])
        if not isinstance(control["opt_in"], bool) or not isinstance(control["lab_provable"], bool):
            _fail(path, where, "opt_in and lab_provable must be true or false")
        if control["risk"] == "H" and not control["opt_in"]:
            _fail(path, where, "risk H remediations are opt-in: set opt_in: true")
        if not control["lab_provable"] and not _text(control.get("lab_note")):
            _fail(path, where, "lab_provable false needs a lab_note saying why")
        if not _text(control["expected"]):
            _fail(path, where, "expected must be a non-empty string")
        for name in PLACEHOLDER_RE.findall(control["expected"]):
            if name not in params:
                _fail(path, where, "expected names parameter {%s}, which is not a parameter" % name)
        _keys(path, "%s: remediation" % where, control["remediation"], REMEDIATION_KEYS, {"role", "zh", "en"})
        for name in control["remediation"].get("parameters") or []:
            if name not in params:
                _fail(path, where, "remediation names parameter %s, which is not a parameter" % name)
        _keys(path, "%s: platforms" % where, control["platforms"], PLATFORM_KEYS)
        if not control["platforms"] or not all(_text(v) for v in control["platforms"].values()):
            _fail(path, where, "platforms must say how the check reads on each platform (non-empty strings)")
        if control["mode"] == "manual" and control["check"].get("type") != "manual":
            _fail(path, where, "mode manual needs check type manual")
        if control["mode"] == "na" and control["check"].get("type") != "na":
            _fail(path, where, "mode na needs check type na with its reason")
        if control["mode"] in ("manual", "semi") and not control.get("evidence_required"):
            _fail(path, where, "mode %s needs evidence_required (what a person must attach)" % control["mode"])
        if control.get("evidence_required") is not None and not (
            isinstance(control["evidence_required"], list) and all(_text(x) for x in control["evidence_required"])
        ):
            _fail(path, where, "evidence_required must be a list of strings")
        _validate_check(path, where, control["check"], params, control["target"])
    ids = set(seen)
    for control in controls:
        for dep in ev.check_depends(control["check"]):
            if dep not in ids:
                _fail(path, "control %s" % control["id"], "check reads control %s, which does not exist" % dep)
        if control["target"] == "central":
            continue
    _check_cycles(path, controls)


def _validate_clause(path, where, control, points):
    clauses = [control["clause"], *list(control.get("also") or [])]
    for clause in clauses:
        if not CLAUSE_RE.match(str(clause)):
            _fail(path, where, "clause %r must look like '8.1.4.1 a)' (GB/T 22239-2019 level 3)" % clause)
    match = CLAUSE_RE.match(control["clause"])
    section, item, letter = int(match.group(1)), int(match.group(2)), match.group(3)
    unit = UNIT_RE.match(str(control["test_unit"]))
    if not unit:
        _fail(path, where, "test_unit %r must look like L3-CES1-01 (GB/T 28448-2019)" % control["test_unit"])
    family, number = unit.group(1), int(unit.group(2))
    if section == 4:
        expected = CES1.get((item, letter))
        if family != "CES1" or expected is None:
            _fail(path, where, "clause %s has no CES1 test unit: check the clause" % control["clause"])
        if number != expected:
            _fail(
                path,
                where,
                "clause %s is test unit L3-CES1-%02d, not %s" % (control["clause"], expected, control["test_unit"]),
            )
    elif section == 5:
        expected = SMC1.get((item, letter))
        if family != "SMC1" or expected is None or number != expected:
            _fail(
                path,
                where,
                "clause %s is test unit L3-SMC1-%s, not %s"
                % (control["clause"], "%02d" % expected if expected else "?", control["test_unit"]),
            )
    point = points.get(control["control_point"])
    if point is None:
        _fail(path, where, "control_point %s is not one of %s" % (control["control_point"], ", ".join(points)))
    if not control["clause"].startswith(point["clause"] + " ") and control["clause"] != point["clause"]:
        _fail(
            path,
            where,
            "control_point %s is clause %s, not %s" % (control["control_point"], point["clause"], control["clause"]),
        )


def _validate_check(path, where, spec, params, target, depth=0):
    if not isinstance(spec, dict) or "type" not in spec:
        _fail(path, where, "check must be a mapping with a type (one of %s)" % ", ".join(sorted(ev.CHECK_KEYS)))
    kind = spec["type"]
    if kind not in ev.CHECK_KEYS:
        _fail(path, where, "check type %s is not one of %s" % (kind, ", ".join(sorted(ev.CHECK_KEYS))))
    required, optional = ev.CHECK_KEYS[kind]
    here = "%s: check %s" % (where, kind)
    _keys(path, here, spec, required | optional | ev.COMMON_KEYS, required | {"type"})
    if spec.get("otherwise") not in (None, "manual", "warn", "na", "partial"):
        _fail(path, here, "otherwise must be manual, warn, na or partial")
    for key in ("param", "each_param", "param_map"):
        if key in spec and spec[key] not in params:
            _fail(path, here, "%s %s is not a parameter (known: %s)" % (key, spec[key], _near(spec[key], params)))
    if "op" in spec:
        _validate_op(path, here, spec, params)
    if kind in ("all_of", "any_of"):
        if not isinstance(spec["checks"], list) or len(spec["checks"]) < 1:
            _fail(path, here, "checks must be a non-empty list")
        for child in spec["checks"]:
            _validate_check(path, where, child, params, target, depth + 1)
    elif kind == "variants":
        if spec["by"] not in ev.VARIANT_KEYS:
            _fail(path, here, "by must be one of %s" % ", ".join(ev.VARIANT_KEYS))
        cases = spec["cases"]
        if not isinstance(cases, dict) or not cases:
            _fail(path, here, "cases must map %s values to checks" % spec["by"])
        for key, child in cases.items():
            if key not in ev.VARIANT_KEYS[spec["by"]]:
                _fail(path, here, "case %s is not one of %s" % (key, ", ".join(ev.VARIANT_KEYS[spec["by"]])))
            _validate_check(path, where, child, params, target, depth + 1)
        if spec.get("default"):
            _validate_check(path, where, spec["default"], params, target, depth + 1)
    elif kind == "rule":
        if spec["rule"] not in ev.RULES:
            _fail(
                path,
                here,
                "rule %s is not one of the evaluator's rules (%s)" % (spec["rule"], _near(spec["rule"], ev.RULES)),
            )
    elif kind in ("setting", "file_contains", "file_exists"):
        for key in ("files", "paths"):
            if key in spec and (
                not isinstance(spec[key], list)
                or not spec[key]
                or not all(isinstance(p, str) and p.startswith("/") for p in spec[key])
            ):
                _fail(path, here, "%s must be a list of absolute paths" % key)
        if kind == "file_contains":
            sources = [k for k in ("files", "command") if k in spec]
            if len(sources) != 1:
                _fail(path, here, "give exactly one of files or command")
            if spec.get("command") and spec["command"] not in ev.COMMANDS:
                _fail(path, here, "command must be one of %s" % ", ".join(ev.COMMANDS))
            patterns = [k for k in ("pattern", "patterns", "each_param") if k in spec]
            if len(patterns) != 1:
                _fail(path, here, "give exactly one of pattern, patterns or each_param (with each_pattern)")
            if "each_param" in spec and "{item}" not in str(spec.get("each_pattern", "")):
                _fail(path, here, "each_param needs an each_pattern holding {item}")
            for pattern in (
                ([spec.get("pattern")] if "pattern" in spec else [])
                + list(spec.get("patterns") or [])
                + ([spec["each_pattern"].replace("{item}", "x")] if "each_pattern" in spec else [])
            ):
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as err:
                    _fail(path, here, "pattern %r is not a regular expression (%s)" % (pattern, err))
    elif kind in ("service", "package"):
        if not spec.get("units" if kind == "service" else "names") and not spec.get("param"):
            _fail(path, here, "give %s or param" % ("units" if kind == "service" else "names"))
        states = ("active", "enabled", "enabled_active", "disabled") if kind == "service" else ("present", "absent")
        if spec["state"] not in states:
            _fail(path, here, "state must be one of %s" % ", ".join(states))
        if spec.get("quantifier", "all") not in ("any", "all"):
            _fail(path, here, "quantifier must be any or all")
    elif kind == "sysctl":
        if bool(spec.get("keys")) == bool(spec.get("param_map")):
            _fail(path, here, "give keys or param_map")
        for key, rule in (spec.get("keys") or {}).items():
            if not isinstance(rule, dict) or ("value" not in rule and "param" not in rule):
                _fail(path, here, "keys.%s needs a value or a param" % key)
            if "param" in rule and rule["param"] not in params:
                _fail(path, here, "keys.%s: param %s is not a parameter" % (key, rule["param"]))
    elif kind == "pam":
        if not spec.get("stack") and not spec.get("files"):
            _fail(path, here, "give stack (auth, account, password, session) or files")
        if spec.get("stack") and spec["stack"] not in ("auth", "account", "password", "session"):
            _fail(path, here, "stack must be auth, account, password or session")
        for name, arg in (spec.get("args") or {}).items():
            if not isinstance(arg, dict) or "op" not in arg:
                _fail(path, here, "args.%s needs an op" % name)
            _validate_op(path, "%s args.%s" % (here, name), arg, params)
    elif kind == "fact":
        section = spec["path"].split(".", 1)[0]
        if section not in ("host", *tuple(ev.CHECKS)) and section not in (
            "accounts",
            "services",
            "listening",
            "packages",
            "sysctl",
            "ssh",
            "time",
            "updates",
            "mac",
            "world_writable",
            "release",
            "nginx",
            "mysql",
            "mongodb",
        ):
            _fail(path, here, "path %s does not start with an evidence section" % spec["path"])
    elif kind == "fixed":
        if spec["status"] not in ev.STATUSES:
            _fail(path, here, "status must be one of %s" % ", ".join(ev.STATUSES))
    elif kind == "derived":
        if not isinstance(spec["controls"], list) or not spec["controls"]:
            _fail(path, here, "controls must be a non-empty list of control ids")
    elif kind == "fleet":
        if target != "central":
            _fail(path, here, "fleet checks belong to target central")
    elif kind == "ports" and not spec.get("ports") and not spec.get("param"):
        _fail(path, here, "give ports or param")


def _validate_op(path, where, spec, params):
    op = spec["op"]
    if op not in ev.OPS:
        _fail(path, where, "op %s is not one of %s" % (op, ", ".join(ev.OPS)))
    if op in ("present", "truthy", "falsy"):
        return
    if "param" not in spec and "value" not in spec:
        _fail(path, where, "op %s needs a value or a param" % op)
    if "param" in spec and spec["param"] not in params:
        _fail(path, where, "param %s is not a parameter (known: %s)" % (spec["param"], _near(spec["param"], params)))
    if op in ev.NUMERIC_OPS and "param" in spec and params[spec["param"]]["type"] not in ("int", "float"):
        _fail(
            path,
            where,
            "op %s compares numbers but parameter %s is %s" % (op, spec["param"], params[spec["param"]]["type"]),
        )


def _near(name, known):
    import difflib

    close = difflib.get_close_matches(str(name), list(known), 3, 0.6)
    return ", ".join(close) if close else "see the catalogue"


def _check_cycles(path, controls):
    deps = dict((c["id"], ev.check_depends(c["check"])) for c in controls)

    def visit(cid, stack):
        if cid in stack:
            raise CatalogueError(
                "%s: control %s: its check depends on itself through %s" % (path, cid, " -> ".join([*stack, cid]))
            )
        for dep in deps.get(cid, []):
            visit(dep, [*stack, cid])

    for cid in deps:
        visit(cid, [])


# --- parameters ----------------------------------------------------------------------------------------------------
def defaults(catalogue):
    return dict((name, copy.deepcopy(spec["default"])) for name, spec in catalogue["parameters"].items())


def effective_parameters(catalogue, *overrides, **kwargs):
    """The catalogue's defaults with each mapping of OVERRIDES applied in turn (inventory, group, host).

    Unknown names and wrong types are refused in one line naming the variable. Values are replaced, never merged
    (a list or map override is the whole new list or map)."""
    names = kwargs.get("names") or [
        "followup_djbh_parameters",
        "followup_djbh_group_parameters",
        "followup_djbh_host_parameters",
    ]
    params = defaults(catalogue)
    for index, override in enumerate(overrides):
        if override in (None, "", {}):
            continue
        label = names[index] if index < len(names) else "override %d" % (index + 1)
        if not isinstance(override, dict):
            raise CatalogueError(
                "%s must be a mapping of catalogue parameters, not %s" % (label, type(override).__name__)
            )
        for name, value in override.items():
            if name not in catalogue["parameters"]:
                raise CatalogueError(
                    "%s: %s is not a parameter of %s (near: %s)"
                    % (
                        label,
                        name,
                        os.path.relpath(catalogue.get("path") or DEFAULT_PATH, ROOT),
                        _near(name, catalogue["parameters"]),
                    )
                )
            check_parameter_value(name, catalogue["parameters"][name], _plain(value), label)
            params[name] = _plain(value)
    return params


def changed_parameters(catalogue, params):
    """{name: {default, value}} of the parameters PARAMS sets differently from the catalogue."""
    out = {}
    for name, spec in catalogue["parameters"].items():
        if name in params and params[name] != spec["default"]:
            out[name] = {"default": spec["default"], "value": params[name]}
    return out


def _plain(value):
    """Ansible's lazy and tagged values as plain Python values."""
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (datetime.date,)):
        return value.isoformat()
    return value


# --- controls and targets ------------------------------------------------------------------------------------------
def parse_ids(text):
    """'LNX-PWD-01, SSH-AUTH-01' or a list -> [ids] (upper-cased, stripped, de-duplicated, in order)."""
    if text in (None, "", []):
        return []
    items = text if isinstance(text, list) else re.split(r"[,\s]+", str(text))
    out = []
    for item in items:
        item = str(item).strip().upper()
        if item and item not in out:
            out.append(item)
    return out


def select(catalogue, ids=None):
    """The controls named by IDS (all of them when IDS is empty); an unknown id is refused with one line."""
    ids = parse_ids(ids)
    if not ids:
        return list(catalogue["controls"])
    unknown = [i for i in ids if i not in catalogue["by_id"]]
    if unknown:
        hints = []
        for item in unknown:
            near = _near(item, catalogue["by_id"])
            hints.append("%s (near: %s)" % (item, near))
        raise CatalogueError(
            "unknown control id %s: ids are listed in %s (e.g. LNX-PWD-01)"
            % (", ".join(hints), os.path.relpath(catalogue.get("path") or DEFAULT_PATH, ROOT))
        )
    wanted = set(ids)
    return [c for c in catalogue["controls"] if c["id"] in wanted]


def host_targets(catalogue, group_names, override=None):
    """The targets of a host: OVERRIDE (followup_djbh_targets) when given, else from its inventory groups."""
    if override not in (None, "", []):
        targets = _plain(override)
        if not isinstance(targets, list):
            raise CatalogueError("followup_djbh_targets must be a list of targets, not %r" % (targets,))
        unknown = [t for t in targets if t not in catalogue["targets"]]
        if unknown:
            raise CatalogueError(
                "followup_djbh_targets: unknown target %s (known: %s)"
                % (", ".join(unknown), ", ".join(catalogue["targets"]))
            )
        return [t for t in targets if t != "central"]
    groups = set(group_names or []) | {"all"}
    return [
        name
        for name, target in catalogue["targets"].items()
        if name != "central" and groups & set(target.get("groups") or [])
    ]


def collect_spec(catalogue, controls, targets, params):
    """The options of followup_compliance_facts for a host with TARGETS: the union of what its controls need."""
    spec = {"read": [], "stat": [], "sections": [], "units": [], "sysctl": [], "world_writable_paths": []}
    for control in controls:
        if control["target"] not in targets:
            continue
        need = ev.check_needs(control["check"], params)
        for key in spec:
            for value in need.get(key) or []:
                if value not in spec[key]:
                    spec[key].append(value)
    if any(t in targets for t in ("linux", "ssh")):
        for section in ("services",):
            if section not in spec["sections"] and spec["units"]:
                spec["sections"].append(section)
    if "release" in spec["sections"] and "listening" not in spec["sections"]:
        spec["sections"].append("listening")
    spec["sections"] = sorted(spec["sections"])
    return spec


def summary(catalogue):
    """Counts of the catalogue for the docs and reports: controls per target, mode and risk."""
    out = {
        "version": catalogue["catalogue"]["version"],
        "controls": len(catalogue["controls"]),
        "per_target": {},
        "per_mode": {},
        "per_risk": {},
        "opt_in": 0,
        "lab_provable": 0,
    }
    for control in catalogue["controls"]:
        for key, value in (
            ("per_target", control["target"]),
            ("per_mode", control["mode"]),
            ("per_risk", control["risk"]),
        ):
            out[key][value] = out[key].get(value, 0) + 1
        out["opt_in"] += 1 if control["opt_in"] else 0
        out["lab_provable"] += 1 if control["lab_provable"] else 0
    return out
