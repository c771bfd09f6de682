"""cdr 数据访问 Access to the cdr MongoDB database: call records (written by the voice program) and documents."""

import datetime

from followup_common.codes import CALL_RESULT_TEXT, call_result_code, parse_duration


def call_view(doc):
    """A call record for the API, whichever release wrote it (1.0/1.1: mm:ss and 中文; 1.2: seconds and codes)."""
    view = {key: value for key, value in doc.items() if key != "_id"}
    view["call_id"] = str(doc["_id"])
    code = call_result_code(doc.get("result"))
    if code:
        view["result"] = code
        view["result_text"] = CALL_RESULT_TEXT[code]
    view["duration_seconds"] = parse_duration(doc.get("duration"))
    return view


def document_view(doc):
    view = {key: value for key, value in doc.items() if key != "_id"}
    view["id"] = str(doc["_id"])
    return view


class Cdr:
    def __init__(self, database):
        self.db = database

    def ping(self):
        self.db.command("ping")
        return True

    def calls_for_task(self, task_id, limit=50):
        cursor = self.db["call_records"].find({"task_id": task_id}).sort("started_at", -1).limit(limit)
        return [call_view(doc) for doc in cursor]

    def documents_for_patient(self, patient_id, limit=100):
        cursor = self.db["documents"].find({"patient_id": patient_id}).sort("created_at", -1).limit(limit)
        return [document_view(doc) for doc in cursor]

    def insert_document(self, doc):
        doc = dict(doc)
        doc["created_at"] = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
        result = self.db["documents"].insert_one(doc)
        doc["_id"] = result.inserted_id
        return document_view(doc)
