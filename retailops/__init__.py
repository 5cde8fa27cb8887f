"""RetailOps: the project package (settings, urls, Celery app, access, API conventions)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
