# followup-ops: the placeholder-secret check of every role's assert task (the rule: module_utils/followup_secrets.py,
# which the secrets gate library/followup_secrets_check.py uses too).
#
#     that: (__mysql_secrets | followup_bad_secrets) | length == 0
#     fail_msg: "{{ __mysql_secrets | followup_secrets_refusal }}"
#
# where __mysql_secrets maps each secret input's name to its value. An input that is not defined at all counts as
# missing: the filters accept Ansible's undefined markers inside the mapping instead of failing on them.

import os
from collections.abc import Mapping

import ansible.module_utils
from ansible.errors import AnsibleFilterError
from ansible.template import accept_args_markers, accept_lazy_markers
from jinja2 import Undefined

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_secrets import bad_secrets, refusal  # noqa: E402


def _plain(secrets, filter_name):
    """The mapping SECRETS with undefined values as None (missing); refuses anything but a mapping."""
    if isinstance(secrets, Undefined) or not isinstance(secrets, Mapping):
        got = "an undefined variable" if isinstance(secrets, Undefined) else _kind(secrets)
        raise AnsibleFilterError(
            f"{filter_name} takes a mapping of secret input names to their values, got {got}: "
            "build it in the role's vars/main.yml"
        )
    return {str(name): None if _undefined(secrets[name]) else secrets[name] for name in secrets}


def _kind(value):
    """The plain type name of VALUE (Ansible hands filters its own subclasses of str, list, ...)."""
    for kind in (bool, int, float, str, list, tuple, set):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


def _undefined(value):
    """True for a value that is not defined; a value that failed for another reason (e.g. a vault that cannot be
    opened) raises its own error instead of passing for a missing secret."""
    if not isinstance(value, Undefined):
        return False
    trip = getattr(value, "trip", None)
    if trip is not None and type(value).__name__ != "UndefinedMarker":
        trip()
    return True


@accept_args_markers
@accept_lazy_markers
def followup_bad_secrets(secrets):
    """Names, sorted, of the secrets (mapping name -> value) that are missing, empty or the placeholder."""
    return bad_secrets(_plain(secrets, "followup_bad_secrets"))


@accept_args_markers
@accept_lazy_markers
def followup_secrets_refusal(secrets):
    """One line naming every unusable secret of the mapping and how to fix it ('' when all are set)."""
    return refusal(_plain(secrets, "followup_secrets_refusal"))


class FilterModule:
    def filters(self):
        return {
            "followup_bad_secrets": followup_bad_secrets,
            "followup_secrets_refusal": followup_secrets_refusal,
        }
