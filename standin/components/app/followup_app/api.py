"""随访应用 HTTP 接口 The application's HTTP JSON API: routes, validation and the follow-up call flow."""

import datetime
import logging

import pymongo.errors
import pymysql
from followup_common import validation as v
from followup_common.codes import EDUCATION_CATEGORY, TASK_STATUS_TEXT, mask_phone, task_status_code
from followup_common.httpclient import UpstreamError, request_json
from followup_common.httpd import HttpError, Router

from .store import Conflict

GENDERS = {"M": "M", "F": "F", "U": "U", "男": "M", "女": "F", "未知": "U"}
CHANNELS = {name: name for name in ("voice", "sms", "app", "manual")}
CODE_PATTERN = r"[A-Za-z0-9_-]{1,32}"
QUESTION_TYPES = {"single", "multi", "text", "score"}


def today():
    return datetime.datetime.now(datetime.UTC).date()


class VoiceClient:
    """Calls the voice program: POST {FOLLOWUP_VOICE_URL}/api/calls."""

    def __init__(self, base_url, timeout=90.0):
        self.base_url = base_url
        self.timeout = timeout

    def place_call(self, task_id, patient_id, phone):
        status, body = request_json(
            "POST",
            f"{self.base_url}/api/calls",
            {"task_id": task_id, "patient_id": patient_id, "phone": phone},
            timeout=self.timeout,
        )
        if status != 200 and status != 201:
            raise UpstreamError(f"voice program answered {status}: {body.get('error', '')}")
        return body


def patient_summary(row):
    """List view: no full phone number, no birth date."""
    return {
        "id": row["id"],
        "patient_no": row["patient_no"],
        "name": row["name"],
        "gender": row["gender"],
        "phone": mask_phone(row["phone"]),
        "department": row.get("department"),
        "discharge_date": row.get("discharge_date"),
    }


def map_errors(exc):
    """Database failures become 503 with a short reason (details go to the log)."""
    if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
        logging.getLogger("followup_app").error("MySQL error: %s", exc)
        return 503, {"error": "cloud_followup database unavailable"}
    if isinstance(exc, pymongo.errors.PyMongoError):
        logging.getLogger("followup_app").error("MongoDB error: %s", exc.__class__.__name__)
        return 503, {"error": "cdr database unavailable"}
    return None


class App:
    def __init__(self, store, cdr, voice, version, release_date, log=None):
        self.store = store
        self.cdr = cdr
        self.voice = voice
        self.version = version
        self.release_date = release_date
        self.version_info = tuple(int(part) for part in version.split("."))
        self.log = log or logging.getLogger("followup_app")

    def router(self):
        router = Router(self.log, map_errors)
        router.add("GET", "/health", self.health)
        router.add("GET", "/version", self.get_version)
        router.add("GET", "/api/patients", self.list_patients)
        router.add("POST", "/api/patients", self.create_patient)
        router.add("GET", r"/api/patients/([^/]+)", self.get_patient)
        router.add("GET", "/api/plans", self.list_plans)
        router.add("POST", "/api/plans", self.create_plan)
        router.add("GET", r"/api/plans/([^/]+)", self.get_plan)
        router.add("GET", "/api/tasks", self.list_tasks)
        router.add("POST", "/api/tasks", self.create_task)
        router.add("GET", r"/api/tasks/([^/]+)", self.get_task)
        for kind in ("questionnaires", "education", "knowledge"):
            router.add("GET", f"/api/{kind}", self._lister(kind))
            router.add("POST", f"/api/{kind}", self._creator(kind))
        router.add("GET", "/api/calls", self.list_calls)
        router.add("GET", "/api/documents", self.list_documents)
        router.add("POST", "/api/documents", self.create_document)
        return router

    # -- service ------------------------------------------------------------------------------------------
    def health(self, _request):
        checks, reasons = {}, {}
        for name, check in (("mysql", self.store.ping), ("mongodb", self.cdr.ping)):
            try:
                check()
                checks[name] = "UP"
            except Exception as exc:
                checks[name] = "DOWN"
                reasons[name] = short_reason(exc)
        up = all(state == "UP" for state in checks.values())
        body = {"status": "UP" if up else "DOWN", "version": self.version, "checks": checks}
        if reasons:
            body["reasons"] = reasons
        return (200 if up else 503), body

    def get_version(self, _request):
        return {"version": self.version, "release_date": self.release_date}

    # -- patients -----------------------------------------------------------------------------------------
    def list_patients(self, request):
        limit, offset = v.paging(request.query)
        rows = self.store.list_patients(limit, offset)
        return {"items": [patient_summary(row) for row in rows], "limit": limit, "offset": offset}

    def get_patient(self, _request, raw_id):
        patient = self.store.get_patient(path_id(raw_id, "patient"))
        if patient is None:
            raise HttpError(404, "patient not found")
        return patient

    def create_patient(self, request):
        data = validate_patient(request.json())
        try:
            patient = self.store.create_patient(data)
        except Conflict as exc:
            raise HttpError(
                409, f"a patient with this {exc.field} exists", field=exc.field, id=exc.existing_id
            ) from None
        return 201, patient

    # -- plans --------------------------------------------------------------------------------------------
    def list_plans(self, request):
        limit, offset = v.paging(request.query, 100, 1000)
        return {"items": self.store.list_plans(limit, offset), "limit": limit, "offset": offset}

    def get_plan(self, _request, raw_id):
        plan = self.store.get_plan(plan_id=path_id(raw_id, "plan"))
        if plan is None:
            raise HttpError(404, "plan not found")
        return plan

    def create_plan(self, request):
        data = validate_plan(request.json())
        questionnaire_id = data.get("questionnaire_id")
        if questionnaire_id is not None and self.store.get_reference("questionnaires", questionnaire_id) is None:
            raise HttpError(400, "unknown questionnaire", field="questionnaire_id")
        try:
            return 201, self.store.create_plan(data)
        except Conflict:
            raise HttpError(409, "a plan with this plan_code exists", field="plan_code") from None

    # -- tasks --------------------------------------------------------------------------------------------
    def list_tasks(self, request):
        query = request.query
        status = None
        if query.get("status"):
            status = task_status_code(query["status"])
            if status is None:
                raise HttpError(400, f"status must be one of {', '.join(TASK_STATUS_TEXT)}", field="status")
        limit = v.opt_int(query, "limit", 1, 1000, 50)
        patient_id = v.opt_int(query, "patient_id", 1)
        after_id = v.opt_int(query, "after_id", 0)
        completed_after = v.opt_datetime(query, "completed_after")
        items = self.store.list_tasks(status, patient_id, limit, after_id, completed_after)
        return {"items": items, "limit": limit}

    def get_task(self, _request, raw_id):
        task = self.store.get_task(path_id(raw_id, "task"))
        if task is None:
            raise HttpError(404, "task not found")
        return task

    def create_task(self, request):
        data = validate_task(request.json())
        patient = self.store.get_patient(data["patient_id"])
        if patient is None:
            raise HttpError(400, "unknown patient", field="patient_id")
        plan_id = data.get("plan_id")
        if plan_id is not None or data.get("plan_code"):
            plan = self.store.get_plan(plan_id=plan_id, plan_code=data.get("plan_code"))
            if plan is None:
                raise HttpError(400, "unknown plan", field="plan_id" if plan_id is not None else "plan_code")
            plan_id = plan["id"]
        task = self.store.create_task(patient["id"], plan_id, data["due_date"], data["channel"])
        if not data["call_now"]:
            return 201, {"task": task}
        try:
            call = self.voice.place_call(task["id"], patient["id"], patient["phone"])
        except UpstreamError as exc:
            self.log.error("task %s: call not placed: %s", task["id"], exc)
            return 502, {"error": "voice program unavailable; the task stays pending", "task": task}
        result = call.get("result")
        if result not in ("answered", "busy", "no_answer", "failed") or not call.get("call_id"):
            self.log.error("task %s: voice program answered without call_id/result", task["id"])
            return 502, {"error": "voice program gave no call result; the task stays pending", "task": task}
        task = self.store.record_call(task["id"], call["call_id"], result, call.get("duration_seconds"))
        return 201, {"task": task, "call": call}

    # -- reference data -----------------------------------------------------------------------------------
    def _lister(self, kind):
        def handler(request):
            limit, offset = v.paging(request.query, 100, 1000)
            return {"items": self.store.list_reference(kind, limit, offset), "limit": limit, "offset": offset}

        return handler

    def _creator(self, kind):
        validator = {"questionnaires": validate_questionnaire, "education": validate_education}.get(
            kind, validate_knowledge
        )

        def handler(request):
            data = validator(request.json())
            try:
                return 201, self.store.create_reference(kind, data)
            except Conflict:
                raise HttpError(409, "an entry with this code exists", field="code") from None

        return handler

    # -- cdr ----------------------------------------------------------------------------------------------
    def list_calls(self, request):
        task_id = v.req_int(request.query, "task_id", 1)
        return {"items": self.cdr.calls_for_task(task_id)}

    def list_documents(self, request):
        patient_id = v.req_int(request.query, "patient_id", 1)
        return {"items": self.cdr.documents_for_patient(patient_id)}

    def create_document(self, request):
        data = validate_document(request.json(), categories=self.version_info >= (1, 1, 0))
        if self.store.get_patient(data["patient_id"]) is None:
            raise HttpError(400, "unknown patient", field="patient_id")
        if data.get("task_id") is not None:
            task = self.store.get_task(data["task_id"])
            if task is None or task["patient_id"] != data["patient_id"]:
                raise HttpError(400, "unknown task for this patient", field="task_id")
        return 201, self.cdr.insert_document(data)


def short_reason(exc):
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:160]


def path_id(raw, what):
    if not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise HttpError(404, f"{what} not found")
    return int(raw)


def validate_patient(data):
    v.check_fields(
        data,
        {"patient_no", "his_patient_id", "name", "gender", "birth_date", "phone", "department"}
        | {"diagnosis", "discharge_date", "source"},
    )
    return {
        "patient_no": v.opt_str(data, "patient_no", 20, pattern=r"[A-Z][A-Z0-9-]{1,19}"),
        "his_patient_id": v.opt_str(data, "his_patient_id", 64),
        "name": v.req_str(data, "name", 64),
        "gender": v.opt_choice(data, "gender", GENDERS, "U"),
        "birth_date": v.opt_date(data, "birth_date", not_after=today()),
        "phone": v.phone(data),
        "department": v.opt_str(data, "department", 64),
        "diagnosis": v.opt_str(data, "diagnosis", 128),
        "discharge_date": v.opt_date(data, "discharge_date", not_after=today() + datetime.timedelta(days=1)),
        "source": v.opt_choice(data, "source", {"api": "api", "his": "his"}, "api"),
    }


def validate_plan(data):
    v.check_fields(
        data,
        {"plan_code", "name", "department", "disease", "interval_days", "times", "channel"}
        | {"questionnaire_id", "description"},
    )
    return {
        "plan_code": v.opt_str(data, "plan_code", 32, pattern=CODE_PATTERN),
        "name": v.req_str(data, "name", 128),
        "department": v.opt_str(data, "department", 64),
        "disease": v.opt_str(data, "disease", 64),
        "interval_days": v.opt_int(data, "interval_days", 1, 3650, 30),
        "times": v.opt_int(data, "times", 1, 100, 1),
        "channel": v.opt_choice(data, "channel", CHANNELS, "voice"),
        "questionnaire_id": v.opt_int(data, "questionnaire_id", 1),
        "description": v.opt_str(data, "description", 512),
    }


def validate_task(data):
    v.check_fields(data, {"patient_id", "plan_id", "plan_code", "due_date", "channel", "call_now"})
    task = {
        "patient_id": v.req_int(data, "patient_id", 1),
        "plan_id": v.opt_int(data, "plan_id", 1),
        "plan_code": v.opt_str(data, "plan_code", 32, pattern=CODE_PATTERN),
        "due_date": v.opt_date(data, "due_date", default=today(), not_before=datetime.date(2000, 1, 1)),
        "channel": v.opt_choice(data, "channel", CHANNELS, "voice"),
        "call_now": v.opt_bool(data, "call_now", False),
    }
    if task["plan_id"] is not None and task["plan_code"]:
        raise HttpError(400, "give plan_id or plan_code, not both", field="plan_code")
    if task["call_now"] and task["channel"] != "voice":
        raise HttpError(400, "call_now needs channel voice", field="call_now")
    return task


def validate_questionnaire(data):
    v.check_fields(data, {"code", "title", "department", "questions"})
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions or len(questions) > 200:
        raise HttpError(400, "questions must be a list of 1 to 200 questions", field="questions")
    cleaned = []
    for index, question in enumerate(questions):
        if isinstance(question, str):
            question = {"text": question, "type": "text"}
        if not isinstance(question, dict):
            raise HttpError(400, f"questions[{index}] must be an object", field="questions")
        text = question.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            raise HttpError(400, f"questions[{index}].text must be 1 to 500 characters", field="questions")
        qtype = question.get("type", "text")
        if qtype not in QUESTION_TYPES:
            raise HttpError(
                400, f"questions[{index}].type must be one of {', '.join(sorted(QUESTION_TYPES))}", field="questions"
            )
        options = question.get("options", [])
        if not isinstance(options, list) or not all(isinstance(item, str) for item in options):
            raise HttpError(400, f"questions[{index}].options must be a list of strings", field="questions")
        cleaned.append({"text": text.strip(), "type": qtype, "options": options})
    return {
        "code": v.opt_str(data, "code", 32, pattern=CODE_PATTERN),
        "title": v.req_str(data, "title", 128),
        "department": v.opt_str(data, "department", 64),
        "questions": cleaned,
    }


def validate_education(data):
    v.check_fields(data, {"code", "title", "category", "department", "content"})
    categories = dict(EDUCATION_CATEGORY)
    categories.update({text: text for text in EDUCATION_CATEGORY.values()})
    return {
        "code": v.opt_str(data, "code", 32, pattern=CODE_PATTERN),
        "title": v.req_str(data, "title", 128),
        "category": v.opt_choice(data, "category", categories, "住院"),
        "department": v.opt_str(data, "department", 64),
        "content": v.req_str(data, "content", 60000),
    }


def validate_knowledge(data):
    v.check_fields(data, {"code", "title", "disease", "department", "content", "tags"})
    tags = data.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(tag, str) and tag and "," not in tag for tag in tags):
            raise HttpError(400, "tags must be a list of words without commas", field="tags")
        tags = ",".join(tag.strip() for tag in tags)
        if len(tags) > 255:
            raise HttpError(400, "tags are longer than 255 characters", field="tags")
    return {
        "code": v.opt_str(data, "code", 32, pattern=CODE_PATTERN),
        "title": v.req_str(data, "title", 128),
        "disease": v.opt_str(data, "disease", 64),
        "department": v.opt_str(data, "department", 64),
        "content": v.req_str(data, "content", 60000),
        "tags": tags or None,
    }


def validate_document(data, categories=True):
    allowed = {"patient_id", "task_id", "title", "content"} | ({"category"} if categories else set())
    v.check_fields(data, allowed)
    doc = {
        "patient_id": v.req_int(data, "patient_id", 1),
        "task_id": v.opt_int(data, "task_id", 1),
        "title": v.req_str(data, "title", 128),
        "content": v.req_str(data, "content", 100000),
    }
    if doc["task_id"] is None:
        del doc["task_id"]
    if categories:
        doc["category"] = v.opt_str(data, "category", 32, default="随访记录")
    return doc
