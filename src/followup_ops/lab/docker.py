"""A thin wrapper over the docker command line, with one-line errors."""

import json
import shutil
import subprocess

from followup_ops.errors import OpsError


def docker_cmd():
    path = shutil.which("docker")
    if path is None:
        raise OpsError(
            "Docker is not installed: run 'make bootstrap' as root (installs Debian's docker.io), then retry"
        )
    return path


def run(args, *, check=True, capture=True, input_text=None, timeout=None):
    """Run `docker ARGS`; return the CompletedProcess. Raise OpsError with docker's last line on failure."""
    proc = subprocess.run(
        [docker_cmd(), *args],
        input=input_text,
        text=True,
        capture_output=capture,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        raise OpsError(f"docker {args[0]} failed: {last}")
    return proc


def ensure_engine():
    """Fail with the fix when no Docker engine answers."""
    proc = run(["info", "--format", "{{json .ServerVersion}}"], check=False, timeout=30)
    if proc.returncode != 0:
        raise OpsError(
            "no Docker engine answers on this machine: run 'make bootstrap' as root (starts dockerd), then retry"
        )
    return json.loads(proc.stdout.strip() or '""')


def image_exists(tag):
    return run(["image", "inspect", tag], check=False).returncode == 0


def container_state(name):
    """Return (status, image_id, labels) of a container, or (None, None, {}) when it does not exist."""
    proc = run(["container", "inspect", name], check=False)
    if proc.returncode != 0:
        return None, None, {}
    data = json.loads(proc.stdout)[0]
    return data["State"]["Status"], data["Image"], data["Config"].get("Labels") or {}


def image_id(tag):
    proc = run(["image", "inspect", "--format", "{{.Id}}", tag], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def network_exists(name):
    return run(["network", "inspect", name], check=False).returncode == 0
