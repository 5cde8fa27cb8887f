"""Reconciliation run statuses, line classifications and line decisions.

A run is `queued` when its snapshot is stored, `running` while the set-based comparison
works, then `review` when any line is a variance (staff decide those lines) or `closed`
straight away when none is; `failed` records the error of a run that could not finish.
A run in review is closed once its variance lines are decided.
"""

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    REVIEW = "review"
    CLOSED = "closed"
    FAILED = "failed"


RUN_TRANSITIONS: dict[str, set[str]] = {
    RunStatus.QUEUED: {RunStatus.RUNNING, RunStatus.FAILED},
    # Only variance lines need a person: a run without one closes when it finishes.
    RunStatus.RUNNING: {RunStatus.REVIEW, RunStatus.CLOSED, RunStatus.FAILED},
    RunStatus.REVIEW: {RunStatus.CLOSED},
    RunStatus.CLOSED: set(),
    # A failed run may be queued again (the snapshot is still stored).
    RunStatus.FAILED: {RunStatus.QUEUED},
}


class Classification(models.TextChoices):
    """API.md "Snapshots and reconciliation", after the system's tolerance."""

    MATCHED = "matched", "Matched"
    TIMING = "timing", "Timing (moved since the snapshot)"
    VARIANCE = "variance", "Variance"
    MISSING_IN_LEDGER = "missing_in_ledger", "Unknown to the ledger"


# Lines that agree with the ledger as of the snapshot's time (accuracy counts them).
AGREEING = (Classification.MATCHED, Classification.TIMING)


class Decision(models.TextChoices):
    """What staff decided about a line; blank while undecided."""

    UNDECIDED = "", "Undecided"
    ACCEPTED = "accepted", "Accepted (ledger adjusted to the snapshot)"
    KEPT = "kept", "Kept (the ledger is right)"
    DISMISSED = "dismissed", "Dismissed"
    ESCALATED = "escalated", "Escalated to a case"


DECISION_TRANSITIONS: dict[str, set[str]] = {
    Decision.UNDECIDED: {Decision.ACCEPTED, Decision.KEPT, Decision.DISMISSED, Decision.ESCALATED},
    # An escalated line is decided once the case is worked.
    Decision.ESCALATED: {Decision.ACCEPTED, Decision.KEPT, Decision.DISMISSED},
    Decision.ACCEPTED: set(),
    Decision.KEPT: set(),
    Decision.DISMISSED: set(),
}
