"""The server_move role against the rest of the repository: the peer settings it swaps exist, the deploy runs its
guard before any deploy play, its filter's downtime figures, and every phase playbook is imported by the gate's."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles/server_move"


def load_filter():
    spec = importlib.util.spec_from_file_location("fsm", ROLE / "filter_plugins/followup_server_move.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_settings():
    return yaml.safe_load((ROLE / "defaults/main.yml").read_text())["server_move_peer_settings"]


@pytest.mark.parametrize(
    "component, group, name",
    [(c, g, n) for c, groups in sorted(peer_settings().items()) for g, names in groups.items() for n in names],
)
def test_every_swapped_setting_is_an_input_of_the_peers_role(component, group, name):
    role = {"fep": "followup_fep", "app": "followup_app", "voice": "followup_voice"}[group]
    specs = yaml.safe_load((ROOT / f"roles/{role}/meta/argument_specs.yml").read_text())["argument_specs"]["main"]
    assert name in specs["options"], f"{name} is not an input of {role}"


def test_the_deploy_runs_the_guard_right_after_the_gates_before_any_host_changes():
    site = [p["ansible.builtin.import_playbook"] for p in yaml.safe_load((ROOT / "playbooks/site.yml").read_text())]
    assert site[:3] == ["preflight.yml", "server_move_guard.yml", "base.yml"]
    application = yaml.safe_load((ROOT / "playbooks/application.yml").read_text())
    imports = [p.get("ansible.builtin.import_playbook") for p in application]
    names = [p.get("name") for p in application]
    assert imports.index("server_move_guard.yml") < names.index("Deploy the application server")
    (play,) = yaml.safe_load((ROOT / "playbooks/server_move_guard.yml").read_text())
    assert play["tags"] == ["always", "followup_gate"] and "followup_gated" in play["hosts"]
    assert play["tasks"][0]["ansible.builtin.include_role"] == {"name": "server_move", "tasks_from": "guard.yml"}


def test_the_guard_reports_every_refusal_as_a_gate_before_it_fails():
    tasks = yaml.safe_load((ROOT / "roles/server_move/tasks/guard.yml").read_text())
    report = next(t for t in tasks if "ansible.builtin.set_stats" in t)
    assert "server_move" in report["ansible.builtin.set_stats"]["data"]["followup"]["gates"]
    fail = next(t for t in tasks if "ansible.builtin.fail" in t)
    assert tasks.index(report) < tasks.index(fail) and report["run_once"] and fail["run_once"]


def test_every_phase_has_its_playbook_behind_the_gate():
    plays = yaml.safe_load((ROOT / "playbooks/migrate_server.yml").read_text())
    key = "ansible.builtin.import_playbook"
    imported = {p[key]: p["when"] for p in plays if key in p}
    for phase in ("prepare", "cutover", "verify", "rollback", "finish"):
        assert imported[f"migrate_server_{phase}.yml"] == f"server_move_phase == '{phase}'"
        assert (ROOT / f"playbooks/migrate_server_{phase}.yml").exists()
    gate_plays = [p for p in plays if "hosts" in p]
    assert all("followup_gated" in p["hosts"] and "always" in p["tags"] for p in gate_plays)


def test_the_downtime_filter_counts_failures_outside_the_switch():
    figures = load_filter().followup_server_move_downtime(
        {"requests": 50, "attempts": 1, "failures": 3, "downtime_s": 0.2, "failed_at": [9.0, 10.5, 10.6]},
        "10.0",
        "11.0",
    )
    expected = {"requests": 50, "failures": 3, "downtime_s": 0.2, "failures_outside_switch": 1, "switch_s": 1.0}
    assert figures == expected
