"""The compliance tests import their kits from this directory and template filters as a play does."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILTER_PLUGINS = HERE.parents[2] / "filter_plugins"
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def jinja():
    """jinja(expression, **variables): the value of {{ expression }}, variables templated lazily as a play's are."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import filter_loader
    from ansible.template import Templar, trust_as_template

    filter_loader.add_directory(str(FILTER_PLUGINS))

    def trusted(value):
        if isinstance(value, str):
            return trust_as_template(value)
        if isinstance(value, list):
            return [trusted(v) for v in value]
        if isinstance(value, dict):
            return {k: trusted(v) for k, v in value.items()}
        return value

    def render(expression, **variables):
        templar = Templar(loader=DataLoader(), variables=trusted(variables))
        return templar.template(trust_as_template("{{ " + expression + " }}"))

    return render
