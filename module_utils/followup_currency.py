# -*- coding: utf-8 -*-
# R-CURRENT, written once: "甲方在用版本不能超过3个月不进行更新，且每次更新版本应为当前乙方最新版本":
# the release in use may not be more than 3 months old while a newer one exists, and every update goes to the newest.
# Used by the status report, the compliance check and the inspection (through filter plugins) and by the upgrade gate.
# Pure Python, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.module_utils.followup_layout import version_key

MAX_DAYS = 90


def _date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def currency(version, releases, today, max_days=MAX_DAYS):
    """How current the running release VERSION is against RELEASES (the signed index: version, release_date).

    Returns a dict: version, release_date, age_days, newest_version, newest_release_date, newer (versions newer than
    VERSION, oldest first), days_newer_available (since the first newer release came out), days_over (how far past
    MAX_DAYS the running release is), status (pass, warn, fail, error) and message_zh / message_en.
    The finding fails when the running release is more than MAX_DAYS old while a newer release exists; it warns when
    no newer release exists and the running one is older than MAX_DAYS (the vendor owes an update). Releases dated
    after TODAY do not exist yet on TODAY (a report about a past quarter judges it as it was then).
    """
    today = _date(today)
    index = {}
    for entry in releases or []:
        if version_key(entry.get("version")) and _date(entry["release_date"]) <= today:
            index[str(entry["version"])] = _date(entry["release_date"])
    if version and version not in index:
        # The running release itself may be newer than TODAY's index only if the index is wrong: keep it visible.
        for entry in releases or []:
            if str(entry.get("version")) == str(version):
                index[str(version)] = _date(entry["release_date"])
    ordered = sorted(index, key=version_key)
    result = {
        "version": version,
        "release_date": None,
        "age_days": None,
        "newest_version": ordered[-1] if ordered else None,
        "newest_release_date": index[ordered[-1]].isoformat() if ordered else None,
        "newer": [],
        "days_newer_available": None,
        "days_over": 0,
        "max_days": max_days,
    }
    if not version:
        result.update(status="error", message_zh="未部署任何版本", message_en="no release is deployed")
        return result
    if version not in index:
        result.update(
            status="error",
            message_zh="在用版本 %s 不在已签名的版本目录中" % version,
            message_en="the running release %s is not in the signed release index" % version,
        )
        return result
    released = index[version]
    age = (today - released).days
    newer = [v for v in ordered if version_key(v) > version_key(version)]
    result.update(release_date=released.isoformat(), age_days=age, newer=newer)
    if newer:
        result["days_newer_available"] = (today - index[newer[0]]).days
    if newer and age > max_days:
        result.update(
            status="fail",
            days_over=age - max_days,
            message_zh="在用版本 %s 已发布 %d 天（限 %d 天），已有更新版本 %s，超期 %d 天"
            % (version, age, max_days, newer[-1], age - max_days),
            message_en="release %s is %d days old (limit %d) while %s is out: %d days over"
            % (version, age, max_days, newer[-1], age - max_days),
        )
    elif newer:
        result.update(
            status="pass",
            message_zh="在用版本 %s 已发布 %d 天，有更新版本 %s，须在 %d 天内更新"
            % (version, age, newer[-1], max_days - age),
            message_en="release %s is %d days old; %s is out: update within %d days"
            % (version, age, newer[-1], max_days - age),
        )
    elif age > max_days:
        result.update(
            status="warn",
            message_zh="在用版本 %s 为最新版本，但已 %d 天无新版本发布" % (version, age),
            message_en="release %s is the newest, but no release came out for %d days" % (version, age),
        )
    else:
        result.update(
            status="pass",
            message_zh="在用版本 %s 为最新版本" % version,
            message_en="release %s is the newest" % version,
        )
    return result
