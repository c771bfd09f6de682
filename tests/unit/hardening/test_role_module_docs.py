"""The role modules (roles/*/library) document exactly the options of their argument_spec, with the same types, and
their EXAMPLES and RETURN parse (the sanity tests/unit/library/test_module_docs.py gives library/)."""

import importlib
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

LIBRARY = Path(__file__).resolve().parents[3] / "roles" / "os_hardening" / "library"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.py"))


class Captured(Exception):
    pass


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_the_argument_spec(name, monkeypatch):
    module = importlib.import_module(name)
    seen = {}

    def fake_init(self, argument_spec, **kwargs):
        seen.update(argument_spec=argument_spec, kwargs=kwargs)
        raise Captured

    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)
    with pytest.raises(Captured):
        module.main()
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == name
    assert set(doc["options"]) == set(seen["argument_spec"])
    for option, spec in seen["argument_spec"].items():
        assert doc["options"][option]["type"] == spec.get("type", "str"), option
        if "default" in spec:
            assert doc["options"][option].get("default") == spec["default"], option
    assert seen["kwargs"].get("supports_check_mode") is True
    assert doc["attributes"]["check_mode"]["support"] == "full"
    examples = yaml.safe_load(module.EXAMPLES)
    assert examples and all(name in task for task in examples)
    returned = yaml.safe_load(module.RETURN)
    assert returned and all("description" in v and "returned" in v for v in returned.values())
