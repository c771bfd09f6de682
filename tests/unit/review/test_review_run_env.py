"""A run's Ansible settings come from the repository's ansible.cfg, not from the operator's shell.

ANSIBLE_* variables beat ansible.cfg. Left in the environment of a run, a shell profile's ANSIBLE_SSH_ARGS
(`-o StrictHostKeyChecking=no`) switches off the pinned host keys, and ANSIBLE_ROLES_PATH or ANSIBLE_LIBRARY (another
project's `common` or `mysql` role) changes what runs on the hospital's servers.
"""

import sys

import pytest

from followup_ops import runner

CFG = """[defaults]
roles_path = roles
library = library
host_key_checking = True
[ssh_connection]
ssh_args = -o ControlMaster=auto
"""

PLAYBOOK = """
- name: Report the settings the run sees
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Report them
      ansible.builtin.set_stats:
        data:
          followup:
            data:
              settings:
                roles_path: "{{ lookup('ansible.builtin.config', 'DEFAULT_ROLES_PATH') | join(':') }}"
                library: "{{ lookup('ansible.builtin.config', 'DEFAULT_MODULE_PATH') | join(':') }}"
                ssh_args: >-
                  {{ lookup('ansible.builtin.config', 'ssh_args', plugin_type='connection', plugin_name='ssh') }}
        per_host: false
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "playbooks").mkdir(parents=True)
    (root / "ansible.cfg").write_text(CFG)
    (root / "playbooks" / "settings.yml").write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    monkeypatch.setenv("FOLLOWUP_OPS_HOME", str(root))
    monkeypatch.setenv("HOME", str(tmp_path))
    return root, inventory


def test_the_operators_ansible_variables_do_not_reach_the_run(home, tmp_path, monkeypatch):
    root, inventory = home
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", "/srv/other-project/roles")
    monkeypatch.setenv("ANSIBLE_LIBRARY", "/srv/other-project/library")
    result = runner.run_playbook(tmp_path / "run", "settings.yml", inventory, quiet=True)
    assert result.ok, result.status
    settings = result.report["data"]["settings"]
    assert "StrictHostKeyChecking" not in settings["ssh_args"] and "ControlMaster=auto" in settings["ssh_args"]
    assert settings["roles_path"] == str(root / "roles")
    assert settings["library"] == str(root / "library")
