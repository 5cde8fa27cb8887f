"""The one way a reconciliation run changes status: the worker starting, finishing or
failing it (`reconciliation.services`) and staff closing it by deciding its last variance
line (`reconciliation.review`) all come through `run_transition`, which checks
`RUN_TRANSITIONS` and records who and why in the run's history."""

from reconciliation.models import ReconciliationRun
from reconciliation.states import RUN_TRANSITIONS
from retailops.lifecycle import check_transition

# simple-history keeps a change reason of at most 100 characters.
REASON_MAX_LENGTH = 100


def run_transition(run: ReconciliationRun, to: str, *, actor=None, reason: str,
                   fields: tuple[str, ...] = ()) -> None:
    """Move a locked (or new) run to `to`, saving `fields` with it; `actor` is the person
    (None: the system, as the worker)."""
    check_transition(RUN_TRANSITIONS, run.status, to, noun="reconciliation run")
    previous = run.status
    suffix = f" ({previous} → {to})"
    run.status = to
    run._history_user = actor
    run._change_reason = f"{reason[:REASON_MAX_LENGTH - len(suffix)]}{suffix}"
    run.save(update_fields=["status", "updated_at", *fields])
