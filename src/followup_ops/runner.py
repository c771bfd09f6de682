"""Run a playbook through ansible-runner: live progress per host and task, run records, audit line.

Every run keeps its ansible-runner artifacts under runs/<UTC timestamp>-<command>/ and appends one JSON line to
runs/audit.jsonl (who, when, command, inventory, hosts, result, duration). Secrets never reach either: tasks that
touch one set no_log, the vault password travels as a file path, and the environment ansible-runner records is
reduced to the variables that explain the run.
"""

import contextlib
import json
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from followup_ops import audit
from followup_ops.errors import GateRefused, OpsError
from followup_ops.paths import repo_root, runs_dir

# Environment variables kept in the run record (artifacts/<ident>/command); every other one is dropped.
_KEPT_ENV = re.compile(
    r"^(ANSIBLE_HOST_KEY_CHECKING|ANSIBLE_(?!.*(PASS|SECRET|TOKEN|KEY)).*|PATH|HOME|USER|LOGNAME|LANG|LC_ALL|VIRTUAL_ENV)$"
)
# Environment variables the run itself gets; ansible-runner would otherwise hand it (and record) the whole
# environment of the operator's shell.
_RUN_ENV = re.compile(r"^(ANSIBLE_.*|PATH|HOME|USER|LOGNAME|LANG|LC_.*|TZ|TERM|TMPDIR|SSH_AUTH_SOCK|VIRTUAL_ENV)$")


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class RunResult:
    command: str
    run_dir: Path
    rc: int = 0
    status: str = ""
    stats: dict = field(default_factory=dict)  # host -> HostStats
    failures: list = field(default_factory=list)  # (host, task, message)
    unreachable: list = field(default_factory=list)  # (host, message)
    gate: tuple | None = None  # (gate name, message) when a gate refused
    results: list = field(default_factory=list)  # (host, action, res) of the watched modules' results
    duration: float = 0.0

    @property
    def hosts(self):
        return sorted(self.stats)

    @property
    def changed(self):
        return sum(s.changed for s in self.stats.values())

    @property
    def ok(self):
        return self.status == "successful" and self.rc == 0


def new_run_dir(command):
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = runs_dir()
    base.mkdir(parents=True, exist_ok=True, mode=0o750)
    slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-")
    path = base / f"{stamp}-{slug}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{slug}-{n}"
    path.mkdir(mode=0o750)
    return path


_MARKS = {"ok": "ok", "changed": "changed", "failed": "FAILED", "unreachable": "UNREACHABLE", "skipped": "skip"}


class Progress:
    """Prints one line per play, and per host as each task finishes."""

    def __init__(self, result, stream=None, verbose=False, watch=()):
        self.result = result
        self.watch = set(watch)
        self.stream = stream or sys.stdout
        self.verbose = verbose

    def _print(self, text):
        print(text, file=self.stream, flush=True)

    def __call__(self, event):
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            self._print(f"== {data.get('play', '').strip()}")
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            self._host_result(kind, data)
        elif kind == "playbook_on_stats":
            self._stats(data)
        return True

    def _host_result(self, kind, data):
        host = data.get("host", "?")
        task = data.get("task", "").strip()
        res = data.get("res") or {}
        # Listed now so that a run cut short still names the host; the counts come from playbook_on_stats.
        self.result.stats.setdefault(host, HostStats())
        if kind == "runner_on_ok":
            state = "changed" if res.get("changed") else "ok"
            action = data.get("task_action", "")
            if action in self.watch or action.rsplit(".", 1)[-1] in self.watch:
                self.result.results.append((host, action.rsplit(".", 1)[-1], res))
        elif kind == "runner_on_skipped":
            state = "skipped"
        elif kind == "runner_on_unreachable":
            state = "unreachable"
            self.result.unreachable.append((host, _one_line(res.get("msg", "unreachable"))))
        else:
            state = "failed"
            if data.get("ignore_errors"):
                state = "ok"
            else:
                res = _first_failed_item(res)
                message = _failure_message(res)
                if res.get("followup_gate") and self.result.gate is None:
                    self.result.gate = (res["followup_gate"], message)
                self.result.failures.append((host, task, message))
        if state == "skipped" and not self.verbose:
            return
        self._print(f"   {_MARKS[state]:<11} {host:<10} {task}")

    def _stats(self, data):
        stats = {}
        for key, attr in (
            ("ok", "ok"),
            ("changed", "changed"),
            ("failures", "failed"),
            ("dark", "unreachable"),
            ("skipped", "skipped"),
        ):
            for host, count in (data.get(key) or {}).items():
                setattr(stats.setdefault(host, HostStats()), attr, count)
        self.result.stats = stats


def _first_failed_item(res):
    """A looped task fails as a whole ("One or more items failed"); the first failed item says why."""
    for item in res.get("results") or []:
        if isinstance(item, dict) and item.get("failed"):
            return item
    return res


def _failure_message(res):
    if res.get("censored"):
        return (
            "its output is hidden because it handles secrets (no_log); re-run with the role's *_no_log=false to debug"
        )
    return _one_line(res.get("msg") or res.get("stderr") or res.get("reason") or "failed")


def _last_error_line(run_dir):
    """When a run fails before any task (a bad vault password, a syntax error), Ansible says why on its output."""
    stdout = run_dir / "artifacts" / "run" / "stdout"
    if not stdout.exists():
        return None
    errors = [line.strip() for line in stdout.read_text(errors="replace").splitlines() if "ERROR" in line]
    return errors[-1] if errors else None


def _one_line(text):
    text = str(text).strip()
    return text.splitlines()[0] if text else ""


@contextlib.contextmanager
def _only_run_env():
    """Let ansible-runner see only the variables a run needs (it copies os.environ into the run and its record)."""
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if not _RUN_ENV.match(key):
                del os.environ[key]
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _scrub_command_record(run_dir):
    """ansible-runner records the whole environment of the run; keep only what explains it."""
    for record in run_dir.glob("artifacts/*/command"):
        data = json.loads(record.read_text())
        data["env"] = {k: v for k, v in (data.get("env") or {}).items() if _KEPT_ENV.match(k)}
        record.write_text(json.dumps(data, ensure_ascii=False))


def run_playbook(
    command,
    playbook,
    inventory,
    *,
    extravars=None,
    limit=None,
    check=False,
    diff=False,
    tags=None,
    vault_password_file=None,
    argv=None,
    quiet=False,
    verbose=False,
    watch=(),
):
    """Run playbooks/<playbook> against INVENTORY; return a RunResult. Never raises for a failed play."""
    import ansible_runner

    root = repo_root()
    run_dir = new_run_dir(command)
    result = RunResult(command=command, run_dir=run_dir)
    progress = Progress(
        result,
        stream=open(os.devnull, "w") if quiet else None,  # noqa: SIM115
        verbose=verbose,
        watch=watch,
    )
    cmdline = []
    if vault_password_file:
        cmdline += ["--vault-password-file", str(vault_password_file)]
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    # The Ansible of followup-ops' own virtualenv, whether or not the operator activated it.
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        # ansible-runner turns host key checking off unless told otherwise; host keys are always checked here.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    started_at = datetime.now(UTC)
    runner = None
    try:
        with _only_run_env():
            runner = ansible_runner.run(
                private_data_dir=str(run_dir),
                project_dir=str(root),
                playbook=str(root / "playbooks" / playbook),
                inventory=str(Path(inventory).resolve()),
                extravars=extravars or {},
                limit=limit,
                tags=tags,
                cmdline=" ".join(shlex.quote(c) for c in cmdline) or None,
                envvars=env,
                ident="run",
                quiet=True,
                suppress_env_files=True,
                event_handler=progress,
            )
        result.rc = runner.rc
        result.status = runner.status
    finally:
        result.duration = time.monotonic() - started
        _scrub_command_record(run_dir)
        audit.record(
            command=command,
            argv=argv,
            inventory=str(inventory),
            result=result,
            started_at=started_at,
        )
    return result


def raise_for_result(result):
    """Turn a failed run into the error that names the problem: gate refusal (2), unreachable or failure (1)."""
    if result.gate:
        name, message = result.gate
        raise GateRefused(f"refused by the {name} gate, no host was changed: {message}")
    if result.unreachable:
        host, message = result.unreachable[0]
        raise OpsError(
            f"host {host} is unreachable over SSH ({message}): check that it is up and that `ssh ops@<host>` works "
            "(for the lab: `followup-ops lab status`, `followup-ops lab up`)"
        )
    if result.failures:
        host, task, message = result.failures[0]
        raise OpsError(f"task '{task}' failed on {host}: {message} (run record: {result.run_dir})")
    if not result.ok:
        reason = _last_error_line(result.run_dir)
        if reason:
            raise OpsError(f"Ansible stopped before any task: {reason} (run record: {result.run_dir})")
        raise OpsError(f"the run ended {result.status or 'abnormally'} (rc {result.rc}); see {result.run_dir}")
