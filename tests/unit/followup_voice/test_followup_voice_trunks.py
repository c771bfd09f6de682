"""followup-voice-trunks (roles/followup_voice/files/): the trunks' live state read from kamailio's dispatcher."""

import importlib.machinery
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles/followup_voice/files/followup-voice-trunks"
_loader = importlib.machinery.SourceFileLoader("followup_voice_trunks", str(SCRIPT))
_spec = importlib.util.spec_from_loader("followup_voice_trunks", _loader)
trunks = importlib.util.module_from_spec(_spec)
_loader.exec_module(trunks)

# What kamcmd 5.6 prints for `dispatcher.list` (from the lab image's kamailio): one dead trunk, one carrier.
KAMCMD_OUTPUT = """{
\tNRSETS: 1
\tRECORDS: {
\t\tSET: {
\t\t\tID: 1
\t\t\tTARGETS: {
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:10.89.72.40:5099
\t\t\t\t\tFLAGS: IP
\t\t\t\t\tPRIORITY: 2
\t\t\t\t\tATTRS: {
\t\t\t\t\t\tBODY: duid=trunk1
\t\t\t\t\t\tDUID: trunk1
\t\t\t\t\t\tMAXLOAD: 0
\t\t\t\t\t\tWEIGHT: 0
\t\t\t\t\t\tRWEIGHT: 0
\t\t\t\t\t\tSOCKET: <null string>
\t\t\t\t\t\tSOCKNAME: <null string>
\t\t\t\t\t\tOBPROXY: <null string>
\t\t\t\t\t}
\t\t\t\t}
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:10.89.72.31:5060;transport=tcp
\t\t\t\t\tFLAGS: AP
\t\t\t\t\tPRIORITY: 1
\t\t\t\t\tATTRS: {
\t\t\t\t\t\tBODY: duid=carrier
\t\t\t\t\t\tDUID: carrier
\t\t\t\t\t\tMAXLOAD: 0
\t\t\t\t\t\tWEIGHT: 0
\t\t\t\t\t\tRWEIGHT: 0
\t\t\t\t\t\tSOCKET: <null string>
\t\t\t\t\t\tSOCKNAME: <null string>
\t\t\t\t\t\tOBPROXY: <null string>
\t\t\t\t\t}
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""


def test_the_state_of_each_trunk_is_read_in_the_order_calls_try_them():
    summary = trunks.trunk_state(KAMCMD_OUTPUT)
    assert summary["trunks"] == [
        {"name": "trunk1", "uri": "sip:10.89.72.40:5099", "state": "down", "flags": "IP", "priority": 2},
        {"name": "carrier", "uri": "sip:10.89.72.31:5060;transport=tcp", "state": "up", "flags": "AP", "priority": 1},
    ]
    assert (summary["up"], summary["down"], summary["trying"], summary["disabled"]) == (1, 1, 0, 0)
    assert summary["text"] == "trunk1 down, carrier up"


def test_a_single_destination_is_not_mistaken_for_a_list_and_states_map_by_first_flag():
    one = KAMCMD_OUTPUT.split("\t\t\t\tDEST: {", 2)
    text = one[0] + "\t\t\t\tDEST: {" + one[2]  # only the carrier
    for flags, state in (("AP", "up"), ("TP", "trying"), ("IP", "down"), ("DX", "disabled"), ("", "unknown")):
        summary = trunks.trunk_state(text.replace("FLAGS: AP", f"FLAGS: {flags}"))
        assert [t["state"] for t in summary["trunks"]] == [state]


def test_repeated_keys_become_lists_and_nested_blocks_dicts():
    tree = trunks.parse_rpc("{\n\tA: 1\n\tB: {\n\t\tC: x\n\t}\n\tA: 2\n\tA: 3\n}\n")
    assert tree == {"A": ["1", "2", "3"], "B": {"C": "x"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [("{\n\tnot a pair\n}\n", "line 2 of kamcmd's answer is not 'KEY: value'"), ("{\n\tA: {\n", "ends inside")],
)
def test_an_answer_that_is_not_kamcmds_is_an_error(text, message):
    with pytest.raises(trunks.TrunkStateError, match=message):
        trunks.parse_rpc(text)


def fake_kamcmd(tmp_path, body, rc=0):
    script = tmp_path / "kamcmd"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{body}EOF\nexit {rc}\n")
    script.chmod(0o755)
    return str(script)


def test_the_command_prints_json_and_exits_0_when_a_trunk_is_up(tmp_path, capsys):
    assert trunks.main(["--kamcmd", fake_kamcmd(tmp_path, KAMCMD_OUTPUT)]) == 0
    assert json.loads(capsys.readouterr().out)["up"] == 1


def test_the_command_exits_1_when_no_trunk_is_up(tmp_path, capsys):
    assert trunks.main(["--kamcmd", fake_kamcmd(tmp_path, KAMCMD_OUTPUT.replace("FLAGS: AP", "FLAGS: IP"))]) == 1
    assert json.loads(capsys.readouterr().out)["down"] == 2


def test_the_command_exits_2_with_one_line_when_kamailio_cannot_be_asked(tmp_path, capsys):
    failing = fake_kamcmd(
        tmp_path, "ERROR: connect_unix_sock: connect(/run/kamailio/kamailio_ctl): No such file\n", 255
    )
    assert trunks.main(["--kamcmd", failing]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("followup-voice-trunks: kamcmd -s unix:/run/kamailio/kamailio_ctl dispatcher.list failed")
    assert "No such file" in err and "\n" not in err
    assert trunks.main(["--kamcmd", str(tmp_path / "missing")]) == 2
    assert "is not installed" in capsys.readouterr().err


def test_the_script_runs_as_a_program(tmp_path):
    proc = subprocess.run(
        ["python3", str(SCRIPT), "--kamcmd", fake_kamcmd(tmp_path, KAMCMD_OUTPUT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["text"] == "trunk1 down, carrier up"
