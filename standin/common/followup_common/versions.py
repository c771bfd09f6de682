"""版本号 Release version helpers."""

import re


def parse_version(text):
    """``"1.2.0"`` → ``(1, 2, 0)``."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text or "")
    if not match:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {text!r}")
    return tuple(int(part) for part in match.groups())


def load_release(module_name):
    """VERSION and RELEASE_DATE of a component from the ``_release`` module the builder generates.

    Running from the source tree (no generated module) reports version 0.0.0, which uses the oldest schema.
    """
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return "0.0.0", "1970-01-01"
    return module.VERSION, module.RELEASE_DATE
