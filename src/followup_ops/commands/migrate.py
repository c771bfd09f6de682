"""`followup-ops migrate db|server|list`: move a database or a server program to a new host (docs/migration.md).

    followup-ops migrate db -i INV --engine mysql|mongodb --to HOST [--phase PHASES]
    followup-ops migrate server -i INV --component app|fep|voice --to HOST [--phase PHASES]
    followup-ops migrate list -i INV

PHASES of a database move: plan (the default; read-only), prepare, sync, cutover, verify, rollback, finish, a comma
list of them, or `all` (plan, prepare, sync, cutover, verify; rollback and finish only when named). A server move has
no sync: plan, prepare, cutover, verify, rollback, finish, `all` being plan, prepare, cutover, verify. Each phase is
one playbook step of the operation (playbooks/migrate_db.yml or migrate_server.yml, which gate every phase
themselves); the migration's record on this control node, runs/migrations/<id>.json, keeps every phase with its
timings, volumes, verification and downtime, and what the cutover means for the inventory, written as a diff for the
operator to commit, never applied. The hosts keep the migration's state too (the local facts followup_dbmove and
followup_srvmove), so AWX and a second control node see it.
"""

import json
import os
import time
from pathlib import Path

from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.errors import OpsError
from followup_ops.operation import Refused, RolledBack, StepFailed
from followup_ops.paths import repo_root, runs_dir
from followup_ops.textui import table

PHASE_ZH = {
    "plan": "计划 plan",
    "prepare": "准备 prepare",
    "sync": "同步 sync",
    "cutover": "切换 cutover",
    "verify": "校验 verify",
    "rollback": "回退 rollback",
    "finish": "完成 finish",
}
ENGINE_GROUP = {"mysql": "mysql", "mongodb": "mongo"}
SERVICE_GROUPS = ("followup", "fep", "app", "voice", "databases", "mysql", "mongo", "backup", "carrier")


def dbmove():
    """module_utils/followup_dbmove.py, as Ansible's modules import it."""
    import ansible.module_utils

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_dbmove

    return followup_dbmove


def _phases(text, phases=None, all_phases=None):
    mod = dbmove()
    try:
        return mod.parse_phases(text, phases or mod.PHASES, all_phases or mod.ALL_PHASES)
    except mod.MoveError as err:
        raise OpsError(f"--phase: {err}") from err


def inventory_groups(inventory):
    """{host: [groups]} and {group: [hosts]} of an inventory, read in-process (no vault needed)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    hosts = {h.name: sorted(g.name for g in h.get_groups() if g.name != "all") for h in manager.get_hosts()}
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    return hosts, groups


# -- the migration's record on the control node ------------------------------------------------------------------
def migrations_dir():
    path = runs_dir() / "migrations"
    path.mkdir(parents=True, exist_ok=True, mode=0o750)
    return path


def same_inventory(a, b):
    return Path(a).resolve() == Path(b).resolve() or Path(a).name == Path(b).name


def find_open(inventory, kind, what, target):
    """The newest unfinished migration of KIND/WHAT to TARGET for INVENTORY on this control node, or None."""
    found = []
    for path in migrations_dir().glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (
            record.get("kind") == kind
            and record.get("what") == what
            and record.get("target") == target
            and record.get("state") != "finished"
            and same_inventory(record.get("inventory", ""), inventory)
        ):
            found.append(record)
    return max(found, key=lambda r: r.get("created", "")) if found else None


def load(mid):
    path = migrations_dir() / f"{mid}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise OpsError(f"the migration record {path} cannot be read ({err}): fix or remove it, then retry") from err


def save(record):
    path = migrations_dir() / f"{record['id']}.json"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def stamp():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class MigrateCommand(Command):
    """One kind of move (db or server): the same phases, record and inventory diff."""

    kind = ""
    playbook = ""
    phase_names = ()  # the kind's phases, in order (empty: a database move's)
    diff_phases = ("cutover", "finish", "rollback")  # the phases that write the inventory diff
    all_phases = ()  # what `all` means
    prefix = ""  # the playbook's request variables: <prefix>_engine/_component, _target, _source, _phase, _id
    changes_hosts = True
    undo_failed_cutover = False  # run rollback at once after a cutover that failed (the server moves)
    what_flag = ""  # the command line's option naming what moves (--engine, --component)
    interrupt_hint = (
        "run the same phase again: every phase first reads the state the hosts are in (followup-ops migrate list "
        "shows the migration's record)"
    )

    @property
    def name(self):
        return f"migrate-{self.kind}"

    def what(self, args):
        raise NotImplementedError

    def group_of(self, args):
        raise NotImplementedError

    def register(self, sub):
        parser = sub.add_parser(self.kind, help=self.help, description=self.description)
        add_inventory_options(parser, limit=False)
        self.add_arguments(parser)
        parser.add_argument("--to", required=True, metavar="HOST", help="inventory name of the new server")
        parser.add_argument(
            "--from",
            dest="source",
            metavar="HOST",
            help="inventory name of the old server (default: the first host of its group, or the migration's)",
        )
        phases, every = self.phase_names or dbmove().PHASES, self.all_phases or dbmove().ALL_PHASES
        parser.add_argument(
            "--phase",
            default="plan",
            metavar="PHASES",
            help=f"plan (default, read-only), {', '.join(phases[1:])}, a comma list, or all ({','.join(every)})",
        )
        parser.add_argument("--id", metavar="ID", help="the migration's id (default: the open one to this target)")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")
        parser.set_defaults(func=self.execute)
        return parser

    def details(self, args):
        return {"kind": self.kind, "what": self.what(args), "target": args.to, "phases": self.phases}

    def execute(self, args):
        self.phases = _phases(args.phase, self.phase_names, self.all_phases)
        self.changes_hosts = self.phases != ["plan"]
        return super().execute(args)

    # -- the steps -------------------------------------------------------------------------------------------------
    def resolve(self, op, args):
        """The migration this run belongs to, and the refusals the inventory alone gives (exit 2, nothing touched)."""
        hosts, groups = inventory_groups(op.inventory)
        group = self.group_of(args)
        record = load(args.id) if args.id else find_open(op.inventory, self.kind, self.what(args), args.to)
        if args.id and record is None and self.phases[0] not in ("plan", "prepare"):
            raise OpsError(f"--id {args.id}: no such migration on this control node (followup-ops migrate list)")
        source = args.source or (record or {}).get("source")
        if not source:
            members = [h for h in groups.get(group, []) if h != args.to]
            source = members[0] if members else None
        reasons = []
        if args.to not in hosts:
            reasons.append(
                f"the target {args.to} is not a host of the inventory {op.inventory.name}: add it (in group spare) to "
                f"its hosts file, or name one of its hosts with --to"
            )
        if not source:
            reasons.append(f"group {group} of the inventory has no host to move from: name the old server with --from")
        elif source not in hosts:
            reasons.append(f"the source {source} is not a host of the inventory {op.inventory.name}: fix --from")
        elif source == args.to:
            reasons.append(f"the target {args.to} is the source itself: name another host with --to")
        if record is None and source in hosts and source != args.to and source not in groups.get(group, []):
            reasons.append(
                f"the source {source} is not in group {group} of the inventory {op.inventory.name}: name the host "
                f"that runs it now with --from"
            )
        if record is None and args.to in hosts:
            serving = sorted(set(hosts[args.to]) & set(SERVICE_GROUPS))
            if serving and self.phases[0] in ("plan", "prepare"):
                reasons.append(
                    f"the target {args.to} is in use: it is in inventory group{'s' if len(serving) > 1 else ''} "
                    f"{', '.join(serving)}; move to a host of group spare (or none)"
                )
        with op.local("request"):
            op.gate("migrate-request", reasons)
        if record is None:
            record = {
                "schema": 1,
                "id": args.id or dbmove().migration_id(self.kind, self.what(args), source, args.to, stamp()),
                "kind": self.kind,
                "what": self.what(args),
                "source": source,
                "target": args.to,
                "inventory": str(op.inventory),
                "created": stamp(),
                "state": "new",
                "phases": [],
            }
        self.record = record
        self.hosts_groups = hosts
        op.details.update(id=record["id"], source=record["source"], target=record["target"])
        return record

    def extravars(self, record, phase):
        return {
            f"{self.prefix}_{self.what_var}": record["what"],
            f"{self.prefix}_target": record["target"],
            f"{self.prefix}_source": record["source"],
            f"{self.prefix}_phase": phase,
            f"{self.prefix}_id": record["id"],
        }

    def run(self, op, args):
        op.quiet = not args.verbose
        record = self.resolve(op, args)
        self.results = []
        for phase in self.phases:
            started = time.monotonic()
            entry = {"phase": phase, "operation": op.id, "started": stamp(), "check": False}
            print(
                f"migrate {self.kind} {record['what']}: {record['source']} -> {record['target']}: {phase} ...",
                flush=True,
            )
            try:
                op.playbook(phase, self.playbook, extravars=self.extravars(record, phase))
                entry["outcome"] = "ok"
            except (Refused, RolledBack, StepFailed, KeyboardInterrupt) as err:
                entry["outcome"] = {Refused: "refused", RolledBack: "rolled_back"}.get(type(err), "failed")
                entry["message"] = str(err) if not isinstance(err, KeyboardInterrupt) else "interrupted"
                self.note(op, record, entry, started)
                if phase == "cutover" and self.undo_failed_cutover and isinstance(err, StepFailed):
                    self.undo_cutover(op, record, err)
                raise
            self.note(op, record, entry, started)
            self.results.append(entry)
            if phase in self.diff_phases:
                self.write_diff(op, record, phase)
            if phase == "verify" and (entry.get("data") or {}).get("equal") is False:
                op.conclude(
                    "noncompliant",
                    f"verify found differences between {record['source']} and {record['target']}: "
                    + "; ".join((entry["data"].get("differences") or [])[:3]),
                )
                break
        return None

    def undo_cutover(self, op, record, err):
        """After a cutover that failed once it had begun switching: the rollback phase at once, in the same operation
        (its gate refuses when nothing was switched). Raises RolledBack (exit 3) when it put the source back, else
        StepFailed saying what state the hosts are in and what to run."""
        source, target, what = record["source"], record["target"], record["what"]
        print(f"migrate {self.kind} {what}: cutover failed: rolling back to {source} ...", flush=True)
        started = time.monotonic()
        entry = {"phase": "rollback", "operation": op.id, "started": stamp(), "check": False, "undoes": "cutover"}
        try:
            op.playbook("rollback", self.playbook, extravars=self.extravars(record, "rollback"))
        except Refused as refused:
            entry.update(outcome="refused", message=str(refused))
            self.note(op, record, entry, started)
            raise StepFailed(
                f"cutover failed before it switched anything ({err}); {source} still serves and {target} stays "
                f"prepared: fix the cause, then run the cutover again"
            ) from err
        except (RolledBack, StepFailed) as again:
            entry.update(outcome="failed", message=str(again))
            self.note(op, record, entry, started)
            raise StepFailed(
                f"cutover failed ({err}) and the rollback run after it failed too ({again}): the traffic may be split "
                f"between {source} and {target}; run `followup-ops migrate {self.kind} {self.what_flag} {what} --to "
                f"{target} --phase rollback` again (docs/migration.md)"
            ) from err
        entry["outcome"] = "ok"
        self.note(op, record, entry, started)
        self.write_diff(op, record, "rollback")
        raise RolledBack(
            f"cutover failed ({err}); rolled back: {source} serves again, {target} is stopped and stays prepared"
        ) from err

    def note(self, op, record, entry, started):
        """Put what the phase reported into the migration's record and the audit details."""
        migration = (op.report.get("data") or {}).get("migration") or {}
        phase = entry["phase"]
        entry["duration_s"] = round(time.monotonic() - started, 1)
        entry["data"] = (migration.get("phases") or {}).get(phase) or {}
        if migration.get("state_after") and entry.get("outcome") == "ok":
            record["state"] = migration["state_after"]
        elif record.get("state") == "new" and entry.get("outcome") == "ok":
            record["state"] = "planned"
        if migration.get("mode"):
            record["mode"] = migration["mode"]
        for key in ("source_address", "target_address"):
            if migration.get(key):
                record[key] = migration[key]
        if entry.get("outcome") == "ok" and migration.get("primary"):
            record["primary"] = migration["primary"]
        record["phases"].append(entry)
        record["updated"] = stamp()
        save(record)
        details = op.details
        details.setdefault("phase_results", {})[phase] = {
            k: v for k, v in entry.items() if k in ("outcome", "duration_s", "message")
        }
        data = entry["data"]
        if phase == "verify" and "equal" in data:
            details["verified"] = bool(data["equal"])
            details["verify"] = {
                k: data.get(k) for k in ("rows", "seconds", "rows_per_s", "tables", "equal", "compared")
            }
        elif phase == "verify" and "passed" in data:
            details["verified"] = bool(data["passed"])
            details["verify"] = {k: data.get(k) for k in ("passed", "checks", "call", "state")}
        if phase in ("cutover", "rollback") and data:
            details["downtime_s"] = data.get("write_downtime_s", data.get("downtime_s"))
            details[phase] = {
                k: data.get(k)
                for k in (
                    "write_downtime_s",
                    "db_switch",
                    "primary",
                    "downtime_s",
                    "requests",
                    "failures",
                    "failures_outside_switch",
                    "switch_s",
                    "serving",
                    "delta",
                )
                if k in data
            }
        if phase == "prepare" and "copied_bytes" in data:
            details["bytes"] = data.get("copied_bytes")
            details["prepare"] = {k: data.get(k) for k in ("release", "copied_bytes", "sha256", "checksum_equal")}
        if phase == "sync" and data:
            details["bytes"] = data.get("bytes")
            details["mb_s"] = data.get("mb_s")
        if phase == "plan" and data.get("plan"):
            plan = data["plan"]
            details["plan"] = {
                k: plan.get(k)
                for k in (
                    "data_bytes",
                    "release",
                    "release_bytes",
                    "source_os",
                    "target_os",
                    "copy_s",
                    "write_downtime_s",
                    "throughput_mb_s",
                    "source_version",
                    "target_version",
                    "target_candidate_version",
                )
            }
        details["state"] = record["state"]

    # -- the inventory change ----------------------------------------------------------------------------------------
    def inventory_moves(self, record, phase):
        group = self.group_of_record(record)
        target_groups = [g for g in self.hosts_groups.get(record["target"], []) if g not in SERVICE_GROUPS]
        if phase == "rollback":
            return []
        return [(record["target"], (target_groups or ["spare"])[0], group), (record["source"], group, "spare")]

    def write_diff(self, op, record, phase):
        moves = self.inventory_moves(record, phase)
        if not moves:
            return
        hosts_file = op.inventory / "hosts.yml" if op.inventory.is_dir() else op.inventory
        rel = os.path.relpath(hosts_file, repo_root()) if str(hosts_file).startswith(str(repo_root())) else hosts_file
        try:
            _new, diff, words = dbmove().inventory_change(hosts_file.read_text(), moves, str(rel))
        except (OSError, dbmove().MoveError) as err:
            diff, words = "", [f"{m[0]}: from group {m[1]} to group {m[2]}" for m in moves] + [f"({err})"]
        path = op.run_dir / "inventory.diff"
        body = diff or "# " + "\n# ".join(words) + "\n"
        notes = self.diff_notes(record)
        if notes:
            body = "".join(f"# {line}\n" for line in notes) + body
        path.write_text(body, encoding="utf-8")
        keep = migrations_dir() / f"{record['id']}.inventory.diff"
        keep.write_text(body, encoding="utf-8")
        record["inventory_diff"] = str(keep)
        record["inventory_words"] = words
        save(record)
        op.file(path, "inventory-diff", host="control-node", bytes=path.stat().st_size)
        op.details["inventory_diff"] = str(keep)
        self.diff = body

    def diff_notes(self, record):
        """Lines the diff carries above it (what the inventory cannot say); none for a database move."""
        return []

    # -- output ----------------------------------------------------------------------------------------------------
    def render(self, op, args):
        record = self.record
        rows = []
        for entry in self.results:
            data = entry.get("data") or {}
            rows.append(
                [
                    PHASE_ZH.get(entry["phase"], entry["phase"]),
                    entry["outcome"],
                    f"{entry['duration_s']:.0f}s",
                    self.summary(entry["phase"], data),
                ]
            )
        print("\n".join(table(["阶段 Phase", "结果 Result", "用时 Time", "说明 Details"], rows, align="<<><")))
        print(
            f"migrate {self.kind} {record['what']} {record['source']} -> {record['target']}: state {record['state']} "
            f"(migration {record['id']}, record {migrations_dir() / (record['id'] + '.json')}, run {op.run_dir})"
        )
        if getattr(self, "diff", None):
            print(
                "库存变更 the inventory change this move implies (not applied; commit it after finish, and run no "
                f"deploy before): {record.get('inventory_diff')}\n{self.diff.rstrip()}"
            )

    def summary(self, phase, data):
        if phase == "plan":
            plan = data.get("plan") or {}
            mb = plan.get("data_mb")
            return (
                f"{mb} MB; copy ~{plan.get('copy_s')}s at {plan.get('copy_rate_mb_s')} MB/s; write downtime "
                f"~{plan.get('write_downtime_s')}s; network {plan.get('throughput_mb_s') or '-'} MB/s; "
                f"versions {plan.get('source_version') or '-'} -> "
                f"{plan.get('target_version') or plan.get('target_candidate_version') or '-'}"
            )
        if phase == "sync":
            if data.get("copied"):
                text = f"copied {int(data.get('bytes') or 0) / 1e6:.1f} MB at {data.get('mb_s')} MB/s"
            else:
                text = "no new copy"
            caught = data.get("caught_up")
            return f"{text}; {'caught up' if caught else 'lag ' + str(data.get('seconds_behind')) + 's'}"
        if phase in ("cutover", "rollback"):
            if data.get("stopped_sync"):
                return "replication stopped; the applications never left the old server"
            return f"primary {data.get('primary')}; write downtime {data.get('write_downtime_s')}s"
        if phase == "verify":
            if data.get("equal") and data.get("compared") is False:
                # MongoDB by dump/restore after a rollback: the new server holds the copy of the cutover, already stale.
                return (
                    "data not compared (the new server's copy is stale after the rollback); "
                    "the applications' checks passed"
                )
            if data.get("equal"):
                return f"equal: {data.get('rows')} rows in {data.get('seconds')}s ({data.get('rows_per_s')} rows/s)"
            return "DIFFERENT: " + "; ".join((data.get("differences") or [])[:2])
        if phase == "finish":
            return f"retired {data.get('retired') or '-'}"
        if phase == "prepare":
            return f"engine {data.get('target_version') or data.get('release') or '-'} on the new server"
        return ""


class DbMove(MigrateCommand):
    kind = "db"
    playbook = "migrate_db.yml"
    prefix = "db_move"
    what_var = "engine"
    what_flag = "--engine"
    help = "move a database (MySQL or MongoDB) to a new server, in phases, verified, with a way back"
    description = (
        "Move cloud_followup and interface_data (--engine mysql) or cdr (--engine mongodb) to the new server --to, in "
        "phases: plan (read-only: sizes, versions, free disk, network rate, estimated copy time and write downtime), "
        "prepare (the engine on the new server with the existing roles), sync (MySQL: a consistent seed, then "
        "replication until the lag is zero; MongoDB: a replica set member, or a trial dump/restore), cutover (MySQL: "
        "refused unless the lag is zero and every table is equal; the old server read-only, the last transaction, the "
        "applications restarted on the new one, the old one replicating from the new; MongoDB without a replica set: "
        "the copy inside a window), verify (every table's row count and chunked checksums, indexes, accounts, the "
        "applications' health and one real request), rollback (back to the old server, losing nothing) and finish "
        "(retire the old server). Refusals exit 2 before any host changes; a cutover that fails is rolled back (3)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--engine", required=True, choices=["mysql", "mongodb"], help="the database to move")

    def what(self, args):
        return args.engine

    def group_of(self, args):
        return ENGINE_GROUP[args.engine]

    def group_of_record(self, record):
        return ENGINE_GROUP[record["what"]]


def srvmove():
    """module_utils/followup_srvmove.py, as Ansible's modules import it."""
    dbmove()  # puts module_utils on ansible.module_utils' path
    from ansible.module_utils import followup_srvmove

    return followup_srvmove


class ServerMove(MigrateCommand):
    kind = "server"
    playbook = "migrate_server.yml"
    prefix = "server_move"
    what_var = "component"
    what_flag = "--component"
    undo_failed_cutover = True
    phase_names = ("plan", "prepare", "cutover", "verify", "rollback", "finish")
    all_phases = ("plan", "prepare", "cutover", "verify")
    diff_phases = ("plan", "cutover", "finish", "rollback")
    help = "move a server program (app, fep or voice gateway) to a new host, in phases, verified, with a way back"
    description = (
        "Move the application (--component app), the front-end server (fep) or the voice gateway (voice) to the new "
        "host --to, in phases: plan (read-only: the target is a spare, reachable, the same system, with the disk for "
        "the release and the shared data; the release the source runs, the sizes, the inventory change), prepare "
        "(the component's role on the target at that release through the deploy's gates, its database accounts, the "
        "shared data and certificates copied with checksums compared, its health on its own), cutover (the peers "
        "switched to the new host - nginx gracefully for the app - the old host stopped but kept; the downtime "
        "measured by a probe through the fep every 100 ms), verify (every component's health, a request through the "
        "fep, a call through the voice gateway, where the traffic goes), rollback (the same switch backwards) and "
        "finish (the old host's service disabled, its files kept; only after a verify that passed since the "
        "cutover). Refusals exit 2 before any host changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--component", required=True, choices=["app", "fep", "voice"], help="the program to move")

    def what(self, args):
        return args.component

    def group_of(self, args):
        return args.component

    def group_of_record(self, record):
        return record["what"]

    def diff_notes(self, record):
        notes = srvmove().notes(
            record["what"],
            record.get("source_address") or record["source"],
            record.get("target_address") or record["target"],
        )
        return ["also outside the inventory:", *notes]

    def summary(self, phase, data):
        if phase == "plan":
            plan = data.get("plan") or {}
            return (
                f"release {plan.get('release') or '-'}; {int(plan.get('release_bytes') or 0) / 1e6:.1f} MB release + "
                f"{int(plan.get('data_bytes') or 0) / 1e6:.1f} MB shared data; {plan.get('source_os') or '-'} -> "
                f"{plan.get('target_os') or '-'}; target free {int(plan.get('target_free_bytes') or 0) / 1e9:.1f} GB"
            )
        if phase == "prepare":
            copied = int(data.get("copied_bytes") or 0) / 1e6
            equal = "equal" if str(data.get("checksum_equal")) == "True" else "not compared"
            return f"release {data.get('release') or '-'} on the new host; copied {copied:.2f} MB, checksums {equal}"
        if phase in ("cutover", "rollback"):
            delta = data.get("delta") or {}
            copied = (
                f"; last writes copied: {delta.get('files')} files, {int(delta.get('bytes') or 0) / 1e3:.1f} kB, "
                f"checksums {'equal' if str(delta.get('checksum_equal')) == 'True' else 'NOT equal'}"
                if delta.get("sha256")
                else ""
            )
            return (
                f"serving {data.get('serving') or '-'}; downtime {data.get('downtime_s')}s "
                f"({data.get('failures')} of {data.get('requests')} probe requests failed, "
                f"{data.get('failures_outside_switch')} outside the {data.get('switch_s')}s switch){copied}"
            )
        if phase == "verify":
            checks = data.get("checks") or []
            bad = [c["check"] for c in checks if not c.get("ok")]
            return f"{len(checks) - len(bad)}/{len(checks)} checks passed" + (
                f"; FAILED: {', '.join(bad)}" if bad else ""
            )
        if phase == "finish":
            return f"retired {data.get('retired') or '-'} (disabled, files kept)"
        return ""


class List(Command):
    name = "migrate-list"
    help = "the migrations recorded on this control node, with their state and phases"
    description = "Read-only: lists runs/migrations/*.json of the inventory (every phase with its result and time)."

    def register(self, sub):
        parser = sub.add_parser("list", help=self.help, description=self.description)
        add_inventory_options(parser, limit=False)
        parser.add_argument("--json", action="store_true", help="print the records as JSON")
        parser.set_defaults(func=self.execute)
        return parser

    def run(self, op, args):
        self.records = []
        for path in sorted(migrations_dir().glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if same_inventory(record.get("inventory", ""), op.inventory):
                self.records.append(record)

    def render(self, op, args):
        if args.json:
            print(json.dumps(self.records, ensure_ascii=False, indent=2))
            return
        rows = [
            [
                r["id"],
                f"{r.get('kind')} {r.get('what')}",
                f"{r.get('source')} -> {r.get('target')}",
                r.get("state"),
                ", ".join(f"{p['phase']}:{p.get('outcome')}" for p in r.get("phases", [])[-4:]),
            ]
            for r in self.records
        ]
        if not rows:
            print("no migration recorded for this inventory")
            return
        print(
            "\n".join(table(["迁移 Migration", "对象 What", "主机 Hosts", "状态 State", "最近阶段 Last phases"], rows))
        )


def register(sub):
    parser = sub.add_parser(
        "migrate",
        help="move a database or a server program to a new host (数据库迁移, 服务器上程序迁移)",
        description="Moves a database or a server program (app, fep, voice) to a new host, in phases, verified, with "
        "a way back until finish (docs/migration.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for command in (DbMove(), ServerMove(), List()):
        command.register(actions)
