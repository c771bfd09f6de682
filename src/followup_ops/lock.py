"""Leases that keep two operations from changing the same hosts at once.

An operation that changes hosts takes one lease per host of its inventory (keyed by the host's address, so that two
copies of one inventory, or two inventories naming the same server, still exclude each other). A lease is a small
JSON file under runs/locks/: who holds it (operation, command, user, control node, pid) and until when. The holder
renews it while it runs. A lease of this control node is judged by its holder alone: held while the holder (or the
ansible-playbook it started) lives, whatever the clock says or however long ago it was renewed (a holder stopped
with Ctrl-Z, or a clock that jumps forward, must not hand its hosts to a second operation), free at once when none
of them lives any more. A lease of another control node (a shared runs/) expires LEASE_SECONDS after its last
renewal. A lease file that exists but cannot be read is refused, never taken over; one that holds no lease (not a
JSON object) is replaced. Taking and releasing leases is serialised by an flock on runs/locks/.guard, so two
operations never both see a host as free.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

LEASE_SECONDS = 120
RENEW_SECONDS = 30


class LockHeld(Exception):
    """Another operation holds a lease on a host this one needs. The message names the holder."""

    def __init__(self, holder, host, message=None):
        self.holder = holder
        self.host = host
        if message is None:
            try:
                since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(holder.get("acquired_at", 0))))
            except (TypeError, ValueError, OverflowError):
                since = "?"
            message = (
                f"another operation holds the hosts: {holder.get('command')} ({holder.get('operation')}) by "
                f"{holder.get('user')} on {holder.get('control_node')}, pid {holder.get('pid')}, since {since}, "
                f"on {host}: wait for it to finish (a lease of this control node lasts as long as its process does; "
                f"one of another control node expires {LEASE_SECONDS}s after its holder stops renewing it), then retry"
            )
        super().__init__(message)


class _Unreadable(Exception):
    """A lease file exists but cannot be read: its holder may be alive."""


def _key(host):
    return hashlib.sha256(str(host).encode()).hexdigest()[:16]


def _alive_here(holder):
    """False when HOLDER was a process of this control node that no longer exists (or is another process now),
    and no process it started to change hosts (ansible-playbook, in its own session) is left either."""
    if holder.get("control_node") != socket.gethostname():
        return True
    procs = [(holder.get("pid"), holder.get("pid_start"))] + [tuple(c) for c in holder.get("children") or []]
    return any(_running(pid, start) for pid, start in procs)


def _running(pid, start):
    try:
        pid = int(pid)
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    if _process_state(pid) == "Z":  # exited, not yet reaped by its parent
        return False
    return start is None or start == _process_start(pid)


def _process_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _process_start(pid):
    """The start time of PID in clock ticks since boot (tells a reused pid from the original)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class Leases:
    """The leases of one operation on a set of hosts."""

    def __init__(self, directory, hosts, holder):
        self.directory = Path(directory)
        self.hosts = sorted(set(hosts))
        self.holder = dict(holder, pid=os.getpid(), pid_start=_process_start(os.getpid()))
        self.taken = False
        self.abandoned = []  # holders whose lease this operation took over because they died
        self._stop = threading.Event()
        self._thread = None

    def _path(self, host):
        return self.directory / f"host-{_key(host)}.json"

    @contextlib.contextmanager
    def _guard(self):
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        with open(self.directory / ".guard", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _read(self, host):
        """The lease of HOST: None when there is none, {} when the file holds no lease (it is replaced); raises
        _Unreadable when it exists but cannot be read (permissions, I/O): who holds it cannot be known."""
        try:
            data = json.loads(self._path(host).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # not JSON: no lease (writes are atomic, so no live holder writes this)
        except OSError as err:
            raise _Unreadable(err) from err
        return data if isinstance(data, dict) else {}

    def _expired(self, current, now):
        """Whether CURRENT (another operation's lease) no longer holds its host."""
        if current.get("control_node") == socket.gethostname():
            return not _alive_here(current)
        try:
            return float(current.get("expires_at", 0)) < now
        except (TypeError, ValueError):
            return True  # no expiry that can be read: no lease

    def _write(self, host, now):
        data = dict(self.holder, host=host, renewed_at=now, expires_at=now + LEASE_SECONDS)
        data.setdefault("acquired_at", now)
        tmp = self._path(host).with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, ensure_ascii=False))
        os.replace(tmp, self._path(host))

    def _ours(self, current):
        return bool(current) and current.get("operation") == self.holder.get("operation")

    def _held_by_us(self, host):
        try:
            return self._ours(self._read(host))
        except _Unreadable:
            return False

    def acquire(self):
        """Take every lease or none; raise LockHeld naming the holder of the first host that is taken."""
        now = time.time()
        with self._guard():
            for host in self.hosts:
                try:
                    current = self._read(host)
                except _Unreadable as err:
                    cause = err.args[0]
                    raise LockHeld(
                        {},
                        host,
                        f"the lease {self._path(host)} of {host} exists but cannot be read "
                        f"({cause.strerror or cause}): another operation may hold the hosts; when none runs, "
                        "remove that file (or make it readable), then retry",
                    ) from None
                if not current or self._ours(current):
                    continue
                if not self._expired(current, now):
                    raise LockHeld(current, host)
                known = {a.get("operation") for a in self.abandoned}
                if current.get("operation") and current.get("operation") not in known:
                    self.abandoned.append(current)
            self.holder["acquired_at"] = now
            for host in self.hosts:
                self._write(host, now)
        self.taken = True
        self._thread = threading.Thread(target=self._renew, name="followup-ops-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self):
        while not self._stop.wait(RENEW_SECONDS):
            with contextlib.suppress(OSError), self._guard():
                now = time.time()
                for host in self.hosts:
                    if self._held_by_us(host):
                        self._write(host, now)

    def add_child(self, pid):
        """Record a process this operation started to change hosts (ansible-playbook runs in its own session and
        would go on if this one were killed): the lease stays alive as long as that process does."""
        child = [int(pid), _process_start(int(pid))]
        children = self.holder.setdefault("children", [])
        if child in children or not self.taken:
            return
        children.append(child)
        with contextlib.suppress(OSError), self._guard():
            now = time.time()
            for host in self.hosts:
                if self._held_by_us(host):
                    self._write(host, now)

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self.taken:
            return
        with contextlib.suppress(OSError), self._guard():
            for host in self.hosts:
                if self._held_by_us(host):
                    with contextlib.suppress(FileNotFoundError):
                        self._path(host).unlink()
        self.taken = False
