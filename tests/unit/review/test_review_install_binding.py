"""The install installs exactly the tarball the gates of the run verified.

The gate play verifies the release once, on the control node, with the first host's values of
followup_release_repository and followup_release_signers; the install's action plugin reads them again for each host.
An inventory that sets them per group or per host (group_vars/app/, host_vars/) would have a host install a tarball
from another repository, or signed by another key, than the one the gates checked and reported. The gates hand over
what they verified (followup_release: version and sha256); the install refuses anything else.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from releasekit import DEFAULT_FILES, make_repository, sha, signers

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

PLAY = """
- name: Install what the gates verified
  hosts: target
  gather_facts: false
  tasks:
    - name: The gates hand the verified release over (as playbooks/preflight.yml does)
      ansible.builtin.set_fact:
        followup_release: "{{ verified }}"
      when: verified is defined

    - name: Install the app of the release
      followup_release_install:
        component: app
        version: 1.0.0
        base_dir: "{{ base }}"
        unit_dir: "{{ units }}"
        listen: 127.0.0.1:8080
        state: current
"""


@pytest.fixture
def repos(tmp_path):
    gate_repo, host_repo = tmp_path / "gate-repo", tmp_path / "host-repo"
    gated = make_repository(gate_repo)
    other = dict(DEFAULT_FILES, **{"components/app/followup_app/__main__.py": b"print('not what was verified')\n"})
    hosted = make_repository(host_repo, files=other)
    return tmp_path, gated, hosted


def run(tmp_path, repository, verified):
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "base": str(tmp_path / "opt"),
        "units": str(tmp_path / "units"),
        # what a host_vars/ or group_vars/app/ file would say for this host only
        "followup_release_repository": str(repository),
    }
    if verified is not None:
        host["verified"] = verified
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"target": {"hosts": {"localhost": host}}},
                    "vars": {"followup_release_signers": signers()},
                }
            }
        )
    )
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(play)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def verified_entry(tarball):
    return {"version": "1.0.0", "file": tarball.name, "sha256": sha(tarball.read_bytes()), "path": str(tarball)}


def test_a_host_whose_repository_differs_from_the_gates_installs_nothing(repos):
    tmp_path, gated, hosted = repos
    proc = run(tmp_path, hosted["1.0.0"].parent, verified_entry(gated["1.0.0"]))
    assert proc.returncode != 0
    assert "is not the tarball the gates of this run verified" in proc.stdout, proc.stdout
    assert not (tmp_path / "opt" / "app").exists()


def test_the_tarball_the_gates_verified_installs(repos):
    tmp_path, gated, _ = repos
    proc = run(tmp_path, gated["1.0.0"].parent, verified_entry(gated["1.0.0"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "opt" / "app" / "current").is_symlink()


def test_a_hand_over_that_names_no_tarball_is_refused(repos):
    tmp_path, gated, _ = repos
    proc = run(tmp_path, gated["1.0.0"].parent, json.dumps("1.0.0"))
    assert proc.returncode != 0 and "is not the tarball the gates of this run verified" in proc.stdout
