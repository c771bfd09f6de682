"""Server moves on the lab through the command line (issue 10, deliverable 2): the app app1 -> app2 while a client
creates a patient through the fep every 100 ms (bench/migrate.py writer): bad input refused, plan, prepare, cutover,
verify, rollback, verify, cutover again, verify, finish; no request lost outside the three switches (each command's
own time window), the downtime the cutover's probe measured and the client's figures printed. Before it, the voice
gateway voice1 -> voice2 through prepare, cutover and verify (a call through the new gateway), and back: a cutover
onto a voice2 whose program cannot start is rolled back at once (exit 3, voice1 serving); a file voice1 writes into
its shared data after prepare reaches voice2 at the cutover, one voice2 writes reaches voice1 at the rollback (the
delta copies, sha256 equal). Then the fep fep1 -> fep2 and back, verify's call going through fep2 (its prepare
admits fep2 to the application's systemd IPAddressAllow= by a daemon-reload, without a restart: not a window).
After the app's finish a voice move is refused until the app's inventory diff is committed.

Leaves the lab on app2 (finish disables the app on app1): run it last, or on a fresh lab (`lab down; lab up`).
"""

import json
import time

import pytest
from upgradekit import docker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INV = "inventories/lab"


def move(ops, component, target, phase, windows=None):
    started = time.time()
    proc = ops("migrate", "server", "-i", INV, "--component", component, "--to", target, "--phase", phase, timeout=1500)
    ended = time.time()
    if windows is not None:
        windows.append((phase, started, ended))
    print(f"migrate server {component} -> {target} {phase}: exit {proc.returncode} in {ended - started:.0f}s")
    print(proc.stdout[-3000:])
    return proc


def record_of(ops):
    details = ops.audit()[-1].get("details") or {}
    path = ops.runs_dir / "migrations" / f"{details.get('id')}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_bad_input_is_one_line_exit_2_and_changes_nothing(ops, spares):
    for target, words in (("nosuch9", "is not a host of the inventory"), ("voice1", "is in use")):
        proc = move(ops, "app", target, "plan")
        assert proc.returncode == 2 and words in proc.stdout + proc.stderr


VOICE_DATA = "/opt/followup/voice/shared/data"


def write_shared(host, name):
    """A file the voice program could have written into its shared data (a recording), owned as the directory is;
    returns its sha256."""
    path = f"{VOICE_DATA}/{name}"
    docker(host, "sh", "-c", f"head -c 65536 /dev/urandom > {path} && chown --reference={VOICE_DATA} {path}")
    return docker(host, "sha256sum", path).split()[0]


def sha_on(host, name):
    proc = docker(host, "sh", "-c", f"sha256sum {VOICE_DATA}/{name} 2>/dev/null; true")
    return proc.split()[0] if proc.strip() else None


def test_the_voice_gateway_moves_to_voice2_with_a_call_through_it_and_back(ops, writer):
    # The writer's patients give the health gate's call (followup_upgrade_smoke_patient_id 1) a patient to call.
    for phase in ("plan", "prepare"):
        proc = move(ops, "voice", "voice2", phase)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # A cutover that fails once it began switching is rolled back by the same command: voice2's program cannot start.
    # (Stopped, with a drop-in whose ExecStartPre fails: `systemctl mask` refuses a unit whose file is in
    # /etc/systemd/system.)
    dropin = "/etc/systemd/system/followup-voice.service.d"
    docker(
        "voice2",
        "sh",
        "-c",
        f"mkdir -p {dropin} && printf '[Service]\\nExecStartPre=/bin/false\\n' > {dropin}/"
        "zz-test-broken.conf && systemctl daemon-reload && systemctl stop followup-voice",
    )
    try:
        proc = move(ops, "voice", "voice2", "cutover", writer["windows"])
    finally:
        docker("voice2", "sh", "-c", f"rm -f {dropin}/zz-test-broken.conf && systemctl daemon-reload")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "rolled back: voice1 serves again, voice2 is stopped" in proc.stderr
    assert docker("voice1", "systemctl", "is-active", "followup-voice").strip() == "active"
    phases = record_of(ops).get("phases") or []
    assert [(p["phase"], p["outcome"]) for p in phases[-2:]] == [("cutover", "failed"), ("rollback", "ok")]
    # What voice1 writes after prepare reaches voice2 at the cutover (the delta copy, after voice1 stopped).
    before = write_shared("voice1", "after-prepare.bin")
    proc = move(ops, "voice", "voice2", "cutover", writer["windows"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    delta = ((ops.audit()[-1].get("details") or {}).get("cutover") or {}).get("delta") or {}
    assert sha_on("voice2", "after-prepare.bin") == before
    assert delta.get("files", 0) >= 1 and delta.get("checksum_equal") is True, delta
    proc = move(ops, "voice", "voice2", "verify")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    verify = (ops.audit()[-1].get("details") or {}).get("verify") or {}
    call = verify.get("call") or {}
    assert verify.get("passed") is True and call.get("result") in ("answered", "busy", "no_answer")
    # What voice2 writes while it serves reaches voice1 at the rollback.
    served = write_shared("voice2", "while-serving.bin")
    assert move(ops, "voice", "voice2", "rollback", writer["windows"]).returncode == 0
    assert sha_on("voice1", "while-serving.bin") == served
    assert sha_on("voice1", "after-prepare.bin") == before


def test_the_front_end_server_moves_to_fep2_with_a_call_through_it_and_back(ops, writer):
    # The writer (a caller of the hospital) knows fep1's address only: from fep2's cutover to the rollback its writes
    # fail, as the notes of the move say (the callers are pointed at the new fep outside the inventory). That whole
    # span is one window here.
    # fep2's prepare puts fep2 in the application's access list (systemd IPAddressAllow=) by a daemon-reload, not a
    # restart (roles/followup_component, filter_plugins/followup_systemd.py): not a window, no write may fail in it.
    # (It restarted the application until 2026-12-02: 0.7 s of 502 answers through fep1.)
    app_pid = docker("app1", "systemctl", "show", "-p", "MainPID", "--value", "followup-app").strip()
    proc = move(ops, "fep", "fep2", "plan")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    proc = move(ops, "fep", "fep2", "prepare")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert docker("app1", "systemctl", "show", "-p", "MainPID", "--value", "followup-app").strip() == app_pid
    allow = docker("app1", "systemctl", "show", "-p", "IPAddressAllow", "--value", "followup-app")
    assert "10.89.50.15/32" in allow, allow
    span = []
    proc = move(ops, "fep", "fep2", "cutover", span)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert docker("fep1", "systemctl", "is-active", "nginx", check=False).strip() != "active"
    proc = move(ops, "fep", "fep2", "verify")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    verify = (ops.audit()[-1].get("details") or {}).get("verify") or {}
    call = verify.get("call") or {}
    assert verify.get("passed") is True and call.get("result") in ("answered", "busy", "no_answer"), verify
    proc = move(ops, "fep", "fep2", "rollback", span)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    writer["windows"].append(("fep cutover..rollback", span[0][1], span[-1][2]))
    assert docker("fep1", "systemctl", "is-active", "followup-fep").strip() == "active"
    assert docker("fep2", "systemctl", "is-active", "followup-fep", check=False).strip() != "active"


def test_the_app_moves_to_app2_and_back_and_again_losing_no_request_outside_the_switches(ops, writer):
    windows = writer["windows"]
    assert move(ops, "app", "app2", "plan").returncode == 0
    assert move(ops, "app", "app2", "prepare").returncode == 0
    proc = move(ops, "app", "app2", "finish")
    assert proc.returncode == 2 and "cannot run while the migration is prepared" in proc.stdout + proc.stderr
    figures = {}
    for phase in ("cutover", "verify", "rollback", "verify", "cutover", "verify"):
        proc = move(ops, "app", "app2", phase, windows if phase in ("cutover", "rollback") else None)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        if phase in ("cutover", "rollback"):
            figures.setdefault(phase, []).append((ops.audit()[-1].get("details") or {}).get(phase))
    assert "库存变更" in proc.stdout or record_of(ops).get("inventory_diff")
    assert move(ops, "app", "app2", "finish").returncode == 0
    record = record_of(ops)
    assert record.get("state") == "finished"
    writer["stop"].touch()
    writer["thread"].join(30)
    attempts = json.loads(writer["out"].read_text())["attempts"]
    failed = [a for a in attempts if a["status"] != 201]
    outside = [a for a in failed if not any(s <= a["t"] <= e for _p, s, e in windows)]
    client = writer["mod"].summary(attempts)
    print(
        "SERVER MOVE FIGURES:",
        json.dumps(
            {
                "probe": figures,
                "client": {
                    k: client[k] for k in ("attempts", "written", "failed", "write_downtime_s", "failure_windows_s")
                },
                "failed_outside_switches": len(outside),
                "phases": [(p["phase"], p.get("outcome"), p.get("duration_s")) for p in record.get("phases", [])],
            },
            default=str,
        ),
    )
    assert outside == [], outside[:5]
    for entry in figures["cutover"] + figures["rollback"]:
        assert entry and entry.get("failures_outside_switch") == 0
