"""gunicorn settings for RetailOps: how each worker's Python garbage collector runs.

gunicorn reads this file from the directory it starts in (the repository root).
"""

import gc


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
