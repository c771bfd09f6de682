"""The control catalogue as data: the real one is valid and complete, and every kind of mistake in it (or in an
override of its parameters, or in a selection of its controls) is refused in one line naming the control."""

import copy

import pytest
import yaml
from ansible.module_utils import followup_compliance_catalogue as cat
from ansible.module_utils import followup_compliance_eval as ev

with open(cat.DEFAULT_PATH, encoding="utf-8") as _handle:
    RAW = yaml.safe_load(_handle)
CATALOGUE = cat.load()


def broken(change):
    data = copy.deepcopy(RAW)
    change(data)
    return data


def control(data, cid):
    return next(c for c in data["controls"] if c["id"] == cid)


def test_the_catalogue_is_valid_and_covers_every_level3_test_unit_of_the_computing_environment():
    catalogue = CATALOGUE
    units = {c["test_unit"] for c in catalogue["controls"] if c["test_unit"].startswith("L3-CES1")}
    assert units == {f"L3-CES1-{n:02d}" for n in range(1, 36) if n != 16}
    assert len(catalogue["controls"]) >= 100
    targets = {c["target"] for c in catalogue["controls"]}
    assert targets == {"linux", "ssh", "mysql", "mongodb", "nginx", "app", "central"}


def test_every_risky_remediation_is_opt_in_and_every_unprovable_control_says_why():
    catalogue = CATALOGUE
    for c in catalogue["controls"]:
        if c["risk"] == "H":
            assert c["opt_in"], c["id"]
        if not c["lab_provable"]:
            assert c.get("lab_note"), c["id"]


def test_the_ids_the_hardening_roles_name_are_there():
    ids = CATALOGUE["by_id"]
    for cid in (
        "LNX-NET-03",
        "LNX-NET-04",
        "LNX-PWD-01",
        "LNX-LCK-01",
        "LNX-RES-01",
        "LNX-MAC-01",
        "LNX-INT-02",
        "LNX-ACC-10",
        "LNX-PRM-01",
        "LNX-PRM-02",
        "LNX-SVC-01",
        "LNX-PKG-01",
        "LNX-PWD-04",
    ):
        assert cid in ids


def test_the_ces1_table_skips_unit_16_and_ends_at_35():
    assert cat.CES1[(4, "a")] == 17 and cat.CES1[(3, "d")] == 15 and cat.CES1[(11, "b")] == 35
    assert 16 not in cat.CES1.values() and len(cat.CES1) == 34


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: control(d, "LNX-PWD-01").update(colour="red"), "control LNX-PWD-01: unknown key colour"),
        (lambda d: d["controls"].append(copy.deepcopy(control(d, "LNX-PWD-02"))), "control LNX-PWD-02: duplicate id"),
        (
            lambda d: control(d, "LNX-PWD-02")["check"]["checks"][0].update(param="password_max_dayz"),
            "control LNX-PWD-02: check setting: param password_max_dayz is not a parameter (known: password_max_days",
        ),
        (
            lambda d: control(d, "SSH-AUTH-01").update(expected="MaxAuthTries ≤ {ssh_max_tries}"),
            "control SSH-AUTH-01: expected names parameter {ssh_max_tries}",
        ),
        (lambda d: control(d, "LNX-ACC-01").update(clause="8.1.4.1a"), "control LNX-ACC-01: clause '8.1.4.1a'"),
        (
            lambda d: control(d, "LNX-ACC-01").update(test_unit="L3-CES1-02"),
            "control LNX-ACC-01: clause 8.1.4.1 a) is test unit L3-CES1-01, not L3-CES1-02",
        ),
        (lambda d: control(d, "LNX-ACC-01").update(test_unit="L3-CES-01"), "test_unit 'L3-CES-01' must look like"),
        (
            lambda d: control(d, "LNX-ACC-01").update(control_point="访问控制"),
            "control LNX-ACC-01: control_point 访问控制 is clause 8.1.4.2, not 8.1.4.1 a)",
        ),
        (lambda d: control(d, "LNX-LCK-01").update(opt_in=False), "control LNX-LCK-01: risk H remediations are opt-in"),
        (lambda d: control(d, "LNX-TIM-02").pop("lab_note"), "control LNX-TIM-02: lab_provable false needs a lab_note"),
        (
            lambda d: control(d, "LNX-ACC-01").update(check={"type": "rule", "rule": "no_such_rule"}),
            "control LNX-ACC-01: check rule: rule no_such_rule is not one of the evaluator's rules",
        ),
        (lambda d: control(d, "LNX-ACC-01").update(check={"type": "magic"}), "check type magic is not one of"),
        (
            lambda d: control(d, "LNX-AUD-12")["check"].update(pattern="^-e ("),
            "control LNX-AUD-12: check file_contains: pattern '^-e (' is not a regular expression",
        ),
        (
            lambda d: control(d, "LNX-TRU-01").update(check={"type": "fixed", "status": "pass"}),
            "control LNX-TRU-01: mode manual needs check type manual",
        ),
        (
            lambda d: control(d, "LNX-IDS-01").pop("evidence_required"),
            "control LNX-IDS-01: mode semi needs evidence_required",
        ),
        (
            lambda d: control(d, "SSH-AUTH-01").update(target="linux"),
            "control SSH-AUTH-01: id prefix SSH does not match",
        ),
        (
            lambda d: control(d, "LNX-INT-01")["check"].update(controls=["LNX-NOPE-01"]),
            "control LNX-INT-01: check reads control LNX-NOPE-01, which does not exist",
        ),
        (lambda d: control(d, "LNX-PWD-02")["check"]["checks"][0].update(op="around"), "op around is not one of"),
        (
            lambda d: control(d, "LNX-ACC-06")["check"].update(param="umask"),
            "op le compares numbers but parameter umask is str",
        ),
        (
            lambda d: d["parameters"]["password_min_length"].update(default="8"),
            "parameter password_min_length must be int, not str",
        ),
        (
            lambda d: d["parameters"]["log_retention_days"].update(default=90),
            "parameter log_retention_days = 90 is below its minimum 180",
        ),
        (
            lambda d: control(d, "MGO-IA-01")["check"]["cases"].update(mysqld={"type": "na", "reason": "x"}),
            "case mysqld is not one of mongod, ferretdb",
        ),
        (lambda d: control(d, "LNX-ACC-01").update(id="LNX-1"), "id must look like LNX-PWD-01"),
        (lambda d: d.update(extra={}), "top level: unknown key extra"),
    ],
)
def test_a_broken_catalogue_is_refused_in_one_line_naming_the_control(change, message):
    with pytest.raises(cat.CatalogueError) as caught:
        cat.load(data=broken(change))
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text


def test_a_dependency_cycle_between_derived_controls_is_refused():
    def change(d):
        control(d, "LNX-INT-01")["check"] = {"type": "derived", "controls": ["MYS-IP-01"]}
        control(d, "MYS-IP-01")["check"] = {"type": "derived", "controls": ["LNX-INT-01"]}

    with pytest.raises(cat.CatalogueError, match="depends on itself"):
        cat.load(data=broken(change))


def test_a_catalogue_that_is_not_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("catalogue: {id: x\ncontrols: [\n")
    with pytest.raises(cat.CatalogueError, match=r"bad.yml:\d+ is not valid YAML"):
        cat.load(str(path))


# --- parameters ----------------------------------------------------------------------------------------------------
def test_overrides_apply_in_order_inventory_group_host_and_replace_lists_whole():
    catalogue = CATALOGUE
    params = cat.effective_parameters(
        catalogue,
        {"password_min_length": 12, "login_accounts_allowed": ["root"]},
        {"ip_forward": 1},
        {"password_min_length": 14},
    )
    assert params["password_min_length"] == 14 and params["ip_forward"] == 1
    assert params["login_accounts_allowed"] == ["root"]
    assert params["password_max_days"] == 90
    assert cat.changed_parameters(catalogue, params)["password_min_length"] == {"default": 8, "value": 14}


@pytest.mark.parametrize(
    "override, message",
    [
        ({"password_min_lenght": 12}, "followup_djbh_parameters: password_min_lenght is not a parameter"),
        ({"password_min_length": "12"}, "parameter password_min_length must be int, not str"),
        ({"password_min_length": True}, "parameter password_min_length must be int, not True"),
        ({"lockout_deny": 20}, "parameter lockout_deny = 20 is above its maximum 10"),
        ({"ip_forward": 2}, "parameter ip_forward = 2 is not one of 0, 1"),
        ({"tls_protocols": "TLSv1.2"}, "parameter tls_protocols must be list"),
    ],
)
def test_a_bad_override_is_refused_naming_the_variable_and_the_parameter(override, message):
    with pytest.raises(cat.CatalogueError) as caught:
        cat.effective_parameters(CATALOGUE, override)
    assert message in str(caught.value)


def test_a_group_override_error_names_the_group_variable():
    with pytest.raises(cat.CatalogueError, match="followup_djbh_group_parameters: nope is not a parameter"):
        cat.effective_parameters(CATALOGUE, {}, {"nope": 1})


# --- selection, targets, what to collect ---------------------------------------------------------------------------
def test_unknown_control_ids_are_refused_with_the_nearest_ids():
    with pytest.raises(cat.CatalogueError) as caught:
        cat.select(CATALOGUE, "lnx-pwd-01, LNX-PWD-99")
    assert "unknown control id LNX-PWD-99 (near: LNX-PWD-0" in str(caught.value)


def test_ids_are_parsed_from_commas_or_spaces_and_selection_keeps_catalogue_order():
    catalogue = CATALOGUE
    chosen = cat.select(catalogue, "SSH-AUTH-01 lnx-pwd-01,LNX-PWD-01")
    assert [c["id"] for c in chosen] == ["LNX-PWD-01", "SSH-AUTH-01"]
    assert len(cat.select(catalogue, "")) == len(catalogue["controls"])


def test_targets_come_from_the_groups_unless_the_host_names_them():
    catalogue = CATALOGUE
    assert cat.host_targets(catalogue, ["fep", "followup"]) == ["linux", "ssh", "nginx", "app"]
    assert cat.host_targets(catalogue, ["mysql", "databases"]) == ["linux", "ssh", "mysql"]
    assert cat.host_targets(catalogue, ["mongo"], ["linux"]) == ["linux"]
    with pytest.raises(cat.CatalogueError, match="unknown target oracle"):
        cat.host_targets(catalogue, [], ["oracle"])


def test_the_collection_spec_follows_the_targets():
    catalogue = CATALOGUE
    params = cat.defaults(catalogue)
    app = cat.collect_spec(catalogue, catalogue["controls"], ["linux", "ssh", "app"], params)
    db = cat.collect_spec(catalogue, catalogue["controls"], ["linux", "ssh", "mysql"], params)
    assert "mysql" not in app["sections"] and "mysql" in db["sections"] and "release" in app["sections"]
    assert "/etc/login.defs" in app["read"] and "/etc/pam.d/*" in app["read"] and "/etc/shadow" in app["stat"]
    assert "net.ipv4.ip_forward" in app["sysctl"] and "auditd" in app["units"]
    assert app["world_writable_paths"] == params["world_writable_scan_paths"]
    only = cat.collect_spec(catalogue, cat.select(catalogue, "SSH-AUTH-01"), ["linux", "ssh"], params)
    assert only["sections"] == ["ssh"] and only["read"] == []


def test_every_check_of_the_catalogue_declares_evidence_the_collector_knows():
    from ansible.module_utils.followup_compliance_facts import SECTIONS

    catalogue = CATALOGUE
    params = cat.defaults(catalogue)
    for c in catalogue["controls"]:
        need = ev.check_needs(c["check"], params)
        assert set(need["sections"]) <= set(SECTIONS), c["id"]
        assert all(p.startswith("/") for p in need["read"] + need["stat"]), c["id"]
