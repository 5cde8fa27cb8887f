"""The arithmetic of a confidence score: robust z-scores against the estate, combined into
one number (the formula is in the package docstring). Pure functions, no database."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from statistics import median

Z_CAP = 3.0
MAD_SCALE = 0.6745  # makes the MAD comparable to a standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # the same for the mean absolute deviation


@dataclass(frozen=True)
class Estate:
    """A factor's reference: the median and spreads over the locations with enough data."""

    median: float
    mad: float
    mean_absolute_deviation: float
    locations: int


def estate_of(values: list[float]) -> Estate:
    middle = median(values)
    deviations = [abs(value - middle) for value in values]
    return Estate(median=middle, mad=median(deviations), mean_absolute_deviation=sum(deviations) / len(values),
                  locations=len(values))


def robust_z(value: float, estate: Estate) -> float:
    if estate.mad > 0:
        return MAD_SCALE * (value - estate.median) / estate.mad
    if estate.mean_absolute_deviation > 0:
        return (value - estate.median) / (MEAN_AD_SCALE * estate.mean_absolute_deviation)
    return 0.0


def multiplier(z: float, weight: float) -> float:
    """What one factor leaves of the score: only a worse-than-the-estate z takes away."""
    return 1 - weight * min(max(z, 0.0), Z_CAP) / Z_CAP


def combined(multipliers: list[float]) -> Decimal:
    score = 1.0
    for part in multipliers:
        score *= part
    return Decimal(str(max(0.0, min(1.0, score)))).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
