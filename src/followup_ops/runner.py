"""Run one playbook through ansible-runner: live progress per host and task, the run's record, its report.

This is the mechanics under an operation's playbook steps (followup_ops.operation): it never decides the outcome of an
operation. What a playbook has to tell the command line comes from its set_stats report (followup_ops.report), read
from ansible-runner's `playbook_on_stats` event; the host counts come from the same event. Failed and unreachable
tasks are collected only to name them in the one-line message a person reads.

Secrets never reach the run record: tasks that touch one set no_log, the vault password travels as a file path, and
the environment ansible-runner records is reduced to the variables that explain the run.
"""

import contextlib
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from followup_ops import report as reportmod
from followup_ops.paths import repo_root

# Environment variables kept in the run record (artifacts/<ident>/command); every other one is dropped.
_KEPT_ENV = re.compile(
    r"^(ANSIBLE_HOST_KEY_CHECKING|ANSIBLE_(?!.*(PASS|SECRET|TOKEN|KEY)).*|PATH|HOME|USER|LOGNAME|LANG|LC_ALL|VIRTUAL_ENV)$"
)
# Environment variables the run itself gets; ansible-runner would otherwise hand it (and record) the whole
# environment of the operator's shell. No ANSIBLE_* of the shell: they beat ansible.cfg, so a profile's
# ANSIBLE_SSH_ARGS (StrictHostKeyChecking=no) or ANSIBLE_ROLES_PATH (another project's `common` role) would change
# how hosts are reached and what runs on them; a run's Ansible settings are the repository's ansible.cfg and the
# ones run_playbook sets.
_RUN_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LC_.*|TZ|TERM|TMPDIR|SSH_AUTH_SOCK|VIRTUAL_ENV)$")


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class RunResult:
    playbook: str
    run_dir: Path
    rc: int = 0
    status: str = ""
    stats: dict = field(default_factory=dict)  # host -> HostStats (from playbook_on_stats)
    report: dict = field(default_factory=dict)  # the playbook's set_stats report (followup_ops.report)
    stats_seen: bool = False  # the playbook reached its end (ansible-runner sent playbook_on_stats)
    failures: list = field(default_factory=list)  # (host, task, message), for the person reading
    unreachable: list = field(default_factory=list)  # (host, message)
    last_task: dict = field(default_factory=dict)  # host -> the last task that finished there
    interrupted: bool = False  # Ctrl-C or SIGTERM reached the run
    duration: float = 0.0

    @property
    def hosts(self):
        return sorted(self.stats)

    @property
    def changed(self):
        return sum(s.changed for s in self.stats.values())

    @property
    def ok(self):
        return self.status == "successful" and self.rc == 0 and not self.interrupted


_MARKS = {"ok": "ok", "changed": "changed", "failed": "FAILED", "unreachable": "UNREACHABLE", "skipped": "skip"}


class Progress:
    """Prints one line per play, and per host as each task finishes; keeps what the run's result needs."""

    def __init__(self, result, stream=None, verbose=False, on_pid=None):
        self.result = result
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.ansible_pid = None
        self.on_pid = on_pid

    def _print(self, text):
        print(text, file=self.stream, flush=True)

    def __call__(self, event):
        if self.ansible_pid is None and event.get("pid"):
            self.ansible_pid = event["pid"]
            if self.on_pid is not None:
                self.on_pid(self.ansible_pid)
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
        if kind != "runner_on_skipped":
            self.result.last_task[host] = task
        if kind == "runner_on_ok":
            state = "changed" if res.get("changed") else "ok"
        elif kind == "runner_on_skipped":
            state = "skipped"
        elif kind == "runner_on_unreachable":
            state = "unreachable"
            self.result.unreachable.append((host, _one_line(res.get("msg", "unreachable"))))
        elif data.get("ignore_errors"):
            state = "ok"
        else:
            state = "failed"
            self.result.failures.append((host, task, _failure_message(_first_failed_item(res))))
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
        self.result.stats_seen = True
        self.result.report = (data.get("artifact_data") or {}).get(reportmod.STATS_KEY) or {}


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


def last_error_line(run_dir):
    """When a run fails before any task (a bad vault password, a syntax error), Ansible says why on its output."""
    stdout = Path(run_dir) / "artifacts" / "run" / "stdout"
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
    for record in Path(run_dir).glob("artifacts/*/command"):
        try:
            data = json.loads(record.read_text())
            data["env"] = {k: v for k, v in (data.get("env") or {}).items() if _KEPT_ENV.match(k)}
            record.write_text(json.dumps(data, ensure_ascii=False))
        except (OSError, ValueError):
            continue


class _Interrupts:
    """Ctrl-C (or SIGTERM) during a playbook: the first asks Ansible to stop as it would in a terminal (SIGINT to
    ansible-playbook's process group: the running task ends, nothing new starts); the second kills it at once."""

    def __init__(self, progress, stream):
        self.progress = progress
        self.stream = stream
        self.count = 0
        self.cancel = False
        self._saved = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        return False

    def _handle(self, signum, _frame):
        self.count += 1
        pid = self.progress.ansible_pid
        if self.count == 1 and pid:
            print(
                "\nfollowup-ops: interrupting: Ansible finishes the task that is running and starts no other; "
                "press Ctrl-C again to stop it at once",
                file=self.stream,
                flush=True,
            )
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGINT)
        else:
            self.cancel = True

    def cancelled(self):
        return self.cancel


def run_playbook(
    run_dir,
    playbook,
    inventory,
    *,
    extravars=None,
    limit=None,
    check=False,
    diff=False,
    tags=None,
    vault_password_file=None,
    quiet=False,
    verbose=False,
    on_pid=None,
):
    """Run playbooks/<playbook> against INVENTORY with RUN_DIR as ansible-runner's private data directory.

    Returns a RunResult; never raises for a failed play. An interrupt is recorded in the result (interrupted=True).
    """
    import ansible_runner

    root = repo_root()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    result = RunResult(playbook=playbook, run_dir=run_dir)
    stream = open(os.devnull, "w") if quiet else sys.stdout  # noqa: SIM115 - closed below
    progress = Progress(result, stream=stream, verbose=verbose, on_pid=on_pid)
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
    interrupts = _Interrupts(progress, sys.stderr)
    try:
        with _only_run_env(), interrupts:
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
                cancel_callback=interrupts.cancelled,
            )
        result.rc = runner.rc
        result.status = runner.status
    finally:
        result.interrupted = interrupts.count > 0
        result.duration = time.monotonic() - started
        _scrub_command_record(run_dir)
        if quiet:
            stream.close()
    return result
