"""A play that changes hosts after preflight's gates runs only when those gates passed earlier in the same
ansible-playbook run: running it alone is refused, even when an inventory defines what the gates hand over."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

GATES = """
- name: Gate
  hosts: "{{ 'all' | followup_gated }}"
  gather_facts: false
  tasks:
    - name: The gate decides
      ansible.builtin.fail:
        msg: GATE-REFUSED
      when: refuse | default(false) | bool
- name: Record that the gates passed
  hosts: "{{ 'all' | followup_gates_passed }}"
  gather_facts: false
  tasks:
    - name: Note it
      ansible.builtin.meta: noop
"""
CHANGE = """
- name: Change the host
  hosts: "{{ 'all' | followup_gated(after_preflight=true) }}"
  gather_facts: false
  tasks:
    - name: Change the host
      ansible.builtin.copy:
        content: changed
        dest: "{{ marker }}"
        mode: "0600"
"""


def run(tmp_path, playbook_text, *args):
    playbook = tmp_path / "play.yml"
    playbook.write_text(playbook_text)
    inventory = tmp_path / "hosts.ini"
    # An inventory that defines what preflight would hand over does not stand in for the gates.
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable} followup_release=forged\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FILTER_PLUGINS": str(ROOT / "filter_plugins"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_FACT_CACHING": "memory",
    }
    marker = tmp_path / "marker"
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook), "-e", f"marker={marker}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, marker


def test_the_changing_play_runs_after_the_gates_passed(tmp_path):
    proc, marker = run(tmp_path, GATES + CHANGE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marker.read_text() == "changed"


def test_the_changing_play_alone_is_refused(tmp_path):
    proc, marker = run(tmp_path, CHANGE)
    assert proc.returncode != 0 and not marker.exists()
    assert "runs only after the gates" not in proc.stdout  # the refusal is the filter's, below
    assert (
        "changes hosts only after the gates of playbooks/preflight.yml passed in the same run"
        in proc.stdout + proc.stderr
    )


def test_a_refusing_gate_ends_the_run_before_the_gates_are_recorded_as_passed(tmp_path):
    proc, marker = run(tmp_path, GATES + CHANGE, "-e", "refuse=true")
    assert proc.returncode != 0 and not marker.exists()
    assert "GATE-REFUSED" in proc.stdout


def test_a_syntax_check_of_the_changing_play_alone_is_fine(tmp_path):
    proc, marker = run(tmp_path, CHANGE, "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists()
