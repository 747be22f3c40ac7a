"""The wheel is the whole portal: pyproject.toml lists every package, so `pip install .` (and the
worker it starts) never lacks a module that works in a checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_of_the_portal_goes_into_the_wheel():
    """Is each folder of portal/ with an __init__.py named in pyproject.toml's package list?"""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "portal").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_templates_static_files_and_migrations_travel_with_it():
    """Are the three folders a running portal reads mapped into the package?"""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {
        "portal.templates": "templates", "portal.static": "static", "portal.migrations": "migrations"
    }
