"""An upgrade killed in each of its steps in turn, then run again (slow: `make test-all`; `make test` kills it in
one step chosen at random, in test_upgrade.py).

For every step of upgradekit.KILL_STEPS (before the backup, during it with the writes frozen and the interface service
stopped, during the migrations, with the new release beside the old, during the switch, in the health gate): the
upgrade 1.0.0 -> 1.2.0 is started and killed with SIGKILL (the command and every child: a control node losing power)
inside that step; the same command with the same approval is run again and must complete (exit 0): it is not refused
for what the killed run left (a stopped interface service, a maintenance answer, a half-applied migration), records the
killed run as abandoned, puts back what it changed and upgrades every component, the seeded data kept. Between steps
the lab goes back to 1.0.0 (restore of the rerun's own pre-upgrade backups, deploy 1.0.0)."""

import signal

import pytest
import upgradekit as kit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEWEST = "1.2.0"
DB_HOSTS = ("mysql1", "mongo1")


@pytest.fixture(scope="module")
def ready(ops, first_release):
    assert kit.current_versions() == kit.FIRST_VERSIONS, (
        "test_upgrade_killed needs the lab at 1.0.0 (the session's deploy)"
    )
    proc = kit.run(ops, "seed --scale 1", "lab", "seed", "--scale", "1")
    assert proc.returncode == 0, proc.stderr
    agents = [kit.docker(h, "sh", "-c", "test -x /usr/local/sbin/followup-backup && echo yes; true") for h in DB_HOSTS]
    if not all(a.strip() == "yes" for a in agents):
        proc = kit.run(ops, "backup (sets the backup role up)", "backup", "-i", "inventories/lab")
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("step", kit.KILL_STEPS)
def test_an_upgrade_killed_in_this_step_is_completed_by_the_same_command_run_again(ops, ready, step, tmp_path):
    approval = kit.make_approval(
        tmp_path, change_id=f"CHG-T-KILL-{step.upper()}", from_release="1.0.0", to_release=NEWEST
    )
    before = kit.data_fingerprint()
    audited = len(ops.audit())
    killed = kit.killed_upgrade(ops, approval, step)
    record = {}
    try:
        assert killed["returncode"] == -signal.SIGKILL, f"the upgrade ended before the kill: {killed['output']}"
        assert kit.KILL_STEPS.index(killed["reached"]) >= kit.KILL_STEPS.index(step), killed
        proc = kit.run(
            ops,
            f"upgrade rerun after the kill in {step}",
            "upgrade",
            "-i",
            "inventories/lab",
            "--approval",
            str(approval),
        )
        records = ops.audit()[audited:]
        record = records[-1] if records else {}
        assert proc.returncode == 0, proc.stderr
        assert record["outcome"] == "ok", record["message"]
        abandoned = [r for r in records if r.get("outcome") == "abandoned" and r.get("command") == "upgrade"]
        assert abandoned, "the rerun did not record the killed upgrade's end (outcome abandoned)"
        assert record["details"].get("resumed_operation") == abandoned[-1]["id"], record["details"]
        assert kit.current_versions() == {"app": NEWEST, "fep": NEWEST, "voice": NEWEST}
        assert kit.docker("app1", "sh", "-c", "ls /etc/systemd/system | grep -c sidecar; true").strip() == "0"
        assert kit.fep_answers() == ("ok", 200)
        after = kit.data_fingerprint()
        for key, value in before.items():
            if key.startswith(("mysql:", "mongodb:")) and not key.startswith("mysql:columns:"):
                assert key in after and after[key][0] >= value[0], key
    finally:
        kit.back_to_first(ops, record, NEWEST)
