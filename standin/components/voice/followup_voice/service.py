"""语音外呼接口 The voice program's HTTP API: POST /api/calls places a call; GET /health checks cdr and SIP."""

import datetime
import logging
import uuid

import pymongo.errors
from followup_common import validation as v
from followup_common.codes import CALL_RESULT_TEXT, format_duration, mask_phone, result_for_sip_code
from followup_common.httpd import HttpError, Router


def utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).replace(tzinfo=None, microsecond=0)


def new_call_id(now=None):
    now = now or datetime.datetime.now(datetime.UTC)
    return f"C{now:%Y%m%d%H%M%S}{uuid.uuid4().hex[:8]}"


def call_record(call_id, task_id, patient_id, phone, outcome, version_info):
    """The cdr.call_records document of one call, in the format of this release.

    1.0.0/1.1.0: result 中文 text and duration "mm:ss". 1.2.0: result code, result_text, duration in seconds.
    """
    result = result_for_sip_code(outcome.sip_code)
    doc = {
        "_id": call_id,
        "task_id": task_id,
        "patient_id": patient_id,
        "phone_masked": mask_phone(phone),
        "sip_call_id": outcome.sip_call_id,
        "sip_code": outcome.sip_code,
        "sip_reason": outcome.reason,
        "started_at": utc(outcome.started_at),
        "answered_at": utc(outcome.answered_at) if outcome.answered_at else None,
        "ended_at": utc(outcome.ended_at or outcome.started_at),
    }
    if tuple(version_info) >= (1, 2, 0):
        doc.update(result=result, result_text=CALL_RESULT_TEXT[result], duration=outcome.duration)
    else:
        doc.update(result=CALL_RESULT_TEXT[result], duration=format_duration(outcome.duration))
    return doc, result


def map_errors(exc):
    if isinstance(exc, pymongo.errors.PyMongoError):
        logging.getLogger("followup_voice").error("MongoDB error: %s", exc.__class__.__name__)
        return 503, {"error": "cdr database unavailable"}
    return None


class VoiceService:
    def __init__(self, uac, db, version, release_date, log=None):
        self.uac = uac
        self.db = db
        self.version = version
        self.release_date = release_date
        self.version_info = tuple(int(part) for part in version.split("."))
        self.log = log or logging.getLogger("followup_voice")

    def router(self):
        router = Router(self.log, map_errors)
        router.add("GET", "/health", self.health)
        router.add("GET", "/version", self.get_version)
        router.add("POST", "/api/calls", self.place_call)
        router.add("GET", r"/api/calls/([A-Za-z0-9-]{1,40})", self.get_call)
        return router

    def health(self, _request):
        checks, reasons = {}, {}
        try:
            self.db.command("ping")
            checks["mongodb"] = "UP"
        except Exception as exc:
            checks["mongodb"] = "DOWN"
            reasons["mongodb"] = f"{exc.__class__.__name__}"
        status, reason = self.uac.options(timeout=2.0)
        if status == 200:
            checks["sip"] = "UP"
        else:
            checks["sip"] = "DOWN"
            reasons["sip"] = f"OPTIONS answered {status} {reason}" if status else "OPTIONS: no answer (timeout)"
        up = all(state == "UP" for state in checks.values())
        body = {"status": "UP" if up else "DOWN", "version": self.version, "checks": checks}
        if reasons:
            body["reasons"] = reasons
        return (200 if up else 503), body

    def get_version(self, _request):
        return {"version": self.version, "release_date": self.release_date}

    def place_call(self, request):
        data = request.json()
        v.check_fields(data, {"task_id", "patient_id", "phone"})
        task_id = v.req_int(data, "task_id", 1)
        patient_id = v.req_int(data, "patient_id", 1)
        phone = v.phone(data)
        number = phone.lstrip("+")
        call_id = new_call_id()
        outcome = self.uac.call(number)
        doc, result = call_record(call_id, task_id, patient_id, phone, outcome, self.version_info)
        self.log.info(
            "call %s task %s to %s: SIP %s %s, %s, %ss",
            call_id,
            task_id,
            mask_phone(phone),
            outcome.sip_code,
            outcome.reason,
            result,
            outcome.duration,
        )
        answer = {
            "call_id": call_id,
            "result": result,
            "result_text": CALL_RESULT_TEXT[result],
            "sip_code": outcome.sip_code,
            "sip_call_id": outcome.sip_call_id,
            "duration_seconds": outcome.duration,
        }
        try:
            self.db["call_records"].insert_one(doc)
        except pymongo.errors.PyMongoError as exc:
            self.log.error("call %s placed but not recorded: %s", call_id, exc.__class__.__name__)
            raise HttpError(503, "call placed but the call record could not be stored", **answer) from None
        return 201, answer

    def get_call(self, _request, call_id):
        doc = self.db["call_records"].find_one({"_id": call_id})
        if doc is None:
            raise HttpError(404, "call not found")
        doc["call_id"] = doc.pop("_id")
        return doc
