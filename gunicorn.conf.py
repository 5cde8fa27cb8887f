"""gunicorn settings for RetailOps, read from the directory gunicorn starts in (the
repository root): how many workers serve, and how each worker's garbage collector runs.

Each sync worker serves one request at a time and keeps one database connection
(`CONN_MAX_AGE`), so a web host opens at most WEB_CONCURRENCY connections, however many
requests arrive: the rest wait in the listen queue (`backlog`) instead of each taking a
connection of its own. Size WEB_CONCURRENCY × web hosts (plus the Celery workers'
concurrency) below the database's `max_connections`.
"""

import gc
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (a server listens)
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = timeout
backlog = 2048
# No control socket: several servers share a host (make run, tests, benchmarks) and one
# path in $HOME, and nothing here drives gunicorn through it.
control_socket_disable = True


def post_worker_init(worker):
    """Once a worker has loaded the app: what loading made (apps, models, URL patterns, the
    DRF and ORM machinery) lives as long as the process, so it is frozen out of every full
    collection; and the young generation is collected every 50,000 allocations rather than
    every 700, since a request allocates tens of thousands of short-lived objects (an
    ingest batch, about a hundred per event)."""
    from django.urls import resolve

    resolve("/healthz")  # the URL patterns are loaded now, so they are frozen too
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
