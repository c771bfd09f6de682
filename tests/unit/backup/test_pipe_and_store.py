"""The pipe (dump | zstd | age -> receiver) and the receiver's store: add only, complete only, never overwrite.

Real zstd and age run here; the dump tool is `cat` of a dump text, the SSH hop is the receiver called in-process
with the same framed stream the sender writes.
"""

import hashlib
import io
import os

import pytest
from ansible.module_utils.followup_backup import (
    BackupError,
    MemorySink,
    MysqlDumpDigest,
    archive_relpath,
    frame,
    new_backup_id,
    parse_backup_id,
    stream_backup,
    stream_restore,
    trailer,
)
from ansible.module_utils.followup_backup_store import EXIT_EXISTS, EXIT_REFUSED, Store, serve
from backupkit import MARIADB_DUMP, age_keypair, need

MARKER = b"MARKER-PATIENT-7f3a9c"


@pytest.fixture(scope="module")
def keys():
    need("zstd")
    return age_keypair()


def backup_bytes(tmp_path, keys, data=MARIADB_DUMP):
    source = tmp_path / "dump.sql"
    source.write_bytes(data)
    sink = MemorySink()
    result = stream_backup(["cat", str(source)], MysqlDumpDigest(), [keys[1]], sink)
    return bytes(sink.data), result


def upload(store, relpath, data, sha=None, size=None, cut=False):
    stream = io.BytesIO(frame(data[: len(data) // 2]) + frame(data[len(data) // 2 :]))
    if not cut:
        stream = io.BytesIO(stream.getvalue() + trailer(sha or hashlib.sha256(data).hexdigest(), size or len(data)))
    out, err = io.BytesIO(), io.BytesIO()
    code = serve(store, f"put {relpath}", stream, out, err)
    return code, out.getvalue().decode()


def restore_to_file(tmp_path, stored, identity, name="restored.sql", expect=None):
    archive = tmp_path / "archive.age"
    archive.write_bytes(stored)
    out = tmp_path / name
    with open(out, "wb") as handle:
        stream_restore(["cat", str(archive)], identity, ["cat"], consumer_stdout=handle, expect_sha256=expect)
    return out.read_bytes()


def test_backup_is_encrypted_and_restores_to_the_same_bytes(tmp_path, keys):
    data = MARIADB_DUMP.replace(b"'a),(b'", b"'" + MARKER + b"'") * 1
    stored, result = backup_bytes(tmp_path, keys, data)
    assert MARKER not in stored and b"INSERT INTO" not in stored
    assert stored.startswith(b"age-encryption.org/v1")
    assert result["sha256"] == hashlib.sha256(stored).hexdigest() and result["bytes"] == len(stored)
    assert result["digest"]["objects"]["d1.t"]["rows"] == 3
    assert restore_to_file(tmp_path, stored, keys[0], expect=result["sha256"]) == data


def test_a_flipped_byte_a_truncated_archive_and_a_wrong_key_each_fail_clearly(tmp_path, keys):
    stored, result = backup_bytes(tmp_path, keys)
    flipped = bytearray(stored)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(BackupError, match="damaged or truncated"):
        restore_to_file(tmp_path, bytes(flipped), keys[0])
    with pytest.raises(BackupError, match=r"sha256 .* is not the manifest.s"):
        restore_to_file(tmp_path, bytes(flipped), keys[0], expect=result["sha256"])
    with pytest.raises(BackupError, match="damaged or truncated"):
        restore_to_file(tmp_path, stored[: len(stored) - 40], keys[0])
    other, _ = age_keypair()
    with pytest.raises(BackupError, match="wrong key"):
        restore_to_file(tmp_path, stored, other)


def test_a_failing_dump_tool_aborts_the_upload(tmp_path, keys):
    sink = MemorySink()
    with pytest.raises(BackupError, match=r"false failed \(exit 1\)"):
        stream_backup(["false"], MysqlDumpDigest(), [keys[1]], sink)
    assert sink.aborted and not sink.data


def test_a_dump_without_its_end_marker_is_not_kept(tmp_path, keys):
    source = tmp_path / "cut.sql"
    source.write_bytes(MARIADB_DUMP[: MARIADB_DUMP.index(b"-- Dump completed")])
    sink = MemorySink()
    with pytest.raises(BackupError, match="before its end marker"):
        stream_backup(["cat", str(source)], MysqlDumpDigest(), [keys[1]], sink)
    assert sink.aborted


def test_no_recipient_is_refused_before_anything_runs():
    with pytest.raises(BackupError, match="backup_age_recipients"):
        stream_backup(["true"], MysqlDumpDigest(), [], MemorySink())


def test_the_receiver_keeps_a_complete_upload_read_only_and_never_overwrites_it(tmp_path):
    store = Store(str(tmp_path / "store"))
    bid = new_backup_id("mysql", "mysql1")
    rel = archive_relpath(bid)
    code, answer = upload(store, rel, b"ciphertext" * 1000)
    assert code == 0 and '"ok":true' in answer
    path = tmp_path / "store" / rel
    assert path.read_bytes() == b"ciphertext" * 1000
    assert oct(path.stat().st_mode & 0o777) == "0o440"
    code, answer = upload(store, rel, b"other content")
    assert code == EXIT_EXISTS and "never overwritten" in answer
    assert path.read_bytes() == b"ciphertext" * 1000
    assert store.verify(rel)["matches"] is True


def test_the_receiver_keeps_nothing_of_a_cut_or_mismatched_upload(tmp_path):
    store = Store(str(tmp_path / "store"))
    rel = archive_relpath(new_backup_id("mongodb", "mongo1"))
    code, answer = upload(store, rel, b"x" * 5000, cut=True)
    assert code != 0 and "nothing was kept" in answer
    code, answer = upload(store, rel, b"x" * 5000, sha="0" * 64)
    assert code != 0 and "nothing was kept" in answer
    assert not (tmp_path / "store" / rel).exists()
    assert os.listdir(tmp_path / "store" / ".staging") == []


@pytest.mark.parametrize(
    "command",
    [
        "rm mysql/mysql1/x",
        "delete mysql/mysql1/x",
        "bash -c id",
        "",
        "put ../../etc/passwd",
        "put mysql/../x/y",
        "get /etc/shadow",
        "list extra",
        "put mysql/mysql1/a b",
    ],
)
def test_the_receiver_refuses_everything_else(tmp_path, command):
    store = Store(str(tmp_path / "store"))
    out = io.BytesIO()
    code = serve(store, command, io.BytesIO(b""), out, io.BytesIO())
    assert code != 0
    assert '"ok":false' in out.getvalue().decode()


def test_unknown_commands_name_what_is_allowed(tmp_path):
    out = io.BytesIO()
    assert serve(Store(str(tmp_path)), "rm -rf /", io.BytesIO(), out, io.BytesIO()) == EXIT_REFUSED
    assert "nothing can be deleted or overwritten" in out.getvalue().decode()


def test_backup_ids_round_trip_and_bad_ones_are_named():
    bid = new_backup_id("mysql", "FU_DB-01", "physical")
    info = parse_backup_id(bid)
    assert info["engine"] == "mysql" and info["host"] == "fu-db-01" and info["method"] == "physical"
    assert archive_relpath(bid).endswith(".xbstream.zst.age")
    with pytest.raises(ValueError, match="backup list"):
        parse_backup_id("mysql-../etc-20261201T000000Z")


def test_a_restore_over_data_drops_the_tables_the_backup_does_not_hold(monkeypatch):
    from ansible.module_utils import followup_backup_agent as agent

    sent = []

    def fake_client(m, sql, **conn):
        sent.append((sql, conn))
        if sql.startswith("SELECT"):
            return [
                ["cloud_followup", "patients"],
                ["cloud_followup", "added_by_a_migration"],
                ["interface_data", "x`y"],
            ]
        return []

    monkeypatch.setattr(agent, "mysql_client", fake_client)
    manifest = {"objects": {"cloud_followup.patients": {"rows": 3}, "interface_data.other": {"rows": 0}}}
    conn = {"socket": "/run/mysqld/mysqld.sock", "defaults_file": None}
    dropped = agent._drop_tables_not_in({}, manifest, ["cloud_followup", "interface_data"], conn)
    assert dropped == ["cloud_followup.added_by_a_migration", "interface_data.x`y"]
    assert "table_schema IN ('cloud_followup', 'interface_data')" in sent[0][0]
    drop_sql = sent[1][0]
    assert drop_sql.startswith("SET SESSION sql_log_bin=0;")  # never replayed from the binary log
    assert "DROP TABLE IF EXISTS `cloud_followup`.`added_by_a_migration`;" in drop_sql
    assert "`interface_data`.`x``y`" in drop_sql and "patients" not in drop_sql
    sent.clear()
    monkeypatch.setattr(agent, "mysql_client", lambda m, sql, **c: sent.append(sql) or [["cloud_followup", "patients"]])
    assert agent._drop_tables_not_in({}, manifest, ["cloud_followup"], conn) == []
    assert len(sent) == 1  # nothing to drop: no second statement
