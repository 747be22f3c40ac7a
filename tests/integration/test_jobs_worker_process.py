"""Where `portal worker` runs a job: e-mail in the worker itself, everything else in a child of its own."""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue

from portal.jobs.worker import PortalWorker


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
