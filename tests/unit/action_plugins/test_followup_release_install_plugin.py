"""The action plugin of followup_release_install through plain ansible-playbook (a local connection to this machine,
layout under a temporary directory): nothing passed as an extra variable or task argument can make a host install a
tarball or a start command the signed index does not name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from releasekit import make_repository, sha, signers

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

PLAY = """
- name: Install through the action plugin
  hosts: target
  gather_facts: false
  tasks:
    - name: Install the app of the release
      followup_release_install:
        component: app
        version: "{{ wanted | default('1.0.0') }}"
        base_dir: "{{ base }}"
        unit_dir: "{{ units }}"
        listen: 127.0.0.1:8080
        with_migrations: true
        state: current
      register: installed

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ installed | to_json }}"
        dest: "{{ base }}/../result.json"
        mode: "0600"
      when: not ansible_check_mode
"""


@pytest.fixture
def lab(tmp_path):
    repo = tmp_path / "repo"
    paths = make_repository(repo)
    inventory = tmp_path / "inventory.yml"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "base": str(tmp_path / "opt"),
        "units": str(tmp_path / "units"),
    }
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"target": {"hosts": {"localhost": host}}},
                    "vars": {"followup_release_repository": str(repo), "followup_release_signers": signers()},
                }
            }
        )
    )
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    return {"tmp": tmp_path, "repo": repo, "paths": paths, "inventory": inventory, "play": play}


def playbook(lab, *args, play=None):
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(lab["tmp"] / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(lab["tmp"] / "ansible-remote"),
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(lab["inventory"]), str(play or lab["play"]), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def result(lab):
    return json.loads((lab["tmp"] / "result.json").read_text())


def nothing_installed(lab):
    return not (lab["tmp"] / "opt" / "app").exists() and not (lab["tmp"] / "units").exists()


def test_a_plain_run_installs_the_signed_release_and_a_second_changes_nothing(lab):
    first = playbook(lab)
    assert first.returncode == 0, first.stdout + first.stderr
    got = result(lab)
    assert got["changed"] and got["tarball_copied"] and got["switched"]
    assert got["signer"]["principal"] == "vendor@releases.test"
    assert got["sha256"] == sha(lab["paths"]["1.0.0"].read_bytes())
    tarball = lab["tmp"] / "opt" / ".releases" / "followup-1.0.0.tar.gz"
    assert tarball.read_bytes() == lab["paths"]["1.0.0"].read_bytes() and oct(tarball.stat().st_mode)[-3:] == "640"
    assert oct((lab["tmp"] / "opt").stat().st_mode)[-3:] == "755"
    start = (lab["tmp"] / "units" / "followup-app.service.d" / "start.conf").read_text()
    assert start.endswith("ExecStart=/usr/bin/python3 -m followup_app\n")
    second = playbook(lab)
    assert second.returncode == 0 and result(lab)["changed"] is False and not result(lab)["tarball_copied"]


def test_check_mode_on_a_fresh_host_reports_the_change_and_writes_nothing(lab):
    proc = playbook(lab, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed: [localhost]" in proc.stdout and nothing_installed(lab)
    assert not (lab["tmp"] / "opt" / ".releases").exists()


@pytest.mark.parametrize(
    "extra",
    [
        json.dumps({"followup_release": {"version": "1.0.0", "path": "/tmp/evil.tar.gz", "sha256": "0" * 64}}),
        json.dumps({"followup_component_release": {"version": "1.1.0"}}),
        json.dumps({"__followup_component_install": {"path": "/tmp/evil"}}),
        "followup_release_repository=/tmp/evil-repository",
        json.dumps({"followup_release_signers": ['intruder namespaces="followup-release" ssh-ed25519 AAAA']}),
    ],
)
def test_an_extra_variable_override_is_refused_before_anything_is_installed(lab, extra):
    proc = playbook(lab, "-e", extra)
    assert proc.returncode != 0
    assert "followup-ops refused the run on this host" in proc.stdout and "may not be passed" in proc.stdout
    assert nothing_installed(lab)


def test_skipping_the_gates_is_refused(lab):
    proc = playbook(lab, "--skip-tags", "always")
    assert proc.returncode != 0 and "--skip-tags always would skip the gates" in proc.stdout
    assert nothing_installed(lab)


def test_a_version_other_than_the_one_the_run_verified_is_refused(lab):
    proc = playbook(lab, "-e", "followup_release_version=1.1.0")
    assert proc.returncode != 0
    assert "release 1.0.0 is not the release this run verified (followup_release_version=1.1.0)" in proc.stdout
    assert nothing_installed(lab)


def test_a_task_cannot_name_the_tarball_or_its_sha256(lab, tmp_path):
    forged = tmp_path / "forged.yml"
    forged.write_text(
        PLAY.replace(
            "        state: current\n",
            "        state: current\n        tarball: /tmp/evil.tar.gz\n        sha256: " + "0" * 64 + "\n",
        )
    )
    proc = playbook(lab, play=forged)
    assert proc.returncode != 0 and "Unsupported parameters" in proc.stdout and "sha256" in proc.stdout
    assert nothing_installed(lab)


def test_a_repository_signed_by_another_key_is_refused_on_the_control_node(lab):
    make_repository(lab["repo"], key="intruder")
    proc = playbook(lab)
    assert proc.returncode != 0
    assert (
        "release 1.0.0 refused on the control node" in proc.stdout and "not in followup_release_signers" in proc.stdout
    )
    assert nothing_installed(lab)


def test_a_forged_tarball_already_on_the_host_is_replaced_by_the_signed_one(lab):
    releases = lab["tmp"] / "opt" / ".releases"
    releases.mkdir(parents=True)
    os.chmod(lab["tmp"] / "opt", 0o755)  # noqa: S103 - the layout's base directory is world-traversable
    forged = releases / "followup-1.0.0.tar.gz"
    forged.write_bytes(b"forged")
    proc = playbook(lab)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert forged.read_bytes() == lab["paths"]["1.0.0"].read_bytes() and result(lab)["tarball_copied"]


def test_the_listen_port_must_match_the_signed_manifest(lab, tmp_path):
    other = tmp_path / "port.yml"
    other.write_text(PLAY.replace("127.0.0.1:8080", "127.0.0.1:9999"))
    proc = playbook(lab, play=other)
    assert proc.returncode != 0 and "its port differs from the port 8080" in proc.stdout
    assert nothing_installed(lab)
