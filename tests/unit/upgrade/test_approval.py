"""module_utils/followup_approval.py: the approval document, its signature (real ssh-keygen) and every condition of
the upgrade gate, one at a time."""

import datetime
import hashlib
from pathlib import Path

import pytest
from ansible.module_utils import followup_approval as fa
from ansible.module_utils.followup_sshsig import sign
from releasekit import release_key

NS = fa.NAMESPACE
UTC = datetime.UTC
TZ8 = datetime.timezone(datetime.timedelta(hours=8))
SHA = "a" * 64
RELEASES = [
    {"version": "1.0.0", "release_date": "2026-02-02", "sha256": "0" * 64, "file": "followup-1.0.0.tar.gz"},
    {"version": "1.1.0", "release_date": "2026-05-18", "sha256": "1" * 64, "file": "followup-1.1.0.tar.gz"},
    {"version": "1.2.0", "release_date": "2026-09-07", "sha256": SHA, "file": "followup-1.2.0.tar.gz"},
]
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=TZ8)


def fields(**over):
    base = {
        "format": 1,
        "change_id": "CHG-2026-014",
        "system": "followup",
        "environment": "production",
        "from_release": "1.0.0",
        "to_release": "1.2.0",
        "release_sha256": SHA,
        "test_document": "test-document.pdf",
        "test_document_sha256": "b" * 64,
        "approver": "王丽 (信息科)",
        "approved_at": "2026-12-01T09:00:00+08:00",
        "valid_until": "2026-12-01T18:00:00+08:00",
        "notes": "维护窗口 22:00-23:00\nsecond line",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def signer(name="approver"):
    key = release_key(name)
    public = Path(key + ".pub").read_text().split()
    return f'{name}@it.hospital namespaces="{NS}" {public[0]} {public[1]}'


def test_a_rendered_document_parses_back_to_the_same_fields():
    text = fa.render(fields())
    assert fa.parse(text.encode()) == fields()
    assert text.index("change_id") < text.index("to_release") < text.index("valid_until")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"to_release": None}, "lacks the required field 'to_release'"),
        ({"format": 2}, "format must be 1"),
        ({"change_id": "CHG 14"}, "change_id 'CHG 14' is not letters"),
        ({"environment": "Prod"}, "environment 'Prod' is not"),
        ({"from_release": "1.0"}, "from_release '1.0' is not MAJOR.MINOR.PATCH"),
        ({"release_sha256": "ABC"}, "release_sha256 'ABC' is not 64 lower-case hex"),
        ({"test_document": "../x.pdf"}, "test_document '../x.pdf' is not a file name"),
        ({"system": "other"}, "system must be 'followup'"),
        ({"approved_at": "2026-12-01 09:00"}, "approved_at '2026-12-01 09:00' is not YYYY-MM-DDTHH:MM"),
        ({"valid_until": "2026-12-01T08:00:00+08:00"}, "valid_until 2026-12-01T08:00:00+08:00 is not after"),
        ({"approver": "x" * 201}, "approver must name who approves"),
    ],
)
def test_a_malformed_field_is_named(change, expected):
    doc = fields(**change)
    text = fa._dump(doc)
    with pytest.raises(fa.ApprovalError) as caught:
        fa.parse(text.encode(), "approval.yml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("approval.yml")


def test_unknown_fields_duplicate_keys_and_unquoted_times_are_refused():
    text = fa._dump(fields())
    with pytest.raises(fa.ApprovalError, match="unknown field 'hosts'"):
        fa.parse((text + 'hosts: "all"\n').encode())
    with pytest.raises(fa.ApprovalError, match="key change_id is given twice"):
        fa.parse((text + 'change_id: "CHG-2"\n').encode())
    unquoted = text.replace('valid_until: "2026-12-01T18:00:00+08:00"', "valid_until: 2026-12-01T18:00:00+08:00")
    with pytest.raises(fa.ApprovalError, match="valid_until must be quoted text"):
        fa.parse(unquoted.encode())


def test_a_signed_approval_verifies_and_a_changed_one_does_not():
    data = fa.render(fields()).encode()
    signature = sign(data, release_key("approver"), NS)
    who = fa.verify_signature(data, signature, [signer()], "approval.yml")
    assert who["principal"] == "approver@it.hospital"
    changed = data.replace(b"1.2.0", b"1.1.0")
    with pytest.raises(fa.ApprovalError, match="modified after it was signed"):
        fa.verify_signature(changed, signature, [signer()], "approval.yml")


def test_a_signature_by_another_key_in_another_namespace_or_missing_is_refused():
    data = fa.render(fields()).encode()
    other = sign(data, release_key("stranger"), NS)
    with pytest.raises(fa.ApprovalError, match="not an allowed approver"):
        fa.verify_signature(data, other, [signer()], "approval.yml")
    release_ns = sign(data, release_key("approver"), "followup-release")
    with pytest.raises(fa.ApprovalError, match='not made for namespace "followup-approval"'):
        fa.verify_signature(data, release_ns, [signer()], "approval.yml")
    with pytest.raises(fa.ApprovalError, match="is not signed"):
        fa.verify_signature(data, None, [signer()], "approval.yml")
    with pytest.raises(fa.ApprovalError, match="followup_approval_signers"):
        fa.verify_signature(data, other, ["CHANGE-ME"], "approval.yml")


@pytest.fixture
def testdoc(tmp_path):
    path = tmp_path / "test-document.pdf"
    path.write_bytes(b"%PDF the rehearsal")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def gate(testdoc, running=None, now=NOW, releases=RELEASES, use=None, **over):
    path, digest = testdoc
    doc = fields(test_document_sha256=digest, **over)
    return fa.evaluate(
        doc,
        None,
        None,
        "production",
        now,
        releases,
        None,
        running if running is not None else {"app1": {"app": "1.0.0"}, "fep1": {"fep": "1.0.0"}},
        str(path),
        use,
    )


def test_a_good_approval_passes(testdoc):
    assert gate(testdoc) == []


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        (
            {"valid_until": "2026-12-01T11:00:00+08:00"},
            "approval CHG-2026-014 expired at 2026-12-01T11:00:00+08:00; ask 信息科",
        ),
        ({"approved_at": "2026-12-02T09:00:00+08:00", "valid_until": "2026-12-03T09:00:00+08:00"}, "in the future"),
        ({"environment": "lab"}, "is for environment 'lab', but this inventory is 'production'"),
        ({"to_release": "1.1.0", "release_sha256": "1" * 64}, "the newest release in the signed index is 1.2.0"),
        ({"from_release": "1.2.0", "to_release": "1.0.0", "release_sha256": "0" * 64}, "downgrade"),
        ({"release_sha256": "c" * 64}, "made for another build of 1.2.0"),
        ({"to_release": "1.3.0"}, "names release 1.3.0, which is not in the signed release index"),
    ],
)
def test_each_failed_condition_is_one_line(testdoc, over, expected):
    reasons = gate(testdoc, **over)
    assert any(expected in r for r in reasons), reasons


def test_hosts_on_another_release_are_named(testdoc):
    reasons = gate(testdoc, running={"app1": {"app": "1.1.0"}, "fep1": {"fep": None}})
    assert any("app1 runs app 1.1.0, not the approval's from-release 1.0.0" in r for r in reasons)
    assert any("fep1 has no release of fep deployed" in r for r in reasons)


def test_a_changed_or_missing_test_document_is_refused(testdoc):
    path, _ = testdoc
    path.write_bytes(b"%PDF edited afterwards")
    assert any("was changed after approval CHG-2026-014" in r for r in gate(testdoc))
    path.unlink()
    assert any("is missing" in r for r in gate(testdoc))


def test_every_condition_is_listed_at_once(testdoc):
    reasons = gate(testdoc, environment="lab", valid_until="2026-12-01T11:00:00+08:00", release_sha256="c" * 64)
    assert len(reasons) == 3


def test_resuming_accepts_hosts_already_on_the_target_and_an_expired_approval(testdoc):
    running = {"app1": {"app": "1.2.0"}, "fep1": {"fep": "1.0.0"}}
    assert gate(testdoc, running=running, use=([], True, "op1"), valid_until="2026-12-01T11:00:00+08:00") == []
    assert gate(testdoc, running=running)


def record(state, operation="op1", node="cn1"):
    return {"state": state, "operation": operation, "control_node": node, "started_at": "2026-12-01T01:00:00Z"}


def test_an_approval_used_before_is_refused_wherever_it_was_recorded():
    refused, resume, _ = fa.use_refusals("CHG-1", record("completed"), {}, {}, 1000.0)
    assert "was used already" in refused[0] and "one approval, one upgrade" in refused[0] and not resume
    refused, _, _ = fa.use_refusals("CHG-1", None, {"app1": record("rolled_back")}, {}, 1000.0)
    assert "recorded it on host app1" in refused[0]


def test_an_approval_in_use_by_a_live_operation_is_refused_and_one_whose_operation_died_is_resumed():
    live_lease = {"operation": "op1", "expires_at": 2000.0}
    refused, resume, _ = fa.use_refusals("CHG-1", None, {"app1": record("in_progress")}, {"app1": live_lease}, 1000.0)
    assert "still running" in refused[0] and not resume
    expired = {"operation": "op1", "expires_at": 500.0}
    refused, resume, previous = fa.use_refusals(
        "CHG-1", None, {"app1": record("in_progress")}, {"app1": expired}, 1000.0
    )
    assert refused == [] and resume and previous == "op1"
    # This control node knows its own operation died, whatever the lease says.
    refused, resume, _ = fa.use_refusals(
        "CHG-1", record("in_progress"), {}, {"app1": live_lease}, 1000.0, alive_here=lambda r: False
    )
    assert refused == [] and resume


def test_records_are_written_atomically_and_read_back(tmp_path):
    fa.write_record(str(tmp_path), "CHG-1", {"state": "completed"})
    assert fa.read_record(str(tmp_path), "CHG-1") == {"state": "completed"}
    assert fa.read_record(str(tmp_path), "CHG-2") is None
    (tmp_path / "CHG-3.json").write_text("{broken")
    assert fa.read_record(str(tmp_path), "CHG-3")["state"] == "failed"
    with pytest.raises(fa.ApprovalError):
        fa.ledger_path(str(tmp_path), "../x")


def test_the_newest_release_is_the_newest_that_exists_today():
    future = [*RELEASES, {"version": "1.3.0", "release_date": "2027-01-01", "sha256": "d" * 64}]
    assert fa.newest_release(future, datetime.date(2026, 12, 1))["version"] == "1.2.0"
    assert fa.newest_release(future, datetime.date(2027, 1, 2))["version"] == "1.3.0"


def test_the_public_view_keeps_the_fields_reports_need():
    view = fa.public(fields(), {"principal": "a@b", "key": "ED25519 key SHA256:x"})
    assert view["id"] == "CHG-2026-014" and view["signer"]["principal"] == "a@b"
    assert "format" not in view
