# -*- coding: utf-8 -*-
# followup-ops backups, the backup host's side: the receiver behind the SSH forced command (add, never delete or
# overwrite), the catalogue, and retention (daily / weekly / monthly / quarterly tiers; expiry never removes the
# newest verified backup). See docs/backup.md.
#
# The receiving account can only run the receiver (authorized_keys `restrict,command=...`), and the receiver runs
# as the store's owner through one sudo rule: it accepts put (a new file, framed, kept only when complete and its
# sha256 matches, never over an existing name), get, verify, list and df, and refuses anything else. Expiry runs
# as root on the backup host by a timer; no database host can ask for it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import errno
import hashlib
import json
import os
import sys
import uuid

try:
    from ansible.module_utils.followup_backup import (
        CHUNK,
        BackupError,
        binlog_sequence,
        check_relpath,
        json_line,
        parse_backup_id,
        read_frames,
        validate_manifest,
    )
except ImportError:  # on the backup host, installed next to followup_backup.py
    from followup_backup import (  # type: ignore[no-redef]
        CHUNK,
        BackupError,
        binlog_sequence,
        check_relpath,
        json_line,
        parse_backup_id,
        read_frames,
        validate_manifest,
    )

COMMANDS = ("put", "get", "verify", "list", "df")
TIERS = ("quarterly", "monthly", "weekly", "daily")
DEFAULT_POLICY = {"daily": 7, "weekly": 5, "monthly": 12, "quarterly": 8}
FILE_MODE = 0o440
DIR_MODE = 0o750

# Exit codes of the receiver (the sender reads its JSON answer; these are for people and logs).
EXIT_OK, EXIT_REFUSED, EXIT_EXISTS, EXIT_MISSING, EXIT_BROKEN = 0, 2, 3, 4, 5


class Refusal(Exception):
    def __init__(self, message, code=EXIT_REFUSED):
        super().__init__(message)
        self.code = code


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sidecar(path):
    return path + ".sha256"


def read_sidecar(path):
    """(sha256, bytes, stored_at) recorded when PATH was received, or None."""
    try:
        with open(sidecar(path)) as handle:
            parts = handle.read().split()
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None
    except (OSError, ValueError, IndexError):
        return None


def file_sha256(path):
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


class Store(object):
    """The directory tree of backups on the backup host: <root>/<kind>/<source host>/<file>, plus sidecars."""

    def __init__(self, root):
        self.root = root
        self.staging = os.path.join(root, ".staging")

    def path(self, relpath):
        try:
            check_relpath(relpath)
        except ValueError as err:
            raise Refusal(str(err))
        return os.path.join(self.root, relpath)

    # -- put ---------------------------------------------------------------------------------------------------------
    def put(self, relpath, stream):
        final = self.path(relpath)
        if os.path.lexists(final):
            raise Refusal("%s exists: backups are never overwritten" % relpath, EXIT_EXISTS)
        os.makedirs(self.staging, mode=0o700, exist_ok=True)
        os.makedirs(os.path.dirname(final), mode=DIR_MODE, exist_ok=True)
        staged = os.path.join(self.staging, "%s.part" % uuid.uuid4().hex)
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        sha = hashlib.sha256()
        size = [0]
        try:
            with os.fdopen(fd, "wb") as out:

                def write(block):
                    sha.update(block)
                    size[0] += len(block)
                    out.write(block)

                try:
                    claimed_sha, claimed_size = read_frames(stream, write)
                except BackupError as err:
                    raise Refusal(str(err), EXIT_BROKEN)
                if (claimed_sha, claimed_size) != (sha.hexdigest(), size[0]):
                    raise Refusal(
                        "%s arrived as %d bytes with sha256 %s, the sender sent %d bytes with %s: nothing was kept"
                        % (relpath, size[0], sha.hexdigest()[:16], claimed_size, claimed_sha[:16]),
                        EXIT_BROKEN,
                    )
                out.flush()
                os.fsync(out.fileno())
            os.chmod(staged, FILE_MODE)
            side_staged = staged + ".sha256"
            with open(side_staged, "w") as handle:
                handle.write("%s %d %s\n" % (sha.hexdigest(), size[0], _iso(_now())))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(side_staged, FILE_MODE)
            try:
                # link() never replaces: a name that appeared meanwhile is refused, not overwritten.
                os.link(side_staged, sidecar(final))
                os.link(staged, final)
            except OSError as err:
                if err.errno == errno.EEXIST:
                    raise Refusal("%s exists: backups are never overwritten" % relpath, EXIT_EXISTS)
                raise
            _fsync_dir(os.path.dirname(final))
        finally:
            for name in (staged, staged + ".sha256"):
                with contextlib.suppress(OSError):
                    os.unlink(name)
        return {"ok": True, "path": relpath, "sha256": sha.hexdigest(), "bytes": size[0]}

    # -- reading -----------------------------------------------------------------------------------------------------
    def get(self, relpath, out):
        final = self.path(relpath)
        if not os.path.isfile(final):
            raise Refusal("%s is not on the backup host" % relpath, EXIT_MISSING)
        with open(final, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                out.write(block)
        out.flush()

    def verify(self, relpath):
        final = self.path(relpath)
        if not os.path.isfile(final):
            raise Refusal("%s is not on the backup host" % relpath, EXIT_MISSING)
        recorded = read_sidecar(final)
        sha, size = file_sha256(final)
        return {
            "ok": True,
            "path": relpath,
            "sha256": sha,
            "bytes": size,
            "recorded_sha256": recorded[0] if recorded else None,
            "matches": bool(recorded) and recorded[0] == sha and recorded[1] == size,
        }

    def df(self):
        path = self.root
        while path and not os.path.exists(path):  # reading never creates the store
            path = os.path.dirname(path)
        st = os.statvfs(path or "/")
        return {"ok": True, "free_bytes": st.f_bavail * st.f_frsize, "total_bytes": st.f_blocks * st.f_frsize}

    def files(self):
        """Every stored file (not sidecars, not staging) as {path, bytes, sha256, stored_at}."""
        out = []
        for kind in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []:
            kdir = os.path.join(self.root, kind)
            if kind.startswith(".") or not os.path.isdir(kdir):
                continue
            for host in sorted(os.listdir(kdir)):
                hdir = os.path.join(kdir, host)
                if not os.path.isdir(hdir):
                    continue
                for name in sorted(os.listdir(hdir)):
                    if name.endswith(".sha256"):
                        continue
                    full = os.path.join(hdir, name)
                    recorded = read_sidecar(full)
                    out.append(
                        {
                            "path": "%s/%s/%s" % (kind, host, name),
                            "bytes": os.path.getsize(full),
                            "sha256": recorded[0] if recorded else None,
                            "stored_at": recorded[2] if recorded else None,
                        }
                    )
        return out

    def catalogue(self, policy=None, now=None):
        """Backups with their manifest, drills, verification state and retention tier; binary logs per host."""
        files = self.files()
        by_path = dict((f["path"], f) for f in files)
        backups, binlogs, drills = {}, {}, {}
        for item in files:
            kind, host, name = item["path"].split("/", 2)
            if kind == "binlog":
                binlogs.setdefault(host, []).append(dict(item, name=name[: -len(".zst.age")]))
            elif kind == "drill":
                try:
                    with open(os.path.join(self.root, item["path"])) as handle:
                        record = json.load(handle)
                    drills.setdefault(record.get("backup_id"), []).append(record)
                except (OSError, ValueError):
                    continue
            elif name.endswith(".manifest.json"):
                bid = name[: -len(".manifest.json")]
                try:
                    info = parse_backup_id(bid)
                    with open(os.path.join(self.root, item["path"])) as handle:
                        manifest = json.load(handle)
                except (OSError, ValueError):
                    continue
                problems = validate_manifest(manifest, item["path"])
                archive = by_path.get(
                    "%s/%s/%s" % (kind, host, os.path.basename(manifest.get("archive", {}).get("path", "")))
                )
                backups[bid] = {
                    "id": bid,
                    "engine": info["engine"],
                    "method": info["method"],
                    "host": info["host"],
                    "time": _iso(info["time"]),
                    "manifest": manifest,
                    "problems": problems,
                    "archive": archive,
                    "bytes": archive["bytes"] if archive else 0,
                    "complete": bool(archive)
                    and not problems
                    and archive.get("sha256") == manifest.get("archive", {}).get("sha256"),
                }
        for bid, entry in backups.items():
            records = sorted(drills.get(bid, []), key=lambda r: r.get("finished_at", ""))
            entry["drills"] = records
            last = records[-1] if records else None
            entry["verified"] = bool(last) and last.get("result") == "pass"
            entry["verification"] = (last or {}).get("result") or "unverified"
            entry["verified_at"] = (last or {}).get("finished_at")
        tiers = retention(list(backups.values()), policy or DEFAULT_POLICY, now)
        for bid, entry in backups.items():
            entry["tier"] = tiers.get(bid)
        for names in binlogs.values():
            names.sort(key=lambda b: binlog_sequence(b["name"]))
        return {"backups": backups, "binlogs": binlogs}


# -- retention ----------------------------------------------------------------------------------------------------
def _period(tier, when):
    if tier == "daily":
        return when.strftime("%Y-%m-%d")
    if tier == "weekly":
        year, week, _ = when.isocalendar()
        return "%d-W%02d" % (year, week)
    if tier == "monthly":
        return when.strftime("%Y-%m")
    return "%d-Q%d" % (when.year, (when.month - 1) // 3 + 1)


def _when(entry):
    value = entry["time"]
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def retention(backups, policy, now=None):
    """{backup id: tier} of the backups to keep; every other complete backup may expire.

    Per source host, engine and method: the newest backup of each of the last N days, ISO weeks, months and
    quarters that have one (N from POLICY), labelled with the longest tier that keeps it. The newest verified backup
    (a restore drill passed) and the newest backup are always kept, whatever the tiers say; so are incomplete
    uploads' neighbours: a backup whose archive or manifest is missing is never counted as the newest anything.
    """
    for tier in TIERS:
        if int(policy.get(tier, 0)) < 0:
            raise ValueError("retention %s must be 0 or more, not %s" % (tier, policy.get(tier)))
    groups = {}
    for entry in backups:
        groups.setdefault((entry["host"], entry["engine"], entry["method"]), []).append(entry)
    keep = {}
    for entries in groups.values():
        complete = sorted((e for e in entries if e.get("complete", True)), key=_when, reverse=True)
        for tier in reversed(TIERS):  # daily first, so a longer tier overwrites the label
            limit = int(policy.get(tier, 0))
            seen = set()
            for entry in complete:
                period = _period(tier, _when(entry))
                if period in seen:
                    continue
                if len(seen) >= limit:
                    break
                seen.add(period)
                keep[entry["id"]] = tier
        verified = [e for e in complete if e.get("verified")]
        if verified and verified[0]["id"] not in keep:
            keep[verified[0]["id"]] = "newest-verified"
        if complete and complete[0]["id"] not in keep:
            keep[complete[0]["id"]] = "newest"
        # An incomplete upload (no manifest yet, or still arriving) is never expired by this run.
        for entry in entries:
            if not entry.get("complete", True):
                keep.setdefault(entry["id"], "incomplete")
    return keep


def expiry_plan(catalogue, policy):
    """What an expiry run removes: {backups: [ids], files: [relpaths]}; binlogs older than any kept backup too."""
    backups = catalogue["backups"]
    keep = retention(list(backups.values()), policy)
    expire = sorted(bid for bid in backups if bid not in keep)
    files = []
    for bid in expire:
        entry = backups[bid]
        base = "%s/%s/" % (entry["engine"], entry["host"])
        files.append(base + "%s.manifest.json" % bid)
        if entry.get("archive"):
            files.append(entry["archive"]["path"])
    # Binary logs: keep those from the oldest kept MySQL backup's position on, per source host.
    for host, logs in catalogue.get("binlogs", {}).items():
        starts = [
            binlog_sequence(((backups[b]["manifest"].get("position") or {}).get("file")) or "")
            for b in keep
            if b in backups and backups[b]["engine"] == "mysql" and backups[b]["host"] == host
        ]
        starts = [s for s in starts if s >= 0]
        if not starts:
            continue
        oldest = min(starts)
        files += [b["path"] for b in logs if binlog_sequence(b["name"]) < oldest]
    return {"backups": expire, "files": sorted(files), "keep": keep}


def expire(store, policy, dry_run=False):
    """Remove what expiry_plan() names (as root, on the backup host). Returns the plan."""
    plan = expiry_plan(store.catalogue(policy), policy)
    if not dry_run:
        for relpath in plan["files"]:
            path = store.path(relpath)
            for name in (path, sidecar(path)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
    return plan


# -- the receiver (the SSH forced command) ----------------------------------------------------------------------
def serve(store, command_line, stdin, stdout, stderr):
    """Run one receiver command; returns the exit code. Answers are one JSON line on stdout (get: the file)."""
    words = (command_line or "").split()
    try:
        if not words or words[0] not in COMMANDS:
            raise Refusal(
                "command %r is not allowed: this account can only put a new backup, get, verify, list and df; "
                "nothing can be deleted or overwritten" % (words[0] if words else "")
            )
        verb, args = words[0], words[1:]
        if verb == "put" and len(args) == 1:
            answer = store.put(args[0], stdin)
        elif verb == "get" and len(args) == 1:
            store.get(args[0], stdout)
            return EXIT_OK
        elif verb == "verify" and len(args) == 1:
            answer = store.verify(args[0])
        elif verb == "list" and not args:
            answer = dict(store.catalogue(), ok=True)
        elif verb == "df" and not args:
            answer = store.df()
        else:
            raise Refusal("usage: put PATH | get PATH | verify PATH | list | df")
    except Refusal as err:
        stdout.write(json_line({"ok": False, "error": str(err)}).encode())
        stdout.flush()
        stderr.write(("followup-backup-receive: %s\n" % err).encode())
        return err.code
    stdout.write(json_line(answer).encode())
    stdout.flush()
    return EXIT_OK


def main_receive(root):
    """Entry point of the forced command: the command comes from SSH_ORIGINAL_COMMAND, never from argv."""
    store = Store(root)
    code = serve(
        store,
        os.environ.get("SSH_ORIGINAL_COMMAND", ""),
        sys.stdin.buffer,
        sys.stdout.buffer,
        sys.stderr.buffer,
    )
    return code
