"""The voice gateway after converge: kamailio answers SIP, the voice program places calls over SIP and writes
their call records to MongoDB (cdr)."""

import json
import shlex

import pytest

testinfra_hosts = ["ansible://molecule-voice"]

OPTIONS_PROBE = r"""
import socket, sys, uuid
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("127.0.0.1", 5060))
host, port = s.getsockname()
call = uuid.uuid4().hex
msg = ("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\n"
       "From: <sip:probe@%s>;tag=1\r\nTo: <sip:127.0.0.1:5060>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"
       "Content-Length: 0\r\n\r\n") % (host, port, call[:12], host, call)
s.send(msg.encode())
print(s.recv(4096).decode().split("\r\n")[0])
"""

READ_CALL = r"""
import json, os, sys
import pymongo
env = dict(line.split("=", 1) for line in open("/opt/followup/voice/shared/voice.env")
           if "=" in line and not line.startswith("#"))
uri = env["FOLLOWUP_MONGODB_URI"].strip().strip('"')
doc = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)["cdr"]["call_records"].find_one({"_id": sys.argv[1]})
print(json.dumps({k: doc[k] for k in ("task_id", "sip_code", "phone_masked")} if doc else None))
"""


def test_kamailio_and_the_voice_program_run(host):
    assert host.service("kamailio").is_running and host.service("kamailio").is_enabled
    assert host.service("followup-voice").is_running and host.service("followup-voice").is_enabled


def test_kamailio_answers_a_real_sip_options_request(host):
    out = host.check_output(f"python3 -c {shlex.quote(OPTIONS_PROBE)}")
    assert out.startswith("SIP/2.0 200")


def test_kamailio_config_is_checked_and_managed(host):
    cfg = host.file("/etc/kamailio/kamailio.cfg")
    assert cfg.contains("Ansible managed") and cfg.mode == 0o644
    assert host.run("kamailio -c -f /etc/kamailio/kamailio.cfg").rc == 0


def test_health_reports_mongodb_and_sip(host):
    health = json.loads(host.check_output("curl -fsS http://127.0.0.1:8090/health"))
    assert health["status"] == "UP"
    assert health["checks"]["mongodb"] == "UP" and health["checks"]["sip"] == "UP"


@pytest.mark.parametrize(
    ("phone", "sip_code", "result"),
    [("19900000001", 200, "answered"), ("19900000010", 486, "busy"), ("19900000019", 480, "no_answer")],
)
def test_a_call_goes_over_sip_and_its_record_lands_in_cdr(host, phone, sip_code, result):
    body = json.dumps({"task_id": 900000 + sip_code, "patient_id": 1, "phone": phone})
    answer = json.loads(
        host.check_output(
            f"curl -fsS -X POST -H 'Content-Type: application/json' -d '{body}' http://127.0.0.1:8090/api/calls"
        )
    )
    assert answer["sip_code"] == sip_code and answer["result"] == result
    record = json.loads(host.check_output(f"python3 -c {shlex.quote(READ_CALL)} {shlex.quote(answer['call_id'])}"))
    assert record["task_id"] == 900000 + sip_code and record["sip_code"] == sip_code
    assert phone not in json.dumps(record)  # only the masked number is stored


def test_no_password_on_any_command_line(host):
    assert "molecule-test-only" not in host.check_output("ps -eo args")
