"""`followup-ops rehearse`: the whole upgrade on a staging inventory, and the pre-upgrade test document
(更新前测试文档) the IT department reads before it signs the approval (R-SIGNOFF, docs/upgrade.md).

    followup-ops rehearse -i inventories/lab --release 1.2.0 --from 1.0.0 [--scale 1] [--out DIR]

Steps: deploy the release production runs (--from), seed synthetic data (the lab), set up the backup role and take
a first backup (playbooks/backup.yml: the upgrade's pre-check wants the agents and a verified backup), test the
rollback (an upgrade whose health gate fails on purpose: it must roll back, restore the databases and find them equal
to the backup), then the real upgrade while the front-end server is probed every 100 ms, and write the test document
(HTML and printable PDF, Chinese first) with its sha256.
"""

import argparse
import datetime
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from followup_ops import render
from followup_ops.commands.common import Command
from followup_ops.commands.upgrade import STEP_LABELS, render_upgrade, upgrade_details
from followup_ops.errors import OpsError
from followup_ops.inventory import is_lab
from followup_ops.operation import RolledBack
from followup_ops.paths import runs_dir

PROBE_PATH = "/api/tasks?limit=1"


# --- The probe (also used by bench/upgrade.py) ---------------------------------------------------------------------


class Probe:
    """Ask the front-end server every INTERVAL seconds, from a thread, and keep every answer:
    (epoch, kind, status, ms) where kind is ok, maintenance (503 with the maintenance body) or failed."""

    def __init__(self, url, interval=0.1, timeout=2.0, method="GET", body=None):
        if not url.startswith("https://"):
            raise OpsError(f"the probe asks the front-end server over HTTPS, not {url}")
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.method = method
        self.body = body
        self.samples = []
        self._stop = threading.Event()
        self._thread = None
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE  # the staging fep's certificate is self-signed

    def once(self):
        started = time.time()
        data = json.dumps(self.body).encode() if self.body is not None else None
        request = urllib.request.Request(self.url, data=data, method=self.method)  # noqa: S310 - https only
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as answer:  # noqa: S310
                status, text = answer.status, answer.read(4096)
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read(4096)
        except (urllib.error.URLError, OSError, TimeoutError):
            status, text = None, b""
        ms = (time.time() - started) * 1000.0
        if status is not None and 200 <= status < 300:
            kind = "ok"
        elif status == 503 and b"MAINTENANCE" in text:
            kind = "maintenance"
        else:
            kind = "failed"
        self.samples.append((started, kind, status, round(ms, 1)))

    def _loop(self):
        while not self._stop.is_set():
            started = time.monotonic()
            self.once()
            self._stop.wait(max(self.interval - (time.monotonic() - started), 0))

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, name="followup-ops-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return False


def _epoch(text):
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def unavailability(samples, steps, ended_at=None, interval=0.1):
    """Seconds of failed and of maintenance answers, in all and per step (by the step start times the playbook
    reported). Each answer counts for the time until the next one (at most 1 s, so a gap in probing is not blamed
    on the system). Returns {total: {...}, steps: [{step, started, seconds, failed_s, maintenance_s}], samples}."""
    ordered = sorted((_epoch(t), name) for name, t in (steps or {}).items())
    bounds = [
        (start, ordered[i + 1][0] if i + 1 < len(ordered) else (_epoch(ended_at) if ended_at else float("inf")), name)
        for i, (start, name) in enumerate(ordered)
    ]
    per = {name: {"failed_s": 0.0, "maintenance_s": 0.0} for _s, _e, name in bounds}
    outside = {"failed_s": 0.0, "maintenance_s": 0.0}
    total = {"failed_s": 0.0, "maintenance_s": 0.0, "ok": 0, "failed": 0, "maintenance": 0}
    samples = sorted(samples)
    for i, (at, kind, _status, _ms) in enumerate(samples):
        total[kind] += 1
        if kind == "ok":
            continue
        span = min((samples[i + 1][0] - at) if i + 1 < len(samples) else interval, 1.0)
        key = f"{kind}_s"
        total[key] += span
        for start, end, name in bounds:
            if start <= at < end:
                per[name][key] += span
                break
        else:
            outside[key] += span
    rows = []
    for start, end, name in bounds:
        rows.append(
            {
                "step": name,
                "started": datetime.datetime.fromtimestamp(start, datetime.UTC).strftime("%H:%M:%S"),
                "seconds": round((end - start) if end != float("inf") else 0.0, 1),
                "failed_s": round(per[name]["failed_s"], 1),
                "maintenance_s": round(per[name]["maintenance_s"], 1),
            }
        )
    migrate = per.get("migrate", {"failed_s": 0.0, "maintenance_s": 0.0})
    total.update(
        failed_s=round(total["failed_s"], 1),
        maintenance_s=round(total["maintenance_s"], 1),
        outside_migrations_s=round(
            total["failed_s"] + total["maintenance_s"] - migrate["failed_s"] - migrate["maintenance_s"], 1
        ),
        before_or_after_s=round(outside["failed_s"] + outside["maintenance_s"], 1),
        probes=len(samples),
    )
    return {"total": total, "steps": rows}


def fep_url(inventory):
    """https://<address of the first front-end server> of INVENTORY."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    try:
        manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    except Exception as err:  # an unreadable inventory is one line
        raise OpsError(f"inventory {inventory} cannot be read ({err})") from err
    group = manager.groups.get("fep")
    hosts = group.get_hosts() if group else []
    if not hosts:
        raise OpsError(f"inventory {inventory} has no host in group fep: the rehearsal probes the front-end server")
    return f"https://{hosts[0].vars.get('ansible_host') or hosts[0].name}"


# --- The command ---------------------------------------------------------------------------------------------------


def _scale(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a whole number from 1 to 100, not '{text}'") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"--scale must be from 1 to 100, not {value}")
    return value


def _version(text):
    import re

    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a release version MAJOR.MINOR.PATCH")
    return text


class Rehearse(Command):
    name = "rehearse"
    help = "rehearse an upgrade on a staging inventory and write the pre-upgrade test document (更新前测试文档)"
    description = (
        "Run the whole upgrade on a staging inventory (the lab, or a staging copy of production; "
        "followup_upgrade_rehearsal_allowed), starting from the release production runs: deploy --from, seed "
        "synthetic data (the lab), set up the backup role and back up, test the automatic rollback (an upgrade "
        "whose health gate fails on purpose: the previous release comes back and the databases are restored and "
        "found equal to the backup), then upgrade to --release while the front-end server is probed every 100 ms. "
        "Writes the test document as HTML and printable PDF with its sha256: give it to "
        "`followup-ops approval new --test-document`."
    )
    changes_hosts = True
    limit = False  # the whole upgrade, on every host of the staging inventory
    interrupt_hint = "run the same rehearsal again: it deploys the starting release first"

    def add_arguments(self, parser):
        parser.add_argument("--release", required=True, type=_version, metavar="VERSION", help="release to rehearse")
        parser.add_argument(
            "--from",
            dest="from_release",
            required=True,
            type=_version,
            metavar="VERSION",
            help="the release production runs (deployed first)",
        )
        parser.add_argument("--scale", type=_scale, default=1, help="synthetic data: N x 1000 patients (the lab)")
        parser.add_argument("--out", metavar="DIR", help="where to write the test document (default: the run record)")
        parser.add_argument(
            "--no-rollback-test", action="store_true", help="skip the rollback test (the document then says so)"
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="also list skipped tasks")

    def details(self, args):
        return {"release": args.release, "from_release": args.from_release, "scale": args.scale, "rehearsal": True}

    def _upgrade_vars(self, args, rollback):
        return {
            "followup_upgrade_rehearsal": True,
            "followup_upgrade_rehearse_release": args.release,
            "followup_upgrade_rehearse_rollback": rollback,
            "followup_upgrade_records_dir": str(runs_dir() / "upgrade"),
        }

    def run(self, op, args):
        url = fep_url(op.inventory) + PROBE_PATH
        self.result = {"rollback_test": None}
        op.playbook("deploy", "site.yml", extravars={"followup_release_version": args.from_release})
        if is_lab(op.inventory):
            op.playbook("seed", "lab/seed.yml", extravars={"followup_seed_scale": args.scale})
        # A fresh staging inventory has no backup agents yet, and the upgrade's pre-check refuses without them.
        op.playbook(
            "backup", "backup.yml", extravars={"followup_backup_db": "all", "followup_backup_method": "logical"}
        )
        if not args.no_rollback_test:
            before = json.loads(json.dumps(op.report))
            try:
                op.playbook("rollback test", "upgrade.yml", extravars=self._upgrade_vars(args, True))
            except RolledBack as err:
                data = (op.report.get("data") or {}).get("upgrade") or {}
                self.result["rollback_test"] = {
                    "outcome": "rolled_back",
                    "message": str(err),
                    "rollback": data.get("rollback") or {},
                    "rolled_back": op.report.get("rolled_back") or {},
                    "steps": data.get("steps") or {},
                    "ended_at": data.get("ended_at"),
                    "applied": data.get("applied") or [],
                    "rollback_health": data.get("rollback_health") or {},
                }
            else:
                raise OpsError(
                    "the rollback test did not roll back: the upgrade whose health gate fails on purpose completed; "
                    "see the run record"
                )
            # The real upgrade's report replaces the rollback test's.
            op.report.clear()
            op.report.update(before)
            op.report.pop("rolled_back", None)
            op.report["rolled_back"] = {}
        with Probe(url) as probe:
            op.playbook("upgrade", "upgrade.yml", extravars=self._upgrade_vars(args, False))
        upgrade_details(op.report, op.details)
        data = (op.report.get("data") or {}).get("upgrade") or {}
        self.result["unavailability"] = unavailability(probe.samples, data.get("steps"), data.get("ended_at"))
        with op.local("test document"):
            self.document = self.write_document(op, args, data)
        op.details["test_document"] = self.document["pdf"].name
        op.details["test_document_sha256"] = self.document["pdf_sha256"]
        op.details["unavailability"] = self.result["unavailability"]["total"]

    def context(self, op, args, data):
        rollback = self.result.get("rollback_test")
        gates = op.report.get("gates") or {}
        precheck = data.get("precheck") or {}
        rows = [{"host": host, **r} for host, host_rows in sorted(precheck.items()) for r in host_rows]
        unav = self.result["unavailability"]
        steps = [dict(r, label=STEP_LABELS.get(r["step"], r["step"])) for r in unav["steps"]]
        migrations = [
            {"database": r.get("database"), "script": m.get("script"), "ms": m.get("execution_ms")}
            for r in data.get("applied") or []
            for m in r.get("applied") or []
        ]
        backups = [
            {"host": host, "engine": engine, **{k: b.get(k) for k in ("id", "bytes", "duration_s", "objects")}}
            for host, by_engine in sorted((data.get("backups") or {}).items())
            for engine, b in sorted((by_engine or {}).items())
            if isinstance(b, dict)
        ]
        freeze = None
        marks = data.get("steps") or {}
        if (
            "freeze" in marks
            and "lift" in marks
            and data.get("pending")
            and any(p.get("pending") for p in data["pending"])
        ):
            freeze = round(_epoch(marks["lift"]) - _epoch(marks["freeze"]), 1)
        total_s = None
        if marks.get("start") and data.get("ended_at"):
            total_s = round(_epoch(data["ended_at"]) - _epoch(marks["start"]), 1)
        passed = all(r.get("status") != "fail" for r in rows) and (rollback is not None or args.no_rollback_test)
        return {
            "title": "更新前测试文档",
            "subtitle": f"Pre-upgrade test document · {args.from_release} → {args.release}",
            "running_header": f"更新前测试文档 {args.from_release} → {args.release}",
            "meta": [
                ("系统 System", "人工智能医院随访系统 followup"),
                ("升级 Upgrade", f"{args.from_release} → {args.release}"),
                ("测试环境 Staging inventory", str(op.inventory)),
                ("测试数据 Seeded data", f"scale {args.scale}: {args.scale * 1000} 名患者 patients (synthetic)"),
                ("结论 Result", "通过 pass" if passed else "未通过 fail"),
                ("测试记录 Run record", op.id),
                ("操作人 Operator", op.record().get("user")),
            ],
            "passed": passed,
            "from_release": args.from_release,
            "to_release": args.release,
            "gates": gates,
            "precheck": rows,
            "backups": backups,
            "migrations": migrations,
            "steps": steps,
            "unavailability": unav["total"],
            "freeze_s": freeze,
            "total_s": total_s,
            "rollback": rollback,
            "health": data.get("health") or {},
            "signatures": ["测试人 Tester", "乙方负责人 Vendor lead", "信息科审核 IT department"],
            "seal": True,
        }

    def write_document(self, op, args, data):
        out = Path(args.out) if args.out else op.run_dir / "test-document"
        context = self.context(op, args, data)
        written = render.write("upgrade/test_document.html.j2", context, out, "test-document")
        summary = {k: v for k, v in context.items() if k not in ("signatures", "seal")}
        summary["pdf_sha256"], summary["html_sha256"] = written["pdf_sha256"], written["html_sha256"]
        (out / "test-document.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        op.file(written["pdf"], "test-document", sha256=written["pdf_sha256"], bytes=written["pdf"].stat().st_size)
        op.file(written["html"], "test-document-html", sha256=written["html_sha256"])
        return written

    def render(self, op, args):
        render_upgrade(op, verb="rehearsal")
        total = self.result["unavailability"]["total"]
        print(
            f"measured: {total['failed_s']} s of failed and {total['maintenance_s']} s of maintenance answers "
            f"({total['outside_migrations_s']} s outside the migrations), {total['probes']} probes"
        )
        rollback = self.result.get("rollback_test")
        if rollback:
            print(f"rollback test: rolled back, databases restored {rollback['rolled_back'].get('databases', {})}")
        doc = self.document
        print(f"test document: {doc['pdf']} sha256 {doc['pdf_sha256']} (and {doc['html']})")
        print(
            f"next: followup-ops approval new -i PRODUCTION --change-id ID --from {args.from_release} "
            f"--test-document {doc['pdf']} --approver NAME --valid-until TIME"
        )


COMMAND = Rehearse()
