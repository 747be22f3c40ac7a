"""The schedule, as RQ 3's cron config: ``portal cron`` loads this module into a CronScheduler.

Cron expressions are in the server's local time (that is how rq.cron reads them).
"""

from rq import cron

from portal.jobs.email import relay_outbox
from portal.jobs.sweeps import (
    sweep_entitlements, sweep_events, sweep_expiry, sweep_gifts, sweep_holds, sweep_orders, sweep_transfers,
)
from portal.jobs.webhooks import relay_webhooks

# Messages left behind by a crash or by Redis being down; also runs when cron starts.
cron.register(relay_outbox, "emails", interval=60, job_timeout=300, result_ttl=600)
cron.register(relay_webhooks, "webhooks", interval=60, job_timeout=300, result_ttl=600)
cron.register(sweep_expiry, "sweeps", cron="15 3 * * *", job_timeout=3 * 3600)
cron.register(sweep_transfers, "sweeps", cron="5 * * * *", job_timeout=600)
cron.register(sweep_gifts, "sweeps", cron="10 * * * *", job_timeout=600)
cron.register(sweep_orders, "sweeps", cron="20 * * * *", job_timeout=600)
cron.register(sweep_events, "sweeps", cron="45 3 * * *", job_timeout=3600)
cron.register(sweep_entitlements, "sweeps", cron="25 * * * *", job_timeout=600)
cron.register(sweep_holds, "sweeps", cron="35 * * * *", job_timeout=600)
