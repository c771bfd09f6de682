"""Leases under attack and accident: a live holder that stopped renewing, a lease file that cannot be read or holds
something else than a lease.

A lease of this control node is held as long as its holder (or the ansible-playbook it started) lives, whatever the
clock says: a holder stopped with Ctrl-Z (its renewal thread stops; the ansible-playbook it started, in its own
session, does not) or a clock that jumps forward must not hand its hosts to a second operation.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from followup_ops import lock, operation
from followup_ops.operation import Operation, Refused

ROOT = pathlib.Path(__file__).resolve().parents[3]
HOSTS = [("app1", "10.89.50.12"), ("fep1", "10.89.50.11")]


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_OPS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(operation, "inventory_hosts", lambda inventory: HOSTS)
    return tmp_path / "runs"


def deploy():
    return Operation("deploy", ["followup-ops", "deploy"], inventory="inventories/lab", changes_hosts=True)


HOLDER = (
    "import sys, time; sys.path.insert(0, sys.argv[2]);"
    "from followup_ops import lock;"
    "l = lock.Leases(sys.argv[1], ['10.89.50.12'], {'operation': 'LIVE-OP', 'command': 'deploy', 'user': 'li',"
    " 'control_node': __import__('socket').gethostname()}); l.acquire(); print('ready', flush=True); time.sleep(60)"
)


@pytest.fixture
def live_holder(runs):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(runs / "locks"), str(ROOT / "src")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_a_stopped_holder_that_no_longer_renews_keeps_its_hosts(live_holder, monkeypatch):
    os.kill(live_holder.pid, signal.SIGSTOP)  # Ctrl-Z: its renewal thread stops with it
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 10 * lock.LEASE_SECONDS)  # long past its last renewal
    with pytest.raises(Refused, match="LIVE-OP"), deploy():
        pass


def test_a_clock_jump_forward_does_not_expire_a_live_holder(live_holder, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    with pytest.raises(Refused, match="LIVE-OP"), deploy():
        pass


def test_a_dead_holder_of_this_node_is_still_taken_over_at_once(runs):
    leases = lock.Leases(runs / "locks", ["10.89.50.12"], {"operation": "GONE", "control_node": socket.gethostname()})
    leases.acquire()
    leases._stop.set()
    for path in (runs / "locks").glob("host-*.json"):
        data = json.loads(path.read_text())
        path.write_text(json.dumps(dict(data, pid=2**22 + 7, pid_start=1)))  # a pid that does not run
    with deploy() as o:
        pass
    assert o.exit_code == 0


def test_a_lease_that_cannot_be_read_is_not_taken_over(live_holder, monkeypatch):
    read_text = pathlib.Path.read_text

    def unreadable(self, *args, **kwargs):
        if self.name.startswith("host-"):
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", unreadable)
    with pytest.raises(Refused) as caught, deploy():
        pass
    message = str(caught.value)
    assert "cannot be read" in message and "Permission denied" in message and "host-" in message


@pytest.mark.parametrize("content", ["[1, 2]", '"a lease"', '{"expires_at": "soon", "control_node": "elsewhere"}'])
def test_a_lease_file_holding_no_lease_is_replaced_not_a_traceback(runs, content):
    locks = runs / "locks"
    locks.mkdir(parents=True)
    target = lock.Leases(locks, ["10.89.50.12"], {})._path("10.89.50.12")
    target.write_text(content)
    with deploy() as o:
        assert json.loads(target.read_text())["operation"] == o.id
    assert o.exit_code == 0
