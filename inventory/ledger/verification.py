"""Proof that the ledger holds: every level equals the sum of its movements."""

from dataclasses import dataclass

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.ledger import sql


@dataclass(frozen=True)
class Drift:
    sku_id: int
    location_id: int
    bucket: str
    level: int
    movements: int


def ledger_drifts() -> list[Drift]:
    """Recompute every level from its movements, in one set-based query."""
    drifts = []
    width = len(sql.BUCKETS)
    for row in sql.level_drifts():
        sku_id, location_id = row[0], row[1]
        level_values, movement_sums = row[2:2 + width], row[2 + width:]
        for bucket, level, total in zip(sql.BUCKETS, level_values, movement_sums, strict=True):
            if level != total:
                drifts.append(Drift(sku_id, location_id, bucket, level, total))
    return drifts


def report_drifts(drifts: list[Drift]) -> None:
    """Open (or bump) a ledger_drift case per drifting level."""
    for drift in drifts:
        raise_case(CaseReport(
            kind=CaseKind.LEDGER_DRIFT,
            dedup_key=f"ledger_drift:{drift.sku_id}:{drift.location_id}:{drift.bucket}",
            title=f"Ledger drift: {drift.bucket} is {drift.level} but its movements sum to {drift.movements}",
            sku_id=drift.sku_id, location_id=drift.location_id,
            context={"bucket": drift.bucket, "level": drift.level, "movements": drift.movements},
        ))
