"""Plain ansible-playbook cannot get around a gate play with Ansible's special tags or by stepping over it.

`--skip-tags tagged` skips every tagged task, the gates' (tagged always, followup_gate) included, while untagged tasks
of later plays still run; `--step` lets the person at the terminal answer "no" to each gate task. Both are refused
when the play's hosts are templated, before any task runs.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

PLAYBOOK = """
- name: Gate
  hosts: "{{ 'all' | followup_gated }}"
  gather_facts: false
  tags: [always, followup_gate]
  tasks:
    - name: The gate refuses
      ansible.builtin.fail:
        msg: GATE-REFUSED
- name: Change the host
  hosts: "{{ 'all' | followup_gated }}"
  gather_facts: false
  tasks:
    - name: Change the host
      ansible.builtin.copy:
        content: changed
        dest: "{{ marker }}"
"""


def run(tmp_path, *args, stdin=None):
    playbook = tmp_path / "gated.yml"
    playbook.write_text(PLAYBOOK)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FILTER_PLUGINS": str(ROOT / "filter_plugins"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_FACT_CACHING": "memory",
    }
    marker = tmp_path / "marker"
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook), "-e", f"marker={marker}", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, marker


def test_the_gate_play_stops_a_plain_run(tmp_path):
    proc, marker = run(tmp_path)
    assert proc.returncode != 0 and "GATE-REFUSED" in proc.stdout and not marker.exists()


@pytest.mark.parametrize("args", [["--skip-tags", "tagged"], ["--skip-tags", "role::x,tagged"]])
def test_skipping_every_tagged_task_is_refused_before_any_task(tmp_path, args):
    proc, marker = run(tmp_path, *args)
    assert not marker.exists(), "the gate was skipped and the host was changed"
    assert proc.returncode != 0
    assert "refused the run before any host was touched: --skip-tags tagged" in proc.stdout + proc.stderr


def test_stepping_over_the_gate_tasks_is_refused(tmp_path):
    # --step asks before each task; answering "n" to the gate and "y" to the rest would skip the gate.
    proc, marker = run(tmp_path, "--step", stdin="n\ny\ny\n")
    assert not marker.exists(), "the gate was stepped over and the host was changed"
    assert "--step" in proc.stdout + proc.stderr
