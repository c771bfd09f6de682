"""Filters are tested two ways: as plain functions from FilterModule().filters(), and through Ansible's own templating
(`jinja` fixture), which finds them in filter_plugins/ as a play would and hands them Ansible's lazy values."""

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

FILTER_PLUGINS = Path(__file__).resolve().parents[3] / "filter_plugins"


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


@pytest.fixture
def jinja():
    """jinja(expression, **variables): the value of {{ expression }}, variables templated lazily as a play's are."""
    filter_loader.add_directory(str(FILTER_PLUGINS))

    def render(expression, **variables):
        templar = Templar(loader=DataLoader(), variables=_trusted(variables))
        return templar.template(trust_as_template("{{ " + expression + " }}"))

    return render
