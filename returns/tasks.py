"""Celery tasks of returns: thin, safe to run twice."""

from celery import shared_task

from returns import detectors


@shared_task
def returns_unreconciled_detect() -> dict[str, int]:
    return detectors.returns_unreconciled_detect()
