"""A follow-up call through the whole lab reaches the telephone network: a request through the fep's nginx makes the
app ask the voice program to call; kamailio on voice1 relays the INVITE to the lab's carrier (carrier1), answers
its digest challenge, and the carrier's real answer (486, 480 or 200 by the number's last digit) is what lands in
cdr.call_records. carrier1's journal is read over `docker exec`, cdr through the app host (as `lab smoke` does)."""

import json
import secrets
import ssl
import subprocess
import time
import urllib.request

import pytest

FEP = "https://10.89.50.11"
VOICE = "10.89.50.13"
CARRIER_USER = "followup-gw"  # inventories/lab/group_vars/carrier/lab_carrier.yml

READ_CALL = r"""
import json, sys
import pymongo
env = dict(line.split("=", 1) for line in open("/opt/followup/app/shared/app.env")
           if "=" in line and not line.startswith("#"))
uri = env["FOLLOWUP_MONGODB_URI"].strip().strip('"')
doc = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)["cdr"]["call_records"].find_one({"_id": sys.argv[1]})
print(json.dumps({k: doc[k] for k in ("task_id", "sip_code", "sip_reason", "sip_call_id")} if doc else None))
"""

# A raw SIP INVITE over UDP from the host it runs on; prints the status line of the final answer (or "timeout").
SIP_INVITE = r"""
import socket, sys, uuid
host = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(4)
s.connect((host, 5060))
me, port = s.getsockname()
call = uuid.uuid4().hex
uri = "sip:19900000001@%s:5060" % host
msg = ("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\nMax-Forwards: 70\r\n"
       "From: <sip:probe@%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@%s:%d>\r\n"
       "Content-Length: 0\r\n\r\n") % (uri, me, port, call[:16], me, call[:8], uri, call, me, port)
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


def docker_exec(host, *command):
    proc = subprocess.run(
        ["docker", "exec", f"followup-lab-{host}", *command], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"{host}: {' '.join(command)[:80]}: {proc.stderr.strip()[-500:]}"
    return proc.stdout


def through_the_fep(path, body):
    request = urllib.request.Request(  # noqa: S310 - a fixed https:// URL of the lab's fep
        FEP + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab's fep has a self-signed certificate
    with urllib.request.urlopen(request, context=context, timeout=90) as answer:  # noqa: S310 - fixed https URL
        assert answer.status == 201
        return json.loads(answer.read())


def carrier_log(call_id):
    out = docker_exec("carrier1", "journalctl", "-t", "lab-carrier", "-o", "cat", "--no-pager")
    return [line for line in out.splitlines() if f"call_id={call_id} " in line]


@pytest.fixture(scope="module")
def calls(deployed):
    """One synthetic patient per outcome, each called now through the fep: {expected code: (phone, call)}."""
    made = {}
    for last_digit, code in (("0", 486), ("9", 480), ("1", 200)):
        phone = "199" + "".join(secrets.choice("0123456789") for _ in range(7)) + last_digit
        patient = through_the_fep(
            "/api/patients",
            {
                "patient_no": "VOICE-" + secrets.token_hex(5).upper(),
                "name": "测试患者",
                "gender": "F",
                "birth_date": "1960-01-01",
                "phone": phone,
                "department": "心内科",
                "diagnosis": "高血压",
                "discharge_date": "2026-11-01",
            },
        )
        answer = through_the_fep("/api/tasks", {"patient_id": patient["id"], "channel": "voice", "call_now": True})
        made[code] = (phone, answer["call"])
    return made


def test_the_lab_gateway_has_the_carrier_as_its_trunk_and_it_is_up(deployed):
    # After kamailio (re)starts, a trunk is "trying" until its OPTIONS probes have answered.
    deadline = time.monotonic() + 60
    while True:
        proc = subprocess.run(
            ["docker", "exec", "followup-lab-voice1", "/usr/local/sbin/followup-voice-trunks"],
            capture_output=True,
            text=True,
        )
        state = json.loads(proc.stdout)
        if [(t["name"], t["state"]) for t in state["trunks"]] == [("carrier1", "up")] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert [(t["name"], t["state"]) for t in state["trunks"]] == [("carrier1", "up")], state
    assert proc.returncode == 0


@pytest.mark.parametrize("code", [486, 480, 200])
def test_a_call_through_the_fep_reaches_the_carrier_and_its_answer_lands_in_cdr(calls, code):
    phone, call = calls[code]
    assert call["sip_code"] == code
    invites = [line for line in carrier_log(call["sip_call_id"]) if "lab-carrier: INVITE " in line]
    # The carrier challenged the gateway's first INVITE and answered the authenticated one.
    assert len(invites) == 2, invites
    assert f"number={phone} " in invites[0] and f"from={VOICE}:5060 auth=none answer=407" in invites[0]
    assert f"number={phone} " in invites[1]
    assert f"from={VOICE}:5060 auth=user={CARRIER_USER} answer={code}" in invites[1]
    record = json.loads(docker_exec("app1", "python3", "-c", READ_CALL, call["call_id"]))
    assert record is not None, f"call {call['call_id']} is not in cdr.call_records"
    assert record["sip_code"] == code and record["sip_call_id"] == call["sip_call_id"]


def test_an_answered_call_is_acknowledged_and_hung_up_through_the_gateway(calls):
    _, call = calls[200]
    lines = carrier_log(call["sip_call_id"])
    assert [line for line in lines if "lab-carrier: ACK " in line and f"from={VOICE}:5060" in line], lines
    assert [line for line in lines if "lab-carrier: BYE " in line and f"from={VOICE}:5060" in line], lines


def test_only_the_voice_program_may_call_through_the_gateway(deployed):
    answer = docker_exec("fep1", "python3", "-c", SIP_INVITE, VOICE).strip()
    assert answer.startswith("SIP/2.0 403"), answer


def test_no_secret_in_the_gateways_or_the_carriers_journal(calls, vault_values):
    for host in ("voice1", "carrier1"):
        journal = docker_exec(host, "sh", "-c", "journalctl -o cat --no-pager | tail -n 20000")
        leaks = [value[:4] + "…" for value in vault_values if len(value) >= 8 and value in journal]
        assert leaks == [], f"{host}: {leaks}"
