"""Synthetic data: deterministic, synthetic, shaped for each release's schema."""

import re

import pymongo.errors
import pytest
from followup_app import seed
from followup_common.codes import CALL_RESULT_TEXT, TASK_STATUS_TEXT


def test_same_sequence_same_rows():
    assert seed.patient_history(42) == seed.patient_history(42)
    assert seed.patient_history(42) != seed.patient_history(43)
    first = [seed.patient_history(n) for n in range(1, 50)]
    assert first == [seed.patient_history(n) for n in range(1, 50)]


def test_patients_are_synthetic_and_keyed():
    names = set()
    for n in (1, 999, 1000, 123456):
        patient, tasks = seed.patient_history(n)
        assert patient["patient_no"] == f"P{n:07d}"
        assert re.fullmatch(r"199\d{8}", patient["phone"]) and patient["phone"].endswith(f"{n:08d}")
        assert patient["name"][0] in seed.SURNAMES and all(ch in seed.GIVEN for ch in patient["name"][1:])
        assert 2 <= len(patient["name"]) <= 3
        assert patient["department"] in seed.DEPARTMENTS
        if patient["department"] == "妇产科":
            assert patient["gender"] == "F"
        names.add(patient["name"])
        assert len(tasks) == seed.TASKS_PER_PATIENT
        assert [t["task_no"] for t in tasks] == [f"T{n:07d}{k:02d}" for k in range(10)]
        assert len({t["call_id"] for t in tasks}) == 10
    assert len(names) > 1


def test_task_status_matches_its_call():
    for n in range(1, 200):
        _, tasks = seed.patient_history(n)
        for task in tasks:
            assert task["due_date"] <= seed.AS_OF
            if task["call_result"] == "answered":
                assert task["status"] == "completed" and task["completed_at"] == task["ended_at"]
                assert 30 <= task["duration"] < 600
            else:
                assert task["status"] in ("failed", "pending") and task["completed_at"] is None
                assert task["duration"] == 0
                assert task["status"] != "pending" or task["call_result"] in ("busy", "no_answer")


@pytest.mark.parametrize("version", [(1, 0, 0), (1, 1, 0), (1, 2, 0)])
def test_task_rows_fit_the_schema_of_each_release(version):
    _, tasks = seed.patient_history(7)
    columns = seed.task_columns(version)
    row = seed.task_values(tasks[0], 11, 3, version)
    assert len(columns) == len(row)
    values = dict(zip(columns, row, strict=True))
    assert values["status"] == TASK_STATUS_TEXT[tasks[0]["status"]]
    assert ("status_code" in values) == (version >= (1, 1, 0))
    assert ("attempts" in values) == (version >= (1, 2, 0))
    if version >= (1, 1, 0):
        assert values["status_code"] == tasks[0]["status"]


def test_call_documents_follow_the_release_format():
    _, tasks = seed.patient_history(5)
    task = next(t for t in tasks if t["call_result"] == "answered")
    old = seed.call_document(task, 1, 2, "19900000005", (1, 0, 0))
    new = seed.call_document(task, 1, 2, "19900000005", (1, 2, 0))
    assert old["result"] == CALL_RESULT_TEXT["answered"] and re.fullmatch(r"\d\d:\d\d", old["duration"])
    assert new["result"] == "answered" and new["result_text"] == "接通" and new["duration"] == task["duration"]
    minutes, seconds = map(int, old["duration"].split(":"))
    assert minutes * 60 + seconds == task["duration"]
    assert old["phone_masked"] == "199****0005" and "19900000005" not in str(old)
    assert old["_id"] == task["call_id"] and old["_id"].startswith("C0000005")


def test_reference_data_has_unique_codes():
    ref = seed.reference_rows()
    for kind in ("questionnaires", "plans", "education", "knowledge"):
        codes = [row[0] for row in ref[kind]]
        assert codes and len(codes) == len(set(codes)), kind
    plan_codes = {plan[0] for plan in ref["plans"]}
    assert {code for _, code in seed.DEPARTMENTS.values()} <= plan_codes
    assert {plan[7] for plan in ref["plans"]} <= {q[0] for q in ref["questionnaires"]}


class FakeMongoCollection:
    def __init__(self, existing=()):
        self.ids = set(existing)

    def insert_many(self, docs, ordered=True):
        assert ordered is False
        errors, inserted = [], []
        for index, doc in enumerate(docs):
            if doc["_id"] in self.ids:
                errors.append({"index": index, "code": 11000})
            else:
                self.ids.add(doc["_id"])
                inserted.append(doc["_id"])
        if errors:
            raise pymongo.errors.BulkWriteError({"writeErrors": errors, "nInserted": len(inserted)})
        return type("Result", (), {"inserted_ids": inserted})()


def test_insert_new_skips_existing_documents():
    collection = FakeMongoCollection(existing={"a"})
    assert seed.insert_new(collection, [{"_id": "a"}, {"_id": "b"}, {"_id": "c"}]) == 2
    assert seed.insert_new(collection, [{"_id": "a"}, {"_id": "b"}]) == 0
    assert seed.insert_new(collection, [{"_id": "d"}]) == 1


def test_insert_new_raises_other_errors():
    class Broken:
        def insert_many(self, docs, ordered=True):
            raise pymongo.errors.BulkWriteError({"writeErrors": [{"code": 2, "errmsg": "bad"}], "nInserted": 0})

    with pytest.raises(pymongo.errors.BulkWriteError):
        seed.insert_new(Broken(), [{"_id": "x"}])


def test_scale_and_batch_are_checked(capsys):
    with pytest.raises(SystemExit):
        seed.main(["--scale", "0"])
    assert "--scale must be" in capsys.readouterr().err
