# 通话时长由 "mm:ss" 文本转为整数秒，通话结果由中文转为编码 Convert call duration to seconds and result to codes (1.2.0)
"""通话时长由 "mm:ss" 文本转为整数秒，通话结果由中文转为编码 Convert call duration to seconds, result to codes.

Release 1.2.0. Before: ``duration: "03:25"``, ``result: "接通"``. After: ``duration: 205``, ``result: "answered"``,
``result_text: "接通"``. Every update matches only documents still in the old form, so running it again changes
nothing. One update_many per old value (4 results, at most a few thousand distinct durations): FerretDB 1.x stalls
on multi-statement bulk updates, and per-document updates would take far longer on large collections.
"""

RESULT_CODES = {"接通": "answered", "忙线": "busy", "无人接听": "no_answer", "失败": "failed"}


def parse_duration(text):
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return None
    total = 0
    for part in parts:
        total = total * 60 + int(part)
    return total


def updates(durations):
    """The (filter, update) pairs for the distinct duration values found in the collection."""
    planned = []
    for text, code in RESULT_CODES.items():
        planned.append(({"result": text}, {"$set": {"result": code, "result_text": text}}))
    for value in sorted(value for value in durations if isinstance(value, str)):
        seconds = parse_duration(value)
        if seconds is None:
            planned.append(({"duration": value}, {"$set": {"duration": None, "duration_text": value}}))
        else:
            planned.append(({"duration": value}, {"$set": {"duration": seconds}}))
    return planned


def up(db):
    collection = db["call_records"]
    converted = 0
    planned = updates(collection.distinct("duration"))
    for query, change in planned:
        converted += collection.update_many(query, change).modified_count
    print(f"call_records: {len(planned)} updates, {converted} changes")
    return {"updates": len(planned), "changes": converted}
