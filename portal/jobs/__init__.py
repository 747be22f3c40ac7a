"""Background work on RQ (DESIGN §4): job functions, the schedule, and the worker and cron processes.

Jobs take ids, not objects, and do their work in an app context: one app per worker process,
built when the process starts (``portal worker`` binds its own), never per job and never at
import. They are thin: the work itself lives in the domain and in ``portal.notifications``.
"""

# Every queue a `portal worker` listens on, most urgent first.
QUEUES = ("emails", "webhooks", "sweeps", "default")
