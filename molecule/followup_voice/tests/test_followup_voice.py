"""The voice gateway after converge, over real SIP: kamailio answers OPTIONS on the host's address, relays the
voice program's calls to the trunks (the first never answers, so every call fails over to the second, the
stand-in carrier), answers the carrier's digest challenge, and refuses anyone but the voice program; each call's
real answer (486, 480, 200) lands in MongoDB (cdr)."""

import json
import re
import shlex
import time
from pathlib import Path

import pytest
import testinfra
import yaml

testinfra_hosts = ["ansible://molecule-voice"]

INPUTS = yaml.safe_load((Path(__file__).resolve().parents[1] / "group_vars" / "all.yml").read_text())
PASSWORD = INPUTS["lab_carrier_password"]

# A raw SIP request over UDP from the host it runs on; prints the status line of the answer (or "timeout").
SIP_REQUEST = r"""
import socket, sys, uuid
method, host, user = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(4)
s.connect((host, 5060))
me, port = s.getsockname()
call = uuid.uuid4().hex
uri = "sip:%s%s:5060" % (user + "@" if user else "", host)
msg = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"
       "From: <sip:probe@%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:probe@%s:%d>\r\n"
       "Content-Length: 0\r\n\r\n") % (method, uri, me, port, call[:16], me, call[:8], uri, call, method, me, port)
s.send(msg.encode())
try:
    while True:
        line = s.recv(4096).decode().split("\r\n")[0]
        if not line.startswith("SIP/2.0 1"):
            break
except socket.timeout:
    line = "timeout"
print(line)
"""

READ_CALL = r"""
import json, sys
import pymongo
env = dict(line.split("=", 1) for line in open("/opt/followup/voice/shared/voice.env")
           if "=" in line and not line.startswith("#"))
uri = env["FOLLOWUP_MONGODB_URI"].strip().strip('"')
doc = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)["cdr"]["call_records"].find_one({"_id": sys.argv[1]})
print(json.dumps({k: doc[k] for k in ("task_id", "sip_code", "sip_call_id", "phone_masked")} if doc else None))
"""


@pytest.fixture(scope="module")
def address(host):
    return host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]


@pytest.fixture(scope="module")
def carrier(host):
    return testinfra.get_host("ansible://molecule-voice-carrier", ansible_inventory=host.backend.ansible_inventory)


@pytest.fixture(scope="module")
def stranger(host):
    """A host that is not the voice program: the MongoDB host."""
    return testinfra.get_host("ansible://molecule-voice-mongo", ansible_inventory=host.backend.ansible_inventory)


def sip(on, method, target, user=""):
    return on.check_output(f"python3 -c {shlex.quote(SIP_REQUEST)} {method} {target} {shlex.quote(user)}")


def trunk_state(host):
    out = host.run("/usr/local/sbin/followup-voice-trunks")
    assert out.rc in (0, 1), out.stderr
    return {t["name"]: t["state"] for t in json.loads(out.stdout)["trunks"]}


def place_call(host, address, phone, task_id):
    body = json.dumps({"task_id": task_id, "patient_id": 1, "phone": phone})
    return json.loads(
        host.check_output(
            f"curl -fsS -X POST -H 'Content-Type: application/json' -d '{body}' http://{address}:8090/api/calls"
        )
    )


def carrier_log(carrier, call_id):
    """The carrier's journal lines about one call (it logs every INVITE, ACK and BYE it receives)."""
    out = carrier.check_output("journalctl -t lab-carrier -o cat --no-pager")
    return [line for line in out.splitlines() if f"call_id={call_id} " in line]


def test_kamailio_and_the_voice_program_run(host):
    assert host.service("kamailio").is_running and host.service("kamailio").is_enabled
    assert host.service("followup-voice").is_running and host.service("followup-voice").is_enabled


def test_the_gateway_answers_sip_options_on_the_hosts_address(host, address):
    assert sip(host, "OPTIONS", address).startswith("SIP/2.0 200")


def test_nothing_listens_on_every_address(host, address):
    sockets = host.check_output("ss -H -lntu")
    for port in ("5060", "8090"):
        listening = [line.split()[4] for line in sockets.splitlines() if line.split()[4].endswith(f":{port}")]
        assert listening, port
        assert all(local.rsplit(":", 1)[0] == address for local in listening), (port, listening)


def test_kamailio_config_holds_the_credentials_readable_by_kamailio_only(host):
    cfg = host.file("/etc/kamailio/kamailio.cfg")
    assert cfg.mode == 0o640 and cfg.user == "root" and cfg.group == "kamailio"
    assert cfg.contains("Ansible managed")
    assert host.run("kamailio -c -f /etc/kamailio/kamailio.cfg").rc == 0
    trunks = host.file("/etc/kamailio/dispatcher.list")
    assert trunks.contains("duid=dead-trunk") and trunks.contains("duid=carrier")
    assert "molecule-test-only" not in trunks.content_string


def test_health_reports_mongodb_and_sip_on_the_hosts_address(host, address):
    health = json.loads(host.check_output(f"curl -fsS http://{address}:8090/health"))
    assert health["status"] == "UP"
    assert health["checks"]["mongodb"] == "UP" and health["checks"]["sip"] == "UP"


def test_the_dead_trunk_is_down_and_the_carrier_up(host):
    deadline = time.monotonic() + 30
    while trunk_state(host) != {"dead-trunk": "down", "carrier": "up"} and time.monotonic() < deadline:
        time.sleep(1)
    assert trunk_state(host) == {"dead-trunk": "down", "carrier": "up"}


@pytest.mark.parametrize(
    ("phone", "sip_code", "result"),
    [("19900000001", 200, "answered"), ("19900000010", 486, "busy"), ("19900000019", 480, "no_answer")],
)
def test_a_call_reaches_the_carrier_and_its_answer_lands_in_cdr(host, carrier, address, phone, sip_code, result):
    answer = place_call(host, address, phone, 900000 + sip_code)
    assert answer["sip_code"] == sip_code and answer["result"] == result
    record = json.loads(host.check_output(f"python3 -c {shlex.quote(READ_CALL)} {shlex.quote(answer['call_id'])}"))
    assert record["task_id"] == 900000 + sip_code and record["sip_code"] == sip_code
    assert record["sip_call_id"] == answer["sip_call_id"]
    assert phone not in json.dumps(record)  # only the masked number is stored
    # The carrier challenged the first INVITE and got the gateway's credentials in the second (CSeq + 1).
    invites = [line for line in carrier_log(carrier, answer["sip_call_id"]) if "lab-carrier: INVITE " in line]
    assert len(invites) == 2, invites
    assert f"number={phone} " in invites[0] and "cseq=1 " in invites[0]
    assert "auth=none answer=407" in invites[0]
    assert f"cseq=2 from={address}:5060 auth=user={INPUTS['lab_carrier_username']} answer={sip_code}" in invites[1]


def test_an_answered_call_is_acknowledged_and_hung_up_through_the_gateway(host, carrier, address):
    answer = place_call(host, address, "19900000002", 900002)
    assert answer["sip_code"] == 200
    lines = carrier_log(carrier, answer["sip_call_id"])
    acks = [line for line in lines if "lab-carrier: ACK " in line]
    byes = [line for line in lines if "lab-carrier: BYE " in line]
    # ACK and BYE came from the gateway (record-routed), with the CSeq the gateway shifted after the challenge.
    assert len(acks) == 1 and f"cseq=2 from={address}:5060" in acks[0], lines
    assert len(byes) == 1 and f"cseq=3 from={address}:5060" in byes[0], lines


def test_a_trunk_that_does_not_answer_makes_the_call_fail_over(host, carrier, address):
    # Put the dead trunk back in service, as if it had answered a probe, so that the next call tries it first;
    # probes are paused meanwhile (and one still under way is let finish) so that none marks it down before.
    kamcmd = "kamcmd -s unix:/run/kamailio/kamailio_ctl"
    host.check_output(f"{kamcmd} dispatcher.ping_active 0")
    try:
        time.sleep(INPUTS["followup_voice_trunk_timeout"] + 1)
        host.check_output(f"{kamcmd} dispatcher.set_state a 1 sip:molecule-voice-mongo:5099")
        assert trunk_state(host)["dead-trunk"] == "up"
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        started = time.monotonic()
        answer = place_call(host, address, "19900000003", 900003)
        elapsed = time.monotonic() - started
        assert trunk_state(host)["dead-trunk"] == "down"  # the failed call marked it down
    finally:
        host.check_output(f"{kamcmd} dispatcher.ping_active 1")
    assert answer["sip_code"] == 200
    assert elapsed >= INPUTS["followup_voice_trunk_timeout"]  # it waited for the dead trunk first
    log = host.check_output(f"journalctl -u kamailio -o cat --no-pager --since {shlex.quote(since)}")
    assert re.search(r"trunk dead-trunk did not answer within \d+ s: marked down", log), log
    assert "call relayed to trunk carrier" in log
    assert len([line for line in carrier_log(carrier, answer["sip_call_id"]) if "lab-carrier: INVITE " in line]) == 2


def test_a_request_from_anyone_but_the_voice_program_is_refused(stranger, address):
    assert sip(stranger, "INVITE", address, "19900000001").startswith("SIP/2.0 403")
    # OPTIONS to the gateway itself are answered for anyone (trunks and monitors probe it).
    assert sip(stranger, "OPTIONS", address).startswith("SIP/2.0 200")


def test_the_local_fact_tells_services_checks_and_trunks_without_secrets(host, address):
    fact = json.loads(host.file("/etc/ansible/facts.d/followup_voice.fact").content_string)
    assert fact["services"] == ["kamailio"]
    assert fact["checks"] == [{"name": "kamailio", "type": "sip", "host": address, "port": 5060}]
    assert [t["name"] for t in fact["trunks"]] == ["dead-trunk", "carrier"]
    assert fact["trunks"][1] == {
        "name": "carrier",
        "host": "molecule-voice-carrier",
        "port": 5060,
        "transport": "udp",
        "priority": 2,
    }
    assert "molecule-test-only" not in json.dumps(fact)
    assert host.run(fact["trunk_state_command"]).rc == 0


def test_no_password_on_any_command_line_or_in_the_journal(host, carrier):
    for on in (host, carrier):
        assert "molecule-test-only" not in on.check_output("ps -eo args")
        assert "molecule-test-only" not in on.check_output("journalctl -o cat --no-pager")
