"""`make run PORT=…` serves on that port and e-mail links (PORTAL_BASE_URL) point at it (issue 26)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned_run(*args: str, **env: str) -> list[str]:
    """The commands `make run` would run (make -n runs none of them)."""
    environment = {k: v for k, v in os.environ.items() if k != "PORTAL_BASE_URL"} | env
    out = subprocess.run(["make", "-n", "-s", "run", *args], cwd=ROOT, env=environment, capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if "portal " in line]


def test_another_port_moves_the_links_in_e_mails_with_it():
    for line in planned_run("PORT=5077"):
        assert line.startswith("PORTAL_BASE_URL=http://127.0.0.1:5077 "), line
    assert planned_run("PORT=5077")[-1].endswith("run --host 127.0.0.1 --port 5077")


def test_a_base_url_already_set_is_kept():
    for line in planned_run("PORT=5077", PORTAL_BASE_URL="https://gifts.example.com"):
        assert line.startswith("PORTAL_BASE_URL=https://gifts.example.com "), line


def test_the_default_is_port_5000():
    assert planned_run()[-1] == "PORTAL_BASE_URL=http://127.0.0.1:5000 .venv/bin/portal run --host 127.0.0.1 --port 5000"
