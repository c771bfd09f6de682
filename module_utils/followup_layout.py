# -*- coding: utf-8 -*-
# The on-host layout of the follow-up system's application tier, written once (docs/architecture.md, "Layout on
# application hosts"). Used by the install module (followup_release_install) and the status module (followup_status),
# so that what is installed and what is reported can never disagree. Pure Python, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

BASE_DIR = "/opt/followup"
COMPONENTS = ("app", "fep", "voice")
RELEASE_RECORD = ".release.json"
# MAJOR.MINOR.PATCH in ASCII digits only; \Z so that a trailing newline never matches.
VERSION_RE = re.compile(r"\A([0-9]+)\.([0-9]+)\.([0-9]+)\Z")


def version_key(version):
    """Sort key of a release version, or None when VERSION is not MAJOR.MINOR.PATCH (ASCII digits)."""
    match = VERSION_RE.match(str(version))
    if not match:
        return None
    return tuple(int(x) for x in match.groups())


def component_root(component, base_dir=BASE_DIR):
    return os.path.join(base_dir, component)


def releases_dir(root):
    return os.path.join(root, "releases")


def release_dir(root, version):
    return os.path.join(root, "releases", version)


def current_link(root):
    return os.path.join(root, "current")


def shared_dir(root):
    return os.path.join(root, "shared")


def data_dir(root):
    """The only directory the component's service may write."""
    return os.path.join(root, "shared", "data")


def tarballs_dir(base_dir=BASE_DIR):
    """Verified tarballs kept for re-install and rollback."""
    return os.path.join(base_dir, ".releases")


def tarball_path(version, base_dir=BASE_DIR):
    return os.path.join(tarballs_dir(base_dir), "followup-%s.tar.gz" % version)


def unit_name(component):
    return "followup-%s" % component


def installed_versions(root):
    """Release directories under ROOT/releases, oldest first (only MAJOR.MINOR.PATCH names count)."""
    path = releases_dir(root)
    if not os.path.isdir(path):
        return []
    found = [n for n in os.listdir(path) if version_key(n) and os.path.isdir(os.path.join(path, n))]
    return sorted(found, key=version_key)


def current_version(root):
    """The release ROOT/current points at, or None when there is no such link (or it points elsewhere)."""
    link = current_link(root)
    if not os.path.islink(link):
        return None
    target = os.readlink(link).rstrip("/")
    version = os.path.basename(target)
    if os.path.dirname(target) not in ("releases", releases_dir(root)) or not version_key(version):
        return None
    return version


def read_record(root, version):
    """The .release.json of an installed release, or None when it is missing or unreadable."""
    try:
        with open(os.path.join(release_dir(root, version), RELEASE_RECORD)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
