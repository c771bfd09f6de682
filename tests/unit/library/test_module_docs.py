"""Sanity without ansible-test: every module's DOCUMENTATION, EXAMPLES and RETURN parse, document exactly the
options of its argument_spec with the same types, and ansible-doc renders them (house style §20)."""

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

LIBRARY = Path(__file__).resolve().parents[3] / "library"
FRAGMENTS = LIBRARY.parent / "doc_fragments"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.py"))


class Captured(Exception):
    pass


def is_text(value):
    """Documentation text is a string or a list of strings (a stray ': ' in YAML makes a mapping instead)."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def documentation(module):
    """The module's DOCUMENTATION with its doc fragments merged in, as ansible-doc shows it."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    for fragment in doc.get("extends_documentation_fragment") or []:
        spec = importlib.util.spec_from_file_location(f"fragment_{fragment}", FRAGMENTS / f"{fragment}.py")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        extra = yaml.safe_load(loaded.ModuleDocFragment.DOCUMENTATION)
        assert not set(extra.get("options", {})) & set(doc.get("options", {})), "a fragment option is repeated"
        doc.setdefault("options", {}).update(extra.get("options", {}))
        doc["requirements"] = (doc.get("requirements") or []) + (extra.get("requirements") or [])
    return doc


def argument_spec(name, monkeypatch):
    module = importlib.import_module(name)
    seen = {}

    def fake_init(self, argument_spec, **kwargs):
        seen.update(argument_spec=argument_spec, kwargs=kwargs)
        raise Captured

    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)
    with pytest.raises(Captured):
        module.main()
    return module, seen["argument_spec"], seen["kwargs"]


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_match_the_argument_spec(name, monkeypatch):
    module, spec, kwargs = argument_spec(name, monkeypatch)
    doc = documentation(module)
    assert doc["module"] == name and is_text(doc["short_description"]) and is_text(doc["description"])
    for key in ("notes", "requirements"):
        assert key not in doc or is_text(doc[key]), key
    options = doc.get("options") or {}
    assert sorted(options) == sorted(spec), "DOCUMENTATION options differ from the argument_spec"
    for option, arg in spec.items():
        assert options[option]["type"] == arg.get("type", "str"), option
        assert options[option].get("required", False) == arg.get("required", False), option
        if "choices" in arg:
            assert options[option]["choices"] == arg["choices"], option
        if "default" in arg and arg["default"] is not None:
            assert options[option].get("default") == arg["default"], option
        assert is_text(options[option]["description"]), option
    assert kwargs.get("supports_check_mode") is True, "every module supports check mode"
    assert doc["attributes"]["check_mode"]["support"] in ("full", "partial")


@pytest.mark.parametrize("name", MODULES)
def test_examples_and_return_are_documented(name):
    module = importlib.import_module(name)
    examples = yaml.safe_load(module.EXAMPLES)
    assert isinstance(examples, list) and examples
    assert all(name in task for task in examples), "examples call the module itself"
    returned = yaml.safe_load(module.RETURN)
    assert isinstance(returned, dict) and returned
    for key, info in returned.items():
        assert is_text(info.get("description")) and info.get("returned") and info.get("type"), key


@pytest.mark.parametrize("name", ["password", "login_password", "uri"])
def test_secret_options_are_no_log(name, monkeypatch):
    for module_name in MODULES:
        _, spec, _ = argument_spec(module_name, monkeypatch)
        if name in spec:
            assert spec[name].get("no_log") is True, f"{module_name}.{name}"


def test_ansible_doc_renders_every_module():
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-doc"), "-M", str(LIBRARY), "-t", "module", *MODULES],
        cwd=LIBRARY.parent,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_CONFIG": str(LIBRARY.parent / "ansible.cfg"),
        },
    )
    assert proc.returncode == 0, proc.stderr
    for name in MODULES:
        assert f"> MODULE {name} " in proc.stdout
