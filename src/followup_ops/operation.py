"""The operation: what every command that acts on an inventory is, whatever it does.

An operation is one thing an operator asks for (deploy release 1.1.0, show the status, take a backup). It owns one
run directory (runs/<id>/, one sub-directory per playbook step), one lease per host it may change (followup_ops.lock),
its steps with their times, the merged report of its playbooks (gates, findings, rolled_back, files, data; see
followup_ops.report), one outcome with its exit code, and one audit record. Commands (followup_ops.commands) are a
parser, a list of steps and a renderer on top of it.

Outcomes and exit codes (shared by every command):
    ok             0   everything done
    failed         1   an error: bad input, a failed task, an unreachable host (one line names it and the fix)
    refused        2   a gate refused before any host changed (every reason is listed), or another operation holds
                       the hosts
    rolled_back    3   failed, and what had changed was rolled back (the report says what)
    noncompliant   4   done, with findings that fail
    interrupted  130   Ctrl-C or SIGTERM: the message says what state the hosts may be in
"""

import contextlib
import json
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from followup_ops import audit, lock, runner
from followup_ops import report as reportmod
from followup_ops.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROLLED_BACK,
    OpsError,
)
from followup_ops.paths import runs_dir

OUTCOME_EXIT = {
    "ok": EXIT_OK,
    "failed": EXIT_ERROR,
    "refused": EXIT_REFUSED,
    "rolled_back": EXIT_ROLLED_BACK,
    "noncompliant": EXIT_NONCOMPLIANT,
    "interrupted": EXIT_INTERRUPTED,
}


class Refused(OpsError):
    """A gate (or the host leases) refused the operation before any host changed."""

    exit_code = EXIT_REFUSED

    def __init__(self, reasons):
        self.reasons = list(reasons)
        lines = [f"{gate}: {reason}" if gate else reason for gate, reason in self.reasons]
        if len(lines) == 1:
            message = f"refused, no host was changed: {lines[0]}"
        else:
            message = "refused, no host was changed, for these reasons:\n" + "\n".join(f"  - {x}" for x in lines)
        super().__init__(message)


class StepFailed(OpsError):
    exit_code = EXIT_ERROR


class RolledBack(OpsError):
    exit_code = EXIT_ROLLED_BACK


class Interrupted(OpsError):
    exit_code = EXIT_INTERRUPTED


@dataclass
class Step:
    name: str
    kind: str  # playbook | local
    playbook: str | None = None
    status: str = "running"  # ok | failed | refused | interrupted | rolled_back
    started_at: str = ""
    duration: float = 0.0
    run_dir: str | None = None
    changed: dict = field(default_factory=dict)
    message: str | None = None

    def record(self):
        data = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at,
            "duration_s": round(self.duration, 1),
        }
        if self.playbook:
            data.update(playbook=self.playbook, run_dir=self.run_dir, changed=self.changed)
        if self.message:
            data["message"] = self.message
        return data


def new_operation_dir(command):
    """runs/<UTC timestamp>-<command>[-N]/, made atomically (two operations started in one second get two)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True, mode=0o750)
    slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-")
    n = 1
    while True:
        path = base / (f"{stamp}-{slug}" if n == 1 else f"{stamp}-{slug}-{n}")
        try:
            path.mkdir(mode=0o750)
            return path
        except FileExistsError:
            n += 1


def inventory_hosts(inventory):
    """The hosts an inventory names, as (name, address) pairs; read in-process, no vault needed."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    pairs = []
    for host in manager.get_hosts():
        pairs.append((host.name, str(host.vars.get("ansible_host") or host.name)))
    return sorted(pairs)


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


class Operation:
    """One operation. Use as a context manager; the steps run inside, the record is written on the way out."""

    def __init__(
        self,
        command,
        argv,
        *,
        inventory=None,
        vault_password_file=None,
        changes_hosts=False,
        check=False,
        limit=None,
        quiet=False,
        verbose=False,
        details=None,
        interrupt_hint=None,
    ):
        self.command = command
        self.argv = list(argv or [])
        self.inventory = Path(inventory) if inventory else None
        self.vault_password_file = vault_password_file
        self.changes_hosts = changes_hosts and not check
        self.check = check
        self.limit = limit
        self.quiet = quiet
        self.verbose = verbose
        self.details = dict(details or {})
        self.interrupt_hint = interrupt_hint
        self.report = reportmod.empty()
        self.steps = []
        self.hosts = set()
        self.changed = {}
        self.failed_hosts = set()
        self.outcome = None
        self.exit_code = None
        self.message = None
        self.leases = None
        self.run_dir = None
        self.id = None
        self.warnings = []
        self._started = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self):
        # SIGTERM (a stopped timer, `kill`) ends an operation the way Ctrl-C does: recorded as interrupted.
        self._saved_sigterm = None
        if threading.current_thread() is threading.main_thread():
            self._saved_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        self._started = time.monotonic()
        self.started_at = audit.now()
        self.run_dir = new_operation_dir(self.command)
        self.id = self.run_dir.name
        self._write_record(state="running")
        if self.changes_hosts and self.inventory is not None:
            try:
                self._take_leases()
            except BaseException as err:
                # The operation ends here (refused: another one holds the hosts); it is still recorded.
                self.__exit__(type(err), err, err.__traceback__)
                raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if self.outcome is None:
                self.conclude("ok")
        elif issubclass(exc_type, KeyboardInterrupt):
            self._mark_running_step("interrupted")
            self.conclude("interrupted", self._interrupt_message())
            exc = Interrupted(self.message)
        elif isinstance(exc, OpsError):
            outcome = {
                EXIT_REFUSED: "refused",
                EXIT_ROLLED_BACK: "rolled_back",
                EXIT_INTERRUPTED: "interrupted",
                EXIT_NONCOMPLIANT: "noncompliant",
            }.get(exc.exit_code, "failed")
            self._mark_running_step(outcome if outcome != "noncompliant" else "ok")
            if self.outcome is None or self.outcome == "ok":
                self.conclude(outcome, str(exc))
        else:
            self._mark_running_step("failed")
            self.conclude("failed", f"internal error: {type(exc).__name__}: {exc}")
        try:
            self._finish()
        finally:
            if self.leases is not None:
                self.leases.release()
            if self._saved_sigterm is not None:
                signal.signal(signal.SIGTERM, self._saved_sigterm)
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            raise exc from None
        return False

    def conclude(self, outcome, message=None):
        """Set the outcome (and with it the exit code) and the one-line message of the operation."""
        if outcome not in OUTCOME_EXIT:
            raise ValueError(f"unknown outcome {outcome}")
        self.outcome = outcome
        self.exit_code = OUTCOME_EXIT[outcome]
        self.message = message
        return self.exit_code

    # -- steps -----------------------------------------------------------------------------------------------------
    def _new_step(self, name, kind, playbook=None):
        step = Step(name=name, kind=kind, playbook=playbook, started_at=audit.timestamp(audit.now()))
        self.steps.append(step)
        return step

    def _mark_running_step(self, status):
        for step in self.steps:
            if step.status == "running":
                step.status = status

    @contextlib.contextmanager
    def local(self, name):
        """A step that runs here, on the control node (a Python gate, a report renderer)."""
        step = self._new_step(name, "local")
        started = time.monotonic()
        try:
            yield step
            step.status = "ok"
        except Refused:
            step.status = "refused"
            raise
        except OpsError:
            step.status = "failed"
            raise
        finally:
            step.duration = time.monotonic() - started

    def gate(self, name, reasons):
        """A gate checked here: refuse the operation (exit 2) when REASONS (one-line strings) is not empty."""
        self.report["gates"].setdefault(name, {})["refused"] = list(reasons)
        if reasons:
            raise Refused([(name, r) for r in reasons])

    def playbook(self, name, playbook, *, extravars=None, check=None, diff=False, tags=None, limit=None, partial=False):
        """Run playbooks/PLAYBOOK as step NAME; merge its report; raise on refusal, failure or interrupt.

        PARTIAL: a read-only step whose failed or unreachable hosts are findings, not an error, as long as the
        playbook reached its end (its report then says what was wrong where).
        """
        step = self._new_step(name, "playbook", playbook)
        step_dir = self.run_dir / f"{len(self.steps):02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        step.run_dir = str(step_dir)
        extravars = dict(extravars or {}, followup_operation_id=self.id)
        result = runner.run_playbook(
            step_dir,
            playbook,
            self.inventory,
            extravars=extravars,
            limit=limit if limit is not None else self.limit,
            check=self.check if check is None else check,
            diff=diff,
            tags=tags,
            vault_password_file=self.vault_password_file,
            quiet=self.quiet,
            verbose=self.verbose,
            on_pid=self.leases.add_child if self.leases is not None else None,
        )
        step.duration = result.duration
        step.changed = {h: s.changed for h, s in sorted(result.stats.items())}
        for host, stats in result.stats.items():
            self.hosts.add(host)
            self.changed[host] = self.changed.get(host, 0) + stats.changed
        self.failed_hosts |= {h for h, _, _ in result.failures} | {h for h, _ in result.unreachable}
        try:
            reportmod.merge(self.report, result.report)
        except reportmod.ReportError as err:
            step.status = "failed"
            raise StepFailed(f"{playbook} reported something followup-ops cannot read: {err}") from err
        self._judge(step, result, partial)
        return result

    def _judge(self, step, result, partial=False):
        refused = reportmod.refusals(reportmod.merge(reportmod.empty(), result.report))
        if refused:
            step.status = "refused"
            raise Refused(refused)
        if result.interrupted or result.status == "canceled":
            step.status = "interrupted"
            self._last_interrupted = result
            raise KeyboardInterrupt
        if result.report.get("rolled_back"):
            step.status = "rolled_back"
            what = ", ".join(sorted(result.report["rolled_back"]))
            raise RolledBack(self._failure_line(result, prefix=f"failed and rolled back ({what})"))
        if result.ok:
            step.status = "ok"
            return
        if partial and result.stats_seen:
            step.status = "partial"
            return
        step.status = "failed"
        raise StepFailed(self._failure_line(result))

    def _failure_line(self, result, prefix=None):
        lead = f"{prefix}: " if prefix else ""
        if result.unreachable:
            host, message = result.unreachable[0]
            return (
                f"{lead}host {host} is unreachable over SSH ({message}): check that it is up and that "
                "`ssh ops@<host>` works (for the lab: `followup-ops lab status`, `followup-ops lab up`)"
            )
        if result.failures:
            host, task, message = result.failures[0]
            return f"{lead}task '{task}' failed on {host}: {message} (run record: {result.run_dir})"
        reason = runner.last_error_line(result.run_dir)
        if reason and not result.stats_seen:
            return f"{lead}Ansible stopped before any task: {reason} (run record: {result.run_dir})"
        return f"{lead}the run ended {result.status or 'abnormally'} (rc {result.rc}); see {result.run_dir}"

    # -- findings and files found here -----------------------------------------------------------------------------
    def finding(self, fid, **finding):
        reportmod.merge(self.report, {"findings": {fid: finding}})

    def file(self, path, kind, **info):
        reportmod.merge(self.report, {"files": {str(path): dict(info, kind=kind)}})

    # -- leases ----------------------------------------------------------------------------------------------------
    def _take_leases(self):
        with self.local("lock"):
            try:
                hosts = [address for _name, address in inventory_hosts(self.inventory)]
            except Exception as err:  # an unreadable inventory is named in one line
                raise OpsError(f"inventory {self.inventory} cannot be read ({err}): fix it, then retry") from err
            holder = {
                "operation": self.id,
                "command": self.command,
                "user": audit.operator(),
                "control_node": audit.control_node(),
                "inventory": str(self.inventory),
            }
            self.leases = lock.Leases(runs_dir() / "locks", hosts, holder)
            try:
                self.leases.acquire()
            except lock.LockHeld as err:
                self.leases = None
                self.report["gates"]["lock"] = {"refused": [str(err)], "holder": err.holder.get("operation")}
                raise Refused([("lock", str(err))]) from err
            for dead in self.leases.abandoned:
                self._record_abandoned(dead)

    def _record_abandoned(self, holder):
        """An operation died holding its leases (killed, power loss): record its end, which it could not."""
        record_path = runs_dir() / str(holder.get("operation")) / "operation.json"
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {"id": holder.get("operation"), "command": holder.get("command"), "user": holder.get("user")}
        if record.get("state") == "finished":
            return
        record.update(
            state="finished",
            outcome="abandoned",
            result="abandoned",
            exit_code=None,
            message=(
                f"the operation stopped without finishing (its process {holder.get('pid')} on "
                f"{holder.get('control_node')} is gone); found by {self.id}: check the hosts before relying on them"
            ),
        )
        self._append_audit(record)
        with contextlib.suppress(OSError):
            record_path.write_text(json.dumps(record, ensure_ascii=False, indent=2))

    # -- the record ------------------------------------------------------------------------------------------------
    def _interrupt_message(self):
        running = [s for s in self.steps if s.status == "interrupted"]
        where = f" during step '{running[-1].name}'" if running else ""
        result = getattr(self, "_last_interrupted", None)
        if result is not None and result.last_task:
            last = "; ".join(f"{h}: '{t}'" for h, t in sorted(result.last_task.items()))
            state = (
                f"the hosts may be partly changed (last task finished per host: {last}; details in {result.run_dir})"
            )
        elif any(s.kind == "playbook" for s in self.steps):
            state = "the hosts may be partly changed (see the run record)"
        else:
            state = "no host had been changed yet"
        if not self.changes_hosts:
            state = "nothing was changed: this operation only reads"
        hint = f"; {self.interrupt_hint}" if self.interrupt_hint and self.changes_hosts else ""
        return f"interrupted{where}: {state}{hint} (run record {self.run_dir})"

    def record(self, state="finished"):
        duration = time.monotonic() - self._started if self._started else 0.0
        findings = reportmod.finding_counts(self.report) if self.report.get("findings") else {}
        return {
            "schema": audit.SCHEMA,
            "id": self.id,
            "state": state,
            "ts": audit.timestamp(self.started_at),
            "ended": audit.timestamp(audit.now()) if state == "finished" else None,
            "user": audit.operator(),
            "control_node": audit.control_node(),
            "command": self.command,
            "argv": audit.clean_argv(self.argv),
            "inventory": str(self.inventory) if self.inventory else None,
            "check": self.check,
            "hosts": sorted(self.hosts),
            "outcome": self.outcome,
            "result": self.outcome,
            "exit_code": self.exit_code,
            "message": self.message,
            "steps": [s.record() for s in self.steps],
            "changed": dict(sorted(self.changed.items())),
            "failed_hosts": sorted(self.failed_hosts),
            "refused": [{"gate": g, "reason": r} for g, r in reportmod.refusals(self.report)],
            "rolled_back": self.report.get("rolled_back") or None,
            "findings": findings,
            "files": sorted(self.report.get("files") or {}),
            "details": self.details,
            "duration_s": round(duration, 1),
            "run_dir": str(self.run_dir),
        }

    def _write_record(self, state):
        data = self.record(state)
        if state == "finished":
            data["report"] = self.report
        try:
            (self.run_dir / "operation.json").write_text(json.dumps(data, ensure_ascii=False, indent=2))
        except OSError as err:
            self.warnings.append(f"the run record {self.run_dir}/operation.json could not be written ({err.strerror})")
        return data

    def _append_audit(self, record):
        try:
            audit.append({k: v for k, v in record.items() if k != "report"})
        except audit.AuditError as err:
            self.warnings.append(f"{err}; the operation's outcome below is unchanged")

    def _finish(self):
        record = self._write_record("finished")
        self._append_audit(record)
        for warning in self.warnings:
            print(f"followup-ops: warning: {warning}", file=sys.stderr)


def run_command(operation, body):
    """Run BODY(operation) inside OPERATION; return the exit code. Errors propagate to the command line's one line."""
    with operation:
        code = body(operation)
        if code is not None and operation.outcome is None:
            operation.conclude({v: k for k, v in OUTCOME_EXIT.items()}.get(code, "failed"))
    return operation.exit_code
