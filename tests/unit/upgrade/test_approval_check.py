"""library/followup_approval_check.py: the upgrade gate as a module, with a real signed release repository and real
SSH signatures; it never fails on a refusal and lists every reason."""

import datetime
import hashlib
import json
import os
from pathlib import Path

import followup_approval_check as module
import pytest
from ansible.module_utils import followup_approval as fa
from ansible.module_utils.followup_sshsig import sign
from modulekit import run_module
from releasekit import make_repository, release_key, signers

TZ8 = datetime.timezone(datetime.timedelta(hours=8))
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
DATES = ("2026-02-02", "2026-05-18", "2026-09-07")


def approver_line(name="approver"):
    public = Path(release_key(name) + ".pub").read_text().split()
    return f'{name}@it.hospital namespaces="{fa.NAMESPACE}" {public[0]} {public[1]}'


@pytest.fixture
def world(tmp_path, monkeypatch):
    repo = tmp_path / "releases"
    paths = make_repository(repo, versions=VERSIONS, dates=DATES)
    monkeypatch.setattr(module, "_now", lambda: datetime.datetime(2026, 12, 1, 12, 0, tzinfo=TZ8))
    approvals = tmp_path / "CHG-1"
    approvals.mkdir()
    doc = approvals / "test-document.pdf"
    doc.write_bytes(b"%PDF test document")
    tarball_sha = hashlib.sha256(paths["1.2.0"].read_bytes()).hexdigest()

    def write(sign_with="approver", **over):
        fields = {
            "format": 1,
            "change_id": "CHG-1",
            "system": "followup",
            "environment": "production",
            "from_release": "1.0.0",
            "to_release": "1.2.0",
            "release_sha256": tarball_sha,
            "test_document": doc.name,
            "test_document_sha256": hashlib.sha256(doc.read_bytes()).hexdigest(),
            "approver": "王丽 (信息科)",
            "approved_at": "2026-12-01T09:00:00+08:00",
            "valid_until": "2026-12-01T18:00:00+08:00",
        }
        fields.update(over)
        path = approvals / "approval.yml"
        data = fa.render(fields).encode()
        path.write_bytes(data)
        sig = approvals / "approval.yml.sig"
        sig.unlink(missing_ok=True)
        if sign_with:
            sig.write_bytes(sign(data, release_key(sign_with), fa.NAMESPACE))
        return path

    def run(path, hosts=None, **params):
        args = {
            "approval_file": str(path),
            "signers": [approver_line()],
            "environment": "production",
            "repository": str(repo),
            "release_signers": signers(),
            "hosts": hosts
            if hosts is not None
            else {
                "app1": {"components": {"app": {"current": "1.0.0"}}, "now": 1e9},
                "mysql1": {"components": {}, "now": 1e9},
            },
            "components": {"app1": ["app"]},
            "ledger_dir": str(tmp_path / "ledger"),
        }
        args.update(params)
        return run_module(module, args)

    return write, run, doc, paths, tmp_path


def test_a_good_approval_passes_with_the_verified_release(world):
    write, run, *_ = world
    result = run(write())
    assert result["refused"] == [] and not result.get("failed")
    assert result["to_release"] == "1.2.0" and result["release"]["version"] == "1.2.0"
    assert result["release"]["bytes"] > 0 and result["migrations"]
    assert result["signer"]["principal"] == "approver@it.hospital"
    assert result["changed"] is False


def test_no_approval_and_a_missing_file_are_refusals_not_failures(world):
    _, run, _, _, tmp_path = world
    result = run("")
    assert "no approval was given" in result["refused"][0] and not result.get("failed")
    result = run(str(tmp_path / "nowhere.yml"))
    assert "does not exist" in result["refused"][0]


def test_an_unsigned_or_foreign_signed_approval_is_refused(world):
    write, run, *_ = world
    assert any("is not signed" in r for r in run(write(sign_with=None))["refused"])
    assert any("not an allowed approver" in r for r in run(write(sign_with="intruder"))["refused"])


def test_a_document_edited_after_signing_is_refused(world):
    write, run, *_ = world
    path = write()
    path.write_text(path.read_text().replace("王丽", "李四"))
    assert any("modified after it was signed" in r for r in run(path)["refused"])


def test_a_tampered_tarball_is_refused(world):
    write, run, _, paths, _ = world
    path = write()
    paths["1.2.0"].write_bytes(paths["1.2.0"].read_bytes() + b"x")
    assert any("cannot be installed" in r and "sha256" in r for r in run(path)["refused"])


def test_a_requested_version_on_the_command_line_is_refused(world):
    write, run, *_ = world
    assert any("may not be given to an upgrade" in r for r in run(write(), requested_version="1.2.0")["refused"])


def test_a_recorded_use_on_a_host_and_a_held_lease_are_refused(world):
    write, run, *_ = world
    hosts = {
        "app1": {
            "components": {"app": {"current": "1.0.0"}},
            "records": {"CHG-1": {"state": "completed", "operation": "old", "control_node": "cn2"}},
            "lease": {"operation": "other", "control_node": "cn2", "expires_at": 2e9},
            "now": 1e9,
        }
    }
    refused = run(write(), hosts=hosts, operation="mine")["refused"]
    assert any("was used already" in r for r in refused)
    assert any("app1 is held by another operation" in r for r in refused)


def test_an_in_progress_record_of_a_dead_operation_is_resumed(world):
    write, run, *_ = world
    hosts = {
        "app1": {
            "components": {"app": {"current": "1.2.0"}},
            "records": {"CHG-1": {"state": "in_progress", "operation": "dead", "control_node": "cn2"}},
            "lease": {"operation": "dead", "control_node": "cn2", "expires_at": 10.0},
            "now": 1e9,
        }
    }
    result = run(write(valid_until="2026-12-01T10:00:00+08:00"), hosts=hosts, operation="mine")
    assert result["refused"] == [] and result["resume"] and result["resumed_operation"] == "dead"
    assert result["takeover"] == ["dead"]


def test_a_rehearsal_needs_a_staging_inventory_and_the_newest_release(world):
    _, run, *_ = world
    refused = run("", rehearsal=True, requested_version="1.1.0")["refused"]
    assert any("not a staging inventory" in r for r in refused)
    assert any("not the newest" in r for r in refused)
    result = run("", rehearsal=True, rehearsal_allowed=True, requested_version="1.2.0")
    assert result["refused"] == [] and result["from_release"] == "1.0.0"


def _old_index(tmp_path, repo):
    """Put back an older index (validly signed by the vendor, listing 1.0.0 and 1.1.0 only) into REPO."""
    old = tmp_path / "old-releases"
    make_repository(old, versions=VERSIONS[:2], dates=DATES[:2])
    for name in ("index.yml", "index.yml.sig"):
        (repo / name).write_bytes((old / name).read_bytes())


def test_an_older_signed_index_put_back_is_refused_once_a_newer_one_was_seen(world):
    write, run, _, paths, tmp_path = world
    seen = tmp_path / "records" / "releases-seen.json"
    assert run(write(), seen_file=str(seen))["refused"] == []
    record = json.loads(seen.read_text())["repositories"][os.path.realpath(paths["1.2.0"].parent)]
    assert record["newest"] == "1.2.0"
    _old_index(tmp_path, paths["1.2.0"].parent)
    old_sha = hashlib.sha256(paths["1.1.0"].read_bytes()).hexdigest()
    approval = write(change_id="CHG-2", to_release="1.1.0", release_sha256=old_sha)
    # Without the record the old index passes its signature check: 1.1.0 looks like the newest release.
    assert not any("put back" in r for r in run(approval)["refused"])
    refused = run(approval, seen_file=str(seen))["refused"]
    assert any("lists 1.1.0 as the newest release" in r and "listing 1.2.0" in r and "put back" in r for r in refused)
    assert json.loads(seen.read_text())["repositories"][os.path.realpath(paths["1.2.0"].parent)]["newest"] == "1.2.0"


def test_check_mode_does_not_move_the_record_forward(world):
    write, _, _, paths, tmp_path = world
    seen = tmp_path / "releases-seen.json"
    args = {
        "approval_file": str(write()),
        "signers": [approver_line()],
        "environment": "production",
        "repository": str(paths["1.2.0"].parent),
        "release_signers": signers(),
        "hosts": {"app1": {"components": {"app": {"current": "1.0.0"}}, "now": 1e9}},
        "components": {"app1": ["app"]},
        "ledger_dir": str(tmp_path / "ledger"),
        "seen_file": str(seen),
    }
    assert run_module(module, args, check_mode=True)["refused"] == []
    assert not seen.exists()


def test_an_unreadable_record_is_a_refusal_naming_it(world):
    write, run, _, _, tmp_path = world
    seen = tmp_path / "releases-seen.json"
    seen.write_text("{not json")
    refused = run(write(), seen_file=str(seen))["refused"]
    assert any(str(seen) in r and "cannot be read" in r for r in refused)
