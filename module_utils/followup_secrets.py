# -*- coding: utf-8 -*-
# What counts as a secret nobody has set yet: the one rule for the secrets gate (library/followup_secrets_check.py)
# and for every role's assert task (through the filters of filter_plugins/followup_secrets.py).
#
# Pure Python, no Ansible imports: it runs in modules on the control node and in filter plugins.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The text the committed production vault holds in every secret (docs/secrets.md). A value holding it anywhere
# is a placeholder, so that a URI such as mongodb://cdr_app:CHANGE-ME@host/cdr is caught too.
SENTINEL = "CHANGE-ME"

MISSING = "missing"
EMPTY = "empty"
PLACEHOLDER = "placeholder"

_WORDS = {
    MISSING: "missing",
    EMPTY: "empty",
    PLACEHOLDER: "still the %s placeholder" % SENTINEL,
}

FIX = "put the real secret in the inventory's vault (ansible-vault edit group_vars/all/vault.yml), then retry"


def problem(value):
    """Why VALUE cannot be used as a secret: MISSING (None), EMPTY (nothing but white space) or PLACEHOLDER
    (holds the sentinel); None when it can."""
    if value is None:
        return MISSING
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        return EMPTY
    if SENTINEL in text:
        return PLACEHOLDER
    return None


def problems(secrets):
    """{name: problem} of every secret in the mapping SECRETS (name -> value) that cannot be used, and only those."""
    found = {}
    for name in secrets:
        why = problem(secrets[name])
        if why:
            found[str(name)] = why
    return found


def bad_secrets(secrets):
    """The names, sorted, of the secrets in the mapping SECRETS (name -> value) that are missing, empty or
    placeholders. Values never leave this function."""
    return sorted(problems(secrets))


def refusals(secrets):
    """One line per unusable secret, sorted by name: '<name> is <why>: <fix>'. Names only, never values."""
    return ["%s is %s: %s" % (name, _WORDS[why], FIX) for name, why in sorted(problems(secrets).items())]


def refusal(secrets):
    """One line naming every unusable secret and the fix, or '' when all can be used."""
    found = problems(secrets)
    if not found:
        return ""
    by_word = {}
    for name, why in sorted(found.items()):
        by_word.setdefault(why, []).append(name)
    parts = [
        "%s %s %s" % (", ".join(names), "is" if len(names) == 1 else "are", _WORDS[why])
        for why, names in sorted(by_word.items(), key=lambda item: [MISSING, EMPTY, PLACEHOLDER].index(item[0]))
    ]
    return "%s: %s" % ("; ".join(parts), FIX)
