"""Jobs for tests of `portal worker` as a process: importable by the worker, unlike a test module's functions."""

from __future__ import annotations

from rq import get_current_job


def fail_once(key: str) -> str:
    """Fail the first time (counted in Redis under ``key``), succeed the next: a job that needs a retry."""
    if get_current_job().connection.incr(key) == 1:
        raise RuntimeError("the first try fails")
    return "done on a retry"
