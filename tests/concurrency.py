"""Work released at the same instant on many threads, for the race tests."""

from __future__ import annotations

import threading

import requests

from portal.extensions import db


def together(count: int, call) -> list[requests.Response]:
    """Run ``call(i)`` on ``count`` threads released at the same instant by a barrier."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        with requests.Session() as session:
            barrier.wait()
            results[i] = call(session, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def at_once(pg_app, threads: int, work) -> list:
    """Run work(i) in its own app context (its own session) on each of n threads, released together."""
    barrier = threading.Barrier(threads)
    outcomes: list = [None] * threads

    def run(i: int) -> None:
        with pg_app.app_context():
            try:
                barrier.wait(timeout=30)
                outcomes[i] = work(i)
                db.session.commit()
            except Exception as error:  # each outcome is checked by the test
                db.session.rollback()
                outcomes[i] = error
            finally:
                db.session.remove()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    return outcomes
