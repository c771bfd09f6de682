"""module_utils/followup_srvmove.py: phases, the gate's refusals and plan, the peers' settings swapped, the deploy
guard, the probe's downtime and verify's verdict."""

import pytest
from ansible.module_utils import followup_srvmove as sm

GIB = 1024**3


def probe(release="1.0.0", active=True, exists=True, free=50 * GIB, os_id="debian", version="12", **extra):
    base = {
        "os": {"id": os_id, "version_id": version},
        "free_bytes": free,
        "free_path": "/opt",
        "units": {"followup-app": {"exists": exists, "active": active}},
        "release": release,
        "release_bytes": 10 * 1024**2,
        "data_bytes": 5 * 1024**2,
        "data": {},
        "move": {},
    }
    base.update(extra)
    return base


SPARE = probe(release=None, active=False, exists=False)


def context(**over):
    base = {
        "source_name": "app1",
        "target_name": "app2",
        "id": "server-app-app1-app2-x",
        "state": None,
        "target_groups": ["spare"],
        "in_inventory": True,
        "source_in_group": True,
        "min_free_bytes": 0,
    }
    base.update(over)
    return base


# -- phases ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("plan", ["plan"]),
        ("all", ["plan", "prepare", "cutover", "verify"]),
        ("verify,cutover", ["cutover", "verify"]),
        ("rollback,verify", ["rollback", "verify"]),
        ("finish", ["finish"]),
    ],
)
def test_phases_of_a_server_move_come_in_order_without_sync(text, expected):
    assert sm.parse_phases(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [("sync", "unknown phase 'sync'"), ("rollback,cutover", "rollback runs on its own"), ("", "no phase")],
)
def test_bad_phases_are_refused_naming_them(text, words):
    with pytest.raises(sm.MoveError) as caught:
        sm.parse_phases(text)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "phase, state, words",
    [
        ("cutover", None, "run prepare first"),
        ("cutover", "cutover", "serves already"),
        ("rollback", "prepared", "nothing to roll back"),
        ("finish", "prepared", "only after a cutover"),
        ("prepare", "finished", "finished"),
        ("prepare", "switching", "run rollback to return to the source, or cutover again"),
        ("verify", "switching", "a cutover is unfinished"),
        ("finish", "switching", "a cutover is unfinished"),
    ],
)
def test_phases_out_of_order_are_refused(phase, state, words):
    assert words in sm.phase_refusal(phase, state)


@pytest.mark.parametrize(
    "phase, state",
    [
        ("plan", None),
        ("prepare", "planned"),
        ("cutover", "prepared"),
        ("verify", "cutover"),
        ("rollback", "cutover"),
        ("finish", "cutover"),
        ("rollback", "switching"),
        ("cutover", "switching"),
        ("plan", "switching"),
    ],
)
def test_phases_in_order_pass(phase, state):
    assert sm.phase_refusal(phase, state) is None


# -- the gate ----------------------------------------------------------------------------------------------------------
def test_a_spare_target_passes_the_plan_with_the_release_and_sizes():
    reasons, plan = sm.gate("plan", "app", probe(), SPARE, context())
    assert reasons == []
    assert plan["release"] == "1.0.0" and plan["data_bytes"] == 5 * 1024**2 and plan["source_os"] == "debian 12"


def test_a_target_not_in_the_inventory_is_one_line_naming_the_fix():
    reasons, _ = sm.gate("plan", "app", {}, {}, context(in_inventory=False))
    assert len(reasons) == 1 and "not a host of the inventory" in reasons[0] and "spare" in reasons[0]


def test_a_target_in_a_serving_group_is_in_use():
    reasons, _ = sm.gate("prepare", "app", probe(), SPARE, context(target_groups=["voice", "followup"]))
    assert any("is in use" in r and "followup, voice" in r for r in reasons)


def test_a_target_running_the_component_is_in_use():
    reasons, _ = sm.gate("prepare", "app", probe(), probe(), context())
    assert any("runs the app already" in r for r in reasons)


def test_a_target_of_another_open_move_is_refused():
    target = dict(SPARE, move={"id": "server-app-app1-app2-other", "state": "prepared"})
    reasons, _ = sm.gate("plan", "app", probe(), target, context())
    assert any("another migration" in r for r in reasons)


def test_a_source_outside_the_components_group_is_refused():
    reasons, _ = sm.gate("plan", "app", probe(), SPARE, context(source_in_group=False))
    assert any("not in group app" in r and "--from" in r for r in reasons)


def test_a_source_that_does_not_run_the_component_is_refused():
    reasons, _ = sm.gate("plan", "app", probe(active=False), SPARE, context())
    assert any("does not run the app" in r for r in reasons)


def test_another_operating_system_is_refused():
    reasons, _ = sm.gate("plan", "app", probe(), dict(SPARE, os={"id": "kylin", "version_id": "10"}), context())
    assert any("same operating system" in r for r in reasons)


def test_too_little_disk_is_refused_with_the_figures():
    reasons, plan = sm.gate("prepare", "app", probe(), dict(SPARE, free_bytes=1024), context(min_free_bytes=GIB))
    assert any("lacks disk" in r and "1.0 GiB kept free" in r for r in reasons)
    assert plan["required_bytes"] == 2 * 15 * 1024**2 + GIB


def test_an_unreachable_host_is_the_only_reason():
    reasons, _ = sm.gate("plan", "app", probe(), {"unreachable": True, "msg": "ssh: no route"}, context())
    assert reasons == ["host app2 could not be probed (ssh: no route): check that it is up and reachable over SSH"]


def test_our_own_prepared_target_is_not_in_use():
    target = probe(move={"id": "server-app-app1-app2-x", "state": "prepared"})
    reasons, _ = sm.gate("cutover", "app", probe(), target, context(state="prepared"))
    assert reasons == []


def test_after_the_cutover_a_stopped_source_is_expected():
    target = probe(move={"id": "server-app-app1-app2-x", "state": "cutover"})
    reasons, _ = sm.gate("verify", "app", probe(active=False), target, context(state="cutover"))
    assert reasons == []


@pytest.mark.parametrize(
    "last, refused",
    [
        ({}, True),
        ({"at": "t", "passed": False, "state": "cutover"}, True),
        ({"at": "t", "passed": True, "state": "prepared"}, True),
        ({"at": "t", "passed": True, "state": "cutover"}, False),
    ],
)
def test_finish_needs_a_verify_that_passed_since_the_cutover(last, refused):
    target = probe(move={"id": "server-app-app1-app2-x", "state": "cutover"})
    reasons, _ = sm.gate("finish", "app", probe(active=False), target, context(state="cutover", last_verify=last))
    assert any("verify" in r for r in reasons) is refused


# -- the peers' settings -----------------------------------------------------------------------------------------------
def test_the_swap_replaces_whole_addresses_only():
    assert sm.swap_address("http://10.89.50.12:8080", "10.89.50.12", "10.89.50.14") == "http://10.89.50.14:8080"
    assert sm.swap_address("10.89.50.120:8080", "10.89.50.12", "10.89.50.14") == "10.89.50.120:8080"
    assert sm.swap_address("10.89.50.1", "10.89.50.12", "10.89.50.14") == "10.89.50.1"


def test_the_swap_of_a_list_keeps_its_order_without_duplicates():
    upstreams = ["10.89.50.12:8080", "10.89.50.14:8080"]
    assert sm.swap_address(upstreams, "10.89.50.12", "10.89.50.14") == ["10.89.50.14:8080"]
    peers = ["10.89.50.21", "10.89.50.13", "10.89.50.16"]
    assert sm.swap_address(peers, "10.89.50.13", "10.89.50.16") == ["10.89.50.21", "10.89.50.16"]


def test_names_address():
    assert sm.names_address(["10.89.50.12:8080"], "10.89.50.12")
    assert not sm.names_address(["10.89.50.120:8080"], "10.89.50.12")
    assert not sm.names_address("x", "")


# -- the deploy guard --------------------------------------------------------------------------------------------------
def move(role, state="cutover", **extra):
    base = {
        "component": "app",
        "role": role,
        "state": state,
        "source": "app1",
        "target": "app2",
        "source_address": "10.89.50.12",
        "target_address": "10.89.50.14",
    }
    base.update(extra)
    return {"moves": {"server-app-app1-app2-x": base}}


def test_the_guard_refuses_a_deploy_on_a_retired_source_still_in_its_group():
    reasons = sm.guard_refusals("app1", move("source"), ["app", "followup"], {})
    assert len(reasons) == 1 and "still lists it in group app" in reasons[0]
    assert "runs/migrations/server-app-app1-app2-x.inventory.diff" in reasons[0]


def test_the_guard_refuses_a_peer_whose_inventory_still_names_the_old_host():
    fact = move("peer", settings=["followup_fep_app_upstreams"])
    reasons = sm.guard_refusals("fep1", fact, ["fep"], {"followup_fep_app_upstreams": ["10.89.50.12:8080"]})
    assert len(reasons) == 1 and "followup_fep_app_upstreams" in reasons[0] and "back to the old host" in reasons[0]


@pytest.mark.parametrize(
    "fact, groups, settings",
    [
        (move("source"), ["spare"], {}),  # the diff committed: the source left group app
        (move("source", state="prepared"), ["app"], {}),  # rolled back
        (
            move("peer", settings=["followup_fep_app_upstreams"]),
            ["fep"],
            {"followup_fep_app_upstreams": ["10.89.50.14:8080"]},
        ),
        ({}, ["app"], {}),
    ],
)
def test_the_guard_lets_a_deploy_through_when_the_inventory_says_what_serves(fact, groups, settings):
    assert sm.guard_refusals("h", fact, groups, settings) == []


def test_the_notes_name_the_outside_parts_of_the_switch():
    assert any("HIS" in n and "10.89.50.15" in n for n in sm.notes("fep", "10.89.50.11", "10.89.50.15"))
    assert any("carrier" in n and "10.89.50.16" in n for n in sm.notes("voice", "10.89.50.13", "10.89.50.16"))


# -- figures -----------------------------------------------------------------------------------------------------------
def test_downtime_is_the_longest_run_of_failures_and_counts_those_outside_the_switch():
    samples = [(0.0, True), (0.1, False), (0.2, False), (0.3, True), (5.0, False), (5.1, True)]
    figures = sm.downtime(samples, started=0.05, ended=1.0)
    assert figures == {"requests": 6, "failures": 3, "downtime_s": 0.2, "failures_outside_switch": 1}


def test_no_failure_is_no_downtime():
    assert sm.downtime([(0.0, True), (0.1, True)])["downtime_s"] == 0


def test_verdict_passes_only_when_every_check_passes():
    good = {
        "fep1": {
            "health_error": "",
            "request_status": 200,
            "request_items": True,
            "names_serving": True,
            "names_other": False,
        },
        "app2": {"health_error": ""},
    }
    call = {"result": "answered", "sip_code": 200, "duration_seconds": 3}
    ok = sm.verdict(good, call)
    assert ok["passed"] and len(ok["checks"]) == 5
    bad = dict(good, fep1=dict(good["fep1"], names_other=True))
    result = sm.verdict(bad, call)
    assert not result["passed"] and [c["check"] for c in result["checks"] if not c["ok"]] == ["traffic from fep1"]
    assert not sm.verdict(good, {"result": "failed"})["passed"]
    assert not sm.verdict({"app2": {}}, {})["passed"]


def test_the_guard_leaves_the_running_move_to_its_own_phases():
    fact = move("peer", settings=["followup_fep_app_upstreams"])
    stale = {"followup_fep_app_upstreams": ["10.89.50.12:8080"]}
    assert sm.guard_refusals("fep1", fact, ["fep"], stale, skip="server-app-app1-app2-x") == []
    assert sm.guard_refusals("fep1", fact, ["fep"], stale, skip="another") != []


def test_a_delta_copy_counts_files_not_directories_and_compares_the_checksums():
    packed = {
        "stdout_lines": ["opt/followup/voice/shared/data/", "opt/followup/voice/shared/data/rec/", "a.wav", "b.wav"]
    }
    out = {"stat": {"exists": True, "size": 2048, "checksum": "ab" * 32}}
    figures = sm.delta_figures(packed, out, {"stat": {"exists": True, "checksum": "ab" * 32}}, "1764670000")
    assert figures == {
        "files": 2,
        "bytes": 2048,
        "sha256": "ab" * 32,
        "checksum_equal": True,
        "newer_than": "1764670000",
    }
    damaged = sm.delta_figures(packed, out, {"stat": {"exists": True, "checksum": "cd" * 32}})
    assert damaged["checksum_equal"] is False
    # No data directory on the packing host: nothing was copied, and nothing is claimed equal.
    nothing = sm.delta_figures({"skipped": True}, {"stat": {"exists": False}}, {"skipped": True})
    assert nothing == {"files": 0, "bytes": 0, "sha256": None, "checksum_equal": None, "newer_than": None}
    assert sm.packed_files(None) == 0


def test_an_unfinished_cutover_refuses_a_deploy_on_every_host_of_the_move_and_names_the_rollback():
    for role in ("source", "target", "peer"):
        reasons = sm.guard_refusals("app1", move(role, state="switching"), ["app"], {})
        assert len(reasons) == 1 and "the cutover of migration server-app-app1-app2-x" in reasons[0], role
        assert "--component app --to app2 --phase rollback" in reasons[0]
    assert sm.guard_refusals("app2", move("target", state="prepared"), [], {}) == []


def test_a_cutover_run_again_after_one_stopped_the_source_is_not_refused_for_it():
    stopped = probe(active=False)
    ctx = context(state="switching", id="server-app-app1-app2-x")
    target = probe(move={"id": "server-app-app1-app2-x", "state": "switching"})
    reasons, _ = sm.gate("cutover", "app", stopped, target, ctx)
    assert not any("does not run the app" in r for r in reasons), reasons
    reasons, _ = sm.gate("cutover", "app", stopped, target, context(state="prepared", id="server-app-app1-app2-x"))
    assert any("does not run the app" in r for r in reasons)
