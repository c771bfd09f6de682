"""Row counts and content checksums computed from the dump stream itself (module_utils/followup_backup.py)."""

import bson
import pytest
from ansible.module_utils.followup_backup import (
    BackupError,
    MongoArchiveDigest,
    MongoArchiveIndexes,
    MysqlDumpDigest,
    compare_objects,
    find_statement_position,
    mongo_collection_digest,
)
from backupkit import MARIADB_DUMP, MYSQL_DUMP, mongo_archive


def digest_of(data, chunk=7):
    digest = MysqlDumpDigest()
    for i in range(0, len(data), chunk):  # lines cut across chunks on purpose
        digest.feed(data[i : i + chunk])
    return digest.finish()


def test_mariadb_rows_one_per_line_are_counted_with_strings_that_look_like_separators():
    found = digest_of(MARIADB_DUMP)
    assert found["complete"]
    assert found["objects"]["d1.t"]["rows"] == 3
    assert found["objects"]["d1.empty"]["rows"] == 0
    assert found["position"] == {"file": "followup-bin.000001", "pos": 1224, "gtid": "0-1-5"}


def test_mysql_rows_on_one_line_are_counted_outside_strings():
    found = digest_of(MYSQL_DUMP, chunk=5)
    assert found["objects"]["d1.t"]["rows"] == 3
    assert found["position"] == {"file": "binlog.000007", "pos": 157}
    assert found["complete"]


def test_the_same_dump_gives_the_same_checksum_whatever_the_chunks_and_a_changed_value_another():
    one = digest_of(MARIADB_DUMP, chunk=3)["objects"]
    two = digest_of(MARIADB_DUMP, chunk=4096)["objects"]
    assert one == two
    changed = digest_of(MARIADB_DUMP.replace(b"(2,'x", b"(2,'z"))["objects"]
    assert changed["d1.t"]["rows"] == 3
    assert changed["d1.t"]["sha256"] != one["d1.t"]["sha256"]
    assert compare_objects(one, changed) == ["d1.t: content checksum differs"]


def test_a_dump_cut_short_is_not_complete():
    cut = MARIADB_DUMP[: MARIADB_DUMP.index(b"-- Dump completed")]
    assert digest_of(cut)["complete"] is False


def test_compare_names_missing_extra_and_count_differences():
    want = {"a.x": {"rows": 1, "sha256": "1"}, "a.y": {"rows": 2, "sha256": "2"}}
    got = {"a.x": {"rows": 3, "sha256": "1"}, "a.z": {"rows": 0, "sha256": "0"}}
    assert compare_objects(want, got) == [
        "a.x: rows 1 in the backup, 3 restored",
        "a.y: in the backup but not restored",
        "a.z: restored but not in the backup",
    ]


def test_mongo_archive_counts_and_checksums_match_a_read_of_the_collection_in_any_order():
    calls = [{"_id": i, "phone": f"1380000{i:04d}", "result": "answered"} for i in range(50)]
    archive = mongo_archive({"call_records": calls, "empty": []}, split=3)
    digest = MongoArchiveDigest()
    for i in range(0, len(archive), 11):
        digest.feed(archive[i : i + 11])
    found = digest.finish()
    assert found["complete"]
    assert found["objects"]["cdr.call_records"]["documents"] == 50
    assert found["objects"]["cdr.empty"] == {"documents": 0, "sha256": "0" * 64}
    reread = mongo_collection_digest(bson.encode(d) for d in reversed(calls))
    assert reread == found["objects"]["cdr.call_records"]
    one_less = mongo_collection_digest(bson.encode(d) for d in calls[1:])
    assert one_less["sha256"] != reread["sha256"]


def test_a_mongo_archive_cut_short_is_not_complete_and_garbage_is_refused():
    archive = mongo_archive({"call_records": [{"_id": 1}, {"_id": 2}]})
    digest = MongoArchiveDigest()
    digest.feed(archive[:-30])
    assert digest.finish()["complete"] is False
    with pytest.raises(BackupError, match="not an archive"):
        MongoArchiveDigest().feed(b"-- MySQL dump")


DECODED = """# at 4
#261201 20:46:23 server id 1  end_log_pos 256 CRC32 0x1 	Start: binlog v 4
# at 611
#261201 20:46:23 server id 1  end_log_pos 653 CRC32 0x3465cdea 	GTID 0-1-7 trans
# at 653
# at 703
#Q> DELETE FROM d1.t WHERE id=1
# at 748
### DELETE FROM `d1`.`t`
# at 792
#261201 20:46:23 server id 1  end_log_pos 823 CRC32 0xfd527e96 	Xid = 178
COMMIT/*!*/;
# at 823
#261201 20:46:24 server id 1  end_log_pos 860 CRC32 0x1 	GTID 0-1-8 trans
# at 860
#Q> INSERT INTO d1.t VALUES (9,'x')
"""


def test_the_stop_position_is_the_start_of_the_transaction_holding_the_statement():
    assert find_statement_position(DECODED, "delete   from d1.t where id=1") == 611
    assert find_statement_position(DECODED, "INSERT INTO d1.t VALUES (9,'x')") == 823
    assert find_statement_position(DECODED, "DROP TABLE t") is None
    # before the backup's position: already in the backup, not a place to stop
    assert find_statement_position(DECODED, "delete from d1.t where id=1", min_pos=700) is None
    assert find_statement_position(DECODED, "INSERT INTO d1.t", min_pos=700) == 823
    with pytest.raises(ValueError):
        find_statement_position(DECODED, "  ")


def _with_index_metadata(archive, indexes):
    """ARCHIVE with the first collection's prelude metadata listing INDEXES (as FerretDB's listIndexes gives them)."""
    from bson import json_util

    old = bson.encode({"db": "cdr", "collection": "documents", "metadata": "{}", "size": 0, "type": "collection"})
    new = bson.encode(
        {
            "db": "cdr",
            "collection": "documents",
            "metadata": json_util.dumps({"indexes": indexes}),
            "size": 0,
            "type": "collection",
        }
    )
    assert old in archive
    return archive.replace(old, new, 1)


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_the_restore_reads_the_indexes_from_the_prelude_and_passes_every_byte_on(chunk):
    docs = [{"_id": i, "patient_id": i % 3, "text": f"随访 {i}"} for i in range(50)]
    indexes = [
        {"v": 2, "key": {"_id": 1}, "name": "_id_", "ns": "cdr.documents"},
        {"v": 2, "key": {"patient_id": 1, "created_at": -1}, "name": "by_patient", "ns": "cdr.documents"},
        {"v": 2, "key": {"mrn": 1}, "name": "mrn", "unique": True, "ns": "cdr.documents"},
    ]
    archive = _with_index_metadata(mongo_archive({"documents": docs, "calls": [{"_id": 1}]}, split=2), indexes)
    reader = MongoArchiveIndexes()
    out = b"".join(reader.feed(archive[i : i + chunk]) for i in range(0, len(archive), chunk)) + reader.finish()
    assert out == archive
    assert reader.indexes == {
        "documents": [
            {"key": {"patient_id": 1, "created_at": -1}, "name": "by_patient"},
            {"key": {"mrn": 1}, "name": "mrn", "unique": True},
        ]
    }
    assert list(reader.indexes["documents"][0]["key"]) == ["patient_id", "created_at"]  # key order kept

    class Database:
        def __init__(self, fail=False):
            self.calls, self.fail = [], fail

        def command(self, name, collection, indexes):
            if self.fail:
                raise RuntimeError("(BadValue) Index option unknown")
            self.calls.append((name, collection, indexes))

    db = Database()
    assert reader.create_indexes(db) == 2
    assert db.calls == [("createIndexes", "documents", reader.indexes["documents"])]
    with pytest.raises(BackupError, match="by_patient, mrn of documents failed"):
        reader.create_indexes(Database(fail=True))


def test_the_index_reader_of_an_archive_without_indexes_collects_nothing():
    archive = mongo_archive({"documents": [{"_id": 1}], "calls": []})
    reader = MongoArchiveIndexes()
    assert reader.feed(archive) + reader.finish() == archive
    assert reader.indexes == {}


def test_the_index_reader_refuses_a_damaged_prelude():
    archive = bytearray(mongo_archive({"documents": [{"_id": 1}]}))
    archive[4:8] = b"\x02\x00\x00\x00"  # a header document of 2 bytes
    with pytest.raises(BackupError, match="damaged"):
        MongoArchiveIndexes().feed(bytes(archive))
