"""Integration tests drive the real command line against the real lab (Docker containers with systemd and sshd,
MariaDB, FerretDB on PostgreSQL, nginx, kamailio). They need root, a Docker engine, build/releases and
build/artifacts (make integration builds them)."""

import shutil
import threading
import time

import pytest
import upgradekit as kit
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from labkit import FEP, RELEASES, ROOT, VAULT_PASSWORD, Ops, bench_migrate

# Files whose tests leave the lab changed run last, in this order: the upgrades leave it at the newest release (the
# `first_release` fixture takes it back to 1.0.0 for a later test that needs it, so `make test`, where nothing after
# needs it, does not pay for the restore and redeploy); hardening (等保 settings, TLS-only databases, a firewall)
# cannot be undone by a deploy, and every other test expects the lab as `lab up` made it; the server moves (slow)
# finish the app's move and leave the lab on app2 with the inventory diff uncommitted, which a later hardening run
# would undo (it renders the fep's upstreams from the inventory).
LAST = ("test_upgrade.py", "test_upgrade_killed.py", "test_hardening.py", "test_migrate_server.py")


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)
    order = {name: i + 1 for i, name in enumerate(LAST)}
    items.sort(key=lambda item: order.get(item.path.name, 0))  # stable: the others keep their order


@pytest.fixture(scope="session")
def ops(tmp_path_factory):
    if not (RELEASES / "index.yml").is_file():
        pytest.fail("build/releases is missing: run `make releases` first")
    if shutil.which("docker") is None:
        pytest.fail("docker is missing: run `make bootstrap` first")
    return Ops(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def lab(ops):
    """A lab as `lab up` makes it: containers left by an earlier session (their databases migrated further, the
    hosts hardened) are removed first, so every session starts from the same state."""
    assert ops("lab", "down", timeout=300).returncode == 0
    proc = ops("lab", "up", timeout=1200)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="session")
def vault_values():
    """Every secret in the lab's vault, to prove none of them leaks."""
    password = VAULT_PASSWORD.read_text().strip().encode()
    secret = VaultSecret(password)
    data = VaultLib([("default", secret)]).decrypt((ROOT / "inventories/lab/group_vars/all/vault.yml").read_bytes())
    # An age recipient (vault_backup_age_recipient, age1...) is the public half of the backup key: backups name it.
    return [str(v) for k, v in yaml.safe_load(data).items() if not k.endswith("_recipient")]


@pytest.fixture(scope="session")
def deployed(ops, lab):
    """The lab deployed at release 1.0.0, once per session (tests that need it ask for it, whatever their order)."""
    proc = ops("deploy", "-i", "inventories/lab", "--release", "1.0.0", timeout=2400)
    assert proc.returncode == 0, proc.stderr
    return ops.audit()[-1]


@pytest.fixture(scope="module")
def first_release(ops, deployed):
    """The lab at 1.0.0, the session's deploy: after an upgrade (test_upgrade.py leaves the lab at the newest release)
    the databases are restored from the pre-upgrade backups of the session's last completed upgrade and 1.0.0 deployed
    again (upgradekit.back_to_first), only when a test needs it."""
    versions = kit.current_versions()
    if versions != kit.FIRST_VERSIONS:
        upgrades = [r for r in ops.audit() if r.get("command") == "upgrade" and r.get("outcome") == "ok"]
        assert upgrades, f"the lab runs {versions} and no completed upgrade of this session names backups to go back to"
        kit.back_to_first(ops, upgrades[-1], versions["app"])
    return deployed


# The migration tests' (test_migrate.py, test_migrate_server.py): the lab's spares, and a client creating a
# synthetic patient through the fep every 100 ms (bench/migrate.py writer) for a whole test module.
@pytest.fixture(scope="module")
def spares(ops, first_release):
    proc = ops("lab", "up", "--spares", timeout=1200)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def writer(spares, tmp_path_factory):
    """{stop, out, thread, mod, windows}: the writer's stop file and record, its thread, bench/migrate.py, and the
    time windows of the switches a test appends to."""
    mod = bench_migrate()
    base = tmp_path_factory.mktemp("migrate-writer")
    stop, out = base / "stop", base / "writes.json"
    thread = threading.Thread(target=mod.writer, args=(FEP, str(stop), str(out)), daemon=True)
    thread.start()
    time.sleep(2)
    state = {"stop": stop, "out": out, "thread": thread, "mod": mod, "windows": []}
    yield state
    stop.touch()
    thread.join(30)
