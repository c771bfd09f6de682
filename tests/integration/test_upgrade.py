"""Upgrades after the IT department's signed approval, on the lab (issue 8, docs/upgrade.md). Lean, in this order on
one seeded lab at 1.0.0 (module scope):

1. every refusal of the upgrade gate, one `followup-ops upgrade` run each where a condition stops the check early
   (no approval, signer not allowed, document modified after signing) and several conditions in one run where the
   gate lists them together (expired + wrong environment + wrong from-release + downgrade + not newest + test
   document changed; not newest + tarball tampered): exit 2, every reason named, and the hosts' fingerprint (live
   releases, installed releases, nginx's files, the upgrade records, the sidecar unit) and the data equal before and
   after, and no approval recorded as used on the control node;
2. a release 1.3.0 built for the purpose whose MySQL migration fails halfway through its DDL (the first ALTER
   committed, the second refused), upgraded to from 1.0.0: rolled back (exit 3), every component at 1.0.0 again,
   the databases restored and equal to before (row counts, CHECKSUM TABLE, followup_tasks' columns, every MongoDB
   collection), nginx's files as before, no sidecar, the front-end server answering;
3. the happy path 1.0.0 -> 1.2.0 (the newest of build/releases): exit 0, the audit record carries the approval id,
   each component's .release.json carries the approval, the hosts and the control node record it as used;
4. the same approval again: refused as used (one approval, one upgrade), nothing changed.

At the end the lab is left at the newest release; a later test that needs 1.0.0 asks for the `first_release` fixture
(conftest.py), which restores the databases from the happy path's own pre-upgrade backups, then runs
`deploy --release 1.0.0` (a deploy of an older release over a newer schema is refused by the migration runner).

FOLLOWUP_UPGRADE_FAILURES=halfway,failing,unhealthy,killed (default: halfway,killed) adds, before the happy path, a
migration that fails at once and a release whose health check fails; each is one more upgrade and rollback (about 2-3
minutes). `killed` makes the happy path start with an upgrade killed (SIGKILL to the command and every child, as a
control node that loses power) inside a step chosen at random (FOLLOWUP_UPGRADE_KILL_AT names one), then the same
upgrade with the same approval run again: it puts back what the killed run changed and completes.
test_upgrade_killed.py (slow, `make test-all`) kills an upgrade in every one of those steps in turn.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import upgradekit as kit
from labkit import VAULT_PASSWORD

pytestmark = pytest.mark.integration

NEWEST = "1.2.0"
DB_HOSTS = ("mysql1", "mongo1")
ALL_FAILURES = [k.strip() for k in os.environ.get("FOLLOWUP_UPGRADE_FAILURES", "halfway,killed").split(",")]
ALL_FAILURES = [k for k in ALL_FAILURES if k]
FAILURES = [k for k in ALL_FAILURES if k != "killed"]  # each a release 1.3.0 built to fail


figure, run = kit.figure, kit.run


def upgrade(ops, name, approval, inventory="inventories/lab"):
    args = ["upgrade", "-i", str(inventory), "--approval", str(approval)]
    if str(inventory) != "inventories/lab":
        args += ["--vault-password-file", str(VAULT_PASSWORD)]
    return run(ops, name, *args)


def full_record(record):
    """The run record with the merged report (audit.jsonl keeps the record without it)."""
    return json.loads((Path(record["run_dir"]) / "operation.json").read_text())


def ledger(ops):
    directory = ops.runs_dir / "upgrade" / "approvals"
    return sorted(p.name for p in directory.glob("*.json")) if directory.is_dir() else []


fep_answers = kit.fep_answers


def nginx_files():
    return kit.docker("fep1", "sh", "-c", "md5sum /etc/nginx/followup-ops/*")


# --- 0. the seeded lab at 1.0.0 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(ops, first_release):
    assert kit.current_versions() == kit.FIRST_VERSIONS, "test_upgrade needs the lab at 1.0.0 (the session's deploy)"
    proc = run(ops, "seed --scale 1", "lab", "seed", "--scale", "1")
    assert proc.returncode == 0, proc.stderr
    # The upgrade backs up through the backup role, which `followup-ops backup` sets up (test_backup.py does it in a
    # whole run; run alone, this file does it once).
    agents = [kit.docker(h, "sh", "-c", "test -x /usr/local/sbin/followup-backup && echo yes; true") for h in DB_HOSTS]
    if not all(a.strip() == "yes" for a in agents):
        proc = run(ops, "backup (sets the backup role up)", "backup", "-i", "inventories/lab")
        assert proc.returncode == 0, proc.stderr
    return {"hosts": kit.host_fingerprint(), "data": kit.data_fingerprint()}


# --- 1. the gate's refusals -------------------------------------------------------------------------------------------


def _refusal_cases(tmp):
    """{case: (approval path, inventory)}; each approval made as the case needs, with the lab approver key."""
    cases = {}
    cases["no approval"] = (tmp / "none" / "approval.yml", "inventories/lab")
    cases["signer not allowed"] = (
        kit.make_approval(
            tmp / "stranger",
            change_id="CHG-T-STRANGER",
            from_release="1.0.0",
            to_release=NEWEST,
            key=kit.other_key(tmp / "keys"),
        ),
        "inventories/lab",
    )
    modified = kit.make_approval(tmp / "modified", change_id="CHG-T-MODIFIED", from_release="1.0.0", to_release=NEWEST)
    modified.write_text(modified.read_text().replace("integration test", "integration test, edited after signing"))
    cases["document modified after signing"] = (modified, "inventories/lab")
    # Expired, another environment, a from-release the hosts do not run, a downgrade (so not the newest either), and
    # the test document replaced after signing: every one listed by the one run.
    many = kit.make_approval(
        tmp / "many",
        change_id="CHG-T-MANY",
        from_release="1.1.0",
        to_release="1.0.0",
        environment="production",
        valid_hours=-1,
        approved_hours_ago=5,
    )
    (many.parent / "test-document.pdf").write_bytes(b"%PDF-1.4 another document\n")
    cases["expired, environment, from-release, downgrade, not newest, test document changed"] = (
        many,
        "inventories/lab",
    )
    # Not the newest, and its tarball changed in the repository after the index was signed.
    repo = tmp / "tampered-repo"
    repo.mkdir()
    for item in kit.RELEASES.iterdir():
        (repo / item.name).write_bytes(item.read_bytes())
    with open(repo / "followup-1.1.0.tar.gz", "ab") as tarball:
        tarball.write(b"\0tampered")
    cases["not newest, tarball tampered"] = (
        kit.make_approval(tmp / "old", change_id="CHG-T-OLD", from_release="1.0.0", to_release="1.1.0"),
        kit.inventory_copy(tmp / "tampered", repository=repo),
    )
    return cases


EXPECTED = {
    "no approval": ["does not exist: give the path of the signed approval.yml"],
    "signer not allowed": ["is signed by a key that is not an allowed approver"],
    "document modified after signing": ["was modified after it was signed"],
    "expired, environment, from-release, downgrade, not newest, test document changed": [
        "approval CHG-T-MANY expired at",
        "ask 信息科 (the IT department) to sign a new one",
        "is for environment 'production', but this inventory is 'lab'",
        "runs app 1.0.0, not the approval's from-release 1.1.0",
        "goes from 1.1.0 to 1.0.0, which is a downgrade or no change",
        f"the newest release in the signed index is {NEWEST}",
        "was changed after approval CHG-T-MANY",
    ],
    "not newest, tarball tampered": [
        f"approval CHG-T-OLD upgrades to 1.1.0, but the newest release in the signed index is {NEWEST}",
        "release 1.1.0 cannot be installed",
    ],
}


def narrowed_run(approval):
    """Plain ansible-playbook with --limit and an approval that is otherwise good: the gate must refuse it (the
    other hosts would stay on the old release); the command line has no --limit for an upgrade."""
    bin_dir = kit.ROOT / ".venv" / "bin"
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(bin_dir / "ansible-playbook"),
            "-i",
            "inventories/lab",
            "playbooks/upgrade.yml",
            "--limit",
            "app1",
            "-e",
            f"followup_approval_file={approval}",
        ],
        cwd=kit.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(kit.ROOT / "ansible.cfg"), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    figure("refusal: ansible-playbook --limit", time.monotonic() - started)
    return proc


@pytest.fixture(scope="module")
def refusals(ops, seeded, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upgrade-refusals")
    results = {}
    for case, (approval, inventory) in _refusal_cases(tmp).items():
        results[case] = upgrade(ops, f"refusal: {case}", approval, inventory)
    records = ops.audit()[-len(results) :]
    narrowed = narrowed_run(
        kit.make_approval(tmp / "narrowed", change_id="CHG-T-LIMIT", from_release="1.0.0", to_release=NEWEST)
    )
    return {
        "procs": results,
        "records": records,
        "narrowed": narrowed,
        "hosts": kit.host_fingerprint(),
        "data": kit.data_fingerprint(),
        "ledger": ledger(ops),
    }


@pytest.mark.parametrize("case", list(EXPECTED))
def test_the_gate_refuses_with_exit_2_naming_every_failed_condition(refusals, case):
    proc = refusals["procs"][case]
    assert proc.returncode == 2, proc.stderr
    for reason in EXPECTED[case]:
        assert reason in proc.stderr, f"{case}: '{reason}' not in the refusal"


def test_an_upgrade_narrowed_with_limit_is_refused_by_the_gate(refusals):
    proc = refusals["narrowed"]
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "refused, no host was changed" in proc.stdout and "narrowed with --limit app1" in proc.stdout


def test_no_host_and_no_data_changed_on_a_refusal_and_no_approval_was_used(seeded, refusals):
    assert [r["outcome"] for r in refusals["records"]] == ["refused"] * len(EXPECTED)
    assert refusals["ledger"] == []
    assert refusals["data"] == seeded["data"]
    assert refusals["hosts"] == seeded["hosts"]


# --- 2. failures injected with releases built for the purpose: each rolled back (exit 3), data equal ------------------


@pytest.fixture(scope="module")
def failures(ops, refusals, tmp_path_factory):
    results = {}
    for kind in FAILURES:
        tmp = tmp_path_factory.mktemp(f"upgrade-{kind}")
        repo = kit.build_test_repository(tmp / "releases", kind)
        inventory = kit.inventory_copy(tmp, repository=repo)
        approval = kit.make_approval(
            tmp / "approval",
            change_id=f"CHG-T-{kind.upper()}",
            from_release="1.0.0",
            to_release="1.3.0",
            repository=repo,
        )
        before = {"data": kit.data_fingerprint(), "nginx": nginx_files()}
        proc = upgrade(ops, f"upgrade 1.0.0 -> 1.3.0 ({kind}), rolled back", approval, inventory)
        results[kind] = {
            "proc": proc,
            "record": ops.audit()[-1],
            "before": before,
            "after": {
                "data": kit.data_fingerprint(),
                "nginx": nginx_files(),
                "versions": kit.current_versions(),
                "fep": fep_answers(),
                "sidecar": kit.docker("app1", "sh", "-c", "ls /etc/systemd/system | grep -c sidecar; true").strip(),
            },
        }
    return results


# The step that fails: the new release's health check fails first where it starts beside the live one (sidecar).
STEP = {"halfway": ("migrate",), "failing": ("migrate",), "unhealthy": ("sidecar", "health")}


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_upgrade_is_rolled_back_with_exit_3_and_data_equal_to_before(failures, kind):
    result = failures[kind]
    proc, record = result["proc"], result["record"]
    assert proc.returncode == 3, proc.stderr
    assert record["outcome"] == "rolled_back" and record["details"]["approval_id"] == f"CHG-T-{kind.upper()}"
    rollback = record["details"]["rollback"]
    assert rollback["reason"].startswith(tuple(f"{step} failed on " for step in STEP[kind])), rollback["reason"]
    assert rollback["errors"] == []
    databases = record["rolled_back"]["databases"]
    assert len(databases["restored"]) == 2 and databases["verified"] is True, databases
    assert result["after"]["versions"] == kit.FIRST_VERSIONS
    assert result["after"]["data"] == result["before"]["data"]
    assert result["after"]["nginx"] == result["before"]["nginx"]
    assert result["after"]["sidecar"] == "0"
    assert result["after"]["fep"] == ("ok", 200)


def test_a_mysql_migration_failing_halfway_through_its_ddl_leaves_no_column_behind(failures):
    if "halfway" not in failures:
        pytest.skip("FOLLOWUP_UPGRADE_FAILURES does not include halfway")
    result = failures["halfway"]
    applied = [
        m["script"]
        for r in full_record(result["record"])["report"]["data"]["upgrade"]["applied"]
        for m in r.get("applied") or []
    ]
    # 1.1.0's and 1.2.0's migrations ran before V007 failed halfway: the restore undid them too.
    assert applied, "no migration ran before the failing one: the test would not prove the restore"
    columns = result["after"]["data"]["mysql:columns:followup_tasks"]
    assert "upgrade_half" not in columns and columns == result["before"]["data"]["mysql:columns:followup_tasks"]


# --- 3. the happy path, 4. the approval reused ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upgraded(ops, failures, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upgrade-happy")
    approval = kit.make_approval(tmp, change_id="CHG-T-HAPPY", from_release="1.0.0", to_release=NEWEST)
    before = kit.data_fingerprint()
    killed = kit.killed_upgrade(ops, approval) if "killed" in ALL_FAILURES else None
    proc = upgrade(ops, f"upgrade 1.0.0 -> {NEWEST}" + (" (rerun after the kill)" if killed else ""), approval)
    record = ops.audit()[-1]
    # A later test that needs 1.0.0 asks for `first_release`, which restores this upgrade's pre-upgrade backups.
    return {"proc": proc, "record": record, "approval": approval, "before": before, "killed": killed}


def test_the_happy_path_upgrades_every_component_to_the_newest_release(upgraded):
    proc, record = upgraded["proc"], upgraded["record"]
    assert proc.returncode == 0, proc.stderr
    assert record["outcome"] == "ok", record["message"]
    assert kit.current_versions() == {"app": NEWEST, "fep": NEWEST, "voice": NEWEST}
    data = full_record(record)["report"]["data"]["upgrade"]
    assert data["outcome"] == "completed" and data["from_release"] == "1.0.0" and data["to_release"] == NEWEST
    for step in ("start", "install", "backup", "migrate", "sidecar", "switch_app", "health", "lift", "done"):
        assert step in data["steps"], f"step {step} not reported"
    assert data["health"]["call"]["result"] in ("answered", "busy", "no_answer"), data["health"]
    assert sum(len(r.get("applied") or []) for r in data["applied"]) > 0
    assert fep_answers() == ("ok", 200)
    # Seeded data survived (additive migrations): every table and collection keeps at least its rows.
    after = kit.data_fingerprint()
    for key, value in upgraded["before"].items():
        if key.startswith(("mysql:", "mongodb:")) and not key.startswith("mysql:columns:"):
            assert key in after and after[key][0] >= value[0], key


def test_an_upgrade_killed_at_a_step_is_completed_by_the_same_command_run_again(ops, upgraded):
    killed = upgraded["killed"]
    if killed is None:
        pytest.skip("FOLLOWUP_UPGRADE_FAILURES does not include killed")
    assert killed["returncode"] == -signal.SIGKILL, f"the upgrade ended before the kill: {killed['output']}"
    assert kit.KILL_STEPS.index(killed["reached"]) >= kit.KILL_STEPS.index(killed["kill_at"]), killed
    assert upgraded["proc"].returncode == 0, upgraded["proc"].stderr
    records = ops.audit()
    abandoned = [r for r in records if r.get("outcome") == "abandoned" and r.get("command") == "upgrade"]
    assert abandoned, "the rerun did not record the killed upgrade's end (outcome abandoned)"
    details = upgraded["record"]["details"]
    assert details.get("resumed_operation") == abandoned[-1]["id"], details
    # Nothing of the killed run is left: one release live everywhere, no sidecar, the fep answering.
    assert kit.current_versions() == {"app": NEWEST, "fep": NEWEST, "voice": NEWEST}
    assert kit.docker("app1", "sh", "-c", "ls /etc/systemd/system | grep -c sidecar; true").strip() == "0"
    assert fep_answers() == ("ok", 200)


def test_the_audit_record_and_each_release_record_carry_the_approval(ops, upgraded):
    record = upgraded["record"]
    assert record["details"]["approval_id"] == "CHG-T-HAPPY"
    assert record["details"]["approval"]["signer"] and record["details"]["approved_by"] == "王丽 (信息科)"
    assert len(record["details"]["backups"]) == 2
    for host, component in (("app1", "app"), ("fep1", "fep"), ("voice1", "voice")):
        release = json.loads(kit.docker(host, "cat", f"/opt/followup/{component}/releases/{NEWEST}/.release.json"))
        assert release["approval"]["change_id"] == "CHG-T-HAPPY", (host, release.get("approval"))
        assert release["approval"]["rehearsal"] in (False, "False", "false")
    for host in ("fep1", "app1", "voice1", "mysql1", "mongo1"):
        used = json.loads(kit.docker(host, "cat", "/var/lib/followup-ops/approvals/CHG-T-HAPPY.json"))
        assert used["state"] == "completed", (host, used)
    assert "CHG-T-HAPPY.json" in ledger(ops)


def test_the_same_approval_is_refused_the_second_time_and_nothing_changes(ops, upgraded):
    assert upgraded["proc"].returncode == 0, "the happy path failed: nothing to reuse"
    before = kit.host_fingerprint()
    proc = upgrade(ops, "refusal: approval reused", upgraded["approval"])
    assert proc.returncode == 2, proc.stderr
    assert "approval CHG-T-HAPPY was used already" in proc.stderr
    assert kit.host_fingerprint() == before
