# followup-ops: the filter that keeps gates from being skipped (docs/architecture.md, "Gates").
#
# Every play that runs the gates, or that changes hosts, names its hosts through it:
#     hosts: "{{ 'followup:databases' | followup_gated }}"
# Play hosts are templated before the play starts and whatever tags are given, so a command line that would skip
# a gate (--skip-tags always, --start-at-task) or override what the gates verified (-e followup_release=...) stops
# the run here, before any host is touched.

import os

import ansible.module_utils
from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_guard import PREFLIGHT, cli_refusals  # noqa: E402


def followup_gated(pattern, after_preflight=False):
    """Return the host PATTERN unchanged, or refuse the run when its command line would get around the gates.

    AFTER_PREFLIGHT: the play changes hosts on the strength of playbooks/preflight.yml's gates, which must have passed
    earlier in this same ansible-playbook run (a variable could be set by an inventory; this cannot).
    """
    reasons = cli_refusals()
    if after_preflight and not PREFLIGHT["passed"] and not _only_reads_the_playbook():
        reasons.append(
            "this playbook changes hosts only after the gates of playbooks/preflight.yml passed in the same run: run "
            "playbooks/site.yml (followup-ops deploy), with --tags or --limit to narrow it"
        )
    if reasons:
        raise AnsibleFilterError("followup-ops refused the run before any host was touched: " + "; ".join(reasons))
    return pattern


def _only_reads_the_playbook():
    """--syntax-check and the --list-* options read the playbook and run nothing."""
    from ansible import context

    args = context.CLIARGS
    return any(args.get(key) for key in ("syntax", "listhosts", "listtasks", "listtags"))


def followup_gates_passed(pattern):
    """Record, in this ansible-playbook process, that the gates of preflight.yml passed; return PATTERN."""
    PREFLIGHT["passed"] = True
    return followup_gated(pattern)


class FilterModule:
    def filters(self):
        return {"followup_gated": followup_gated, "followup_gates_passed": followup_gates_passed}
