# -*- coding: utf-8 -*-
# followup-ops: the evidence of the 等保 compliance check, collected on the host in one pass, read-only.
#
# Used by library/followup_compliance_facts.py. Every collector reads files, /proc and /sys, or runs a command that
# only reads (sshd -T, ssh -V, auditctl -l, chronyc tracking, systemctl show, ss, dpkg-query/rpm, apt-get -s,
# nft list ruleset, nginx -v, psql in a read-only transaction); databases are read inside read-only transactions.
# Nothing here writes a file, starts a service or changes a setting. `nginx -T` is deliberately not run: it opens the
# log files for writing (and creates them when missing); the configuration is parsed here instead.
#
# Secrets never leave the host: /etc/shadow is reduced to a status per account (empty, locked, set) and the crypt
# prefix ($6$, $y$ ...), never the hash; MySQL password columns are compared to '' inside the server and only the
# boolean comes back; lines that look like secrets are masked (mask_line) before they are returned.
# Runs on the managed host's Python (3.6 or later: RHEL 8, Kylin, openEuler, Debian, Ubuntu); standard library only,
# PyMySQL, pymongo and PyYAML are optional.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fnmatch
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import socket
import stat
import time

SCHEMA = 1
MAX_LINES = 2000
MASK = "********"

# Values that are secrets, whatever file or output they appear in.
_SECRET_PATTERNS = [
    # crypt(3) hashes: $1$, $2b$, $5$, $6$, $y$, $gy$, $7$ ...
    (re.compile(r"\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5)\$[./A-Za-z0-9$=+]{8,}"), MASK),
    # key = value where the key ends in a secret word (FOLLOWUP_MYSQL_PASSWORD=, password:, api_key=); keys that only
    # contain one (max_password_errors, passwordauthentication) and sudo's NOPASSWD:/PASSWD: tags are not secrets
    (
        re.compile(
            r"(?i)\b(?!(?:NO)?PASSWD\s*:)([A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|"
            r"private[_-]?key|auth[_-]?key)s?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1" + MASK,
    ),
    # IDENTIFIED BY 'x' / PASSWORD 'x' in SQL
    (re.compile(r"(?i)\b(IDENTIFIED\s+(?:BY|WITH\s+\S+\s+(?:BY|AS))\s+)('[^']*'|\"[^\"]*\")"), r"\1'" + MASK + "'"),
    # user:password@ in URIs
    (re.compile(r"(://[^:/@\s]+:)([^@\s]+)@"), r"\1" + MASK + "@"),
    # PEM private keys
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*"), "-----BEGIN PRIVATE KEY----- " + MASK),
]


def mask_line(text):
    """TEXT (a raw line of a file or of a command's output) with anything that looks like a secret masked."""
    if not text:
        return text
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def mask_values(text):
    """TEXT composed from evidence (already masked at its source), masked again by the same rules."""
    if not text:
        return text
    return mask_line(text)


def _native(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


# --- files ---------------------------------------------------------------------------------------------------------
def _owner(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def stat_path(path):
    """Owner, group and mode of PATH (never follows a final symlink for the mode of the link itself)."""
    try:
        st = os.lstat(path)
    except OSError as err:
        return {"exists": False, "error": err.strerror} if err.errno not in (2, 20) else {"exists": False}
    kind = "link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
    info = {
        "exists": True,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "owner": _owner(st.st_uid),
        "group": _group(st.st_gid),
        "size": st.st_size,
        "mtime": int(st.st_mtime),
    }
    if kind == "link":
        with contextlib.suppress(OSError):
            info["target"] = os.readlink(path)
    return info


def _keep_line(line):
    stripped = line.strip()
    if not stripped:
        return False
    if stripped.startswith(("#include", "@include")):
        return True
    return not stripped.startswith(("#", ";"))


def read_file(path, max_bytes):
    """Stat of PATH plus its sha256 and its significant lines [[number, text], ...] (comments and blanks dropped,
    secrets masked). The sha256 is of the whole file as it is on disk, so an assessor can compare it."""
    info = stat_path(path)
    if not info.get("exists") or info.get("type") == "dir":
        return info
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, IOError) as err:
        info["error"] = getattr(err, "strerror", None) or str(err)
        return info
    truncated = len(data) > max_bytes
    if truncated:
        data = data[:max_bytes]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        info["sha256"] = digest.hexdigest()
    else:
        info["sha256"] = _sha256_bytes(data)
    text = data.decode("utf-8", "replace")
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if _keep_line(line):
            lines.append([number, mask_line(line.rstrip())])
            if len(lines) >= MAX_LINES:
                truncated = True
                break
    info["lines"] = lines
    info["truncated"] = truncated
    return info


def expand(patterns):
    """{pattern: [matching paths, sorted]} (a pattern without wildcards maps to itself when it exists)."""
    out = {}
    for pattern in patterns:
        if glob.has_magic(pattern):
            out[pattern] = sorted(glob.glob(pattern))
        else:
            out[pattern] = [pattern] if os.path.lexists(pattern) else []
    return out


def collect_files(read, stat_only, max_bytes):
    files, globs = {}, {}
    for pattern, paths in expand(read).items():
        globs[pattern] = paths
        for path in paths:
            files[path] = read_file(path, max_bytes)
        if not paths and not glob.has_magic(pattern):
            files[pattern] = {"exists": False}
    for pattern, paths in expand(stat_only).items():
        globs.setdefault(pattern, paths)
        for path in paths:
            if path not in files:
                files[path] = stat_path(path)
        if not paths and not glob.has_magic(pattern) and pattern not in files:
            files[pattern] = {"exists": False}
    return files, globs


# --- commands ------------------------------------------------------------------------------------------------------
class Runner(object):
    """Runs read-only commands through AnsibleModule.run_command and keeps a record of each."""

    def __init__(self, module):
        self.module = module
        self.commands = {}

    def run(self, name, argv, environ=None, keep=True, data=None, stderr=False):
        binary = argv[0]
        if not os.path.isabs(binary):
            found = self.module.get_bin_path(binary)
            if not found:
                record = {"argv": argv, "rc": None, "error": "%s is not installed" % binary}
                self.commands[name] = record
                return None, record
            argv = [found, *list(argv[1:])]
        elif not os.path.exists(binary):
            record = {"argv": argv, "rc": None, "error": "%s is not installed" % binary}
            self.commands[name] = record
            return None, record
        started = time.time()
        env = dict(environ or {})
        env.setdefault("LANG", "C")
        env.setdefault("LC_ALL", "C")
        rc, out, err = self.module.run_command(argv, environ_update=env, data=data, check_rc=False)
        out = _native(out) or ""
        err = _native(err) or ""
        record = {
            "argv": [os.path.basename(argv[0]), *list(argv[1:])],
            "rc": rc,
            "sha256": _sha256_bytes(out.encode("utf-8")),
            "duration_s": round(time.time() - started, 3),
        }
        if keep:
            lines = [mask_line(x.rstrip()) for x in out.splitlines() if x.strip()]
            record["lines"] = lines[:MAX_LINES]
        if stderr:
            record["stderr"] = [mask_line(x.rstrip()) for x in err.splitlines() if x.strip()][:20]
        if rc != 0:
            first = (err.strip() or out.strip()).splitlines()
            record["error"] = mask_line(first[0]) if first else "rc %s" % rc
        self.commands[name] = record
        return out, record


# --- host ----------------------------------------------------------------------------------------------------------
def os_release(path="/etc/os-release"):
    data = {}
    try:
        with open(path) as handle:
            for line in handle:
                line = line.strip()
                if "=" in line and not line.startswith("#"):
                    key, value = line.split("=", 1)
                    data[key] = value.strip().strip('"').strip("'")
    except (OSError, IOError):
        pass
    return data


REDHAT_IDS = (
    "rhel",
    "centos",
    "rocky",
    "almalinux",
    "ol",
    "fedora",
    "openEuler",
    "openeuler",
    "kylin",
    "anolis",
    "euleros",
    "tencentos",
    "opencloudos",
    "uos-server",
)
DEBIAN_IDS = ("debian", "ubuntu", "uos", "deepin", "linuxmint", "raspbian")


def os_family(release):
    ident = release.get("ID", "")
    like = release.get("ID_LIKE", "").split()
    if ident in REDHAT_IDS or any(x in ("rhel", "fedora", "centos") for x in like):
        return "redhat"
    if ident in DEBIAN_IDS or "debian" in like or "ubuntu" in like:
        return "debian"
    return "unknown"


def container_kind(runner):
    out, record = runner.run("systemd-detect-virt", ["systemd-detect-virt", "--container"], keep=False)
    if out is not None and record.get("rc") == 0 and out.strip() and out.strip() != "none":
        return out.strip()
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    try:
        with open("/proc/1/environ", "rb") as handle:
            env = handle.read().split(b"\0")
        for item in env:
            if item.startswith(b"container="):
                return item.split(b"=", 1)[1].decode() or "container"
    except (OSError, IOError):
        pass
    return None


def login_defs_value(key, default=None, path="/etc/login.defs"):
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == key:
                    return parts[1]
    except (OSError, IOError):
        pass
    return default


def collect_host(runner):
    release = os_release()
    uname = os.uname()
    try:
        uid_min = int(login_defs_value("UID_MIN", "1000"))
    except ValueError:
        uid_min = 1000
    return {
        "hostname": socket.gethostname(),
        "os": {
            "id": release.get("ID"),
            "id_like": release.get("ID_LIKE", "").split(),
            "version_id": release.get("VERSION_ID"),
            "name": release.get("PRETTY_NAME") or release.get("NAME"),
            "family": os_family(release),
        },
        "kernel": uname[2],
        "container": container_kind(runner),
        "time": time.time(),
        "uid_min": uid_min,
    }


# --- accounts ------------------------------------------------------------------------------------------------------
def shadow_status(field):
    """(status, prefix) of a shadow password field without ever returning the hash: empty, locked or set."""
    if field == "":
        return "empty", None
    if field.startswith(("!", "*")):
        rest = field.lstrip("!*")
        prefix = re.match(r"^\$[A-Za-z0-9]+\$", rest)
        return "locked", prefix.group(0) if prefix else None
    prefix = re.match(r"^\$[A-Za-z0-9]+\$", field)
    return "set", prefix.group(0) if prefix else ("des" if len(field) == 13 else "unknown")


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def collect_accounts(passwd_path="/etc/passwd", shadow_path="/etc/shadow", group_path="/etc/group"):  # noqa: S107
    users, problems = [], []
    shadow = {}
    try:
        with open(shadow_path) as handle:
            for number, line in enumerate(handle, 1):
                parts = line.rstrip("\n").split(":")
                if len(parts) < 2 or not parts[0]:
                    continue
                status, prefix = shadow_status(parts[1])
                shadow[parts[0]] = {
                    "password": status,
                    "hash_prefix": prefix,
                    "last_change": _int_or_none(parts[2]) if len(parts) > 2 else None,
                    "min_days": _int_or_none(parts[3]) if len(parts) > 3 else None,
                    "max_days": _int_or_none(parts[4]) if len(parts) > 4 else None,
                    "warn_days": _int_or_none(parts[5]) if len(parts) > 5 else None,
                    "inactive": _int_or_none(parts[6]) if len(parts) > 6 else None,
                    "expire": _int_or_none(parts[7]) if len(parts) > 7 else None,
                    "shadow_line": number,
                }
    except (OSError, IOError) as err:
        problems.append("%s cannot be read: %s" % (shadow_path, getattr(err, "strerror", err)))
    try:
        with open(passwd_path) as handle:
            for number, line in enumerate(handle, 1):
                parts = line.rstrip("\n").split(":")
                if len(parts) < 7 or not parts[0] or parts[0].startswith(("+", "-")):
                    continue
                user = {
                    "name": parts[0],
                    "uid": _int_or_none(parts[2]),
                    "gid": _int_or_none(parts[3]),
                    "home": parts[5],
                    "shell": parts[6],
                    "passwd_line": number,
                    "passwd_field": "x" if parts[1] == "x" else ("empty" if parts[1] == "" else "other"),
                }
                user.update(shadow.get(parts[0]) or {"password": "no shadow entry"})
                users.append(user)
    except (OSError, IOError) as err:
        problems.append("%s cannot be read: %s" % (passwd_path, getattr(err, "strerror", err)))
    groups = []
    try:
        with open(group_path) as handle:
            for number, line in enumerate(handle, 1):
                parts = line.rstrip("\n").split(":")
                if len(parts) < 4 or not parts[0]:
                    continue
                groups.append(
                    {
                        "name": parts[0],
                        "gid": _int_or_none(parts[2]),
                        "members": [m for m in parts[3].split(",") if m],
                        "group_line": number,
                    }
                )
    except (OSError, IOError) as err:
        problems.append("%s cannot be read: %s" % (group_path, getattr(err, "strerror", err)))
    result = {"users": users, "groups": groups}
    for path in (passwd_path, shadow_path, group_path):
        try:
            with open(path, "rb") as handle:
                result.setdefault("sha256", {})[path] = _sha256_bytes(handle.read())
        except (OSError, IOError):
            pass
    if problems:
        result["problems"] = problems
    return result


# --- services ------------------------------------------------------------------------------------------------------
def unit_name(name):
    return name if "." in name.rsplit("@", 1)[-1] or name.endswith(".service") else name + ".service"


def collect_services(runner, units):
    if not units:
        return {}
    full = [unit_name(u) for u in units]
    out, record = runner.run(
        "systemctl",
        [
            "systemctl",
            "show",
            "--no-pager",
            "--property=Id,LoadState,ActiveState,SubState,UnitFileState,RefuseManualStop",
            "--",
            *full,
        ],
        keep=False,
    )
    services = {}
    if out is None:
        for unit in units:
            services[unit] = {"error": record.get("error")}
        return services
    blocks = out.strip().split("\n\n")
    # zip() without strict=: this runs on the managed host's Python (3.6+); the lists have the same length.
    for unit, unit_full, block in zip(units, full, blocks + [""] * (len(full) - len(blocks))):  # noqa: B905
        props = {}
        for line in block.splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                props[key] = value
        services[unit] = {
            "unit": unit_full,
            "load_state": props.get("LoadState") or "unknown",
            "active_state": props.get("ActiveState") or "unknown",
            "sub_state": props.get("SubState"),
            "unit_file_state": props.get("UnitFileState") or "",
            "refuse_manual_stop": props.get("RefuseManualStop") == "yes",
        }
    return services


# --- listening sockets ---------------------------------------------------------------------------------------------
_SS_PROC = re.compile(r'\(\("([^"]+)"')


def split_address(text):
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].rpartition("]:")
    else:
        host, _, port = text.rpartition(":")
    host = host.split("%", 1)[0]
    return host, port


def parse_ss(text):
    sockets = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        proto = parts[0]
        if proto not in ("tcp", "udp"):
            continue
        state = parts[1]
        if proto == "tcp" and state != "LISTEN":
            continue
        host, port = split_address(parts[4])
        try:
            port = int(port)
        except ValueError:
            continue
        proc = _SS_PROC.search(line)
        sockets.append({"proto": proto, "address": host, "port": port, "process": proc.group(1) if proc else None})
    return sockets


def collect_listening(runner):
    out, record = runner.run("ss", ["ss", "-H", "-tulpn"], keep=False)
    if out is None or record.get("rc") not in (0, None):
        return {"error": record.get("error") or "ss failed", "sockets": []}
    sockets = parse_ss(out)
    seen, unique = set(), []
    for sock in sockets:
        key = (sock["proto"], sock["address"], sock["port"])
        if key not in seen:
            seen.add(key)
            unique.append(sock)
    return {
        "sockets": sorted(unique, key=lambda s: (s["port"], s["proto"], s["address"])),
        "command": "ss -H -tulpn",
        "sha256": record.get("sha256"),
    }


# --- packages ------------------------------------------------------------------------------------------------------
def collect_packages(runner, family):
    if family == "debian" or (family == "unknown" and runner.module.get_bin_path("dpkg-query")):
        out, record = runner.run(
            "dpkg-query", ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\t${Package}\\t${Version}\\n"], keep=False
        )
        if out is None:
            return {"error": record.get("error")}
        installed = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0].startswith("ii"):
                installed[parts[1]] = parts[2]
        return {"installed": installed, "tool": "dpkg-query", "sha256": record.get("sha256")}
    out, record = runner.run("rpm", ["rpm", "-qa", "--qf", "%{NAME}\\t%{VERSION}-%{RELEASE}\\n"], keep=False)
    if out is None:
        return {"error": record.get("error")}
    installed = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            installed[parts[0]] = parts[1]
    return {"installed": installed, "tool": "rpm", "sha256": record.get("sha256")}


# --- sysctl --------------------------------------------------------------------------------------------------------
SYSCTL_DIRS = ["/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"]


def sysctl_files():
    """The files systemd-sysctl reads, in the order it applies them (a later value wins)."""
    chosen = {}
    for directory in reversed(SYSCTL_DIRS):  # earlier directories override files of the same name
        for path in glob.glob(os.path.join(directory, "*.conf")):
            chosen[os.path.basename(path)] = path
    ordered = [chosen[name] for name in sorted(chosen)]
    if os.path.exists("/etc/sysctl.conf"):
        ordered.append("/etc/sysctl.conf")
    return ordered


def collect_sysctl(keys):
    runtime, config, files = {}, {}, {}
    for key in keys:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path) as handle:
                runtime[key] = " ".join(handle.read().split())
        except (OSError, IOError):
            runtime[key] = None
    wanted = set(keys)
    for path in sysctl_files():
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (OSError, IOError):
            continue
        files[path] = _sha256_bytes(data)
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith(("#", ";")) or "=" not in line:
                continue
            key, value = line.lstrip("-").split("=", 1)
            key = key.strip().replace("/", ".")
            if key in wanted or any(fnmatch.fnmatch(w, key) for w in wanted if "*" in key):
                for target in [w for w in wanted if w == key or fnmatch.fnmatch(w, key)]:
                    config[target] = {"value": value.strip(), "file": path, "line": number, "sha256": files[path]}
    return {"runtime": runtime, "config": config, "files": files}


# --- SSH -----------------------------------------------------------------------------------------------------------
def collect_ssh(runner):
    result = {}
    out, record = runner.run("ssh -V", ["ssh", "-V"], keep=False, stderr=True)
    text = (out or "") + " " + " ".join(record.get("stderr") or []) + " " + (record.get("error") or "")
    match = re.search(r"OpenSSH_([0-9]+\.[0-9]+)(p[0-9]+)?", text)
    if match:
        result["version"] = match.group(1)
        result["version_text"] = match.group(0)
    sshd = runner.module.get_bin_path("sshd", opt_dirs=["/usr/sbin", "/sbin"])
    if not sshd:
        result["sshd_error"] = "sshd is not installed"
        return result
    out, record = runner.run("sshd -T", [sshd, "-T"], keep=False)
    if out is None or record.get("rc") != 0:
        result["sshd_error"] = record.get("error") or "sshd -T failed"
        return result
    values, lines = {}, {}
    for number, line in enumerate(out.splitlines(), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        key = parts[0].lower()
        value = mask_line(parts[1]) if len(parts) > 1 else ""
        if key in values:
            values[key] = values[key] + " " + value
        else:
            values[key] = value
            lines[key] = number
    result.update(sshd=values, sshd_lines=lines, sshd_sha256=record.get("sha256"), sshd_command="sshd -T")
    return result


# --- audit, firewall -----------------------------------------------------------------------------------------------
def collect_command_lines(runner, name, argv):
    _out, record = runner.run(name, argv)
    return record


# --- time ----------------------------------------------------------------------------------------------------------
def parse_chrony_tracking(text):
    info = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = [x.strip() for x in line.split(":", 1)]
        info[key] = value
    result = {"source": "chronyc -n tracking", "reference": info.get("Reference ID"), "leap": info.get("Leap status")}
    match = re.match(r"([0-9.]+) seconds (slow|fast)", info.get("System time", ""))
    if match:
        result["offset_seconds"] = float(match.group(1))
    ref = (info.get("Reference ID") or "").split()[0:1]
    synced = bool(result.get("leap")) and result["leap"] != "Not synchronised" and ref and ref[0] != "00000000"
    result["synchronised"] = bool(synced)
    return result


def collect_time(runner):
    out, record = runner.run("chronyc", ["chronyc", "-n", "tracking"])
    if out is not None and record.get("rc") == 0:
        return parse_chrony_tracking(out)
    out2, record2 = runner.run("timedatectl", ["timedatectl", "show", "-p", "NTPSynchronized", "-p", "NTP"])
    if out2 is not None and record2.get("rc") == 0:
        props = dict(line.split("=", 1) for line in out2.splitlines() if "=" in line)
        return {
            "source": "timedatectl show",
            "synchronised": props.get("NTPSynchronized") == "yes",
            "ntp": props.get("NTP"),
        }
    return {"error": record.get("error") or record2.get("error") or "no time service answered"}


# --- updates -------------------------------------------------------------------------------------------------------
def collect_updates(runner, family):
    if family == "debian":
        lists = glob.glob("/var/lib/apt/lists/*_Packages*")
        if not lists:
            return {
                "error": "no apt package lists on the host (/var/lib/apt/lists): pending updates cannot be known; "
                "run apt-get update from the hospital mirror first"
            }
        # -s simulates; no lock is taken, and empty cache file names keep apt from rewriting its binary caches.
        out, record = runner.run(
            "apt-get -s",
            [
                "apt-get",
                "-s",
                "-o",
                "Debug::NoLocking=1",
                "-o",
                "Dir::Cache::pkgcache=",
                "-o",
                "Dir::Cache::srcpkgcache=",
                "dist-upgrade",
            ],
            keep=False,
        )
        if out is None or record.get("rc") != 0:
            return {"error": record.get("error") or "apt-get -s failed"}
        pending, security = [], []
        for line in out.splitlines():
            if line.startswith("Inst "):
                name = line.split()[1]
                pending.append(name)
                if re.search(r"(-security|Debian-Security|/[a-z]+-security)", line):
                    security.append(name)
        newest = max(os.path.getmtime(p) for p in lists)
        return {
            "tool": "apt-get -s dist-upgrade",
            "pending": len(pending),
            "pending_security": len(security),
            "security_packages": sorted(security)[:50],
            "lists_age_days": int((time.time() - newest) // 86400),
        }
    if family == "redhat":
        tool = "dnf" if runner.module.get_bin_path("dnf") else "yum"
        # -C: cached metadata only, nothing is downloaded; dnf's own log goes to a temporary directory, removed after.
        import shutil
        import tempfile

        logdir = tempfile.mkdtemp(prefix="followup-compliance-")
        argv = (
            [tool, "-C", "-q", "--setopt=logdir=%s" % logdir, "updateinfo", "list", "--security"]
            if (tool == "dnf")
            else [tool, "-C", "-q", "updateinfo", "list", "security"]
        )
        try:
            out, record = runner.run("updateinfo", argv, keep=False)
        finally:
            shutil.rmtree(logdir, ignore_errors=True)
        if out is None or record.get("rc") != 0:
            return {"error": record.get("error") or "%s updateinfo failed (no cached metadata?)" % tool}
        packages = sorted(set(line.split()[-1] for line in out.splitlines() if line.strip() and len(line.split()) >= 3))
        return {"tool": " ".join(argv), "pending_security": len(packages), "security_packages": packages[:50]}
    return {"error": "unknown package manager"}


# --- mandatory access control -------------------------------------------------------------------------------------
def _read_text(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, IOError):
        return None


def collect_mac():
    result = {}
    enforce = _read_text("/sys/fs/selinux/enforce")
    if enforce is not None:
        result["selinux"] = "enforcing" if enforce == "1" else "permissive"
    elif os.path.exists("/etc/selinux/config"):
        result["selinux"] = "disabled"
    config = _read_text("/etc/selinux/config")
    if config:
        match = re.search(r"^SELINUX=(\w+)", config, re.M)
        if match:
            result["selinux_config"] = match.group(1)
    apparmor = _read_text("/sys/module/apparmor/parameters/enabled")
    if apparmor is not None:
        result["apparmor"] = "enabled" if apparmor.upper().startswith("Y") else "disabled"
    return result


# --- world-writable files ------------------------------------------------------------------------------------------
SKIP_DIRS = ("/proc", "/sys", "/dev", "/run")


def collect_world_writable(roots, limit=50, max_entries=400000, budget_s=20.0):
    found_files, found_dirs, unowned = [], [], []
    scanned = 0
    truncated = False
    started = time.time()
    uids = set(p.pw_uid for p in pwd.getpwall())
    gids = set(g.gr_gid for g in grp.getgrall())
    for root in roots:
        try:
            root_dev = os.lstat(root).st_dev
        except OSError:
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath.startswith(SKIP_DIRS):
                dirnames[:] = []
                continue
            keep = []
            for name in dirnames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                scanned += 1
                if st.st_dev != root_dev or stat.S_ISLNK(st.st_mode):
                    continue
                if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX and len(found_dirs) < limit:
                    found_dirs.append(path)
                if (st.st_uid not in uids or st.st_gid not in gids) and len(unowned) < limit:
                    unowned.append(path)
                keep.append(name)
            dirnames[:] = keep
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                scanned += 1
                if stat.S_ISLNK(st.st_mode):
                    continue
                if st.st_mode & stat.S_IWOTH and len(found_files) < limit:
                    found_files.append(path)
                if (st.st_uid not in uids or st.st_gid not in gids) and len(unowned) < limit:
                    unowned.append(path)
            if scanned > max_entries or time.time() - started > budget_s:
                truncated = True
                break
        if truncated:
            break
    return {
        "roots": list(roots),
        "files": found_files,
        "dirs": found_dirs,
        "unowned": unowned,
        "scanned": scanned,
        "truncated": truncated,
    }


# --- release (the follow-up system's components) ------------------------------------------------------------------
def read_local_facts(facts_dir):
    facts = {}
    if not os.path.isdir(facts_dir):
        return facts
    for name in sorted(os.listdir(facts_dir)):
        if not name.endswith(".fact"):
            continue
        try:
            with open(os.path.join(facts_dir, name)) as handle:
                data = json.load(handle)
        except (OSError, IOError, ValueError):
            continue
        if isinstance(data, dict):
            facts[name[: -len(".fact")]] = data
    return facts


def collect_release(facts, base_dir, layout):
    components = {}
    named = dict((str(d["component"]), d) for d in facts.values() if d.get("component"))
    for name in layout.COMPONENTS:
        if name not in named and os.path.isdir(layout.component_root(name, base_dir)):
            named[name] = {}
    for name, fact in sorted(named.items()):
        root = fact.get("root") or layout.component_root(name, base_dir)
        version = layout.current_version(root)
        info = {
            "root": root,
            "version": version,
            "installed_versions": layout.installed_versions(root),
            "ports": sorted(
                set(
                    int(c["port"])
                    for c in fact.get("checks") or []
                    if isinstance(c, dict) and str(c.get("port", "")).isdigit()
                )
            ),
        }
        if version:
            record = layout.read_record(root, version)
            path = os.path.join(layout.release_dir(root, version), layout.RELEASE_RECORD)
            info["record_path"] = path
            if record is None:
                info["record_error"] = "%s is missing or not JSON" % path
            else:
                for key in ("release_date", "installed_at", "sha256", "approval"):
                    if record.get(key) is not None:
                        info[key] = record[key]
        components[name] = info
    return {"components": components}


# --- nginx (parsed, never run with -T) -----------------------------------------------------------------------------
_NGINX_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|[{};]|#[^\n]*|[^\s{};"\'#]+')


def _nginx_toks(text):
    line = 1
    pos = 0
    for match in _NGINX_TOKEN.finditer(text):
        line += text.count("\n", pos, match.start())
        pos = match.start()
        tok = match.group(0)
        if tok.startswith("#"):
            continue
        if tok[0] in "\"'" and len(tok) > 1:
            tok = tok[1:-1]
        yield tok, line


def parse_nginx(root_file, max_files=200):
    """Directives of an nginx configuration with their file, line and context, following include."""
    directives, files, errors = [], {}, []
    base = os.path.dirname(root_file)
    counter = {"server": 0}

    def parse(path, context):
        if len(files) >= max_files:
            errors.append("more than %d files included" % max_files)
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (OSError, IOError) as err:
            errors.append("%s: %s" % (path, getattr(err, "strerror", err)))
            return
        files[path] = _sha256_bytes(data)
        stack = list(context)
        words, start = [], None
        for tok, line in _nginx_toks(data.decode("utf-8", "replace")):
            if tok == ";":
                if words:
                    name, args = words[0], words[1:]
                    if name == "include":
                        for pattern in args:
                            target = pattern if os.path.isabs(pattern) else os.path.join(base, pattern)
                            for inc in sorted(glob.glob(target)):
                                parse(inc, stack)
                    else:
                        directives.append(
                            {
                                "file": path,
                                "line": start,
                                "ctx": list(stack),
                                "name": name,
                                "args": [mask_line(a) for a in args],
                            }
                        )
                words, start = [], None
            elif tok == "{":
                if words:
                    name = words[0]
                    label = name
                    if name == "server":
                        counter["server"] += 1
                        label = "server#%d" % counter["server"]
                    elif len(words) > 1:
                        label = "%s %s" % (name, " ".join(words[1:]))
                    directives.append(
                        {
                            "file": path,
                            "line": start,
                            "ctx": list(stack),
                            "name": name,
                            "args": words[1:],
                            "block": label,
                        }
                    )
                    stack.append(label)
                words, start = [], None
            elif tok == "}":
                if stack:
                    stack.pop()
                words, start = [], None
            else:
                if not words:
                    start = line
                words.append(tok)

    parse(root_file, [])
    return {"directives": directives, "files": files, "errors": errors}


def certificate_info(path, runner):
    info = {"path": path}
    try:
        import ssl

        decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
        info["not_after"] = decoded.get("notAfter")
        subject = dict(x[0] for x in decoded.get("subject", ()) if x)
        info["subject"] = subject.get("commonName")
        info["self_signed"] = decoded.get("subject") == decoded.get("issuer")
        return info
    except Exception as err:  # pragma: no cover - an unreadable certificate is reported, not raised
        out, _record = runner.run("openssl x509 " + path, ["openssl", "x509", "-noout", "-enddate", "-in", path])
        if out and "notAfter=" in out:
            info["not_after"] = out.split("notAfter=", 1)[1].strip()
        else:
            info["error"] = str(err)
    return info


def collect_nginx(runner, conf="/etc/nginx/nginx.conf"):
    if not os.path.exists(conf):
        return {"error": "%s does not exist (nginx is not installed)" % conf}
    result = parse_nginx(conf)
    # nginx -v prints its version (to stderr) and exits before it reads the configuration or opens a log.
    out, record = runner.run("nginx -v", ["nginx", "-v"], keep=False, stderr=True)
    match = re.search(r"nginx/([0-9.]+)", (out or "") + " ".join(record.get("stderr") or []))
    if match:
        result["version"] = match.group(1)
    certs = {}
    for d in result["directives"]:
        if d["name"] == "ssl_certificate" and d["args"]:
            path = d["args"][0]
            if "$" not in path and path not in certs:
                certs[path] = certificate_info(path, runner)
    result["certificates"] = certs
    return result


# --- MySQL / MariaDB -----------------------------------------------------------------------------------------------
def _table_columns(cur, schema, table):
    cur.execute(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (schema, table),
    )
    return set(r[0].lower() for r in cur.fetchall())


_SECRET_VARIABLE = re.compile(r"(?i)(password$|secret|wsrep_sst_auth|token$)")


def collect_mysql(options, facts):
    """Settings, plugins, accounts (never a password or a hash) and privileges, in a read-only transaction."""
    try:
        import pymysql
    except ImportError:
        return {"error": "PyMySQL is not installed on the host (python3-pymysql)"}
    fact = facts.get("mysql") or {}
    sock = options.get("socket") or fact.get("socket")
    defaults_file = options.get("defaults_file") or "/root/.my.cnf"
    kwargs = {"user": options.get("user") or "root", "charset": "utf8mb4", "connect_timeout": 10}
    if sock:
        kwargs["unix_socket"] = sock
    else:
        kwargs.update(host="127.0.0.1", port=int(fact.get("port") or 3306))
    if os.path.exists(defaults_file):
        kwargs["read_default_file"] = defaults_file
    where = sock or "127.0.0.1"
    queries = []
    try:
        conn = pymysql.connect(**kwargs)
    except Exception as err:  # pymysql.MySQLError and socket errors alike
        return {
            "error": "cannot connect to MySQL on %s as %s (%s): check that the server runs and that root logs in "
            "over the socket (or through %s)" % (where, kwargs["user"], err, defaults_file)
        }
    result = {"via": "unix socket %s" % sock if sock else "127.0.0.1", "account": kwargs["user"]}
    try:
        cur = conn.cursor()

        def q(sql, args=None):
            queries.append(sql)
            cur.execute(sql, args)
            return cur.fetchall()

        q("START TRANSACTION READ ONLY")
        version = q("SELECT VERSION()")[0][0]
        result["version"] = version
        result["flavour"] = "mariadb" if "mariadb" in version.lower() else "mysql"
        variables = {}
        for name, value in q("SHOW GLOBAL VARIABLES"):
            name = name.lower()
            value = _native(value)
            if _SECRET_VARIABLE.search(name) and value not in ("", "ON", "OFF", None) and not str(value).isdigit():
                value = MASK
            variables[name] = value
        result["variables"] = variables
        result["plugins"] = [
            {"name": r[0], "status": r[1], "type": r[2], "load_option": r[3]}
            for r in q("SELECT PLUGIN_NAME, PLUGIN_STATUS, PLUGIN_TYPE, LOAD_OPTION FROM information_schema.PLUGINS")
        ]
        try:
            result["components"] = [r[0] for r in q("SELECT component_urn FROM mysql.component")]
        except pymysql.MySQLError:
            result["components"] = []
        if result["flavour"] == "mariadb" and _table_columns(cur, "mysql", "global_priv"):
            rows = q(
                "SELECT User, Host,"
                " COALESCE(JSON_VALUE(Priv, '$.plugin'), 'mysql_native_password'),"
                " COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') = '',"
                " COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') = 'invalid',"
                " COALESCE(JSON_EXTRACT(Priv, '$.auth_or[*].plugin'), '[]'),"
                " COALESCE(JSON_VALUE(Priv, '$.account_locked'), 'false'),"
                " JSON_VALUE(Priv, '$.password_lifetime'),"
                " COALESCE(JSON_VALUE(Priv, '$.password_last_changed'), '1') = '0',"
                " COALESCE(JSON_VALUE(Priv, '$.is_role'), 'false')"
                " FROM mysql.global_priv"
            )
            users = []
            for r in rows:
                alternatives = json.loads(_native(r[5]) or "[]")
                users.append(
                    {
                        "user": _native(r[0]),
                        "host": _native(r[1]),
                        "plugin": _native(r[2]),
                        "no_password": bool(r[3]),
                        "password_invalid": bool(r[4]),
                        "alternative_plugins": [a for a in alternatives if a],
                        # JSON_VALUE gives "1" (MariaDB) or "true" for a JSON true
                        "locked": str(_native(r[6])).lower() in ("true", "1"),
                        "password_lifetime": _int_or_none(r[7]),
                        "password_expired": bool(r[8]),
                        "is_role": str(_native(r[9])).lower() in ("true", "1"),
                    }
                )
        else:
            columns = _table_columns(cur, "mysql", "user")
            select = ["User", "Host", "plugin" if "plugin" in columns else "''"]
            select.append("authentication_string = ''" if "authentication_string" in columns else "Password = ''")
            select.append("account_locked" if "account_locked" in columns else "'N'")
            select.append("password_lifetime" if "password_lifetime" in columns else "NULL")
            select.append("password_expired" if "password_expired" in columns else "'N'")
            select.append(
                "JSON_EXTRACT(User_attributes, '$.Password_locking.failed_login_attempts')"
                if "user_attributes" in columns
                else "NULL"
            )
            # The column list is built from constants above (never from input).
            rows = q("SELECT %s FROM mysql.user" % ", ".join(select))  # noqa: S608
            users = [
                {
                    "user": _native(r[0]),
                    "host": _native(r[1]),
                    "plugin": _native(r[2]),
                    "no_password": bool(r[3]),
                    "password_invalid": False,
                    "alternative_plugins": [],
                    "locked": _native(r[4]) == "Y",
                    "password_lifetime": _int_or_none(r[5]),
                    "password_expired": _native(r[6]) == "Y",
                    "is_role": False,
                    "failed_login_attempts": _int_or_none(_native(r[7])),
                }
                for r in rows
            ]
        result["users"] = users
        privileges = {}
        for grantee, privilege, grantable in q(
            "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES"
        ):
            entry = privileges.setdefault(_native(grantee), [])
            entry.append(_native(privilege))
            if _native(grantable) == "YES" and "GRANT OPTION" not in entry:
                entry.append("GRANT OPTION")
        result["global_privileges"] = privileges
        result["databases"] = [_native(r[0]) for r in q("SHOW DATABASES")]
        q("ROLLBACK")
    except Exception as err:
        result["error"] = "reading MySQL settings failed: %s" % err
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    result["queries"] = queries
    variables = result.get("variables") or {}
    datadir = variables.get("datadir")
    paths = {}
    if datadir:
        paths["datadir"] = datadir.rstrip("/") or "/"
    for key in ("log_error", "general_log_file", "server_audit_file_path", "slow_query_log_file"):
        value = variables.get(key)
        if value and value not in (MASK,):
            paths[key] = value if os.path.isabs(value) else os.path.join(datadir or "/", value)
    result["paths"] = dict((k, dict(stat_path(v), path=v)) for k, v in paths.items())
    pid_file = variables.get("pid_file")
    if pid_file:
        try:
            with open(pid_file) as handle:
                pid = int(handle.read().strip())
            with open("/proc/%d/status" % pid) as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        result["process_user"] = _owner(int(line.split()[1]))
        except (OSError, IOError, ValueError):
            pass
    return result


# --- MongoDB (mongod or FerretDB) ----------------------------------------------------------------------------------
def _plain_json(value):
    try:
        from bson import json_util

        return json.loads(json_util.dumps(value))
    except ImportError:  # pragma: no cover
        return json.loads(json.dumps(value, default=str))


def _mask_tree(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if re.search(r"(?i)(password|secret|keyfile|credentials)", str(key)) and isinstance(item, str):
                out[key] = MASK
            else:
                out[key] = _mask_tree(item)
        return out
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    if isinstance(value, str):
        return mask_line(value)
    return value


def read_env_file(path):
    values, lines = {}, {}
    try:
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                values[key.strip()] = mask_line(value.strip().strip('"'))
                lines[key.strip()] = number
    except (OSError, IOError) as err:
        return {"error": getattr(err, "strerror", str(err))}
    return {"values": values, "lines": lines}


def _mongo_live(uri):
    try:
        import pymongo
    except ImportError:
        return {"error": "pymongo is not installed on the host (python3-pymongo)"}
    live = {}
    client = None
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=8000, connectTimeoutMS=8000)
        admin = client.get_database("admin")
        for name, command in (
            ("buildinfo", {"buildInfo": 1}),
            ("cmdline", {"getCmdLineOpts": 1}),
            ("parameters", {"getParameter": "*"}),
            ("users", {"usersInfo": 1}),
        ):
            try:
                reply = admin.command({"usersInfo": {"forAllDBs": True}}) if name == "users" else admin.command(command)
                live[name] = _mask_tree(_plain_json(reply))
            except Exception as err:  # an unsupported or unauthorised command is evidence, not a failure
                live[name + "_error"] = str(err).splitlines()[0][:300]
    except Exception as err:
        live["error"] = "cannot reach MongoDB: %s" % str(err).splitlines()[0][:300]
    finally:
        if client is not None:
            client.close()
    return live


def _pg_roles(runner, database):
    psql = runner.module.get_bin_path("psql")
    runuser = runner.module.get_bin_path("runuser", opt_dirs=["/usr/sbin", "/sbin"])
    if not psql or not runuser:
        return {"error": "psql or runuser is not installed"}
    sql = (
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname"
    )
    out, record = runner.run(
        "psql pg_roles",
        [runuser, "-u", "postgres", "--", psql, "-X", "-A", "-t", "-F", "\t", "-d", database or "postgres", "-c", sql],
        environ={"PGOPTIONS": "-c default_transaction_read_only=on"},
        keep=False,
    )
    if out is None or record.get("rc") != 0:
        return {"error": record.get("error") or "psql failed"}
    roles = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 7:
            roles.append(
                dict(
                    zip(  # noqa: B905 - the managed host's Python may predate strict=
                        ("name", "superuser", "createrole", "createdb", "login", "replication", "bypassrls"),
                        [parts[0]] + [p == "t" for p in parts[1:]],
                    )
                )
            )
    return {"roles": roles, "query": sql, "sha256": record.get("sha256")}


def collect_mongodb(runner, options, facts, uri=None):
    fact = facts.get("mongodb") or {}
    engine = options.get("engine") or fact.get("engine") or ("mongod" if os.path.exists("/etc/mongod.conf") else None)
    result = {
        "engine": engine,
        "fact": dict((k, v) for k, v in fact.items() if k not in ("users",)),
        "users_fact": fact.get("users"),
    }
    if not engine:
        result["error"] = "no MongoDB engine found (no mongodb local fact and no /etc/mongod.conf)"
        return result
    if engine == "mongod":
        path = options.get("config") or "/etc/mongod.conf"
        result["config_path"] = path
        try:
            import yaml

            with open(path) as handle:
                result["config"] = _mask_tree(yaml.safe_load(handle) or {})
        except ImportError:
            result["config_error"] = "PyYAML is not installed on the host (python3-yaml)"
        except (OSError, IOError) as err:
            result["config_error"] = "%s: %s" % (path, getattr(err, "strerror", err))
        except Exception as err:  # yaml.YAMLError
            result["config_error"] = "%s is not valid YAML: %s" % (path, str(err).splitlines()[0])
    else:
        env_path = options.get("ferretdb_env") or "/etc/ferretdb/ferretdb.env"
        result["env_path"] = env_path
        result["env"] = read_env_file(env_path)
        hba = sorted(glob.glob("/etc/postgresql/*/main/pg_hba.conf")) + sorted(
            glob.glob("/var/lib/pgsql/data/pg_hba.conf")
        )
        result["pg_hba"] = dict((p, read_file(p, 262144)) for p in hba)
        url = (result["env"].get("values") or {}).get("FERRETDB_POSTGRESQL_URL", "")
        database = url.rsplit("/", 1)[-1].split("?", 1)[0] if "/" in url else None
        result["pg"] = _pg_roles(runner, database)
    if uri:
        live = _mongo_live(uri)
        result["live"] = live
        cmdline = (live.get("cmdline") or {}).get("parsed")
        if engine == "mongod" and isinstance(cmdline, dict) and cmdline:
            # what the running server uses wins over the file
            result["config_file"] = result.get("config")
            result["config"] = cmdline
            result["config_source"] = "getCmdLineOpts"
        params = live.get("parameters")
        if isinstance(params, dict):
            result["parameters"] = params
        version = (live.get("buildinfo") or {}).get("version")
        if version and engine == "mongod":
            result["version"] = version
        elif version:
            # FerretDB answers buildInfo with the MongoDB version it is compatible with, not its own
            result["compatible_version"] = version
    if engine == "mongod":
        result.setdefault("config_source", result.get("config_source") or "file")
        config = result.get("config") or {}
        params = result.setdefault("parameters", {})
        for key, value in (config.get("setParameter") or {}).items() if isinstance(config, dict) else []:
            params.setdefault(key, value)
        for key, path in (
            ("dbpath", ((config.get("storage") or {}).get("dbPath") or "/var/lib/mongodb")),
            ("log", (config.get("systemLog") or {}).get("path")),
        ):
            if path:
                result.setdefault("paths", {})[key] = dict(stat_path(path), path=path)
    result.setdefault("version", fact.get("version"))
    return result


# --- everything ----------------------------------------------------------------------------------------------------
SECTIONS = (
    "accounts",
    "services",
    "listening",
    "packages",
    "sysctl",
    "ssh",
    "audit",
    "firewall",
    "time",
    "updates",
    "mac",
    "world_writable",
    "release",
    "nginx",
    "mysql",
    "mongodb",
)


def collect(module, params, layout):
    """The evidence of one host: {schema, host, files, globs, commands, <section>: ...}."""
    started = time.time()
    runner = Runner(module)
    sections = set(params.get("sections") or [])
    evidence = {"schema": SCHEMA, "host": collect_host(runner), "sections": sorted(sections)}
    family = evidence["host"]["os"]["family"]
    timings = {}

    def timed(name, func, *args):
        t0 = time.time()
        try:
            evidence[name] = func(*args)
        except Exception as err:  # one collector failing is evidence of an error, not the end of the scan
            evidence[name] = {"error": "%s collector failed: %s: %s" % (name, type(err).__name__, err)}
        timings[name] = round(time.time() - t0, 3)

    files, globs_ = collect_files(params.get("read") or [], params.get("stat") or [], params.get("max_file_bytes"))
    evidence["files"], evidence["globs"] = files, globs_
    facts = read_local_facts(params.get("facts_dir") or "/etc/ansible/facts.d")
    if "accounts" in sections:
        timed("accounts", collect_accounts)
    if "services" in sections:
        timed("services", collect_services, runner, params.get("units") or [])
    if "listening" in sections:
        timed("listening", collect_listening, runner)
    if "packages" in sections:
        timed("packages", collect_packages, runner, family)
    if "sysctl" in sections:
        timed("sysctl", collect_sysctl, params.get("sysctl") or [])
    if "ssh" in sections:
        timed("ssh", collect_ssh, runner)
    if "audit" in sections:
        timed("audit", collect_command_lines, runner, "auditctl", ["auditctl", "-l"])
    if "firewall" in sections:
        timed("firewall", collect_command_lines, runner, "nft", ["nft", "list", "ruleset"])
    if "time" in sections:
        timed("time", collect_time, runner)
    if "updates" in sections:
        timed("updates", collect_updates, runner, family)
    if "mac" in sections:
        timed("mac", collect_mac)
    if "world_writable" in sections:
        timed("world_writable", collect_world_writable, params.get("world_writable_paths") or [])
    if "release" in sections:
        timed("release", collect_release, facts, params.get("base_dir") or layout.BASE_DIR, layout)
    if "nginx" in sections:
        timed("nginx", collect_nginx, runner, params.get("nginx_conf") or "/etc/nginx/nginx.conf")
    if "mysql" in sections:
        timed("mysql", collect_mysql, params.get("mysql") or {}, facts)
    if "mongodb" in sections:
        timed("mongodb", collect_mongodb, runner, params.get("mongodb") or {}, facts, params.get("mongodb_uri"))
    evidence["facts"] = sorted(facts)
    evidence["commands"] = runner.commands
    evidence["timings"] = timings
    evidence["duration_s"] = round(time.time() - started, 3)
    return evidence
