"""Evidence shaped exactly as library/followup_compliance_facts.py returns it, built from short descriptions, and
one-call judgement of a control (the evaluator runs for real; only the host is replaced by these dicts)."""

import hashlib

from ansible.module_utils import followup_compliance_catalogue as cat
from ansible.module_utils import followup_compliance_eval as ev
from ansible.module_utils.followup_compliance_facts import mask_line, read_file

CATALOGUE = cat.load()


def file_entry(text, mode="0644", owner="root", group="root", kind="file"):
    if text is None:
        return {"exists": True, "type": kind, "mode": mode, "owner": owner, "group": group}
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and (not stripped.startswith(("#", ";")) or stripped.startswith(("#include", "@include"))):
            lines.append([number, mask_line(line.rstrip())])
    return {
        "exists": True,
        "type": kind,
        "mode": mode,
        "owner": owner,
        "group": group,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "lines": lines,
        "truncated": False,
    }


def evidence(files=None, family="debian", container=None, os_id="debian", version="12", **sections):
    """Evidence of one host: FILES maps path -> text (or a file_entry dict); SECTIONS are sections as collected."""
    entries = {}
    for path, value in (files or {}).items():
        entries[path] = value if isinstance(value, dict) else file_entry(value)
    data = {
        "schema": 1,
        "host": {
            "hostname": "h1",
            "os": {"id": os_id, "version_id": version, "family": family, "name": os_id},
            "container": container,
            "uid_min": 1000,
            "time": 0,
        },
        "files": entries,
        "globs": {},
        "commands": sections.pop("commands", {}),
    }
    data.update(sections)
    return data


def judge(
    control_id,
    ev_data,
    params=None,
    targets=("linux", "ssh", "mysql", "mongodb", "nginx", "app"),
    extra=None,
    results=None,
):
    """The finding of CONTROL_ID on a host with EV_DATA (other controls' results given as RESULTS for derived)."""
    control = CATALOGUE["by_id"][control_id]
    ctx = ev.Context(
        ev_data,
        params or cat.defaults(CATALOGUE),
        "h1",
        targets,
        CATALOGUE,
        dict({"today": "2026-12-01"}, **(extra or {})),
    )
    for cid, status in (results or {}).items():
        ctx.results[cid] = {"status": status, "actual": ""}
    return ev.evaluate_control(control, ctx)


def user(
    name,
    uid,
    shell="/usr/sbin/nologin",
    password="locked",  # noqa: S107 - a shadow status, not a secret
    prefix=None,
    max_days=99999,
    line=None,
):
    return {
        "name": name,
        "uid": uid,
        "gid": uid,
        "shell": shell,
        "home": "/",
        "password": password,
        "hash_prefix": prefix,
        "max_days": max_days,
        "passwd_line": line or uid + 1,
        "shadow_line": line or uid + 1,
        "passwd_field": "x",
    }


def accounts(*users, groups=()):
    return {
        "users": list(users),
        "groups": list(groups),
        "sha256": {"/etc/shadow": "ab" * 32, "/etc/passwd": "cd" * 32},
    }


__all__ = ["CATALOGUE", "accounts", "evidence", "file_entry", "judge", "read_file", "user"]
