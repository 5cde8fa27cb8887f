"""Inventory's domain errors, each with a stable API code."""

from retailops.errors import DomainError, InvalidInput


class InsufficientStock(DomainError):
    status = 409
    code = "insufficient_stock"
    title = "Not enough stock is available."


class BucketWouldGoNegative(DomainError):
    status = 409
    code = "insufficient_stock"
    title = "The change would take a stock bucket below zero."


class UnknownSku(InvalidInput):
    code = "unknown_sku"


class UnknownLocation(InvalidInput):
    code = "unknown_location"


class UnknownChannel(InvalidInput):
    code = "unknown_channel"


class LocationOutOfScope(DomainError):
    status = 403
    code = "location_out_of_scope"
    title = "The location is outside the caller's location scope."
