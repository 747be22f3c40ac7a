"""Where `portal worker` runs a job (e-mail in the worker itself, everything else in a child of its
own), and what a worker killed outright leaves behind: no process, and no scheduler lock for long."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Retry

from portal.jobs.worker import PortalWorker
from tests.integration.flaky_jobs import fail_once
from tests.processes import WorkerProcess, descendants, wait_for


def test_email_jobs_run_in_the_worker_and_other_jobs_in_a_forked_child(redis_url):
    """Does an e-mail job skip the fork (and its new connections) while a bulk job still gets its own process?"""
    connection = Redis.from_url(redis_url)
    mail = Queue("emails", connection=connection).enqueue(os.getpid)
    bulk = Queue("default", connection=connection).enqueue(os.getpid)
    PortalWorker(["emails", "default"], connection=connection).work(burst=True, logging_level="WARNING")
    assert mail.get_status(refresh=True) == "finished" and bulk.get_status(refresh=True) == "finished"
    assert mail.return_value() == os.getpid()
    assert bulk.return_value() != os.getpid()
    connection.close()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped yet counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.postgres
@pytest.mark.redis
def test_a_worker_killed_outright_leaves_no_scheduler_behind_and_the_next_one_schedules_retries(
    pg_url, redis_url, smtp, tmp_path
):
    """After `kill -9` of `portal worker`, is every process it forked gone within seconds (none
    left holding RQ's scheduler locks), and does a new worker take the scheduling over, so a
    failed job's retry runs?"""
    connection = Redis.from_url(redis_url)
    lock = "rq:scheduler-lock:default"
    first = WorkerProcess(pg_url, redis_url, smtp.url, tmp_path / "first.log").start()
    family: list[int] = []
    try:
        # RQ takes the locks, then forks the scheduler that keeps them.
        family = wait_for(lambda: connection.exists(lock) and descendants(first.process.pid),
                          what="the first worker's scheduler process")
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in family), timeout=5, what="the worker's children to end")
    finally:
        for pid in family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        first.stop()
    assert not connection.exists(lock), "the scheduler gave its locks back as it ended"

    second = WorkerProcess(pg_url, redis_url, smtp.url, tmp_path / "second.log").start()
    try:
        wait_for(lambda: connection.exists(lock), what="the new worker's scheduler to take the lock")
        job = Queue("default", connection=connection).enqueue(fail_once, "flaky:tries", retry=Retry(max=1, interval=1))
        wait_for(lambda: job.get_status(refresh=True) == "finished", what="the retry, scheduled by the new worker")
        assert int(connection.get("flaky:tries")) == 2
    finally:
        second.stop()
        connection.close()
