# -*- coding: utf-8 -*-
# The inspection (巡检), judged: thresholds as data (inspection/thresholds.yml, overridable per inventory and host by
# `followup_inspection_thresholds`), and the evaluation of what every host answered into items, each 正常 / 注意 /
# 异常 with its threshold, in the findings schema of docs/architecture.md ("What playbooks report").
#
# Levels and finding statuses: 正常 pass, 注意 warn, 异常 fail, 异常 (未能检查, not checked) error, 不适用 na.
# An unreachable host is never 正常: every item its groups call for is `error`.
#
# Used by library/followup_inspect_facts.py (merge, on the host) and library/followup_inspect_report.py (evaluate, on
# the control node). Pure Python (3.6 and later), standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re
import time

from ansible.module_utils.followup_currency import currency
from ansible.module_utils.followup_inspect_host import iso_utc, parse_iso_utc

LEVEL_ZH = {"pass": "正常", "warn": "注意", "fail": "异常", "error": "异常", "na": "不适用"}
LEVEL_EN = {"pass": "normal", "warn": "attention", "fail": "abnormal", "error": "not checked", "na": "n/a"}
LEVEL_ORDER = {"na": 0, "pass": 1, "warn": 2, "fail": 3, "error": 3}
CONTROL_HOST = "control-node"

STR_KEYS = ("title_zh", "title_en", "scope", "unit", "direction", "stats_path", "missing")
NUM_KEYS = (
    "warn",
    "crit",
    "window_days",
    "min_hours",
    "first_window_hours",
    "quote_lines",
    "min_requests",
    "min_bytes",
    "top",
    "min_calls",
    "max_age_days",
)
BOOL_KEYS = ("required",)
LIST_KEYS = ("paths", "callee_codes")
SCOPES = ("system", "mysql", "mongodb", "interface", "voice", "control")
TZ_RE = re.compile(r"\A[+-][0-9]{2}:[0-9]{2}\Z")
SERVICE_LEVEL_KEYS = (
    "contract_year_start",
    "faults_per_year",
    "response_minutes",
    "remote_fix_minutes",
    "onsite_hours",
)


class ThresholdError(ValueError):
    """Thresholds that cannot be used; the message names the source, the item and the key."""


def _is_num(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_item(item_id, rule, source, partial=False):
    if not isinstance(rule, dict):
        raise ThresholdError("%s: item %s must be a mapping of settings, not %r" % (source, item_id, rule))
    allowed = STR_KEYS + NUM_KEYS + BOOL_KEYS + LIST_KEYS
    for key, value in rule.items():
        where = "%s: %s.%s" % (source, item_id, key)
        if key not in allowed:
            raise ThresholdError("%s is not a setting (known: %s)" % (where, ", ".join(sorted(allowed))))
        if key in NUM_KEYS and not _is_num(value):
            raise ThresholdError("%s must be a number, not %r" % (where, value))
        if key in NUM_KEYS and value < 0:
            raise ThresholdError("%s must not be negative (%r)" % (where, value))
        if key in BOOL_KEYS and not isinstance(value, bool):
            raise ThresholdError("%s must be true or false, not %r" % (where, value))
        if key in STR_KEYS and not isinstance(value, str):
            raise ThresholdError("%s must be text, not %r" % (where, value))
        if key in LIST_KEYS and not isinstance(value, list):
            raise ThresholdError("%s must be a list, not %r" % (where, value))
        if key == "direction" and value not in ("above", "below"):
            raise ThresholdError("%s must be above or below, not %r" % (where, value))
        if key == "missing" and value not in ("pass", "warn", "fail", "na"):
            raise ThresholdError("%s must be one of pass, warn, fail, na, not %r" % (where, value))
        if key == "scope" and value not in SCOPES:
            raise ThresholdError("%s must be one of %s, not %r" % (where, ", ".join(SCOPES), value))
        if key == "callee_codes" and not all(_is_num(c) for c in value):
            raise ThresholdError("%s must list SIP codes (numbers)" % where)
        if key == "paths" and not all(isinstance(p, str) and p.startswith("/") for p in value):
            raise ThresholdError("%s must list absolute paths" % where)
    if partial:
        return
    for key in ("title_zh", "title_en", "scope"):
        if key not in rule:
            raise ThresholdError("%s: item %s has no %s" % (source, item_id, key))
    if ("warn" in rule) != ("crit" in rule):
        raise ThresholdError("%s: item %s needs both warn and crit, or neither" % (source, item_id))
    if "warn" in rule:
        if "direction" not in rule:
            raise ThresholdError("%s: item %s has limits but no direction (above or below)" % (source, item_id))
        above = rule["direction"] == "above"
        if (above and rule["warn"] > rule["crit"]) or (not above and rule["warn"] < rule["crit"]):
            raise ThresholdError(
                "%s: item %s: warn %s must be %s crit %s (direction %s)"
                % (source, item_id, rule["warn"], "at most" if above else "at least", rule["crit"], rule["direction"])
            )


def validate(data, source="inspection/thresholds.yml"):
    """Check a whole thresholds document; return it. Raise ThresholdError (one line) on the first problem."""
    if not isinstance(data, dict):
        raise ThresholdError("%s: must be a mapping with schema, timezone, items" % source)
    for key in data:
        if key not in ("schema", "timezone", "items", "scopes", "service_levels"):
            raise ThresholdError("%s: unknown top-level key %s" % (source, key))
    if data.get("schema") != 1:
        raise ThresholdError("%s: schema must be 1, not %r" % (source, data.get("schema")))
    if not TZ_RE.match(str(data.get("timezone", ""))):
        raise ThresholdError("%s: timezone must be an offset like +08:00, not %r" % (source, data.get("timezone")))
    items = data.get("items")
    if not isinstance(items, dict) or not items:
        raise ThresholdError("%s: items must be a mapping of item id to settings" % source)
    for item_id, rule in items.items():
        _check_item(item_id, rule, source)
    scopes = data.get("scopes") or {}
    if not isinstance(scopes, dict) or any(s not in SCOPES for s in scopes):
        raise ThresholdError("%s: scopes must map scopes (%s) to inventory groups" % (source, ", ".join(SCOPES)))
    _check_service_levels(data.get("service_levels") or {}, source)
    return data


def _check_service_levels(levels, source):
    where = "%s: service_levels" % source
    if not isinstance(levels, dict):
        raise ThresholdError("%s must be a mapping" % where)
    for key, value in levels.items():
        if key not in SERVICE_LEVEL_KEYS:
            raise ThresholdError("%s.%s is not a setting (known: %s)" % (where, key, ", ".join(SERVICE_LEVEL_KEYS)))
        if key == "contract_year_start":
            match = re.match(r"\A([0-9]{2})-([0-9]{2})\Z", str(value))
            if not match or not (1 <= int(match.group(1)) <= 12 and 1 <= int(match.group(2)) <= 28):
                raise ThresholdError("%s.contract_year_start must be MM-DD (day 1..28), not %r" % (where, value))
        elif key == "response_minutes":
            if not isinstance(value, dict) or not all(_is_num(v) and v > 0 for v in value.values()):
                raise ThresholdError("%s.response_minutes must map kinds (fault, issue) to minutes" % where)
            for kind in value:
                if kind not in ("fault", "issue"):
                    raise ThresholdError("%s.response_minutes.%s: kinds are fault and issue" % (where, kind))
        elif not _is_num(value) or value <= 0:
            raise ThresholdError("%s.%s must be a positive number, not %r" % (where, key, value))


def merge(base, overrides, source="followup_inspection_thresholds"):
    """BASE (a validated thresholds document) with OVERRIDES applied: {item id: {key: value}, timezone: ...,
    service_levels: {...}}. Returns a new, validated document; raises ThresholdError naming the bad key."""
    result = copy.deepcopy(base)
    if not overrides:
        return result
    if not isinstance(overrides, dict):
        raise ThresholdError("%s must be a mapping of item id to settings, not %r" % (source, overrides))
    for key, value in overrides.items():
        if key == "timezone":
            result["timezone"] = value
        elif key == "service_levels":
            if not isinstance(value, dict):
                raise ThresholdError("%s.service_levels must be a mapping" % source)
            levels = result.setdefault("service_levels", {})
            for name, setting in value.items():
                if name == "response_minutes" and isinstance(setting, dict):
                    levels.setdefault(name, {}).update(setting)
                else:
                    levels[name] = setting
        elif key in result["items"]:
            _check_item(key, value, source, partial=True)
            result["items"][key].update(value)
        else:
            raise ThresholdError(
                "%s: %s is not an inspection item (see inspection/thresholds.yml: %s ...)"
                % (source, key, ", ".join(sorted(result["items"])[:6]))
            )
    return validate(result, source + " (merged with inspection/thresholds.yml)")


# -- judging -----------------------------------------------------------------------------------------------------
def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return ("%.2f" % value).rstrip("0").rstrip(".") if abs(value) < 10 else "%.1f" % value
    return str(value)


def judge(value, rule):
    """pass / warn / fail of a numeric VALUE against RULE's warn and crit limits."""
    if value is None:
        return "na"
    if rule.get("direction") == "below":
        if value <= rule["crit"]:
            return "fail"
        if value <= rule["warn"]:
            return "warn"
        return "pass"
    if value >= rule["crit"]:
        return "fail"
    if value >= rule["warn"]:
        return "warn"
    return "pass"


def expected_text(rule):
    """The threshold as a reader sees it: 正常 < 80%；注意 ≥ 80%；异常 ≥ 90%."""
    if "warn" not in rule:
        return ""
    unit = rule.get("unit") or ""
    sep = "" if not unit or unit in ("%", "ms", "s") else " "
    w, c = fmt(rule["warn"]) + sep + unit, fmt(rule["crit"]) + sep + unit
    if rule.get("direction") == "below":
        return "正常 > %s；注意 ≤ %s；异常 ≤ %s" % (w, w, c)
    return "正常 < %s；注意 ≥ %s；异常 ≥ %s" % (w, w, c)


def worst(statuses):
    """The worst level of STATUSES: fail (异常, also for items not checked), warn, pass, or na when empty."""
    statuses = list(statuses)
    if not statuses:
        return "na"
    top = max(statuses, key=lambda s: LEVEL_ORDER.get(s, 0))
    return "fail" if top == "error" else top


class Collector:
    """Findings of one inspection, keyed <host>/<item>[/<part>]."""

    def __init__(self, thresholds):
        self.thresholds = thresholds
        self.findings = {}

    def add(
        self, host, item_id, status, actual, evidence="", value=None, part=None, expected=None, rules=None, **extra
    ):
        rules = rules or self.thresholds
        rule = rules["items"][item_id]
        fid = "%s/%s%s" % (host, item_id, "/" + part if part else "")
        finding = {
            "control": item_id,
            "host": host,
            "status": status,
            "level": "%s %s" % (LEVEL_ZH[status], LEVEL_EN[status]),
            "title": "%s %s" % (rule["title_zh"], rule["title_en"]),
            "expected": expected if expected is not None else expected_text(rule),
            "actual": actual,
            "evidence": evidence,
            "value": value,
            "unit": rule.get("unit") or "",
        }
        if part:
            finding["part"] = part
        finding.update(extra)
        self.findings[fid] = finding
        return finding

    def measure(self, host, item_id, value, actual, evidence="", part=None, rules=None, floor=None, **extra):
        """A numeric item judged by its rule; FLOOR raises the level to at least that (a known-bad state)."""
        rules = rules or self.thresholds
        status = judge(value, rules["items"][item_id])
        if floor and LEVEL_ORDER[floor] > LEVEL_ORDER.get(status, 0):
            status = floor
        return self.add(host, item_id, status, actual, evidence, value, part, rules=rules, **extra)


def _samples_within(samples, now, days):
    out = []
    for sample in samples or []:
        at = parse_iso_utc(sample.get("at"))
        if at is not None and now - at <= days * 86400 and now - at > 0:
            out.append((at, sample))
    return out


def _reference(samples, now, rule):
    """The oldest previous sample within the rule's window, at least min_hours old: (epoch, sample) or None."""
    candidates = _samples_within(samples, now, rule.get("window_days", 14))
    candidates = [(at, s) for at, s in candidates if now - at >= rule.get("min_hours", 20) * 3600]
    if not candidates:
        return None
    return min(candidates, key=lambda pair: pair[0])


def _growth(now_bytes, then_bytes, days):
    if then_bytes is None or then_bytes <= 0 or days <= 0:
        return None
    return round(100.0 * (now_bytes - then_bytes) / then_bytes / days, 1)


def _mib(value):
    if value is None:
        return "-"
    if value >= 1 << 30:
        return "%.1f GiB" % (value / float(1 << 30))
    return "%.1f MiB" % (value / float(1 << 20))


# -- the evaluation ----------------------------------------------------------------------------------------------
NOT_ANSWERED = "未能检查：主机未应答 not checked: the host did not answer over SSH"


def evaluate(targets, results, history, evidence, index, thresholds, now=None, groups=None):
    """Judge one inspection.

    TARGETS: the hosts asked. RESULTS: {host: {"inspection": <followup_inspect_facts result>, "status":
    <followup_status result>} or {"error": "<why the inspection failed there>"}}; a target without a result did not
    answer. HISTORY: {host: [previous samples, newest first]}. EVIDENCE: the control node's records (backups,
    drills, compliance, faults; see followup_inspect_records.control_evidence). INDEX: the followup_release_check
    result of the signed release index. THRESHOLDS: the validated document (each host's own merged thresholds come
    with its result). GROUPS: {host: [inventory groups]} (which items an unreachable host was due).

    Returns {"findings": {...}, "data": {"inspection": {...}}}.
    """
    now = time.time() if now is None else now
    history = history or {}
    groups = groups or {}
    col = Collector(thresholds)
    hosts = {}
    releases = (index or {}).get("releases") or []
    index_problem = None
    if index is not None and ((index or {}).get("refused") or (index or {}).get("failed")):
        index_problem = "; ".join(index.get("refused") or [str(index.get("msg") or "unreadable")])
    for host in sorted(targets):
        result = (results or {}).get(host)
        if not result or not result.get("inspection"):
            reason = (result or {}).get("error")
            rules = thresholds
            _not_checked(col, host, rules, groups.get(host) or [], reason)
            hosts[host] = {"reachable": bool(reason), "answered": bool(reason), "error": reason or "did not answer"}
            continue
        inspection = result["inspection"]
        rules = inspection.get("thresholds") or thresholds
        samples = history.get(host) or []
        col.add(host, "host.reach", "pass", "已应答 answered", "followup_inspect_facts", rules=rules)
        _system(col, host, inspection, samples, now, rules)
        _services(col, host, result.get("status") or {}, rules)
        _currency(col, host, result.get("status") or {}, releases, index_problem, now, rules)
        _logs(col, host, inspection.get("logs") or {}, samples, rules)
        _certificates(col, host, inspection.get("certificates") or [], rules)
        _timesync(col, host, inspection.get("timesync") or {}, rules)
        if inspection.get("mysql") is not None:
            _mysql(col, host, inspection["mysql"], samples, now, rules)
        if inspection.get("mongodb") is not None:
            _mongodb(col, host, inspection["mongodb"], samples, now, rules)
        if inspection.get("interface") is not None:
            _interface(col, host, inspection["interface"], rules)
        if inspection.get("voice") is not None:
            _voice(col, host, inspection["voice"], rules)
        hosts[host] = {
            "reachable": True,
            "answered": True,
            "collected_at": inspection.get("collected_at"),
            "figures": _figures(inspection, result.get("status") or {}),
            "sample": sample_of(inspection),
        }
    _control(col, evidence or {}, index_problem, now, thresholds)
    for host, row in hosts.items():
        statuses = [f["status"] for f in col.findings.values() if f["host"] == host]
        row["counts"] = _counts(statuses)
        row["level"] = worst(statuses)
    statuses = [f["status"] for f in col.findings.values()]
    data = {
        "generated_at": iso_utc(now),
        "timezone": thresholds.get("timezone"),
        "hosts": hosts,
        "control": _control_summary(evidence or {}),
        "counts": _counts(statuses),
        "level": worst(statuses),
    }
    return {"findings": col.findings, "data": {"inspection": data}}


def _counts(statuses):
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0, "na": 0}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def _not_checked(col, host, rules, host_groups, reason):
    text = "未能检查：%s not checked: the inspection failed on the host" % reason if reason else NOT_ANSWERED
    col.add(
        host,
        "host.reach",
        "error" if reason else "fail",
        text if reason else "未应答 did not answer",
        "ssh ops@%s" % host,
        rules=rules,
    )
    scopes = ["system"] + [s for s, gs in (rules.get("scopes") or {}).items() if set(gs) & set(host_groups)]
    for item_id, rule in sorted(rules["items"].items()):
        if item_id == "host.reach" or rule["scope"] not in scopes:
            continue
        if item_id in ("disk.trend", "release.currency", "cert.expiry", "mysql.replication", "mongodb.replication"):
            continue
        col.add(host, item_id, "error", text, "", rules=rules)


def _system(col, host, inspection, samples, now, rules):
    system = inspection.get("system") or {}
    for problem in system.get("errors") or []:
        col.add(host, "system.cpu", "error", "未能读取 unreadable: %s" % problem, "/proc", rules=rules)
    cpus = system.get("cpus") or 1
    if system.get("cpu_percent") is not None:
        col.measure(
            host,
            "system.cpu",
            system["cpu_percent"],
            "%s%%（%d 核 CPUs）" % (fmt(system["cpu_percent"]), cpus),
            "/proc/stat over %ss" % fmt(system.get("cpu_sample_s")),
            rules=rules,
        )
    load = system.get("load")
    if load:
        per = round(load[1] / float(cpus), 2)
        col.measure(
            host,
            "system.load",
            per,
            "%s（5 分钟负载 %s / %d 核）" % (fmt(per), fmt(load[1]), cpus),
            "/proc/loadavg %s" % " ".join(fmt(x) for x in load),
            rules=rules,
        )
    mem = system.get("memory") or {}
    if mem.get("percent") is not None:
        col.measure(
            host,
            "system.memory",
            mem["percent"],
            "%s%%（可用 available %s / %s）"
            % (fmt(mem["percent"]), _mib(mem.get("available")), _mib(mem.get("total"))),
            "/proc/meminfo MemAvailable",
            rules=rules,
        )
        if mem.get("swap_total"):
            col.measure(
                host,
                "system.swap",
                mem.get("swap_percent"),
                "%s%% of %s" % (fmt(mem.get("swap_percent")), _mib(mem["swap_total"])),
                "/proc/meminfo",
                rules=rules,
            )
        else:
            col.add(host, "system.swap", "na", "无交换分区 no swap", "/proc/meminfo", rules=rules)
    trend_rule = rules["items"]["disk.trend"]
    ref = _reference(samples, now, trend_rule)
    for m in system.get("mounts") or []:
        mount = m["mount"]
        col.measure(
            host,
            "disk.space",
            m["percent"],
            "%s%%（可用 free %s / %s）" % (fmt(m["percent"]), _mib(m["avail"]), _mib(m["size"])),
            "statvfs %s (%s)" % (mount, m["fstype"]),
            part=mount,
            rules=rules,
        )
        if m.get("inode_percent") is not None:
            col.measure(
                host,
                "disk.inodes",
                m["inode_percent"],
                "%s%%（%d / %d）" % (fmt(m["inode_percent"]), m["inodes_used"], m["inodes"]),
                "statvfs %s" % mount,
                part=mount,
                rules=rules,
            )
        then = ((ref[1].get("mounts") or {}).get(mount) or {}) if ref else {}
        if not ref or then.get("used") is None:
            col.add(
                host,
                "disk.trend",
                "na",
                "尚无趋势：%d 天内没有更早的巡检 no earlier inspection in the last %s days"
                % (trend_rule.get("window_days", 14), fmt(trend_rule.get("window_days", 14))),
                "inspection history",
                part=mount,
                rules=rules,
            )
            continue
        days = (now - ref[0]) / 86400.0
        rate = (m["used"] - then["used"]) / days
        evidence = "used %s at %s → %s now" % (_mib(then["used"]), iso_utc(ref[0]), _mib(m["used"]))
        if rate <= 0:
            col.add(
                host,
                "disk.trend",
                "pass",
                "未增长 not growing (%s/天 per day)" % _mib(rate),
                evidence,
                part=mount,
                rules=rules,
                rate_bytes_per_day=round(rate),
            )
            continue
        left = round(m["avail"] / rate, 1)
        col.measure(
            host,
            "disk.trend",
            left,
            "约 %s 天写满（每天增长 %s）about %s days until full (%s per day)"
            % (fmt(left), _mib(rate), fmt(left), _mib(rate)),
            evidence,
            part=mount,
            rules=rules,
            rate_bytes_per_day=round(rate),
        )


def _services(col, host, status, rules):
    services = status.get("services") or {}
    down = sorted(u for u, s in services.items() if s != "active")
    if not services:
        col.add(
            host,
            "services",
            "na",
            "本机未登记服务 no unit is registered on this host",
            "local facts: %s" % (", ".join(status.get("facts") or []) or "none"),
            rules=rules,
        )
    else:
        col.add(
            host,
            "services",
            "fail" if down else "pass",
            ("未运行 not active: " + ", ".join("%s %s" % (u, services[u]) for u in down))
            if down
            else "全部运行 all active (%d)" % len(services),
            ", ".join("%s %s" % kv for kv in sorted(services.items())),
            rules=rules,
            expected="每个服务 active every unit active",
        )
    health = status.get("health") or {}
    checks = health.get("checks") or []
    if not checks:
        col.add(host, "health", "na", "本机未登记健康检查 no health check is registered", "", rules=rules)
    else:
        failed = [c for c in checks if not c.get("ok")]
        col.add(
            host,
            "health",
            "fail" if failed else "pass",
            ("失败 failing: " + "; ".join("%s: %s" % (c.get("name"), c.get("detail")) for c in failed))
            if failed
            else "全部通过 all passing (%d)" % len(checks),
            health.get("detail") or "",
            rules=rules,
            expected="每项健康检查通过 every check passes",
        )
    for problem in status.get("problems") or []:
        col.add(host, "health", "warn", problem, "local facts", part="facts", rules=rules)


def _currency(col, host, status, releases, index_problem, now, rules):
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    for name, info in sorted((status.get("components") or {}).items()):
        if index_problem:
            col.add(
                host,
                "release.currency",
                "error",
                "版本目录无法验证 the release index cannot be verified: %s" % index_problem,
                "followup_release_check",
                part=name,
                rules=rules,
                expected="not older than 90 days while a newer release exists",
            )
            continue
        cur = currency(info.get("version"), releases, today)
        status_map = {"pass": "pass", "warn": "warn", "fail": "warn", "error": "fail"}
        col.add(
            host,
            "release.currency",
            status_map[cur["status"]],
            "%s / %s" % (cur["message_zh"], cur["message_en"]),
            "%s/current -> %s; signed index newest %s" % (info.get("root"), info.get("version"), cur["newest_version"]),
            part=name,
            rules=rules,
            expected="R-CURRENT: 有更新版本时，在用版本不超过 %d 天 not older than %d days "
            "while a newer release exists" % (cur["max_days"], cur["max_days"]),
            component=name,
            version=info.get("version"),
            days_over=cur["days_over"],
            requirement="R-CURRENT",
            currency=cur["status"],
        )


def _logs(col, host, logs, samples, rules):
    if logs.get("error"):
        col.add(
            host,
            "logs.errors",
            "error",
            "日志无法读取 the journal cannot be read: %s" % logs["error"],
            "journalctl",
            rules=rules,
        )
        return
    since = logs.get("since") or {}
    where = (
        "after the cursor of the last inspection"
        if since.get("cursor")
        else "since %s" % since.get("time")
        if since.get("time")
        else ""
    )
    units = ", ".join("%s ×%d" % kv for kv in sorted((logs.get("by_unit") or {}).items(), key=lambda kv: -kv[1])[:5])
    col.measure(
        host,
        "logs.errors",
        logs.get("count", 0),
        "%d 行错误日志 error lines%s" % (logs.get("count", 0), ("：" + units) if units else ""),
        "journalctl -p err %s%s" % (where, " (truncated)" if logs.get("truncated") else ""),
        rules=rules,
        lines=logs.get("lines") or [],
    )


def _certificates(col, host, certs, rules):
    for cert in certs:
        path = cert.get("path")
        if cert.get("error"):
            col.add(
                host,
                "cert.expiry",
                "fail",
                "证书无法读取 cannot read the certificate: %s" % cert["error"],
                path,
                part=path,
                rules=rules,
            )
            continue
        days = cert.get("days_left")
        text = ("已过期 expired %s 天 days ago" % fmt(-days)) if days < 0 else "剩余 %s 天 days left" % fmt(days)
        col.measure(
            host,
            "cert.expiry",
            days,
            "%s（到期 not after %s，%s）" % (text, cert.get("not_after"), cert.get("subject") or "-"),
            "%s (%s)" % (path, cert.get("source") or "local fact"),
            part=path,
            rules=rules,
            floor="fail" if days < 0 else None,
        )


def _timesync(col, host, ts, rules):
    rule = rules["items"]["time.sync"]
    if not rule.get("required", True):
        col.add(
            host,
            "time.sync",
            "na",
            "本清单不要求 not required by this inventory (time.sync.required: false)",
            ts.get("source") or "",
            rules=rules,
            value=ts.get("offset_ms"),
        )
        return
    if ts.get("error"):
        col.add(host, "time.sync", "error", "无法判断 cannot tell: %s" % ts["error"], "", rules=rules)
        return
    offset = ts.get("offset_ms")
    synced = ts.get("synchronized")
    text = "%s，偏差 offset %s ms" % ("已同步 synchronised" if synced else "未同步 not synchronised", fmt(offset))
    floor = "warn" if synced is False else None
    if offset is None:
        col.add(host, "time.sync", "warn" if synced is False else "pass", text, ts.get("source") or "", rules=rules)
        return
    col.measure(
        host,
        "time.sync",
        abs(offset),
        text,
        "%s (reference %s)" % (ts.get("source"), ts.get("reference")),
        rules=rules,
        floor=floor,
    )


def _counter_period(figures, previous, now, prev_at, names):
    """(deltas {name: value}, seconds) since the previous inspection, or since the server started when it
    restarted in between or there is no previous sample."""
    status = figures.get("status") or {}
    uptime = status.get("Uptime") or 0
    if previous and prev_at and uptime >= now - prev_at and all(previous.get(n) is not None for n in names):
        return dict((n, (status.get(n) or 0) - previous[n]) for n in names), now - prev_at
    return dict((n, status.get(n) or 0) for n in names), float(uptime)


def _mysql(col, host, figures, samples, now, rules):
    if figures.get("error"):
        for item_id in ("mysql.connections", "mysql.slow_queries", "mysql.lock_waits", "mysql.buffer_hit"):
            col.add(
                host,
                item_id,
                "error",
                "未能检查 not checked: %s" % figures["error"],
                "MySQL root over the socket",
                rules=rules,
            )
        return
    status, variables = figures.get("status") or {}, figures.get("variables") or {}
    for problem in figures.get("errors") or []:
        col.add(
            host,
            "mysql.connections",
            "warn",
            "部分指标无法读取 a figure is unreadable: %s" % problem,
            "",
            part="read",
            rules=rules,
        )
    maxc = int(variables.get("max_connections") or 0)
    conn = status.get("Threads_connected")
    if maxc and conn is not None:
        pct = round(100.0 * conn / maxc, 1)
        col.measure(
            host,
            "mysql.connections",
            pct,
            "%s%%（%d / %d，峰值 max used %s）" % (fmt(pct), conn, maxc, fmt(status.get("Max_used_connections"))),
            "SHOW GLOBAL STATUS Threads_connected; max_connections",
            rules=rules,
        )
    prev = samples[0] if samples else {}
    prev_at = parse_iso_utc(prev.get("at")) if prev else None
    deltas, seconds = _counter_period(
        figures,
        prev.get("mysql"),
        now,
        prev_at,
        ("Slow_queries", "Innodb_buffer_pool_read_requests", "Innodb_buffer_pool_reads"),
    )
    per_day = round(deltas["Slow_queries"] / max(seconds / 86400.0, 1.0), 1)
    log_state = "slow_query_log %s, long_query_time %s" % (
        variables.get("slow_query_log"),
        variables.get("long_query_time"),
    )
    col.measure(
        host,
        "mysql.slow_queries",
        per_day,
        "%s 次/天（%d 次，%s 小时内）%s per day (%d in %s h)"
        % (
            fmt(per_day),
            deltas["Slow_queries"],
            fmt(round(seconds / 3600.0, 1)),
            fmt(per_day),
            deltas["Slow_queries"],
            fmt(round(seconds / 3600.0, 1)),
        ),
        "Slow_queries; %s" % log_state,
        rules=rules,
    )
    replica = figures.get("replica")
    if replica is None:
        col.add(host, "mysql.replication", "na", "非复制从库 not a replica", "SHOW REPLICA STATUS", rules=rules)
    elif not (replica.get("io_running") and replica.get("sql_running")):
        col.add(
            host,
            "mysql.replication",
            "fail",
            "复制已停止 replication stopped (IO %s, SQL %s): %s"
            % (replica.get("io_running"), replica.get("sql_running"), replica.get("error") or "-"),
            "SHOW REPLICA STATUS from %s" % replica.get("source"),
            rules=rules,
        )
    else:
        col.measure(
            host,
            "mysql.replication",
            replica.get("lag_s"),
            "延迟 lag %s s" % fmt(replica.get("lag_s")),
            "Seconds_Behind_Source from %s" % replica.get("source"),
            rules=rules,
        )
    if figures.get("lock_waits") is not None:
        col.measure(
            host,
            "mysql.lock_waits",
            figures["lock_waits"],
            "%d 个事务正在等待行锁 transactions waiting "
            "(累计 total %s 次 waits since start)" % (figures["lock_waits"], fmt(status.get("Innodb_row_lock_waits"))),
            "Innodb_row_lock_current_waits",
            rules=rules,
        )
    rule = rules["items"]["mysql.buffer_hit"]
    requests, reads = deltas["Innodb_buffer_pool_read_requests"], deltas["Innodb_buffer_pool_reads"]
    if requests < rule.get("min_requests", 0):
        col.add(
            host,
            "mysql.buffer_hit",
            "na",
            "读取次数太少无法判断 too few reads to judge (%d < %s)" % (requests, fmt(rule.get("min_requests"))),
            "Innodb_buffer_pool_read_requests",
            rules=rules,
        )
    else:
        hit = round(100.0 * (requests - reads) / requests, 2)
        col.measure(
            host,
            "mysql.buffer_hit",
            hit,
            "%s%%（%d 次逻辑读，%d 次磁盘读 logical / disk reads）" % (fmt(hit), requests, reads),
            "Innodb_buffer_pool_reads / read_requests",
            rules=rules,
        )
    _growth_item(col, host, "mysql.tables", figures.get("tables") or [], "tables", samples, now, rules)


def _growth_item(col, host, item_id, current, key, samples, now, rules):
    rule = rules["items"][item_id]
    ref = _reference(samples, now, rule)
    then = (ref[1].get(key) or {}) if ref else {}
    days = (now - ref[0]) / 86400.0 if ref else 0
    judged = []
    for entry in current:
        growth = _growth(entry["bytes"], then.get(entry["name"]), days) if ref else None
        entry["growth_pct_per_day"] = growth
        if growth is not None and entry["bytes"] >= rule.get("min_bytes", 0):
            judged.append((growth, entry))
    listing = "; ".join("%s %s" % (e["name"], _mib(e["bytes"])) for e in current[:3]) or "无 none"
    if not judged:
        col.add(
            host,
            item_id,
            "pass",
            "最大 largest: %s（增长未判断 growth not judged: %s）"
            % (
                listing,
                "尚无更早的巡检 no earlier inspection" if not ref else "小于 below %s" % _mib(rule["min_bytes"]),
            ),
            "information_schema / collStats",
            rules=rules,
            value=None,
            entries=current,
        )
        return
    growth, entry = max(judged, key=lambda pair: pair[0])
    col.measure(
        host,
        item_id,
        growth,
        "增长最快 fastest growing: %s %s%%/天 per day（%s）；最大 largest: %s"
        % (entry["name"], fmt(growth), _mib(entry["bytes"]), listing),
        "compared with the inspection of %s" % iso_utc(ref[0]),
        rules=rules,
        entries=current,
    )


def _mongodb(col, host, figures, samples, now, rules):
    if figures.get("error"):
        for item_id in ("mongodb.connections", "mongodb.lock_waits", "mongodb.collections"):
            col.add(host, item_id, "error", "未能检查 not checked: %s" % figures["error"], "MongoDB", rules=rules)
        return
    for problem in figures.get("errors") or []:
        col.add(
            host,
            "mongodb.connections",
            "warn",
            "部分指标无法读取 a figure is unreadable: %s" % problem,
            "",
            part="read",
            rules=rules,
        )
    conns = figures.get("connections")
    engine = figures.get("engine") or "mongodb"
    if conns:
        total = conns["current"] + conns["available"]
        pct = round(100.0 * conns["current"] / total, 1) if total else 0.0
        col.measure(
            host,
            "mongodb.connections",
            pct,
            "%s%%（%d / %d）" % (fmt(pct), conns["current"], total),
            "serverStatus.connections",
            rules=rules,
        )
    else:
        col.add(
            host,
            "mongodb.connections",
            "na",
            "%s 不报告连接数 does not report connections" % engine,
            "serverStatus",
            rules=rules,
        )
    replica = figures.get("replica")
    if not replica:
        col.add(
            host,
            "mongodb.replication",
            "na",
            "非副本集 not a replica set (%s)" % engine,
            "replSetGetStatus",
            rules=rules,
        )
    else:
        col.measure(
            host,
            "mongodb.replication",
            replica.get("lag_s"),
            "%s，延迟 lag %s s" % (replica.get("state"), fmt(replica.get("lag_s"))),
            "replSetGetStatus",
            rules=rules,
        )
    if figures.get("lock_waits") is not None:
        col.measure(
            host,
            "mongodb.lock_waits",
            figures["lock_waits"],
            "%d 个操作正在等待锁 operations waiting" % figures["lock_waits"],
            "currentOp waitingForLock",
            rules=rules,
        )
    _growth_item(col, host, "mongodb.collections", figures.get("collections") or [], "collections", samples, now, rules)
    calls = figures.get("calls_today")
    if calls is not None:
        rule = rules["items"]["voice.calls"]
        callee = set(str(int(c)) for c in rule.get("callee_codes") or [])
        failed = dict((c, n) for c, n in calls["by_code"].items() if c != "200" and c not in callee)
        placed = calls["placed"]
        codes = ", ".join("SIP %s ×%d" % kv for kv in sorted(calls["by_code"].items())) or "-"
        text = "今日外呼 %d，接通 %d，系统失败 %d（%s）placed %d, answered %d, failed by the system %d" % (
            placed,
            calls["answered"],
            sum(failed.values()),
            codes,
            placed,
            calls["answered"],
            sum(failed.values()),
        )
        evidence = "%s.call_records started_at >= %s" % (figures.get("database"), calls.get("since"))
        if placed < rule.get("min_calls", 0):
            col.add(
                host,
                "voice.calls",
                "pass",
                text
                + "（少于 %s 通不判断 fewer than %s calls: not judged）"
                % (fmt(rule["min_calls"]), fmt(rule["min_calls"])),
                evidence,
                rules=rules,
                calls=calls,
            )
        else:
            pct = round(100.0 * sum(failed.values()) / placed, 1)
            col.measure(host, "voice.calls", pct, text, evidence, rules=rules, calls=calls)


def _interface(col, host, info, rules):
    if info.get("error"):
        for item_id in ("interface.backlog", "interface.last_exchange"):
            col.add(
                host,
                item_id,
                "fail",
                "接口服务无应答 the interface service does not answer: %s" % info["error"],
                info.get("url") or "",
                rules=rules,
            )
        return
    if info.get("backlog") is None:
        col.add(
            host,
            "interface.backlog",
            "warn",
            "接口服务未报告积压 /health reports no backlog",
            info.get("url"),
            rules=rules,
        )
    else:
        col.measure(
            host,
            "interface.backlog",
            info["backlog"],
            "%d 条待处理 records waiting（%s）" % (info["backlog"], info.get("status")),
            "%s/health backlog" % info.get("url"),
            rules=rules,
        )
    if info.get("stats_error") or info.get("last_cycle_age_min") is None:
        col.add(
            host,
            "interface.last_exchange",
            "warn",
            "无法得知最近一次交换 the last exchange is unknown: %s"
            % (info.get("stats_error") or "no exchange cycle yet"),
            info.get("url") or "",
            rules=rules,
        )
        return
    age = info["last_cycle_age_min"]
    text = "%s 分钟前 minutes ago（%s）" % (fmt(age), info.get("last_cycle_at"))
    floor = None
    if info.get("last_error"):
        text += "；最近一次失败 the last cycle failed: %s" % info["last_error"]
        floor = "warn"
    col.measure(
        host,
        "interface.last_exchange",
        age,
        text,
        "%s%s worker.last_cycle_at"
        % (info.get("url"), rules["items"]["interface.last_exchange"].get("stats_path", "")),
        rules=rules,
        floor=floor,
    )


def _voice(col, host, info, rules):
    if info.get("error") and not info.get("trunks"):
        col.add(
            host,
            "voice.trunks",
            "fail",
            "中继状态无法读取 trunk state unreadable: %s" % info["error"],
            info.get("command") or "",
            rules=rules,
            expected="每条中继 up every trunk up",
        )
        return
    trunks = info.get("trunks") or []
    bad = [t for t in trunks if t["state"] not in ("up",)]
    up = len(trunks) - len(bad)
    status = "fail" if trunks and up == 0 else "warn" if bad else "pass"
    if not trunks:
        status = "fail"
    col.add(
        host,
        "voice.trunks",
        status,
        "%d / %d 条中继可用 trunks up%s"
        % (up, len(trunks), ("：" + ", ".join("%s %s" % (t["name"], t["state"]) for t in bad)) if bad else ""),
        "%s: %s" % (info.get("command"), ", ".join("%s %s" % (t["name"], t["state"]) for t in trunks)),
        rules=rules,
        expected="全部 up 正常；部分 down 注意；全部 down 异常 all up; some down: attention; all down: abnormal",
    )


def _control(col, evidence, index_problem, now, rules):
    items = rules["items"]
    if index_problem:
        col.add(
            CONTROL_HOST,
            "release.currency",
            "fail",
            "版本目录无法验证 the signed release index cannot be verified: %s" % index_problem,
            "followup_release_check",
            part="index",
            rules=rules,
        )
    if not evidence.get("records", True):
        for item_id in ("backup.newest", "backup.drill", "compliance.score", "faults.open"):
            col.add(
                CONTROL_HOST,
                item_id,
                "na",
                "本控制节点没有运行记录 no run records on this control node (%s)" % evidence.get("runs_dir"),
                "runs/audit.jsonl",
                rules=rules,
            )
        return
    backup = evidence.get("backup")
    if not backup:
        col.add(
            CONTROL_HOST,
            "backup.newest",
            items["backup.newest"].get("missing", "fail"),
            "没有成功备份的记录 no successful backup is recorded",
            "runs/audit.jsonl (command backup)",
            rules=rules,
        )
    else:
        age = round((now - parse_iso_utc(backup["at"])) / 3600.0, 1)
        col.measure(
            CONTROL_HOST,
            "backup.newest",
            age,
            "%s 小时前 hours ago: %s（%s）"
            % (fmt(age), backup.get("id") or backup.get("operation"), backup.get("summary") or backup["at"]),
            "operation %s" % backup.get("operation"),
            rules=rules,
        )
    drill = evidence.get("drill")
    if not drill:
        col.add(
            CONTROL_HOST,
            "backup.drill",
            items["backup.drill"].get("missing", "warn"),
            "没有恢复演练的记录 no restore drill is recorded",
            "runs/audit.jsonl (command backup-drill)",
            rules=rules,
        )
    else:
        age = round((now - parse_iso_utc(drill["at"])) / 86400.0, 1)
        passed = drill.get("result") == "pass"
        col.measure(
            CONTROL_HOST,
            "backup.drill",
            age,
            "%s 天前 days ago，%s（%s）"
            % (fmt(age), "通过 passed" if passed else "未通过 FAILED", drill.get("summary") or drill.get("operation")),
            "operation %s" % drill.get("operation"),
            rules=rules,
            floor=None if passed else "fail",
        )
    comp = evidence.get("compliance")
    if not comp:
        col.add(
            CONTROL_HOST,
            "compliance.score",
            items["compliance.score"].get("missing", "warn"),
            "没有等保合规检查的记录 no compliance check is recorded",
            "runs/audit.jsonl (command compliance)",
            rules=rules,
        )
    else:
        age = round((now - parse_iso_utc(comp["at"])) / 86400.0, 1)
        old = age > items["compliance.score"].get("max_age_days", 35)
        col.measure(
            CONTROL_HOST,
            "compliance.score",
            comp.get("score"),
            "%s%%（%s 天前 days ago%s）" % (fmt(comp.get("score")), fmt(age), "，已过期 out of date" if old else ""),
            "operation %s" % comp.get("operation"),
            rules=rules,
            floor="warn" if old else None,
        )
    faults = evidence.get("faults") or {}
    open_ids = faults.get("open") or []
    col.measure(
        CONTROL_HOST,
        "faults.open",
        len(open_ids),
        "%d 件未关闭 open%s" % (len(open_ids), ("：" + ", ".join(open_ids)) if open_ids else ""),
        "runs/faults.jsonl",
        rules=rules,
    )


def _control_summary(evidence):
    return dict((k, evidence.get(k)) for k in ("backup", "drill", "compliance", "faults", "records", "runs_dir"))


def _figures(inspection, status):
    """What the report's host page shows besides the items."""
    system = inspection.get("system") or {}
    return {
        "system": {k: system.get(k) for k in ("cpus", "cpu_percent", "load", "memory", "uptime_s")},
        "mounts": system.get("mounts") or [],
        "services": status.get("services") or {},
        "components": dict(
            (n, {"version": c.get("version"), "release_date": c.get("release_date")})
            for n, c in (status.get("components") or {}).items()
        ),
        "logs": {k: (inspection.get("logs") or {}).get(k) for k in ("count", "by_unit", "since", "truncated")},
        "certificates": inspection.get("certificates") or [],
        "timesync": inspection.get("timesync") or {},
        "mysql": _strip(inspection.get("mysql"), ("status", "variables", "replica", "tables", "error")),
        "mongodb": _strip(inspection.get("mongodb"), ("engine", "version", "collections", "calls_today", "error")),
        "interface": inspection.get("interface"),
        "voice": inspection.get("voice"),
    }


def _strip(data, keys):
    if data is None:
        return None
    return dict((k, data.get(k)) for k in keys if k in data)


def sample_of(inspection):
    """What the next inspection compares with: disk use, table and collection sizes, MySQL counters, the journal
    cursor (kept on the control node, never on the host)."""
    system = inspection.get("system") or {}
    sample = {
        "at": inspection.get("collected_at"),
        "mounts": dict(
            (m["mount"], {"used": m["used"], "avail": m["avail"], "inodes_used": m.get("inodes_used")})
            for m in system.get("mounts") or []
        ),
        "journal_cursor": (inspection.get("logs") or {}).get("cursor"),
    }
    mysql = inspection.get("mysql") or {}
    if mysql and not mysql.get("error"):
        sample["tables"] = dict((t["name"], t["bytes"]) for t in mysql.get("tables") or [])
        sample["mysql"] = dict(
            (k, (mysql.get("status") or {}).get(k))
            for k in (
                "Uptime",
                "Slow_queries",
                "Innodb_buffer_pool_read_requests",
                "Innodb_buffer_pool_reads",
                "Innodb_row_lock_waits",
            )
        )
    mongo = inspection.get("mongodb") or {}
    if mongo and not mongo.get("error"):
        sample["collections"] = dict((c["name"], c["bytes"]) for c in mongo.get("collections") or [])
    return sample


def exit_level(findings):
    """What the inspection's exit code says: 'fail' (1) when any item is 异常, 'warn' (4) when any is 注意, else
    'pass' (0)."""
    statuses = [f.get("status") for f in (findings or {}).values()]
    if any(s in ("fail", "error") for s in statuses):
        return "fail"
    if any(s == "warn" for s in statuses):
        return "warn"
    return "pass"
