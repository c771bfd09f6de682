"""Voice service, interface exchange logic and shared helpers."""

import datetime
import json
import threading

import pytest
from followup_common import codes, config
from followup_common.httpclient import UpstreamError, request_json
from followup_common.httpd import HttpError, Request, Router, make_server
from followup_fep import exchange
from followup_voice import service
from followup_voice.sip import CallOutcome


# -- voice -------------------------------------------------------------------------------------------------
class FakeUac:
    def __init__(self, code=200, options=(200, "OK")):
        self.code = code
        self.options_answer = options
        self.numbers = []

    def call(self, number):
        self.numbers.append(number)
        outcome = CallOutcome("abc@127.0.0.1")
        outcome.started_at = 1_790_000_000.0
        outcome.sip_code = self.code
        outcome.reason = "OK"
        if self.code == 200:
            outcome.answered_at = outcome.started_at + 5
        outcome.ended_at = outcome.started_at + 80
        return outcome

    def options(self, timeout=2.0):
        return self.options_answer


class FakeCollection:
    def __init__(self):
        self.docs = []

    def insert_one(self, doc):
        self.docs.append(doc)


class FakeDb(dict):
    def __init__(self):
        super().__init__(call_records=FakeCollection())

    def command(self, name):
        return {"ok": 1}


def voice(version="1.2.0", uac=None):
    svc = service.VoiceService(uac or FakeUac(), FakeDb(), version, "2026-09-07")
    return svc, svc.router()


def post(router, path, body):
    return router.dispatch(Request("POST", path, {}, json.dumps(body).encode()))


@pytest.mark.parametrize(
    ("version", "result", "duration"),
    [("1.0.0", "接通", "01:15"), ("1.1.0", "接通", "01:15"), ("1.2.0", "answered", 75)],
)
def test_call_record_format_per_release(version, result, duration):
    svc, router = voice(version)
    status, body = post(router, "/api/calls", {"task_id": 3, "patient_id": 7, "phone": "+8619900001231"})
    assert status == 201 and body["result"] == "answered" and body["sip_code"] == 200
    (doc,) = svc.db["call_records"].docs
    assert doc["_id"] == body["call_id"] and doc["result"] == result and doc["duration"] == duration
    assert doc["phone_masked"] == "+86*******1231" and "19900001231" not in json.dumps(doc, default=str)
    assert doc["task_id"] == 3 and doc["sip_call_id"] == "abc@127.0.0.1"
    assert svc.uac.numbers == ["8619900001231"]


@pytest.mark.parametrize(("code", "result"), [(486, "busy"), (480, "no_answer"), (503, "failed"), (None, "failed")])
def test_refused_calls_map_to_results(code, result):
    _svc, router = voice(uac=FakeUac(code))
    status, body = post(router, "/api/calls", {"task_id": 3, "patient_id": 7, "phone": "19900001230"})
    assert status == 201 and body["result"] == result and body["duration_seconds"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"patient_id": 7, "phone": "1"}, "task_id"),
        ({"task_id": 1, "phone": "199"}, "patient_id"),
        ({"task_id": 1, "patient_id": 7, "phone": "abc"}, "phone"),
        ({"task_id": 1, "patient_id": 7}, "phone"),
    ],
)
def test_call_input_is_validated(body, field):
    svc, router = voice()
    status, answer = post(router, "/api/calls", body)
    assert (status, answer["field"]) == (400, field) and svc.uac.numbers == []


def test_voice_health_needs_a_sip_answer():
    _, router = voice(uac=FakeUac(options=(None, "timeout")))
    status, body = router.dispatch(Request("GET", "/health"))
    assert status == 503 and body["checks"] == {"mongodb": "UP", "sip": "DOWN"}
    _, router = voice()
    assert router.dispatch(Request("GET", "/health"))[1]["checks"] == {"mongodb": "UP", "sip": "UP"}


# -- fep ---------------------------------------------------------------------------------------------------
ROW = {
    "id": 1,
    "his_patient_id": "HIS1",
    "name": "张伟",
    "gender": "M",
    "birth_date": datetime.date(1950, 1, 1),
    "phone": "19800000001",
    "department": None,
    "diagnosis": "肺炎",
    "discharge_date": datetime.date(2026, 3, 1),
    "plan_code": "PLN002",
}
PLANS = {"PLN002": {"id": 2, "plan_code": "PLN002", "interval_days": 30, "channel": "voice"}}


class FakeApp:
    def __init__(self, patient=(201, {"id": 9}), task=(201, {"task": {"id": 90}}), down=False):
        self.patient, self.task, self.down = patient, task, down
        self.sent = []

    def create_patient(self, payload):
        if self.down:
            raise UpstreamError("refused")
        self.sent.append(payload)
        return self.patient

    def create_task(self, payload):
        self.sent.append(payload)
        return self.task


def send(app, row=ROW, version=(1, 1, 0)):
    return exchange.Exchange(None, app, version).send_row(row, PLANS, datetime.date(2026, 3, 10))


def test_inbound_row_becomes_patient_and_first_task():
    app = FakeApp()
    assert send(app) == ("sent", 9, 90, None)
    patient, task = app.sent
    assert patient == {
        "his_patient_id": "HIS1",
        "source": "his",
        "name": "张伟",
        "gender": "M",
        "phone": "19800000001",
        "diagnosis": "肺炎",
        "birth_date": "1950-01-01",
        "discharge_date": "2026-03-01",
    }
    assert task == {"patient_id": 9, "plan_id": 2, "due_date": "2026-03-31", "channel": "voice"}


def test_inbound_outcomes():
    assert send(FakeApp(patient=(409, {"field": "his_patient_id", "id": 4})))[:3] == ("sent", 4, 90)
    assert send(FakeApp(patient=(400, {"error": "phone bad", "field": "phone"})))[0] == "error"
    assert send(FakeApp(patient=(503, {"error": "db"})))[0] == "retry"
    assert send(FakeApp(down=True))[0] == "retry"
    outcome = send(FakeApp(), row={**ROW, "plan_code": "NOPE"})
    assert outcome[:2] == ("error", 9) and "NOPE" in outcome[3]
    assert send(FakeApp(), row={**ROW, "plan_code": None}) == ("sent", 9, None, None)


def test_first_due_date_and_retry_delay():
    plan = {"interval_days": 14}
    assert exchange.first_due_date(datetime.date(2026, 1, 1), plan, datetime.date(2026, 1, 5)) == datetime.date(
        2026, 1, 15
    )
    assert exchange.first_due_date(datetime.date(2025, 1, 1), plan, datetime.date(2026, 1, 5)) == datetime.date(
        2026, 1, 5
    )
    assert exchange.first_due_date(None, plan, datetime.date(2026, 1, 5)) == datetime.date(2026, 1, 5)
    assert [exchange.retry_delay(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize("version", [(1, 1, 0), (1, 2, 0)])
def test_outbound_rows_carry_duration_from_1_2(version):
    ex = exchange.Exchange(None, None, version)
    items = [
        {
            "id": 5,
            "patient_id": 9,
            "plan_id": 2,
            "call_id": "C1",
            "call_result": "answered",
            "completed_at": "2026-03-31T02:00:00",
            "call_duration_seconds": 61,
        }
    ]
    columns, rows = ex.result_rows(items, {9: "HIS1"})
    values = dict(zip(columns, rows[0], strict=True))
    assert values["his_patient_id"] == "HIS1" and values["completed_at"] == datetime.datetime(2026, 3, 31, 2)
    assert values.get("call_duration_seconds") == (61 if version >= (1, 2, 0) else None)


# -- common ------------------------------------------------------------------------------------------------
def test_redact_uri_hides_only_the_password():
    uri = "mongodb://cdr_app:s3cr%40t:x@10.0.0.1:27017/cdr?authMechanism=PLAIN"
    redacted = config.redact_uri(uri)
    assert "s3cr" not in redacted and redacted.startswith("mongodb://cdr_app:***@")
    assert config.redact_uri("mongodb://host:27017/cdr") == "mongodb://host:27017/cdr"


def test_settings_come_from_the_environment():
    environ = {
        "FOLLOWUP_MYSQL_HOST": "db",
        "FOLLOWUP_MYSQL_USER": "u",
        "FOLLOWUP_MYSQL_PASSWORD": "p",
        "FOLLOWUP_MYSQL_DATABASE": "cloud_followup",
        "FOLLOWUP_LISTEN": "[::1]:9000",
    }
    assert config.mysql_settings(environ)["port"] == 3306
    assert config.listen_address(8080, environ) == ("::1", 9000)
    assert config.listen_address(8080, {}) == ("0.0.0.0", 8080)  # noqa: S104
    with pytest.raises(config.ConfigError, match="FOLLOWUP_MYSQL_PASSWORD"):
        config.mysql_settings({k: v for k, v in environ.items() if k != "FOLLOWUP_MYSQL_PASSWORD"})
    with pytest.raises(config.ConfigError):
        config.parse_host_port("host:99999")


def test_codes_helpers():
    assert codes.mask_phone("19900001234") == "199****1234"
    assert codes.mask_phone("1234") == "****"
    assert codes.format_duration(205) == "03:25" and codes.parse_duration("03:25") == 205
    assert codes.parse_duration(7) == 7 and codes.parse_duration("x") is None and codes.parse_duration(True) is None
    assert codes.task_status_code("待随访") == "pending" and codes.task_status_code("nope") is None
    assert codes.result_for_sip_code(200) == "answered" and codes.result_for_sip_code(486) == "busy"


def test_router_and_server_speak_json_over_http():
    import logging

    router = Router(logging.getLogger("test"))
    router.add("GET", "/echo/([0-9]+)", lambda request, n: {"n": int(n), "q": request.query.get("q")})
    router.add("POST", "/fail", lambda request: (_ for _ in ()).throw(HttpError(400, "bad", field="x")))
    router.add("GET", "/boom", lambda request: 1 / 0)
    server = make_server(router, ("127.0.0.1", 0), logging.getLogger("test"), "test/1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert request_json("GET", f"{base}/echo/5?q=%E9%9A%8F%E8%AE%BF") == (200, {"n": 5, "q": "随访"})
        assert request_json("POST", f"{base}/fail", {"a": 1}) == (400, {"error": "bad", "field": "x"})
        assert request_json("GET", f"{base}/boom") == (500, {"error": "internal error"})
        assert request_json("GET", f"{base}/none")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(UpstreamError):
        request_json("GET", f"{base}/echo/1", timeout=1)
