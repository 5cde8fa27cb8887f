"""Case priority: money at risk × urgency × kind weight × anomaly factor.

Every factor is kept beside the score so a person can see why a case ranks where it does.
"""

import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from exceptions.policy import policy_for

# Money below this still ranks: a case about a 0-value item is not worthless.
MINIMUM_MONEY = Decimal("1.00")


def urgency(*, sla_due_at: datetime, sla_total_seconds: float, now: datetime) -> Decimal:
    """1.0 with the whole SLA left, rising to 2.0 at the due time and 3.0 once past it."""
    if sla_total_seconds <= 0:
        return Decimal("1.0")
    left = (sla_due_at - now).total_seconds()
    if left <= 0:
        return Decimal("3.0")
    used = 1 - min(1.0, left / sla_total_seconds)
    return (Decimal("1.0") + Decimal(str(round(used, 3)))).quantize(Decimal("0.001"))


def anomaly(occurrences: int, location_confidence: Decimal | None = None) -> Decimal:
    """How unusual the problem is, and how far its location is trusted.

    Repetition: a fact seen once is 1.0; the same problem coming back again and again is
    a pattern worth a person's time first — 1.5 at two occurrences, 2.0 at four, capped
    at 3.0 (sixteen and more). Distrust: that is multiplied by (2 − the location's
    confidence), so a case at a fully trusted location (or at none) keeps it, one at a
    location scored 0.5 ranks 1.5 times higher, at 0.0 twice as high (see
    `inventory.confidence` for how the score is made)."""
    repetition = min(3.0, 1 + 0.5 * math.log2(max(1, occurrences)))
    distrust = 1.0 if location_confidence is None else 2 - min(1.0, max(0.0, float(location_confidence)))
    return Decimal(str(round(repetition * distrust, 3)))


def priority(*, kind: str, money_at_risk: Decimal, urgency_factor: Decimal,
             anomaly_factor: Decimal = Decimal("1.0"), location_confidence: Decimal | None = None
             ) -> tuple[Decimal, dict]:
    weight = policy_for(kind).weight
    money = max(money_at_risk, MINIMUM_MONEY)
    score = (money * urgency_factor * weight * anomaly_factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    factors = {
        "money_at_risk": str(money_at_risk),
        "urgency": str(urgency_factor),
        "kind_weight": str(weight),
        "anomaly": str(anomaly_factor),
    }
    if location_confidence is not None:
        factors["location_confidence"] = str(location_confidence)
    return score, factors


# Priority bands for filtering and colour: (band, lowest score in it), highest first.
PRIORITY_BANDS: list[tuple[str, Decimal]] = [
    ("critical", Decimal("1000")),
    ("high", Decimal("250")),
    ("medium", Decimal("50")),
    ("low", Decimal("0")),
]


def band_of(score: Decimal) -> str:
    for band, floor in PRIORITY_BANDS:
        if score >= floor:
            return band
    return "low"


def band_range(band: str) -> tuple[Decimal, Decimal | None]:
    """[lowest, next band's lowest) of a band; None when it has no ceiling."""
    ceiling = None
    for name, floor in PRIORITY_BANDS:
        if name == band:
            return floor, ceiling
        ceiling = floor
    raise ValueError(f"Unknown priority band '{band}'.")
