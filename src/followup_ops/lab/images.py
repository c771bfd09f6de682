"""Lab images, built without any container registry.

followup-lab/base:<hash>  Debian 12 from debootstrap (mirror read from this machine's apt sources), docker import
followup-lab/node:<hash>  docker build FROM base, lab/node/Dockerfile: packages, ops user, sshd, systemd

Each tag is a hash of the image's inputs, so an unchanged image is never rebuilt and a changed input always is.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from followup_ops.errors import OpsError
from followup_ops.lab import docker
from followup_ops.paths import repo_root

BASE_REPO = "followup-lab/base"
NODE_REPO = "followup-lab/node"
SUITE = "bookworm"
# What debootstrap puts in the base image: just enough to boot systemd and answer SSH.
BASE_INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "python3",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "gnupg",
)
# Bump when the way the base image is made changes.
BASE_RECIPE = "1"


def _sha(parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def node_context():
    return repo_root() / "lab" / "node"


def base_tag():
    return f"{BASE_REPO}:{_sha([BASE_RECIPE, SUITE, 'minbase', *BASE_INCLUDE])}"


def node_tag():
    context = node_context()
    files = sorted(p for p in context.rglob("*") if p.is_file())
    parts = [base_tag()]
    for path in files:
        parts += [str(path.relative_to(context)), path.read_bytes()]
    return f"{NODE_REPO}:{_sha(parts)}"


def _deb822_entries(text):
    entry = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if entry:
                yield entry
            entry = {}
            continue
        if line.startswith("#") or line.startswith(" "):
            continue
        key, _, value = line.partition(":")
        entry[key.strip().lower()] = value.strip()


def apt_mirrors(apt_dir="/etc/apt"):
    """Return (debian_mirror, security_mirror or None) from this machine's apt sources; never hard-coded."""
    entries = []  # (uri, suites)
    apt = Path(apt_dir)
    one_line = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("deb "):
                continue
            if "[" in line:  # drop the options: deb [signed-by=...] URI SUITE COMPONENTS
                line = "deb " + line.split("]", 1)[1]
            words = line.split()
            if len(words) >= 3:
                entries.append((words[1], [words[2]]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for entry in _deb822_entries(path.read_text()):
            if entry.get("enabled", "yes").lower() == "no" or "deb" not in entry.get("types", "").split():
                continue
            for uri in entry.get("uris", "").split():
                entries.append((uri, entry.get("suites", "").split()))
    debian = next((uri for uri, suites in entries if SUITE in suites), None)
    security = next((uri for uri, suites in entries if f"{SUITE}-security" in suites), None)
    if debian is None:
        raise OpsError(f"no Debian {SUITE} mirror in this machine's apt sources ({apt_dir}): add one, then retry")
    return debian.rstrip("/"), security.rstrip("/") if security else None


def apt_sources_list(debian, security):
    lines = [f"deb {debian} {SUITE} main", f"deb {debian} {SUITE}-updates main"]
    if security:
        lines.append(f"deb {security} {SUITE}-security main")
    return "\n".join(lines) + "\n"


def _build_base(tag, log):
    if shutil.which("debootstrap") is None:
        raise OpsError("debootstrap is not installed: run 'make bootstrap' as root, then retry")
    if os.geteuid() != 0:
        raise OpsError("building the lab base image needs root (debootstrap): run as root, then retry")
    debian, _security = apt_mirrors()
    workdir = Path(tempfile.mkdtemp(prefix="followup-lab-base-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    try:
        log(f"lab: building {tag} with debootstrap from {debian} (takes about a minute)")
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_INCLUDE)}",
            SUITE,
            str(rootfs),
            debian,
        ]
        with open(workdir / "debootstrap.log", "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            tail = (workdir / "debootstrap.log").read_text().strip().splitlines()[-1:]
            raise OpsError(f"debootstrap failed ({' '.join(tail)}): check the mirror {debian} answers, then retry")
        # apt caches and logs are not part of the image.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            [docker.docker_cmd(), "import", "--change", 'CMD ["/lib/systemd/systemd"]', "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise OpsError(f"docker import of the lab base image failed: {imp.stderr.strip()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _build_node(tag, base, log):
    debian, security = apt_mirrors()
    log(f"lab: building {tag} FROM {base} (installs the lab's Debian packages, a few minutes the first time)")
    context = node_context()
    cmd = [
        "build",
        "--tag",
        tag,
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"APT_SOURCES={apt_sources_list(debian, security)}",
        "--label",
        "followup-lab=1",
        str(context),
    ]
    proc = subprocess.run([docker.docker_cmd(), *cmd], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        log("\n".join(lines[-20:]))
        raise OpsError(f"docker build of {tag} failed: {lines[-1] if lines else 'no output'}")


def ensure_images(log=print):
    """Build what is missing; return the node image tag."""
    docker.ensure_engine()
    base = base_tag()
    if not docker.image_exists(base):
        _build_base(base, log)
    node = node_tag()
    if not docker.image_exists(node):
        _build_node(node, base, log)
    else:
        log(f"lab: image {node} is up to date")
    return node
