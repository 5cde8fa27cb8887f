"""Celery tasks for cases: thin, idempotent wrappers around the detectors (beat runs them)."""

from celery import shared_task

from casework import anomalies, detectors


@shared_task
def ledger_drift_detect() -> int:
    return detectors.ledger_drift_detect().drifts


@shared_task
def stale_levels_detect() -> int:
    return detectors.stale_levels_detect().raised


@shared_task
def sla_breaches_escalate() -> int:
    return detectors.sla_breaches_escalate()


@shared_task
def negative_on_hand_resolve_cleared() -> int:
    return detectors.negative_on_hand_resolve_cleared()


@shared_task
def anomalies_detect_frequent() -> int:
    """Sudden drops and event latency: patterns worth seeing within the hour."""
    return sum(detect() for detect in anomalies.FREQUENT)


@shared_task
def anomalies_detect_nightly() -> int:
    """Shrink spikes, repeated negatives, phantom inventory: patterns over days."""
    return sum(detect() for detect in anomalies.NIGHTLY)
