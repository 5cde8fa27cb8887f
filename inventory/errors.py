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


class InvalidReason(InvalidInput):
    code = "invalid_reason"


class StaleQuantity(DomainError):
    """The level is not what the caller (or the approved adjustment) expected."""

    status = 409
    code = "stale_quantity"
    title = "The on-hand quantity is not the one expected."


class SelfApproval(DomainError):
    status = 403
    code = "self_approval"
    title = "Nobody approves or rejects their own adjustment."


class NotAnApprover(DomainError):
    status = 403
    code = "not_an_approver"
    title = "Only finance approves or rejects adjustments."


class DuplicateApprover(DomainError):
    status = 403
    code = "duplicate_approver"
    title = "The second approval must come from a different finance approver."


class OccurredInFuture(InvalidInput):
    """A time ahead of the clock given for something that happened (see `inventory.ledger`)."""

    code = "occurred_in_future"
