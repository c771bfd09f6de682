# -*- coding: utf-8 -*-
# What an inspection (巡检) reads on a host, read-only: CPU, memory, load, disks and inodes, error lines of the journal
# since the last inspection (masked before they leave the host), certificate expiry, time sync, the interface
# service's backlog and last exchange, the voice gateway's trunks. Used by library/followup_inspect_facts.py.
# Runs on the managed host's Python (3.6 and later), standard library only; each reader returns plain data and puts
# what went wrong in an `error` key instead of raising, so that one unreadable figure never hides the others.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import re
import subprocess
import time

# File systems that hold no data of ours (kernel interfaces, pseudo file systems).
PSEUDO_FS = frozenset(
    [
        "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore",
        "bpf", "autofs", "configfs", "fusectl", "hugetlbfs", "devtmpfs", "nsfs", "ramfs", "binfmt_misc",
        "efivarfs", "rpc_pipefs", "selinuxfs", "squashfs", "fuse.gvfsd-fuse", "fuse.lxcfs", "nfsd",
    ]
)  # fmt: skip
# Mount points under these are kernel views, even when mounted as tmpfs (a container's masked /proc/acpi ...).
PSEUDO_PREFIXES = ("/proc", "/sys", "/dev")

# Masking of text that leaves the host (log lines, error messages): anything quoted, runs of 7 or more digits
# (phone, ID-card and record numbers; ports and versions stay), e-mail addresses and Chinese text (names) are
# replaced, so that no patient datum can reach a report, a run record or the console through a log line.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
# seven or more digits, possibly grouped by spaces or dashes (a phone or ID-card number, a date written 20261201)
_DIGITS = re.compile(r"(?<![0-9.])(?:[0-9][ \-]?){6,}[0-9]")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask(text, limit=200):
    """TEXT with quoted values, digit runs, e-mail addresses and Chinese text masked, on one line, at most LIMIT."""
    if text is None:
        return None
    if isinstance(text, list):  # journald gives binary messages as lists of bytes
        try:
            text = bytes(bytearray(text)).decode("utf-8", "replace")
        except (TypeError, ValueError):
            text = "<binary>"
    text = str(text)
    text = _QUOTED.sub("'…'", text)
    text = _EMAIL.sub("<email>", text)
    text = _DIGITS.sub("#", text)
    text = _CJK.sub("…", text)
    text = _CONTROL.sub(" ", text).replace("\n", " ").strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def iso_utc(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_iso_utc(text):
    """Epoch seconds of an ISO time 'YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]' (UTC only); None when it is not one."""
    if not text:
        return None
    match = re.match(r"\A(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|\+00:00)?\Z", str(text))
    if not match:
        return None
    parts = [int(x) for x in match.groups()[:6]]
    return calendar.timegm((parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], 0, 0, 0))


# -- CPU, load, memory -------------------------------------------------------------------------------------------
def _cpu_times(proc="/proc"):
    with open(os.path.join(proc, "stat")) as handle:
        fields = handle.readline().split()
    values = [int(x) for x in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    # guest times are already counted in user/nice
    total = sum(values[:8])
    return total, idle


def cpu_percent(seconds=1.0, proc="/proc", sleep=time.sleep):
    """Share of CPU time spent busy over SECONDS, in percent (all CPUs together)."""
    total1, idle1 = _cpu_times(proc)
    sleep(seconds)
    total2, idle2 = _cpu_times(proc)
    elapsed = total2 - total1
    if elapsed <= 0:
        return 0.0
    return round(100.0 * (elapsed - (idle2 - idle1)) / elapsed, 1)


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def meminfo(proc="/proc"):
    """Bytes of MemTotal, MemAvailable, SwapTotal, SwapFree (and the derived percentages)."""
    values = {}
    with open(os.path.join(proc, "meminfo")) as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[name.strip()] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    total = values.get("MemTotal", 0)
    available = values.get("MemAvailable")
    if available is None:  # kernels before 3.14
        available = values.get("MemFree", 0) + values.get("Buffers", 0) + values.get("Cached", 0)
    swap_total = values.get("SwapTotal", 0)
    swap_free = values.get("SwapFree", 0)
    return {
        "total": total,
        "available": available,
        "percent": round(100.0 * (total - available) / total, 1) if total else None,
        "swap_total": swap_total,
        "swap_used": swap_total - swap_free,
        "swap_percent": round(100.0 * (swap_total - swap_free) / swap_total, 1) if swap_total else None,
    }


# -- disks -------------------------------------------------------------------------------------------------------
def _unescape_mount(path):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts(proc="/proc", statvfs=os.statvfs, stat=os.stat, isdir=os.path.isdir):
    """Space and inodes of every mounted file system that holds data (one entry per device, shortest path)."""
    seen = {}
    with open(os.path.join(proc, "mounts")) as handle:
        lines = handle.read().splitlines()
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount, fstype = parts[0], _unescape_mount(parts[1]), parts[2]
        if fstype in PSEUDO_FS or (fstype.startswith("fuse.") and fstype != "fuse.sshfs"):
            continue
        if any(mount == p or mount.startswith(p + "/") for p in PSEUDO_PREFIXES):
            continue
        if not isdir(mount):  # a container's bind-mounted /etc/hosts
            continue
        try:
            st = statvfs(mount)
            dev = stat(mount).st_dev
        except OSError:
            continue
        if st.f_blocks == 0:
            continue
        size = st.f_blocks * st.f_frsize
        avail = st.f_bavail * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        usable = used + avail  # what df counts: root's reserve is not usable by services
        entry = {
            "mount": mount,
            "device": device,
            "fstype": fstype,
            "size": size,
            "used": used,
            "avail": avail,
            "percent": round(100.0 * used / usable, 1) if usable else 0.0,
            "inodes": st.f_files,
            "inodes_used": st.f_files - st.f_ffree,
            "inode_percent": round(100.0 * (st.f_files - st.f_ffree) / st.f_files, 1) if st.f_files else None,
        }
        key = (dev, fstype)
        if key not in seen or len(mount) < len(seen[key]["mount"]):
            seen[key] = entry
    return sorted(seen.values(), key=lambda e: e["mount"])


# -- the journal -------------------------------------------------------------------------------------------------
def journal_errors(cursor=None, since_epoch=None, window_hours=24.0, quote=10, max_lines=200000, runner=None):
    """Error lines (priority emerg..err) of the journal after CURSOR (or since SINCE_EPOCH, or the last WINDOW_HOURS).

    Returns {count, by_unit, lines (the last QUOTE, masked), cursor (of the newest line read, to start from next
    time; the given one when there was none), since, truncated, error}. The cursor stays on the control node.
    """
    runner = runner or _popen_lines
    base = ["journalctl", "--no-pager", "--output=json", "--priority=3"]
    attempts = []
    if cursor:
        attempts.append(([*base, "--after-cursor=%s" % cursor], {"cursor": cursor}))
    start = since_epoch if since_epoch else time.time() - float(window_hours) * 3600
    attempts.append(([*base, "--since=@%d" % int(start)], {"time": iso_utc(start)}))
    result = {"count": 0, "by_unit": {}, "lines": [], "cursor": cursor, "since": None, "truncated": False}
    last_error = None
    for argv, since in attempts:
        try:
            rc, lines, err = runner(argv, max_lines)
        except OSError as exc:
            return dict(result, error="journalctl cannot be run: %s" % exc)
        if rc != 0 and not lines:
            last_error = mask(err.strip().splitlines()[-1] if err.strip() else "journalctl exited %d" % rc)
            continue
        result["since"] = since
        kept = []
        for raw in lines:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            result["count"] += 1
            unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "?"
            result["by_unit"][unit] = result["by_unit"].get(unit, 0) + 1
            if entry.get("__CURSOR"):
                result["cursor"] = entry["__CURSOR"]
            kept.append((entry, unit))
            if len(kept) > quote:
                kept.pop(0)
        result["truncated"] = len(lines) >= max_lines
        for entry, unit in kept:
            stamp = entry.get("__REALTIME_TIMESTAMP")
            result["lines"].append(
                {
                    "at": iso_utc(int(stamp) / 1e6) if stamp else None,
                    "unit": unit,
                    "priority": int(entry.get("PRIORITY", 3)),
                    "message": mask(entry.get("MESSAGE")),
                }
            )
        result["error"] = None
        return result
    return dict(result, error=last_error or "journalctl gave nothing")


def _popen_lines(argv, max_lines):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if len(lines) >= max_lines:
            proc.kill()
            break
    _out, err = proc.communicate()
    return proc.returncode if len(lines) < max_lines else 0, lines, err or ""


# -- certificates ------------------------------------------------------------------------------------------------
def certificate(path, now=None, runner=None):
    """{path, not_after (ISO UTC), days_left, subject, error} of the first certificate in the PEM file PATH."""
    now = now if now is not None else time.time()
    info = {"path": path, "not_after": None, "days_left": None, "subject": None, "error": None}
    if not os.path.isfile(path):
        info["error"] = "no such file"
        return info
    not_after = subject = None
    try:
        from cryptography import x509

        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
        not_after = calendar.timegm(after.utctimetuple())
        names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        subject = names[0].value if names else cert.subject.rfc4514_string()
    except ImportError:
        runner = runner or _run
        rc, out, err = runner(["openssl", "x509", "-noout", "-enddate", "-subject", "-in", path])
        if rc != 0:
            info["error"] = mask(err.strip() or "openssl cannot read it")
            return info
        for line in out.splitlines():
            if line.startswith("notAfter="):
                not_after = calendar.timegm(time.strptime(line[9:].replace(" GMT", "").strip(), "%b %d %H:%M:%S %Y"))
            elif line.startswith("subject="):
                match = re.search(r"CN\s*=\s*([^,/]+)", line)
                subject = match.group(1).strip() if match else line[8:].strip()
    except (OSError, ValueError) as exc:
        info["error"] = "not a PEM certificate (%s)" % mask(str(exc), 120)
        return info
    info.update(
        not_after=iso_utc(not_after), days_left=round((not_after - now) / 86400.0, 1), subject=mask(subject, 120)
    )
    return info


def _run(argv, timeout=20):
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as exc:
        return 127, "", str(exc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, out, "timed out after %ds" % timeout
    return proc.returncode, out, err


# -- time --------------------------------------------------------------------------------------------------------
def parse_chrony_tracking(text):
    """(synchronised, offset in ms, reference) from `chronyc -n tracking`."""
    synced, offset, ref = None, None, None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name == "Leap status":
            synced = value.lower() != "not synchronised"
        elif name == "System time":
            match = re.match(r"([0-9.]+) seconds (fast|slow)", value)
            if match:
                offset = round(float(match.group(1)) * 1000.0, 3)
        elif name == "Reference ID":
            ref = value
    return synced, offset, ref


def timesync(runner=None):
    """{synchronized, offset_ms, source, reference, error}: chrony's view first, else systemd's (timedatectl)."""
    runner = runner or _run
    info = {"synchronized": None, "offset_ms": None, "source": None, "reference": None, "error": None}
    rc, out, _err = runner(["chronyc", "-n", "tracking"])
    if rc == 0 and "Leap status" in out:
        synced, offset, ref = parse_chrony_tracking(out)
        info.update(synchronized=synced, offset_ms=offset, reference=ref, source="chronyc tracking")
        return info
    rc, out, err = runner(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
    if rc == 0 and out.strip() in ("yes", "no"):
        info.update(synchronized=out.strip() == "yes", source="timedatectl NTPSynchronized")
        return info
    info["error"] = "neither chronyc nor timedatectl answered (%s)" % mask(err.strip() or "rc %d" % rc, 120)
    return info


# -- HTTP (the interface service) -------------------------------------------------------------------------------
def http_json(url, timeout=5.0, opener=None):
    """(HTTP status, decoded JSON body or None, error)."""
    try:
        from urllib.error import HTTPError, URLError
        from urllib.request import urlopen
    except ImportError:  # pragma: no cover - Python 2 is not supported on managed hosts
        raise
    opener = opener or urlopen
    try:
        response = opener(url, timeout=timeout)
        code, body = response.getcode(), response.read()
    except HTTPError as err:
        code, body = err.code, err.read()
    except (URLError, OSError, ValueError) as err:
        return None, None, mask(str(getattr(err, "reason", err)), 160)
    try:
        return code, json.loads(body.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError):
        return code, None, "the answer is not JSON"


def interface_state(listen, stats_path, timeout=5.0, now=None, opener=None):
    """The interface service's backlog (from /health) and its last exchange cycle (from STATS_PATH)."""
    now = now if now is not None else time.time()
    host, _, port = str(listen).rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard listener is reached on loopback
        host = "127.0.0.1"
    base = "http://%s:%s" % ("[%s]" % host if ":" in host else host, port)
    info = {"url": base, "backlog": None, "status": None, "last_cycle_at": None, "last_cycle_age_min": None}
    info.update(last_error=None, cycles=None, error=None, stats_error=None)
    code, body, err = http_json(base + "/health", timeout, opener)
    if err or not isinstance(body, dict):
        info["error"] = "GET /health: %s" % (err or "HTTP %s without a JSON body" % code)
        return info
    info["status"] = body.get("status")
    info["http_status"] = code
    info["checks"] = dict((str(k), str(v)) for k, v in (body.get("checks") or {}).items())
    if isinstance(body.get("backlog"), int):
        info["backlog"] = body["backlog"]
    if not stats_path:
        return info
    code, stats, err = http_json(base + stats_path, timeout, opener)
    if err or code != 200 or not isinstance(stats, dict):
        info["stats_error"] = "GET %s: %s" % (stats_path, err or "HTTP %s" % code)
        return info
    worker = stats.get("worker") or {}
    if info["backlog"] is None and isinstance(stats.get("backlog"), int):
        info["backlog"] = stats["backlog"]
    at = parse_iso_utc(worker.get("last_cycle_at"))
    info.update(
        last_cycle_at=iso_utc(at) if at else None,
        last_cycle_age_min=round((now - at) / 60.0, 1) if at else None,
        last_error=mask(worker.get("last_error"), 160) if worker.get("last_error") else None,
        cycles=worker.get("cycles"),
    )
    return info


# -- the voice gateway -------------------------------------------------------------------------------------------
def trunk_state(command, runner=None):
    """The trunks' live state from the voice role's command (JSON on stdout); {trunks, up, down, error}."""
    runner = runner or _run
    info = {"trunks": [], "up": 0, "down": 0, "trying": 0, "disabled": 0, "error": None, "command": command}
    if not command or not os.path.isabs(command) or not os.access(command, os.X_OK):
        info["error"] = "the trunk state command %s is missing or not executable" % command
        return info
    rc, out, err = runner([command])
    try:
        data = json.loads(out)
    except ValueError:
        info["error"] = "%s gave no JSON (rc %d: %s)" % (command, rc, mask(err.strip(), 120))
        return info
    for trunk in data.get("trunks") or []:
        info["trunks"].append(
            {
                "name": str(trunk.get("name")),
                "uri": str(trunk.get("uri") or ""),
                "state": str(trunk.get("state") or "unknown"),
            }
        )
    for key in ("up", "down", "trying", "disabled"):
        info[key] = sum(1 for t in info["trunks"] if t["state"] == key)
    if rc == 2:
        info["error"] = "kamailio could not be asked: %s" % mask(err.strip(), 120)
    return info
