"""`followup-ops fault open|update|close|list`: the fault register (故障登记) against the contract's service levels.

The register is runs/faults.jsonl on the control node: append-only events (open, update, close), one JSON line each,
written under an flock so that two engineers never get the same id; every change is also an operation with its own
audit record. The current state of a fault is its events applied in order. The service levels (5 faults a contract
year, response within 60 minutes for a fault and 2 hours for a daily issue, on site within 24 hours when a severe
fault cannot be fixed remotely within an hour) are data: inspection/thresholds.yml `service_levels`, overridable in
the inventory. The quarterly report reads the same register. Texts are the engineer's words about the system: a
run of 7 or more digits (a phone or ID-card number) is refused, so that no patient datum gets in by accident.
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import yaml

from followup_ops import inventory as inventorymod
from followup_ops.commands.common import Command
from followup_ops.errors import OpsError
from followup_ops.operation import inventory_hosts
from followup_ops.paths import repo_root, runs_dir
from followup_ops.textui import table

KINDS = {"fault": "故障 fault", "issue": "日常问题 daily issue"}
SEVERITIES = {"critical": "严重 critical (不能使用或严重影响使用)", "major": "一般 major", "minor": "轻微 minor"}
COMPONENTS = (
    "app",
    "fep",
    "voice",
    "mysql",
    "mongodb",
    "nginx",
    "kamailio",
    "interface",
    "os",
    "network",
    "backup",
    "other",
)
STATE_ZH = {"open": "处理中 open", "closed": "已关闭 closed"}
PATIENT_DIGITS = re.compile(r"(?:[0-9][ \-]?){6,}[0-9]")
TEXT_MAX = 500


# -- shared with the other report commands ------------------------------------------------------------------------
def utils():
    """module_utils/followup_inspect_records.py and followup_inspect.py, imported as Ansible modules import them."""
    import ansible.module_utils

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_inspect, followup_inspect_records

    return followup_inspect_records, followup_inspect


def thresholds(inventory_path):
    """The thresholds document (inspection/thresholds.yml) with the inventory's followup_inspection_thresholds
    (group_vars/all/inspection.yml, read as plain YAML) merged in; raise OpsError naming the file on a bad one."""
    _records, inspect = utils()
    base_file = repo_root() / "inspection" / "thresholds.yml"
    try:
        base = inspect.validate(yaml.safe_load(base_file.read_text(encoding="utf-8")), str(base_file))
    except (OSError, yaml.YAMLError, inspect.ThresholdError) as err:
        raise OpsError(f"{base_file}: {err}: fix the file, then retry") from err
    overrides = {}
    if inventory_path:
        path = Path(inventory_path)
        vars_file = (path if path.is_dir() else path.parent) / "group_vars" / "all" / "inspection.yml"
        if vars_file.is_file():
            try:
                data = yaml.safe_load(vars_file.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as err:
                raise OpsError(f"{vars_file} is not valid YAML ({str(err).splitlines()[0]}): fix it") from err
            overrides = (data or {}).get("followup_inspection_thresholds") or {}
    try:
        return inspect.merge(base, overrides, "followup_inspection_thresholds")
    except inspect.ThresholdError as err:
        raise OpsError(f"{err}: fix the inventory's group_vars/all/inspection.yml") from err


def parse_when(text, offset, what):
    """Epoch of an engineer's time: ISO with a zone, or 'YYYY-MM-DD HH:MM' in the hospital's time (OFFSET)."""
    records, _ = utils()
    text = str(text).strip()
    if re.search(r"(Z|[+-][0-9]{2}:?[0-9]{2})\Z", text):
        epoch = records.parse_time(text)
    else:
        epoch = records.parse_time(text + offset)
    if epoch is None:
        raise OpsError(f"{what} '{text}' is not a time: write YYYY-MM-DD HH:MM (the hospital's time, {offset}) or ISO")
    return epoch


# -- the register -------------------------------------------------------------------------------------------------
def load_faults():
    records, _ = utils()
    events, damaged = records.read_fault_events(runs_dir())
    return records.fold_faults(events), damaged


def _text(value, what):
    value = " ".join(str(value).split())
    if not value:
        raise OpsError(f"{what} is empty: describe it in a few words")
    if len(value) > TEXT_MAX:
        raise OpsError(f"{what} is {len(value)} characters long: keep it under {TEXT_MAX} (details go in the ticket)")
    if PATIENT_DIGITS.search(value):
        raise OpsError(
            f"{what} holds a run of 7 or more digits (a phone or ID-card number?): describe the fault without patient "
            "data (the register goes into the quarterly report)"
        )
    return value


class FaultCommand(Command):
    """A fault register action: works on the control node's register, never on hosts."""

    uses_inventory = False
    action = ""
    inventory_required = False

    @property
    def name(self):
        return f"fault-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        parser.add_argument(
            "-i",
            "--inventory",
            required=self.inventory_required,
            metavar="INVENTORY",
            help="inventory the fault concerns (its hosts are checked; the register is kept per inventory)",
        )
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser

    def inventory(self, args):
        if not getattr(args, "inventory", None):
            return None, None
        return inventorymod.resolve(args.inventory), None

    def levels(self, op):
        return thresholds(op.inventory)

    def offset(self, op):
        return self.levels(op)["timezone"]

    def append(self, op, fid, event, fields, check):
        """Append one event for FID under the register's lock; CHECK(faults) raises OpsError to refuse."""
        records, _ = utils()
        with op.local("register"), records.locked_register(runs_dir()) as path:
            events, _damaged = records.read_fault_events(runs_dir())
            faults = records.fold_faults(events)
            if fid is None:
                opened = records.parse_time(fields["opened_at"])
                year = int(records.local_date(opened, self.offset(op))[:4])
                fid = records.next_fault_id(events, year)
            check(faults, fid)
            entry = {
                "schema": records.FAULT_SCHEMA,
                "fault": fid,
                "event": event,
                "at": records.iso(time.time()),
                "user": op.record()["user"],
                "operation": op.id,
                "inventory": str(op.inventory) if op.inventory else (faults.get(fid) or {}).get("inventory"),
                "fields": fields,
            }
            try:
                records.append_fault_event(path, entry)
            except OSError as err:
                raise OpsError(
                    f"the fault register {path} cannot be written ({err.strerror}): nothing was recorded"
                ) from err
        op.details.update(fault=fid, event=event, fields=fields)
        self.fid = fid
        return fid


def _times(args, offset, names):
    records, _ = utils()
    out = {}
    for name in names:
        value = getattr(args, name, None)
        if value:
            epoch = parse_when(value, offset, "--" + name.replace("_", "-"))
            if epoch > time.time() + 300:
                raise OpsError(f"--{name.replace('_', '-')} {value} is in the future: give the time it happened")
            out[name] = records.iso(epoch)
    return out


def _order(fault):
    """Refuse a response, arrival or resolution before the fault was opened."""
    records, _ = utils()
    opened = records.parse_time(fault.get("opened_at"))
    for name in ("responded_at", "onsite_at", "resolved_at"):
        when = records.parse_time(fault.get(name))
        if when is not None and opened is not None and when < opened:
            raise OpsError(
                f"{name.replace('_at', '')} time {fault[name]} is before the fault was opened "
                f"({fault['opened_at']}): check the times"
            )


class Open(FaultCommand):
    action = "open"
    inventory_required = True
    help = "register a fault or daily issue: host, component, symptom, impact (prints its id)"
    description = (
        "Register a fault (故障: counts against the 5 a contract year; technical response within 60 minutes) or a "
        "daily issue (日常问题: response within 2 hours). Times are the hospital's (YYYY-MM-DD HH:MM) unless they "
        "carry a zone; --at defaults to now. Every change is an audit record."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", required=True, help="inventory host the fault is on (or control-node)")
        parser.add_argument("--component", required=True, choices=COMPONENTS, help="what failed")
        parser.add_argument("--symptom", required=True, help="what was seen (no patient data)")
        parser.add_argument("--impact", required=True, help="what it did to the hospital's work (no patient data)")
        parser.add_argument("--kind", choices=sorted(KINDS), default="fault", help="fault (default) or issue")
        parser.add_argument("--severity", choices=list(SEVERITIES), default="major", help="default major")
        parser.add_argument("--service-down", action="store_true", help="the system could not be used (downtime)")
        parser.add_argument("--at", metavar="TIME", help="when it was reported (default now)")
        parser.add_argument("--responded-at", metavar="TIME", help="first response by an engineer")
        parser.add_argument("--note", help="anything else (no patient data)")

    def details(self, args):
        return {"host": args.host, "component": args.component, "kind": args.kind}

    def run(self, op, args):
        offset = self.offset(op)
        hosts = [name for name, _address in inventory_hosts(op.inventory)]
        if args.host not in [*hosts, "control-node"]:
            raise OpsError(
                f"host '{args.host}' is not in inventory {op.inventory.name}: give one of "
                f"{', '.join(hosts)} or control-node"
            )
        opened = parse_when(args.at, offset, "--at") if args.at else time.time()
        records, _ = utils()
        fields = {
            "kind": args.kind,
            "severity": args.severity,
            "host": args.host,
            "component": args.component,
            "symptom": _text(args.symptom, "--symptom"),
            "impact": _text(args.impact, "--impact"),
            "service_down": bool(args.service_down),
            "opened_at": records.iso(opened),
        }
        if opened > time.time() + 300:
            raise OpsError(f"--at {args.at} is in the future: give the time the fault was reported")
        fields.update(_times(args, offset, ["responded_at"]))
        if args.note:
            fields["note"] = _text(args.note, "--note")
        _order(fields)
        self.append(op, None, "open", fields, lambda faults, fid: None)

    def render(self, op, args):
        print(
            f"fault: {self.fid} opened ({KINDS[args.kind]}, {args.host} {args.component}); "
            f"record the first response with `followup-ops fault update {self.fid} --responded-at TIME`"
        )


class Update(FaultCommand):
    action = "update"
    help = "record a fault's first response, arrival on site, cause, fix or a note"

    def add_arguments(self, parser):
        parser.add_argument("id", metavar="ID", help="fault id, e.g. F2026-003")
        parser.add_argument("--responded-at", metavar="TIME", help="first response by an engineer")
        parser.add_argument("--onsite-at", metavar="TIME", help="when an engineer arrived on site")
        parser.add_argument("--cause", help="the cause found")
        parser.add_argument("--fix", help="what was done")
        parser.add_argument("--impact", help="the impact, corrected")
        parser.add_argument("--symptom", help="the symptom, corrected")
        parser.add_argument("--severity", choices=list(SEVERITIES))
        parser.add_argument(
            "--service-down",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="whether the system could not be used",
        )
        parser.add_argument("--note", help="anything else (no patient data)")

    def details(self, args):
        return {"fault": args.id}

    def fields(self, op, args):
        fields = _times(args, self.offset(op), ["responded_at", "onsite_at"])
        for name in ("cause", "fix", "impact", "symptom", "note"):
            if getattr(args, name, None) is not None:
                fields[name] = _text(getattr(args, name), f"--{name}")
        if getattr(args, "severity", None):
            fields["severity"] = args.severity
        if getattr(args, "service_down", None) is not None:
            fields["service_down"] = args.service_down
        return fields

    def run(self, op, args):
        fields = self.fields(op, args)
        if not fields:
            raise OpsError("nothing to record: give --responded-at, --onsite-at, --cause, --fix, --note ...")
        self.append(op, args.id, "update", fields, lambda faults, fid: _known(faults, fid, fields, closed_ok=True))

    def render(self, op, args):
        print(f"fault: {self.fid} updated ({', '.join(sorted(op.details['fields']))})")


def _known(faults, fid, fields, closed_ok=False):
    records, _ = utils()
    if not records.FAULT_ID_RE.match(fid):
        raise OpsError(f"'{fid}' is not a fault id: they look like F2026-003 (see `followup-ops fault list`)")
    if fid not in faults:
        raise OpsError(f"fault {fid} is not in the register: see `followup-ops fault list --all`")
    fault = faults[fid]
    if fault["state"] == "closed" and not closed_ok:
        raise OpsError(f"fault {fid} is already closed (at {fault.get('resolved_at')}): update it instead")
    _order(dict(fault, **fields))
    return fault


class Close(Update):
    action = "close"
    help = "close a fault: when it was fixed, its cause and fix"

    def add_arguments(self, parser):
        parser.add_argument("id", metavar="ID", help="fault id, e.g. F2026-003")
        parser.add_argument("--at", metavar="TIME", help="when it was fixed (default now)")
        parser.add_argument("--cause", help="the cause found (required unless recorded before)")
        parser.add_argument("--fix", help="what was done (required unless recorded before)")
        parser.add_argument("--responded-at", metavar="TIME", help="first response, if not recorded before")
        parser.add_argument("--onsite-at", metavar="TIME", help="when an engineer arrived on site")
        parser.add_argument("--note", help="anything else (no patient data)")

    def run(self, op, args):
        records, _ = utils()
        fields = self.fields(op, args)
        resolved = parse_when(args.at, self.offset(op), "--at") if args.at else time.time()
        if resolved > time.time() + 300:
            raise OpsError(f"--at {args.at} is in the future: give the time the fault was fixed")
        fields["resolved_at"] = records.iso(resolved)

        def check(faults, fid):
            fault = dict(_known(faults, fid, fields), **fields)
            missing = [f"--{name}" for name in ("cause", "fix") if not fault.get(name)]
            if not fault.get("responded_at"):
                missing.append("--responded-at")
            if missing:
                raise OpsError(f"fault {fid} cannot be closed without {', '.join(missing)}: give them")

        self.append(op, args.id, "close", fields, check)

    def render(self, op, args):
        print(f"fault: {self.fid} closed")


class List(FaultCommand):
    action = "list"
    help = "the register: faults of the contract year against the limit, response times against the targets"

    def add_arguments(self, parser):
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--year", type=int, metavar="YYYY", help="the contract year starting in YYYY")
        when.add_argument("--all", action="store_true", help="every fault ever registered")
        parser.add_argument("--open", action="store_true", help="only faults still open")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, op, args):
        records, _ = utils()
        levels = self.levels(op)
        sl, offset = levels["service_levels"], levels["timezone"]
        faults, damaged = load_faults()
        if op.inventory:
            faults = {k: f for k, f in faults.items() if records.same_inventory(f.get("inventory"), op.inventory)}
        if args.all:
            start, end, label = 0, float("inf"), "全部 all"
        else:
            month, day = (int(x) for x in sl["contract_year_start"].split("-"))
            moment = records.local_midnight(args.year, month, day, offset) if args.year else time.time()
            start, end, label = records.contract_year(moment, sl["contract_year_start"], offset)
        summary = records.fault_summary(faults.values(), start, end, sl)
        if args.open:
            summary["faults"] = [f for f in summary["faults"] if f.get("state") != "closed"]
        self.summary, self.label, self.offset_, self.levels_ = summary, label, offset, sl
        op.details.update(period=label, counted=summary["counted"], open=summary["open"])
        if damaged:
            print(
                f"followup-ops: warning: {damaged} damaged line(s) in {runs_dir()}/faults.jsonl skipped",
                file=sys.stderr,
            )

    def render(self, op, args):
        s, sl = self.summary, self.levels_
        if args.json:
            print(json.dumps({"period": self.label, **s}, ensure_ascii=False, indent=2))
            return
        records, _ = utils()
        rows = []
        for f in s["faults"]:
            response = "-" if f["response_min"] is None else f"{f['response_min']:g} min"
            mark = {True: "✓", False: "✗ 超时", None: ""}[f["on_target"]]
            rows.append(
                [
                    f["id"],
                    records.local_time(records.parse_time(f.get("opened_at")), self.offset_),
                    f.get("host") or "-",
                    f.get("component") or "-",
                    KINDS.get(f.get("kind"), f.get("kind") or "-").split()[0],
                    STATE_ZH.get(f.get("state"), f.get("state")).split()[0],
                    f"{response} / {f['target_min']:g} {mark}".strip() if f["target_min"] else response,
                    (f.get("symptom") or "")[:40],
                ]
            )
        lines = (
            table(
                ["编号 ID", "时间 Opened", "主机 Host", "组件", "类别", "状态", "响应 Response / 目标", "现象 Symptom"],
                rows,
            )
            if rows
            else ["登记簿中没有记录 no faults registered in this period"]
        )
        limit, targets = s["limit"], sl["response_minutes"]
        lines.append(
            f"合同年度 contract year {self.label}: 故障 faults {s['counted']} / {limit}"
            f"（全年故障次数应不超过{limit}次）"
            + ("，已超限 OVER THE LIMIT" if limit and s["counted"] > limit else "")
            + f"；日常问题 issues {s['issues']}；未关闭 open {s['open']}"
        )
        lines.append(
            f"响应 response: {s['on_target']} / {s['responded']} 达标 on target"
            f"（故障 {targets.get('fault')} 分钟，日常问题 {targets.get('issue')} 分钟）"
            + (f"；{s['missing_response']} 件未记录响应时间 without a response time" if s["missing_response"] else "")
        )
        print("\n".join(lines))


ACTIONS = (Open(), Update(), Close(), List())


def register(sub):
    parser = sub.add_parser(
        "fault",
        help="the fault register: open, update, close, list (against 5 faults a year and the response targets)",
        description="The fault register (故障登记) on this control node (runs/faults.jsonl): time, host, component, "
        "symptom, impact, response time, cause, fix. Shows the count against the contract's 5 faults a year and the "
        "response times against 60 minutes (faults) and 2 hours (daily issues).",
    )
    fault_sub = parser.add_subparsers(dest="fault_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(fault_sub)
    return parser
