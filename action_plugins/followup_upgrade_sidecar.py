# followup-ops: the control-node half of followup_upgrade_sidecar (docs/upgrade.md, "Short unavailability").
#
# The new release started beside the live one runs exactly what the signed release says, as the install does
# (action_plugins/followup_release_install.py): a command line that gets around the gates is refused again, the signed
# index is read from the inventory's followup_release_repository and followup_release_signers (never from task
# arguments), the tarball of the version is verified completely here, and only then does the module get the start
# command and health check of the verified manifest, with the tarball's sha256 to check the installed release with.

import os

import ansible.module_utils
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.followup_guard import cli_refusals  # noqa: E402
from ansible.module_utils.followup_layout import BASE_DIR, COMPONENTS  # noqa: E402
from ansible.module_utils.followup_release import (  # noqa: E402
    INDEX,
    SIGNERS_VAR,
    ReleaseError,
    find_release,
    read_signed_index,
    verify_tarball,
)

MODULE = "ansible.legacy.followup_upgrade_sidecar"
REPOSITORY_VAR = "followup_release_repository"

# What a task may say; the start command, the health check and the sha256 come from the signed release.
ARGUMENT_SPEC = dict(
    component=dict(type="str", required=True, choices=list(COMPONENTS)),
    version=dict(type="str", required=True),
    port=dict(type="int", required=True),
    state=dict(type="str", default="started", choices=["started", "absent"]),
    base_dir=dict(type="path", default=BASE_DIR),
    unit_dir=dict(type="path", default="/etc/systemd/system"),
    health_retries=dict(type="int", default=30),
    health_delay=dict(type="float", default=1.0),
    stop_timeout=dict(type="int", default=30),
)


class ActionModule(ActionBase):
    _supports_check_mode = True

    def _inventory_value(self, task_vars, name):
        if name not in task_vars:
            raise AnsibleActionFail(f"{name} is not set: the inventory must name it (docs/releases.md)")
        return self._templar.template(task_vars[name])

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        try:
            reasons = cli_refusals()
            if reasons:
                raise AnsibleActionFail("followup-ops refused the run on this host: " + "; ".join(reasons))
            _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
            module_args = dict(args)
            if args["state"] == "started":
                repository = to_text(self._inventory_value(task_vars, REPOSITORY_VAR))
                signers = self._inventory_value(task_vars, SIGNERS_VAR)
                try:
                    releases, _signer = read_signed_index(repository, signers)
                    entry = find_release(releases, args["version"], os.path.join(repository, INDEX))
                    manifest = verify_tarball(entry["path"], entry["sha256"], entry["version"])
                except ReleaseError as err:
                    raise AnsibleActionFail(f"release {args['version']} refused on the control node: {err}") from None
                component = manifest["components"][args["component"]]
                module_args.update(start=component["start"], health=component["health"], sha256=entry["sha256"])
            result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        except AnsibleActionFail as err:
            result.update(failed=True, msg=to_text(err.message))
        return result
