"""Serializer fields for the API's conventions (API.md "Conventions") where DRF's own are
lenient: a quantity is a JSON integer (not "3", not 1.5); a code or an id is a JSON
string (not 12) without NUL characters (no database column can hold one); a timestamp
is ISO 8601 with its offset, and still a date once in UTC; an integer fits the column
that stores it (`column_bounds`). Their error codes are part of the contract, and agree
with DRF's where DRF has one (`null_characters_not_allowed`, `overflow`)."""

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Each integer column's range on every database the project runs on (PostgreSQL's is the
# narrowest), so that what the API accepts does not depend on the database behind it.
_COLUMN_RANGES = {
    "SmallIntegerField": (-(2**15), 2**15 - 1),
    "IntegerField": (-(2**31), 2**31 - 1),
    "BigIntegerField": (-(2**63), 2**63 - 1),
    "PositiveSmallIntegerField": (0, 2**15 - 1),
    "PositiveIntegerField": (0, 2**31 - 1),
    "PositiveBigIntegerField": (0, 2**63 - 1),
}


def column_bounds(model_field) -> dict[str, int]:
    """`min_value` and `max_value` for an API integer stored in `model_field`: a number
    its column cannot hold is a 400, not a database error."""
    low, high = _COLUMN_RANGES[model_field.get_internal_type()]
    return {"min_value": low, "max_value": high}


@extend_schema_field(OpenApiTypes.INT)
class StrictIntegerField(serializers.Field):
    """A JSON integer (a boolean or a numeric string is refused), within ±`limit`."""

    default_error_messages = {"invalid": "Must be an integer.", "max_value": "Out of range."}

    def __init__(self, *, limit: int = 1_000_000_000, **kwargs) -> None:
        self.limit = limit
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if abs(data) > self.limit:
            self.fail("max_value")
        return data

    def to_representation(self, value):
        return value


class TextField(serializers.Field):
    """A JSON string of at most `max_length` characters, not blank unless `allow_blank`
    (an optional one is left out rather than sent empty). A required field sent as null
    counts as missing. Its schema says so (`retailops.schema.TextFieldSchema`)."""

    default_error_messages = {"invalid": "Must be a non-empty string.",
                              "max_length": "At most {max_length} characters.",
                              "null_characters_not_allowed": "Null characters are not allowed."}

    def __init__(self, *, max_length: int = 255, allow_blank: bool = False, **kwargs) -> None:
        self.max_length = max_length
        self.allow_blank = allow_blank
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None and self.required:
            self.fail("required")
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, str) or (not self.allow_blank and not data.strip()):
            self.fail("invalid")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if "\x00" in data:
            self.fail("null_characters_not_allowed")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeField(serializers.Field):
    """An ISO 8601 timestamp that says its UTC offset (a naive one is refused: whose
    midnight would it be?), taken as its instant in UTC: that is what a database stores,
    and PostgreSQL refuses offsets Python reads (-19:44). One that is no longer a date in
    UTC (year 1 at +01:00) is refused."""

    default_error_messages = {"invalid_datetime": "Must be an ISO 8601 timestamp.",
                              "missing_offset": "The timestamp needs a UTC offset.",
                              "overflow": "The timestamp is out of range once in UTC."}

    def to_internal_value(self, data):
        try:
            parsed = datetime.fromisoformat(data) if isinstance(data, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid_datetime")
        if parsed.tzinfo is None:
            self.fail("missing_offset")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")

    def to_representation(self, value):
        return value.isoformat()
