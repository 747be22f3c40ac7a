"""Fixtures of the browser tier."""

import pytest
from playwright.sync_api import expect


@pytest.fixture(autouse=True)
def patient_expectations():
    """Assertions wait as long as the pages' actions do: a machine busy with other tests is slow."""
    expect.set_options(timeout=10_000)
    yield
    expect.set_options(timeout=None)
