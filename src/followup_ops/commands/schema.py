"""`followup-ops schema doc|diff`: table-structure documents (数据库表结构文档, R-SRC) and what changed between two
releases or two recorded points in time.

`schema doc -i INV` reads the live schema of every database (playbooks/schema_doc.yml, read-only) and documents it;
`schema doc -i INV --release V` documents the schema release V's migrations produce, built in a scratch server on the
database host (the live databases are not touched, nothing stays behind) — so a document exists for a release before
it is installed (the upgrade's pre-update test document can carry it). Every document is recorded with its operation
(runs/<id>/operation.json) and written as schema-<label>.{json,html,pdf}.

`schema diff A B -i INV` compares two points: a release (1.1.0: its recorded document, else built as above), an
operation id of a recorded document, a date (the newest live document taken that day or before, hospital time) or
`live` (read now). For two releases it also lists what each migration in between changed, step by step.
"""

import json
import os
import re
import time
from pathlib import Path

from followup_ops import render
from followup_ops.commands.common import Command, add_inventory_options
from followup_ops.commands.fault import thresholds, utils
from followup_ops.errors import OpsError
from followup_ops.operation import StepFailed
from followup_ops.paths import repo_root, runs_dir

VERSION_RE = re.compile(r"\A[0-9]+\.[0-9]+\.[0-9]+\Z")
DATE_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
DOC_COMMANDS = ("schema-doc",)


def schema_utils():
    import ansible.module_utils

    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)
    from ansible.module_utils import followup_schema

    return followup_schema


def snapshot_from(data, operation, taken_at, inventory):
    """One recorded document: {kind, release, taken_at, operation, engines: {mysql|mongodb: {host, schema, steps}}}."""
    schemas = schema_utils()
    request = data.get("request") or {}
    kind = "release" if request.get("release") else "live"
    engines = {}
    for result in data.get("results") or []:
        for engine in ("mysql", "mongodb"):
            if kind == "live":
                schema = (result.get("schema") or {}).get(engine)
                steps = None
            else:
                scratch = result.get("scratch") or {}
                schema = scratch.get("schema") if (scratch.get("schema") or {}).get("engine") == engine else None
                steps = scratch.get("steps") if schema else None
            if schema and engine not in engines:
                engines[engine] = {"host": result.get("host"), "schema": schema, "steps": steps}
    release = request.get("verified") if kind == "release" else None
    labels = [schemas.schema_release(e["schema"]) for e in engines.values()]
    labels = [x for x in labels if x]
    return {
        "schema": 1,
        "kind": kind,
        "release": release or (max(labels, key=schemas.version_key) if labels else None),
        "taken_at": taken_at,
        "operation": operation,
        "inventory": str(inventory),
        "known_releases": request.get("known") or [],
        "engines": engines,
    }


def recorded_snapshots(inventory):
    """Every schema document recorded for INVENTORY, oldest first."""
    records, _ = utils()
    found = []
    entries, _damaged = records.read_audit(runs_dir())
    for record in records.for_inventory(entries, inventory):
        if record["command"] not in DOC_COMMANDS or record["outcome"] != "ok":
            continue
        data = records.operation_record(runs_dir(), record)
        schema = (((data or {}).get("report") or {}).get("data") or {}).get("schema")
        if schema and schema.get("results"):
            found.append(snapshot_from(schema, record["id"], records.iso(record["start"]), inventory))
    return found


def per_migration(snapshot, after_versions=None):
    """What each migration of a release document changed: [{engine, database, version, script, changes}]."""
    schemas = schema_utils()
    out = []
    for engine, entry in sorted(snapshot["engines"].items()):
        for db, steps in sorted((entry.get("steps") or {}).items()):
            previous = {"tables": {}} if engine == "mysql" else {"collections": {}}
            previous["history"] = []
            for step in steps:
                before = {"databases": {db: previous}}
                after = {"databases": {db: step["schema"]}}
                delta = schemas.diff(before, after).get(db) or {}
                delta.pop("migrations", None)
                version = step["version"]
                if after_versions is None or _vnum(version) not in after_versions.get(db, set()):
                    out.append(
                        {
                            "engine": engine,
                            "database": db,
                            "version": version,
                            "script": step["script"],
                            "changes": delta,
                            "count": schemas.count_changes({db: delta}),
                        }
                    )
                previous = step["schema"]
    return out


def _vnum(version):
    match = re.match(r"\AV?0*([0-9]+)", str(version))
    return int(match.group(1)) if match else version


def render_doc(snapshot, out, stem, title_extra, op):
    schemas = schema_utils()
    migrations = per_migration(snapshot) if snapshot["kind"] == "release" else []
    ctx = {
        "title": "数据库表结构文档",
        "subtitle": f"Database table structure · {title_extra}",
        "running_header": f"数据库表结构文档 {title_extra}",
        "meta": [
            ("环境 Inventory", Path(snapshot["inventory"]).name),
            (
                "依据 Source",
                "发布版本的迁移在临时库中执行 the release's migrations applied in a scratch server"
                if snapshot["kind"] == "release"
                else "在用数据库（只读） the live databases, read-only",
            ),
            ("版本 Release", snapshot["release"] or "-"),
            ("时间 Taken at (UTC)", snapshot["taken_at"]),
            ("运行记录 Run record", snapshot["operation"] or (op.id if op else "-")),
        ],
        "snap": snapshot,
        "migrations": migrations,
        "applied": {e: schemas.applied(v["schema"]) for e, v in snapshot["engines"].items()},
        "signatures": ["编制 Prepared by", "审核 Reviewed by（信息科 IT department）"],
        "seal": False,
    }
    return render.write("schema/doc.html.j2", ctx, out, stem)


def _write_json(path, data):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _files(op, paths, kind):
    for path in paths:
        op.file(path, kind, sha256=render.sha256(path), bytes=Path(path).stat().st_size, host="control-node")


class SchemaCommand(Command):
    action = ""

    @property
    def name(self):
        return f"schema-{self.action}"

    def register(self, sub):
        parser = sub.add_parser(self.action, help=self.help, description=self.description or self.help)
        add_inventory_options(parser, limit=False)
        self.add_arguments(parser)
        parser.set_defaults(func=self.execute)
        return parser

    def take(self, op, release=None, step="schema"):
        """Run schema_doc.yml (live, or a release's scratch build); return (document, what the playbook reported)."""
        extravars = {"followup_schema_release": release} if release else {}
        op.playbook(f"{step}-{release}" if release else step, "schema_doc.yml", extravars=extravars)
        # Taken out of the operation's report: a second take in the same operation must not merge into this one.
        data = (op.report.get("data") or {}).pop("schema", None) or {}
        request = data.get("request") or {}
        if release and release not in (request.get("known") or []):
            known = ", ".join(request.get("known") or []) or "none"
            raise OpsError(f"unknown release {release}: the signed release index lists {known}")
        if not data.get("results"):
            raise StepFailed(f"schema_doc.yml reported no schema: see {op.run_dir}")
        records, _ = utils()
        snap = snapshot_from(data, op.id, records.iso(time.time()), op.inventory)
        if not snap["engines"]:
            raise StepFailed(
                "no database host reported a schema (no mysql.fact or mongodb.fact on the databases "
                f"hosts): deploy the database tier first (run record {op.run_dir})"
            )
        return snap, data


class Doc(SchemaCommand):
    action = "doc"
    help = "table-structure document of the live databases, or of a release (--release, built in a scratch server)"
    description = (
        "Documents every table (columns, types, keys, indexes, comments, foreign keys, row estimates) of MySQL and "
        "every collection (indexes, fields sampled with their types and presence, never values) of MongoDB, with "
        "their migration history. Live: read-only. --release V: V's migrations are applied in a scratch server on "
        "the database host (removed afterwards; the live databases are not touched), and the document also says "
        "what each migration changed. HTML, PDF and JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--release", metavar="VERSION", help="document this release's schema instead of the live one"
        )
        parser.add_argument("--out", metavar="DIR", help="write the document here (default: the run's directory)")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def details(self, args):
        return {"release": args.release, "out": str(Path(args.out).resolve()) if args.out else None}

    def execute(self, args):
        if args.release and not VERSION_RE.match(args.release):
            raise OpsError(f"--release '{args.release}' is not a release version: write it like 1.2.0")
        return super().execute(args)

    def run(self, op, args):
        op.quiet = not args.verbose
        snap, raw = self.take(op, args.release)
        # Kept in the operation's record (operation.json), where `schema diff` finds this document later.
        op.report["data"]["schema"] = raw
        label = args.release or snap["release"] or "live"
        stem = f"schema-{'release-' if args.release else ''}{label}"
        out = Path(args.out).resolve() if args.out else op.run_dir
        with op.local("render"):
            out.mkdir(parents=True, exist_ok=True)
            json_path = out / f"{stem}.json"
            _write_json(json_path, snap)
            paths = render_doc(snap, out, stem, f"{'release' if args.release else 'live'} {label}", op)
        _files(op, [json_path, paths["html"], paths["pdf"]], "schema-doc")
        self.snap, self.paths = snap, [json_path, paths["html"], paths["pdf"]]
        schemas = schema_utils()
        op.details.update(
            kind=snap["kind"],
            schema_release=snap["release"],
            applied={e: schemas.applied(v["schema"]) for e, v in snap["engines"].items()},
            tables=sum(
                len(db.get("tables") or db.get("collections") or {})
                for v in snap["engines"].values()
                for db in v["schema"]["databases"].values()
            ),
            report=str(paths["pdf"]),
        )

    def render(self, op, args):
        snap = self.snap
        lines = [f"schema: {snap['kind']} document, release {snap['release'] or '-'}:"]
        for engine, entry in sorted(snap["engines"].items()):
            for db, info in sorted(entry["schema"]["databases"].items()):
                objects = info.get("tables") if "tables" in info else info.get("collections") or {}
                applied = [r["version"] for r in info.get("history") or []]
                lines.append(
                    f"  {engine} {db} on {entry['host']}: {len(objects)} "
                    f"{'tables' if engine == 'mysql' else 'collections'}, migrations "
                    f"{', '.join(applied) or 'none'}"
                )
        lines.append("文档 document: " + ", ".join(str(p) for p in self.paths))
        print("\n".join(lines))


class Diff(SchemaCommand):
    action = "diff"
    help = "what changed between two releases or two recorded points in time (and what each migration changed)"
    description = (
        "A and B are each a release (its recorded document, else built in a scratch server), the id of a recorded "
        "schema document, a date YYYY-MM-DD (the newest live document taken that day or before) or `live` (read "
        "now). Prints the tables, columns, indexes and foreign keys added, removed and changed, and the migrations "
        "in between; writes HTML, PDF and JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("old", metavar="A", help="release, document id, date or live")
        parser.add_argument("new", metavar="B", help="release, document id, date or live")
        parser.add_argument("--out", metavar="DIR", help="write the comparison here (default: the run's directory)")
        parser.add_argument("-v", "--verbose", action="store_true", help="show each task as it runs")

    def details(self, args):
        return {"old": args.old, "new": args.new}

    def execute(self, args):
        for value in (args.old, args.new):
            if not (
                VERSION_RE.match(value) or DATE_RE.match(value) or value == "live" or re.match(r"\A[0-9]{8}T", value)
            ):
                raise OpsError(f"'{value}' is neither a release (1.2.0), a document id, a date (YYYY-MM-DD) nor live")
        return super().execute(args)

    def resolve(self, op, selector, recorded):
        records, _ = utils()
        if selector == "live":
            return self.take(op, None, "live")[0]
        if VERSION_RE.match(selector):
            known = next((s["known_releases"] for s in reversed(recorded) if s["known_releases"]), None)
            if known is not None and selector not in known:
                raise OpsError(f"unknown release {selector}: the signed release index lists {', '.join(known)}")
            for snap in reversed(recorded):
                if snap["kind"] == "release" and snap["release"] == selector:
                    return snap
            return self.take(op, selector, "release")[0]
        if DATE_RE.match(selector):
            offset = thresholds(op.inventory)["timezone"]
            year, month, day = (int(x) for x in selector.split("-"))
            end = records.local_midnight(year, month, day, offset) + 86400
            for snap in reversed(recorded):
                if snap["kind"] == "live" and records.parse_time(snap["taken_at"]) < end:
                    return snap
            raise OpsError(
                f"no live schema document of {Path(str(op.inventory)).name} was taken on or before "
                f"{selector}: run `followup-ops schema doc -i {op.inventory}` (documents are kept from then on)"
            )
        for snap in recorded:
            if snap["operation"] == selector:
                return snap
        raise OpsError(
            f"no schema document {selector} is recorded for {Path(str(op.inventory)).name}: "
            "see `followup-ops schema doc`"
        )

    def run(self, op, args):
        op.quiet = not args.verbose
        recorded = recorded_snapshots(op.inventory)
        old = self.resolve(op, args.old, recorded)
        new = self.resolve(op, args.new, recorded)
        schemas = schema_utils()
        engines = sorted(set(old["engines"]) | set(new["engines"]))
        result = {"old": _label(old), "new": _label(new), "engines": {}}
        for engine in engines:
            a = (old["engines"].get(engine) or {}).get("schema") or {"databases": {}}
            b = (new["engines"].get(engine) or {}).get("schema") or {"databases": {}}
            result["engines"][engine] = schemas.diff(schemas.strip_volatile(a), schemas.strip_volatile(b))
        steps = []
        if new["kind"] == "release":
            had = {
                db: {_vnum(v) for v in versions}
                for e in old["engines"].values()
                for db, versions in schemas.applied(e["schema"]).items()
            }
            steps = per_migration(new, had)
        result["per_migration"] = steps
        result["count"] = sum(schemas.count_changes(d) for d in result["engines"].values())
        out = Path(args.out).resolve() if args.out else op.run_dir
        stem = f"schema-diff-{_slug(args.old)}-{_slug(args.new)}"
        with op.local("render"):
            out.mkdir(parents=True, exist_ok=True)
            json_path = out / f"{stem}.json"
            _write_json(json_path, result)
            ctx = {
                "title": "数据库表结构变更",
                "subtitle": f"Schema changes {result['old']['label']} → {result['new']['label']}",
                "running_header": f"表结构变更 {result['old']['label']} → {result['new']['label']}",
                "meta": [
                    ("环境 Inventory", Path(str(op.inventory)).name),
                    ("从 From", result["old"]["text"]),
                    ("到 To", result["new"]["text"]),
                    ("变更对象数 Changed objects", str(result["count"])),
                ],
                "result": result,
                "signatures": ["编制 Prepared by", "审核 Reviewed by（信息科 IT department）"],
                "seal": False,
            }
            paths = render.write("schema/diff.html.j2", ctx, out, stem)
        _files(op, [json_path, paths["html"], paths["pdf"]], "schema-diff")
        self.result, self.paths = result, [json_path, paths["html"], paths["pdf"]]
        op.details.update(old=result["old"], new=result["new"], changes=result["count"], report=str(paths["pdf"]))

    def render(self, op, args):
        print("\n".join([*diff_lines(self.result), "文档 document: " + ", ".join(str(p) for p in self.paths)]))


def _label(snap):
    label = snap["release"] or snap["taken_at"][:10]
    kind = "发布版本 release" if snap["kind"] == "release" else "在用库 live"
    return {
        "label": label,
        "kind": snap["kind"],
        "operation": snap["operation"],
        "taken_at": snap["taken_at"],
        "text": f"{kind} {label}（{snap['taken_at']}，{snap['operation']}）",
    }


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def diff_lines(result):
    lines = [f"schema diff {result['old']['label']} → {result['new']['label']}: {result['count']} change(s)"]
    for engine, dbs in sorted(result["engines"].items()):
        for db, entry in sorted(dbs.items()):
            for key, value in sorted(entry.items()):
                if key == "migrations":
                    lines.append(
                        f"  {engine} {db}: migrations "
                        + ", ".join(f"{m['version']} {m.get('description') or ''}".strip() for m in value)
                    )
                elif key.endswith("_changed") and isinstance(value, dict):
                    for name, change in sorted(value.items()):
                        parts = ", ".join(k.replace("_", " ") for k in sorted(change))
                        lines.append(f"  {engine} {db}.{name}: {parts}")
                elif isinstance(value, dict):
                    lines.append(f"  {engine} {db}: {key.replace('_', ' ')}: {', '.join(sorted(value))}")
                elif isinstance(value, list):
                    lines.append(f"  {engine} {db}: {key.replace('_', ' ')}: {', '.join(map(str, value))}")
    if result["count"] == 0:
        lines.append("  没有结构变更 no structural change")
    return lines


ACTIONS = (Doc(), Diff())


def register(sub):
    parser = sub.add_parser(
        "schema",
        help="table-structure documents (数据库表结构文档) and schema changes between releases or dates",
        description="Table-structure documents of the follow-up system's databases (R-SRC): the live schema, the "
        "schema a release's migrations produce, and what changed between two of them.",
    )
    schema_sub = parser.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    for action in ACTIONS:
        action.register(schema_sub)
    return parser
