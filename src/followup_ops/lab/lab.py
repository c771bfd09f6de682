"""The local lab: Debian 12 containers with systemd and sshd on a fixed Docker network.

Hosts, addresses and groups come from inventories/lab/hosts.yml (committed), so the inventory and the lab never
disagree. Ansible reaches the hosts over SSH as `ops` with a key made here, like production; Docker is used only to
start, stop and first-boot the containers (install the key, read the host key), never to run Ansible.
"""

import hashlib
import ipaddress
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from followup_ops.errors import OpsError
from followup_ops.lab import docker, images
from followup_ops.paths import lab_dir, lab_inventory

NETWORK = "followup-lab"
SUBNET = "10.89.50.0/24"
GATEWAY = "10.89.50.1"
CONTAINER_PREFIX = "followup-lab-"
LABEL = "followup-lab"
IDENTITY_LABEL = "followup-lab.identity"
SSH_USER = "ops"

# Secrets of the lab's vault, made at random for each lab. Production keeps the same keys in its own vault.
VAULT_KEYS = (
    "vault_mysql_root_password",
    "vault_mysql_app_password",
    "vault_mysql_interface_password",
    "vault_mysql_migrate_password",
    "vault_mysql_backup_password",
    "vault_mongodb_admin_password",
    "vault_mongodb_app_password",
    "vault_mongodb_backup_password",
    "vault_voice_trunk_password",
)
# Secrets that are not random tokens: the backups' age key pair (X25519), made with age-keygen, in memory only.
AGE_KEYS = ("vault_backup_age_identity", "vault_backup_age_recipient")


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    groups: tuple
    spare: bool

    @property
    def container(self):
        return CONTAINER_PREFIX + self.name


def lab_hosts(inventory=None):
    """Read the lab hosts from inventories/lab/hosts.yml."""
    path = Path(inventory or lab_inventory()) / "hosts.yml"
    data = yaml.safe_load(path.read_text())
    hosts = {}

    def walk(group_name, group, parents):
        group = group or {}
        chain = (*parents, group_name)
        for host, hostvars in (group.get("hosts") or {}).items():
            address = (hostvars or {}).get("ansible_host")
            if not address:
                raise OpsError(f"{path}: lab host {host} has no ansible_host: give it a fixed address")
            previous = hosts.get(host)
            groups = tuple(sorted(set(chain) | set(previous.groups if previous else ())))
            hosts[host] = LabHost(host, str(address), groups, "spare" in groups)
        for child, child_group in (group.get("children") or {}).items():
            walk(child, child_group, chain)

    walk("all", data.get("all"), ())
    network = ipaddress.ip_network(SUBNET)
    for host in hosts.values():
        if ipaddress.ip_address(host.address) not in network:
            raise OpsError(f"{path}: lab host {host.name} address {host.address} is outside {SUBNET}")
    return sorted(hosts.values(), key=lambda h: (h.spare, h.address))


def ssh_key():
    return lab_dir() / "ssh" / "id_ed25519"


def known_hosts():
    return lab_dir() / "known_hosts"


def vault_password_file():
    return lab_dir() / "vault-password"


def vault_file():
    return lab_inventory() / "group_vars" / "all" / "vault.yml"


def _ensure_key(log):
    key = ssh_key()
    if key.exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "followup-ops lab", "-f", str(key)],
        check=True,
    )
    log(f"lab: made the SSH key {key}")


def ensure_vault(log=print):
    """Make the lab's vault password and vault (random secrets) once per machine; add keys a newer checkout needs."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    password_file = vault_password_file()
    if not password_file.exists() and vault_file().exists():
        raise OpsError(
            f"{vault_file()} exists but its password {password_file} is gone: restore the password file, or delete "
            "the vault file (and run `followup-ops lab down`) to make a new lab vault"
        )
    if not password_file.exists():
        password_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        log(f"lab: made the vault password {password_file}")
    secret = VaultSecret(password_file.read_text().strip().encode())
    vault_lib = VaultLib([("default", secret)])
    vault = vault_file()
    values = {}
    if vault.exists():
        values = yaml.safe_load(vault_lib.decrypt(vault.read_bytes())) or {}
        missing = [key for key in (*VAULT_KEYS, *AGE_KEYS) if key not in values]
        if not missing:
            return
        log(f"lab: adding {', '.join(missing)} to the lab vault")
    plain = "# The lab's secrets, made at random by `followup-ops lab up`. Never used outside the lab.\n"
    merged = dict(values)
    merged.update({key: secrets.token_urlsafe(24) for key in VAULT_KEYS if key not in values})
    if any(key not in values for key in AGE_KEYS):
        merged.update(zip(AGE_KEYS, age_key_pair(), strict=True))
    plain += yaml.safe_dump(merged, default_flow_style=False, sort_keys=True)
    encrypted = vault_lib.encrypt(plain.encode(), secret)
    vault.parent.mkdir(parents=True, exist_ok=True)
    tmp = vault.with_name(vault.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(encrypted)
    os.replace(tmp, vault)
    if not values:
        log(f"lab: made the lab vault {vault}")


def age_key_pair():
    """(identity, recipient) of a new age X25519 key, made by age-keygen; the identity never touches a disk here."""
    try:
        made = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise OpsError("age-keygen is missing: run `make bootstrap` as root (Debian's age), then retry") from None
    identity = next(line for line in made.stdout.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    recipient = subprocess.run(["age-keygen", "-y"], input=identity + "\n", capture_output=True, text=True, check=True)
    return identity, recipient.stdout.strip()


def ensure_secrets(log=print):
    """The lab's SSH key and vault (made once per machine)."""
    _ensure_key(log)
    ensure_vault(log)


def _ensure_network():
    if docker.network_exists(NETWORK):
        subnets = docker.run(
            ["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", NETWORK]
        ).stdout.split()
        if SUBNET not in subnets:
            raise OpsError(
                f"the Docker network {NETWORK} exists with subnet {' '.join(subnets) or 'none'}, not {SUBNET}: "
                f"remove it (`followup-ops lab down`, then `docker network rm {NETWORK}`) and retry"
            )
        return
    docker.run(
        ["network", "create", "--driver", "bridge", "--subnet", SUBNET, "--gateway", GATEWAY, "--label", LABEL, NETWORK]
    )


def identity():
    """Which lab a container belongs to: a digest of this checkout's lab key and vault password.

    A container made by another checkout (another key, another vault) cannot be reached or deployed to with
    this one's secrets, so `up` recreates it.
    """
    digest = hashlib.sha256(ssh_key().with_suffix(".pub").read_bytes() + vault_password_file().read_bytes())
    return digest.hexdigest()[:16]


def run_args(name, hostname, image, address=None, network=NETWORK, labels=None):
    """docker run arguments for a systemd container (the flags this kernel accepts; no --privileged)."""
    args = [
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        hostname,
        "--network",
        network,
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--cgroupns",
        "host",
        "--volume",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--label",
        LABEL + "=1",
    ]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    if address:
        args += ["--ip", address]
    return [*args, image]


def _first_boot(host, log):
    """Install the ops key and read the host's SSH host key through Docker (a trusted channel)."""
    pub = ssh_key().with_suffix(".pub").read_text()
    deadline = time.monotonic() + 90
    while True:
        proc = docker.run(["exec", host.container, "systemctl", "is-system-running"], check=False)
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            break
        if time.monotonic() > deadline:
            raise OpsError(f"lab host {host.name} did not finish booting (systemd: {state or 'no answer'})")
        time.sleep(1)
    docker.run(
        [
            "exec",
            "-i",
            host.container,
            "sh",
            "-c",
            f"install -d -m 0700 -o {SSH_USER} -g {SSH_USER} /home/{SSH_USER}/.ssh && "
            f"cat > /home/{SSH_USER}/.ssh/authorized_keys && "
            f"chown {SSH_USER}:{SSH_USER} /home/{SSH_USER}/.ssh/authorized_keys && "
            f"chmod 0600 /home/{SSH_USER}/.ssh/authorized_keys",
        ],
        input_text=pub,
    )
    while True:
        proc = docker.run(["exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"], check=False)
        if proc.returncode == 0 and proc.stdout.startswith("ssh-ed25519"):
            return " ".join(proc.stdout.split()[:2])
        if time.monotonic() > deadline:
            raise OpsError(f"lab host {host.name} has no SSH host key: check `docker logs {host.container}`")
        time.sleep(1)


def _write_known_hosts(entries):
    path = known_hosts()
    lines = {}
    if path.exists():
        for line in path.read_text().splitlines():
            names = line.split(" ", 1)[0]
            lines[names] = line
    for host, key in entries.items():
        lines[f"{host.address},{host.name}"] = f"{host.address},{host.name} {key}"
    path.write_text("".join(line + "\n" for line in sorted(lines.values())))


def ssh_check(host, timeout=60):
    """Return True when `ssh ops@host true` works with the lab key and pinned host keys."""
    deadline = time.monotonic() + timeout
    cmd = [
        "ssh",
        "-i",
        str(ssh_key()),
        "-o",
        f"UserKnownHostsFile={known_hosts()}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        f"{SSH_USER}@{host.address}",
        "sudo -n true",
    ]
    while True:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def up(spares=False, log=print):
    """Build images if needed and start the lab (idempotent). Return the hosts that are up."""
    image = images.ensure_images(log)
    _ensure_key(log)
    ensure_vault(log)
    # The lab's approver key and the lab inventory's approvers (the upgrade issue, docs/upgrade.md).
    from followup_ops.commands.approval import ensure_lab_approver

    ensure_lab_approver(log)
    _ensure_network()
    image_id = docker.image_id(image)
    labels = {IDENTITY_LABEL: identity()}
    wanted = [h for h in lab_hosts() if spares or not h.spare]
    new_keys = {}
    for host in wanted:
        status, current_image, current_labels = docker.container_state(host.container)
        if status is not None and current_labels.get(IDENTITY_LABEL) != labels[IDENTITY_LABEL]:
            log(f"lab: {host.name} was made by another lab (another key and vault); recreating it")
            docker.run(["rm", "--force", "--volumes", host.container])
            status = None
        if status is None:
            log(f"lab: starting {host.name} ({host.address})")
            docker.run(run_args(host.container, host.name, image, host.address, labels=labels))
            new_keys[host] = _first_boot(host, log)
        else:
            if current_image != image_id:
                log(
                    f"lab: {host.name} runs an older image than {image}; "
                    "`followup-ops lab down` then `lab up` recreates it"
                )
            if status == "paused":
                log(f"lab: unpausing {host.name}")
                docker.run(["unpause", host.container])
            elif status != "running":
                log(f"lab: restarting {host.name}")
                docker.run(["start", host.container])
            new_keys[host] = _first_boot(host, log)
    _write_known_hosts(new_keys)
    for host in wanted:
        if not ssh_check(host):
            raise OpsError(
                f"lab host {host.name} ({host.address}) does not answer SSH as {SSH_USER}: "
                f"see `docker logs {host.container}`, or `followup-ops lab down` and `lab up`"
            )
    log(f"lab: {len(wanted)} hosts up and reachable over SSH as {SSH_USER}")
    return wanted


def down(log=print):
    """Remove the lab's containers and network (the SSH key, vault and images stay)."""
    docker.ensure_engine()
    # Every container the lab made, also those of hosts no longer in the inventory.
    names = docker.run(["ps", "--all", "--filter", f"label={LABEL}=1", "--format", "{{.Names}}"]).stdout.split()
    if names:
        docker.run(["rm", "--force", "--volumes", *names])
        log(f"lab: removed {len(names)} containers")
    if docker.network_exists(NETWORK):
        docker.run(["network", "rm", NETWORK])
    if known_hosts().exists():
        known_hosts().unlink()
    return names


def status():
    """Return one row per lab host: name, address, groups, container state, SSH reachability."""
    docker.ensure_engine()
    rows = []
    for host in lab_hosts():
        state = docker.container_state(host.container)[0]
        reachable = state == "running" and known_hosts().exists() and ssh_check(host, timeout=0)
        rows.append(
            {
                "host": host.name,
                "address": host.address,
                "groups": [g for g in host.groups if g != "all"],
                "spare": host.spare,
                "container": state or "absent",
                "ssh": "ok" if reachable else "-",
            }
        )
    return rows
