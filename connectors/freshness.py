"""Freshness: how long partners wait to hear of a change, and a case while it is too long.

A system lags when its oldest undelivered change (pending outbox message) is older than
its `lag_threshold_seconds`: its partner shows availability at least that stale, and
the longer it does the more it oversells. Beat runs `sync_lag_check` often; it opens (or
bumps) one `sync_lagging` case per lagging system, and resolves the case as
`condition_cleared` once the system has caught up — the outbox itself proves it.
"""

from dataclasses import dataclass
from datetime import datetime

from connectors.selectors import duration_label, system_lags
from exceptions import services
from exceptions.selectors import active_cases
from exceptions.services import CaseReport, raise_cases
from exceptions.states import CaseKind
from integrations.models import ExternalSystem

DEDUP_PREFIX = "sync_lagging:"


@dataclass(frozen=True)
class LagCheck:
    lagging: int
    resolved: int


def sync_lag_check(*, now: datetime | None = None) -> LagCheck:
    """Raise a case for each outbound system lagging past its threshold; resolve the cases
    of those that caught up."""
    lags = system_lags(now=now)
    systems = ExternalSystem.objects.filter(enabled=True).exclude(adapter=ExternalSystem.Adapter.NONE)
    lagging = [(system, lags[system.pk]) for system in systems.filter(pk__in=list(lags))
               if lags[system.pk] > system.lag_threshold_seconds * 1000]
    raise_cases([
        CaseReport(
            kind=CaseKind.SYNC_LAGGING,
            dedup_key=f"{DEDUP_PREFIX}{system.code}",
            title=f"{system.code} hears of stock changes late",
            detail=(f"The oldest change not yet delivered to {system.code} is {duration_label(lag)} old "
                    f"(threshold {system.lag_threshold_seconds} s): its partner shows stale availability."),
            subject=system,
            context={"lag_seconds": round(lag / 1000, 1), "threshold_seconds": system.lag_threshold_seconds,
                     "paused": system.paused, "circuit_state": system.circuit_state},
        )
        for system, lag in lagging
    ])
    still = {f"{DEDUP_PREFIX}{system.code}" for system, _lag in lagging}
    recovered = [pk for pk, key in active_cases(kind=CaseKind.SYNC_LAGGING).values_list("pk", "dedup_key")
                 if key not in still]
    resolved = services.cases_resolve_cleared(recovered, note="The system caught up: its lag is under the threshold.")
    return LagCheck(lagging=len(lagging), resolved=resolved)
