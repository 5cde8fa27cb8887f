"""Reads of reconciliation runs and their lines, scoped to the caller.

A partner token sees the runs of its own system only, and of their lines those at the
locations in its scope (plus lines whose location code the ledger does not know: the
partner sent them, and they are at no location anyone else scopes). Staff with every
location see everything; store operations see their stores' lines only.
"""

from django.db.models import Q, QuerySet

from reconciliation.models import ReconciliationLine, ReconciliationRun
from retailops.access import LocationScope


def runs_for(*, system_id: int | None) -> QuerySet[ReconciliationRun]:
    """Every run for staff (`system_id` None); a partner's own system's otherwise."""
    runs = ReconciliationRun.objects.select_related("system")
    return runs if system_id is None else runs.filter(system_id=system_id)


def run_lines_for(*, run: ReconciliationRun, scope: LocationScope,
                  unknown_locations: bool = False) -> QuerySet[ReconciliationLine]:
    """A run's lines the caller may see; `unknown_locations` adds those whose location
    code the ledger does not know (for the partner that sent them)."""
    lines = ReconciliationLine.objects.filter(run=run)
    if scope.is_all:
        return lines
    visible = Q(location_id__in=scope.location_ids)
    if unknown_locations:
        visible |= Q(location__isnull=True)
    return lines.filter(visible)
