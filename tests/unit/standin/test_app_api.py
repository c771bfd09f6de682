"""The application's handlers with fake stores: validation (400 naming the field), 404s, the call flow, health."""

import datetime
import json

import pytest
from followup_app import api
from followup_app.store import Conflict, Store
from followup_common.httpclient import UpstreamError
from followup_common.httpd import Request

PATIENT = {
    "id": 7,
    "patient_no": "P0000007",
    "his_patient_id": None,
    "name": "王芳",
    "gender": "F",
    "birth_date": datetime.date(1960, 1, 2),
    "phone": "19900000007",
    "department": "骨科",
    "diagnosis": "骨折术后",
    "discharge_date": datetime.date(2026, 1, 1),
    "source": "seed",
}


class FakeStore:
    def __init__(self):
        self.created = []
        self.calls = []
        self.task_filters = None
        self.down = False

    def ping(self):
        if self.down:
            raise ConnectionError("gone")
        return True

    def list_patients(self, limit, offset):
        return [PATIENT]

    def get_patient(self, patient_id):
        return PATIENT if patient_id == 7 else None

    def create_patient(self, data):
        if data.get("his_patient_id") == "DUP":
            raise Conflict("his_patient_id", 7)
        self.created.append(data)
        return {"id": 8, **data}

    def get_plan(self, plan_id=None, plan_code=None):
        return {"id": 3, "plan_code": "PLN001"} if plan_id == 3 or plan_code == "PLN001" else None

    def list_tasks(self, status, patient_id, limit, after_id, completed_after):
        self.task_filters = (status, patient_id, limit, after_id, completed_after)
        return []

    def get_task(self, task_id):
        return {"id": task_id, "patient_id": 7, "status": "pending"} if task_id == 100 else None

    def create_task(self, patient_id, plan_id, due_date, channel):
        self.created.append((patient_id, plan_id, due_date, channel))
        return {"id": 100, "patient_id": patient_id, "plan_id": plan_id, "status": "pending"}

    def record_call(self, task_id, call_id, result, duration_seconds=None):
        self.calls.append((task_id, call_id, result, duration_seconds))
        return {"id": task_id, "status": "completed" if result == "answered" else "failed", "call_id": call_id}

    def get_reference(self, kind, entry_id):
        return {"id": entry_id} if entry_id == 1 else None

    def create_reference(self, kind, data):
        self.created.append((kind, data))
        return {"id": 1, **data}


class FakeCdr:
    def __init__(self):
        self.docs = []

    def ping(self):
        return True

    def calls_for_task(self, task_id):
        return [{"call_id": "C1", "task_id": task_id}]

    def documents_for_patient(self, patient_id):
        return []

    def insert_document(self, doc):
        self.docs.append(doc)
        return {"id": "x", **doc}


class FakeVoice:
    def __init__(self, answer=None, fail=False):
        self.answer = answer or {"call_id": "C9", "result": "answered", "sip_code": 200, "duration_seconds": 12}
        self.fail = fail
        self.placed = []

    def place_call(self, task_id, patient_id, phone):
        self.placed.append((task_id, patient_id, phone))
        if self.fail:
            raise UpstreamError("connection refused")
        return self.answer


def make(version="1.2.0", voice=None):
    app = api.App(FakeStore(), FakeCdr(), voice or FakeVoice(), version, "2026-09-07")
    return app, app.router()


def call(router, method, path, body=None, query=None):
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None and not isinstance(body, bytes) else body
    return router.dispatch(Request(method, path, query or {}, raw or b""))


VALID_PATIENT = {"name": "李明", "phone": "199-0000-1234", "gender": "男", "birth_date": "1970-05-06"}


def test_create_patient_normalises_input():
    app, router = make()
    status, _body = call(router, "POST", "/api/patients", VALID_PATIENT)
    assert status == 201
    stored = app.store.created[0]
    assert stored["phone"] == "19900001234" and stored["gender"] == "M"
    assert stored["birth_date"] == datetime.date(1970, 5, 6) and stored["source"] == "api"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"phone": "12ab"}, "phone"),
        ({"phone": None}, "phone"),
        ({"gender": "X"}, "gender"),
        ({"birth_date": "1970-13-01"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"patient_no": "lower"}, "patient_no"),
        ({"favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_create_patient_rejects_bad_fields(change, field):
    _, router = make()
    body = {**VALID_PATIENT, **change}
    body = {k: v for k, v in body.items() if v is not None}
    status, answer = call(router, "POST", "/api/patients", body)
    assert status == 400 and answer["field"] == field and answer["error"]


def test_duplicate_his_patient_is_a_conflict_naming_the_existing_patient():
    _, router = make()
    status, body = call(router, "POST", "/api/patients", {**VALID_PATIENT, "his_patient_id": "DUP"})
    assert status == 409 and body["field"] == "his_patient_id" and body["id"] == 7


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", "\xff".encode("latin-1")])
def test_body_must_be_a_json_object(raw):
    _, router = make()
    status, body = call(router, "POST", "/api/patients", raw)
    assert status == 400 and "JSON" in body["error"]


def test_patient_list_masks_phone_numbers_and_detail_404s():
    _, router = make()
    status, body = call(router, "GET", "/api/patients", query={"limit": "10"})
    assert status == 200 and body["items"][0]["phone"] == "199****0007"
    assert "birth_date" not in body["items"][0]
    assert call(router, "GET", "/api/patients/7")[0] == 200
    assert call(router, "GET", "/api/patients/8")[0] == 404
    assert call(router, "GET", "/api/patients/abc")[0] == 404
    assert call(router, "GET", "/api/patients", query={"limit": "0"})[1]["field"] == "limit"


def test_call_now_task_places_the_call_and_records_its_result():
    app, router = make()
    status, body = call(router, "POST", "/api/tasks", {"patient_id": 7, "plan_id": 3, "call_now": True})
    assert status == 201
    assert app.voice.placed == [(100, 7, "19900000007")]
    assert app.store.calls == [(100, "C9", "answered", 12)]
    assert body["call"]["call_id"] == "C9" and body["task"]["status"] == "completed"
    _, plan_id, due_date, channel = app.store.created[0]
    assert plan_id == 3 and channel == "voice" and due_date == datetime.datetime.now(datetime.UTC).date()


def test_task_without_call_is_not_dialled():
    app, router = make()
    status, body = call(
        router, "POST", "/api/tasks", {"patient_id": 7, "plan_code": "PLN001", "due_date": "2026-12-01"}
    )
    assert status == 201 and "call" not in body and app.voice.placed == []
    assert app.store.created[0][2] == datetime.date(2026, 12, 1)


def test_voice_outage_leaves_the_task_pending():
    app, router = make(voice=FakeVoice(fail=True))
    status, body = call(router, "POST", "/api/tasks", {"patient_id": 7, "call_now": True})
    assert status == 502 and body["task"]["status"] == "pending" and app.store.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "patient_id"),
        ({"patient_id": "x"}, "patient_id"),
        ({"patient_id": True}, "patient_id"),
        ({"patient_id": 0}, "patient_id"),
        ({"patient_id": 999}, "patient_id"),
        ({"patient_id": 7, "plan_id": 4}, "plan_id"),
        ({"patient_id": 7, "plan_code": "NOPE"}, "plan_code"),
        ({"patient_id": 7, "plan_id": 3, "plan_code": "PLN001"}, "plan_code"),
        ({"patient_id": 7, "due_date": "tomorrow"}, "due_date"),
        ({"patient_id": 7, "channel": "fax"}, "channel"),
        ({"patient_id": 7, "channel": "sms", "call_now": True}, "call_now"),
        ({"patient_id": 7, "call_now": "yes"}, "call_now"),
    ],
)
def test_create_task_rejects_bad_fields(body, field):
    app, router = make()
    status, answer = call(router, "POST", "/api/tasks", body)
    assert (status, answer["field"]) == (400, field)
    assert app.voice.placed == []


def test_task_list_accepts_codes_and_chinese_status():
    app, router = make()
    assert call(router, "GET", "/api/tasks", query={"status": "已完成", "patient_id": "7"})[0] == 200
    assert app.store.task_filters[:2] == ("completed", 7)
    status, body = call(router, "GET", "/api/tasks", query={"status": "done"})
    assert status == 400 and body["field"] == "status"
    call(router, "GET", "/api/tasks", query={"status": "completed", "completed_after": "2026-01-01T00:00:00Z"})
    assert app.store.task_filters[4] == datetime.datetime(2026, 1, 1)
    assert call(router, "GET", "/api/tasks/100")[0] == 200
    assert call(router, "GET", "/api/tasks/101")[0] == 404


def test_health_reports_the_failing_check():
    app, router = make()
    status, body = call(router, "GET", "/health")
    assert status == 200 and body == {"status": "UP", "version": "1.2.0", "checks": {"mysql": "UP", "mongodb": "UP"}}
    app.store.down = True
    status, body = call(router, "GET", "/health")
    assert status == 503 and body["status"] == "DOWN" and body["checks"] == {"mysql": "DOWN", "mongodb": "UP"}
    assert "gone" in body["reasons"]["mysql"]


def test_version_and_unknown_routes():
    _, router = make()
    assert call(router, "GET", "/version") == (200, {"version": "1.2.0", "release_date": "2026-09-07"})
    assert call(router, "GET", "/nothing")[0] == 404
    assert call(router, "DELETE", "/api/patients")[0] == 405


def test_reference_data_validation():
    app, router = make()
    status, body = call(router, "POST", "/api/questionnaires", {"title": "满意度", "questions": ["满意吗？"]})
    assert status == 201 and app.store.created[0][1]["questions"][0] == {
        "text": "满意吗？",
        "type": "text",
        "options": [],
    }
    assert call(router, "POST", "/api/questionnaires", {"title": "空", "questions": []})[1]["field"] == "questions"
    status, body = call(
        router, "POST", "/api/education", {"title": "饮食", "category": "outpatient", "content": "少盐"}
    )
    assert status == 201 and body["category"] == "门诊" and app.store.created[1][1]["category"] == "门诊"
    assert call(router, "POST", "/api/education", {"title": "饮食", "content": ""})[1]["field"] == "content"
    status, _body = call(
        router, "POST", "/api/knowledge", {"title": "高血压", "content": "…", "tags": ["心内", "慢病"]}
    )
    assert status == 201 and app.store.created[2][1]["tags"] == "心内,慢病"
    assert call(router, "POST", "/api/knowledge", {"title": "x", "content": "y", "tags": ["a,b"]})[1]["field"] == "tags"
    assert call(router, "POST", "/api/plans", {"name": "方案", "questionnaire_id": 2})[1]["field"] == "questionnaire_id"
    assert call(router, "POST", "/api/plans", {"name": "方案", "interval_days": 0})[1]["field"] == "interval_days"


def test_documents_follow_the_release():
    app, router = make("1.0.0")
    doc = {"patient_id": 7, "title": "出院小结", "content": "恢复良好"}
    assert call(router, "POST", "/api/documents", {**doc, "category": "随访记录"})[1]["field"] == "category"
    assert call(router, "POST", "/api/documents", doc)[0] == 201 and "category" not in app.cdr.docs[0]
    app, router = make("1.1.0")
    assert call(router, "POST", "/api/documents", doc)[0] == 201 and app.cdr.docs[0]["category"] == "随访记录"
    assert call(router, "POST", "/api/documents", {**doc, "task_id": 101})[1]["field"] == "task_id"
    assert call(router, "GET", "/api/calls")[1]["field"] == "task_id"
    assert call(router, "GET", "/api/calls", query={"task_id": "100"})[1]["items"][0]["task_id"] == 100


class RecordingCursor:
    def __init__(self, log, rows):
        self.log, self.rows = log, rows
        self.lastrowid = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.log.append((sql, params))

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


class RecordingPool:
    def __init__(self, rows=()):
        self.log = []
        self.rows = list(rows)
        self.commits = 0

    def connection(self):
        pool = self

        class Conn:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def cursor(self):
                return RecordingCursor(pool.log, pool.rows)

            def commit(self):
                pool.commits += 1

        return Conn()


@pytest.mark.parametrize(
    ("version", "column", "value"),
    [((1, 0, 0), "status = %s", "已完成"), ((1, 1, 0), "status_code = %s", "completed")],
)
def test_store_filters_tasks_by_the_status_column_of_its_release(version, column, value):
    pool = RecordingPool()
    Store(pool, version).list_tasks(status="completed", limit=5)
    sql, params = pool.log[0]
    assert column in sql and params[0] == value
    assert ("status_code" in sql) == (version >= (1, 1, 0))
    assert ("call_duration_seconds" in sql) == (version >= (1, 2, 0))


def test_store_task_view_maps_old_status_text():
    store = Store(RecordingPool(), (1, 0, 0))
    assert store.task_view({"id": 1, "status": "失败"})["status"] == "failed"
    store = Store(RecordingPool(), (1, 1, 0))
    view = store.task_view({"id": 1, "status": "待随访", "status_code": "completed"})
    assert view["status"] == "completed" and view["status_text"] == "已完成"


@pytest.mark.parametrize("version", [(1, 0, 0), (1, 1, 0), (1, 2, 0)])
def test_store_record_call_writes_the_columns_of_its_release(version):
    pool = RecordingPool(rows=[{"id": 5, "status": "已完成"}])
    Store(pool, version).record_call(5, "C1", "answered", 30)
    sql, params = pool.log[0]
    assert sql.startswith("UPDATE followup_tasks") and params[-1] == 5 and "已完成" in params
    assert ("status_code" in sql) == (version >= (1, 1, 0))
    assert ("attempts = attempts + 1" in sql) == (version >= (1, 2, 0))
    assert pool.commits == 1
