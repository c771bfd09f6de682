# 通话时长由 "mm:ss" 文本转为整数秒，通话结果由中文转为编码 Convert call duration to seconds and result to codes (1.2.0)
"""通话时长由 "mm:ss" 文本转为整数秒，通话结果由中文转为编码 Convert call duration to seconds, result to codes.

Release 1.2.0. Before: ``duration: "03:25"``, ``result: "接通"``. After: ``duration: 205``, ``result: "answered"``,
``result_text: "接通"``. Documents already converted are left alone, so running it again changes nothing.
Uses only find and bulk updates by _id (works on mongod and on FerretDB).
"""

from pymongo import UpdateOne

RESULT_CODES = {"接通": "answered", "忙线": "busy", "无人接听": "no_answer", "失败": "failed"}
BATCH = 1000


def parse_duration(text):
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return None
    total = 0
    for part in parts:
        total = total * 60 + int(part)
    return total


def convert(doc):
    """The update for one call record (filter, update), or None when it is already converted."""
    match = {"_id": doc["_id"]}
    changes = {}
    duration = doc.get("duration")
    if isinstance(duration, str):
        match["duration"] = duration
        changes["duration"] = parse_duration(duration)
        if changes["duration"] is None:
            changes["duration_text"] = duration
    result = doc.get("result")
    if isinstance(result, str) and result in RESULT_CODES:
        match["result"] = result
        changes["result"] = RESULT_CODES[result]
        changes["result_text"] = result
    if not changes:
        return None
    return match, {"$set": changes}


def up(db):
    collection = db["call_records"]
    pending = []
    seen = converted = 0
    for doc in collection.find({}, {"duration": 1, "result": 1}, batch_size=BATCH):
        seen += 1
        change = convert(doc)
        if change is None:
            continue
        pending.append(UpdateOne(*change))
        if len(pending) >= BATCH:
            converted += collection.bulk_write(pending, ordered=False).modified_count
            pending = []
    if pending:
        converted += collection.bulk_write(pending, ordered=False).modified_count
    print(f"call_records: {seen} examined, {converted} converted")
    return {"examined": seen, "converted": converted}
