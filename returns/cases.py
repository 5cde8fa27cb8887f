"""The one case a return opens: `return_unreconciled`, one per return (its dedup key),
bumped by every further reason while it is open, so a person sees the whole story of
that return in one place."""

from decimal import Decimal

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from returns.models import ReturnAuthorization


def dedup_key(authorization_id: int) -> str:
    return f"return_unreconciled:{authorization_id}"


def report_unreconciled(authorization: ReturnAuthorization, *, why: str, detail: str = "", actor=None,
                        money_at_risk: Decimal = Decimal("0"), context: dict | None = None) -> None:
    raise_case(CaseReport(
        kind=CaseKind.RETURN_UNRECONCILED,
        dedup_key=dedup_key(authorization.pk),
        title=f"Return {authorization.external_id} at {authorization.location.code}: {why}",
        detail=detail,
        subject=authorization,
        location_id=authorization.location_id,
        money_at_risk=money_at_risk,
        context={"return": authorization.pk, "external_id": authorization.external_id,
                 "status": authorization.status, "why": why, **(context or {})},
    ), actor=actor)
