"""Run an Ansible module's main() in-process (ansible.module_utils.testing.patch_module_args), capturing its result."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg"))
        self.result = result
        self.failed = failed


def run_module(module, args, check_mode=False, diff=False):
    """Return the module's result dict; result['failed'] is True when it called fail_json."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise ModuleExit(kwargs, failed=True)

    mp = pytest.MonkeyPatch()
    mp.setattr(basic.AnsibleModule, "exit_json", exit_json)
    mp.setattr(basic.AnsibleModule, "fail_json", fail_json)
    try:
        with patch_module_args(args), pytest.raises(ModuleExit) as caught:
            module.main()
    finally:
        mp.undo()
    result = caught.value.result
    json.dumps(result, default=str)  # results must be serialisable
    return result
