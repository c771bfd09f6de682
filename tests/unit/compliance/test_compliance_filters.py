"""filter_plugins/followup_djbh.py as playbooks and the hardening roles call it, through Ansible's templating."""

import pytest
from ansible.errors import AnsibleError
from evidencekit import CATALOGUE, accounts, evidence, user
from followup_djbh import FilterModule

F = FilterModule().filters()


def test_the_effective_parameters_for_roles_merge_inventory_group_and_host(jinja):
    params = jinja(
        "followup_djbh_parameters | followup_djbh_parameters(followup_djbh_group_parameters, "
        "followup_djbh_host_parameters)",
        length=12,
        followup_djbh_parameters={"password_min_length": "{{ length }}"},
        followup_djbh_group_parameters={"ip_forward": 1},
        followup_djbh_host_parameters={"shell_idle_timeout": 300},
    )
    assert params["password_min_length"] == 12 and params["ip_forward"] == 1 and params["shell_idle_timeout"] == 300
    assert params["password_max_days"] == CATALOGUE["parameters"]["password_max_days"]["default"]
    assert jinja("{} | followup_djbh_parameters")["lockout_deny"] == 5


def test_a_mistyped_parameter_stops_the_play_with_one_line(jinja):
    with pytest.raises(AnsibleError, match="followup_djbh_parameters: shel_idle_timeout is not a parameter"):
        jinja("p | followup_djbh_parameters", p={"shel_idle_timeout": 300})


def test_a_control_is_available_by_id_for_task_names(jinja):
    control = jinja("'LNX-NET-03' | followup_djbh_control")
    assert control["title_en"] == "IP forwarding as the host needs it" and control["opt_in"] is True
    assert "check" not in control


def test_the_plan_refuses_unknown_controls_and_bad_waivers(jinja, tmp_path):
    with pytest.raises(AnsibleError, match="unknown control id LNX-ZZZ-01"):
        jinja("'LNX-ZZZ-01' | followup_djbh_plan")
    waivers = tmp_path / "w.yml"
    waivers.write_text(
        "waivers:\n  - {control: LNX-ACC-09, host: '*', justification: x, approver: y, expiry: 2027-02-30}\n"
    )
    with pytest.raises(AnsibleError, match="expiry '2027-02-30' is not a real date"):
        jinja("'' | followup_djbh_plan(w)", w=str(waivers))
    plan = jinja("'ssh-auth-01,LNX-PWD-01' | followup_djbh_plan")
    assert plan["controls"] == ["LNX-PWD-01", "SSH-AUTH-01"] and plan["selected"] is True


def test_the_report_marks_hosts_without_findings_as_errors_and_applies_waivers():
    plan = F["followup_djbh_plan"]("LNX-ACC-01,LNX-ACC-09,CEN-TIM-01,LNX-TIM-02")
    plan["waivers"] = [
        {
            "control": "LNX-ACC-09",
            "host": "*",
            "justification": "lab",
            "approver": "IT",
            "expiry": "2099-01-01",
            "index": 1,
        }
    ]
    targets = ["linux", "ssh", "app"]
    params = F["followup_djbh_parameters"]({})
    result = {
        "evidence": evidence(
            {"/etc/sudoers.d/ops": "ops ALL=(ALL) NOPASSWD: ALL\n"},
            accounts=accounts(user("root", 0, "/bin/bash")),
            time={"synchronised": True},
        )
    }
    findings = F["followup_djbh_evaluate"](result, "app1", targets, params, plan)
    assert set(findings) == {"app1/LNX-ACC-01", "app1/LNX-ACC-09", "app1/LNX-TIM-02"}
    failed = F["followup_djbh_evaluate"]({"failed": True, "msg": "python3 not found"}, "fep1", targets, params, plan)
    assert {f["status"] for f in failed.values()} == {"error"} and "python3 not found" in failed["fep1/LNX-ACC-01"][
        "actual"
    ]
    hostvars = {
        "app1": {
            "__followup_djbh_findings": findings,
            "__followup_djbh_evidence": result,
            "__followup_djbh_duration": 0.5,
            "__followup_djbh_params": dict(params, ip_forward=1),
        },
        "mysql1": {
            "group_names": ["mysql", "databases"],
            "__followup_djbh_evidence": {"unreachable": True, "msg": "ssh: No route to host"},
        },
    }
    report = F["followup_djbh_report"](hostvars, ["app1", "mysql1"], plan)
    data = report["data"]["compliance"]
    assert data["unreachable"] == ["mysql1"] and data["collect_seconds"] == {"app1": 0.5}
    assert data["parameters_changed"] == {"app1": {"ip_forward": {"default": 0, "value": 1}}}
    assert {f["status"] for k, f in report["findings"].items() if k.startswith("mysql1/")} == {"error"}
    assert "No route to host" in report["findings"]["mysql1/LNX-ACC-01"]["actual"]
    assert report["findings"]["app1/LNX-ACC-09"]["waiver"]["active"]
    assert report["findings"]["control-node/CEN-TIM-01"]["status"] == "error"  # mysql1's clock is unknown
    assert data["summary"]["counts"]["waived"] == 2 and not data["summary"]["compliant"]
