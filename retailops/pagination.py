"""List pagination: `{"results": [...], "next": url | null}`, by cursor.

A cursor stays correct while rows are inserted between pages and costs the same on page
one and page one thousand, which matters for queues of 100,000 cases.

A cursor is opaque to clients but not tamper-proof: one the list did not give out (not
base64, a negative offset, a position its ordering column cannot hold) is a 400
`invalid_cursor` before any query runs, as is a `limit` that is not a positive integer.
"""

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination
from rest_framework.response import Response


class CursorPagination(pagination.CursorPagination):
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "-id"
    invalid_cursor_message = "This cursor was not given out by this list; start again without it."

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and int(raw) > 0):
            raise exceptions.ValidationError(
                {self.page_size_query_param: [exceptions.ErrorDetail("Must be a positive integer.", code="invalid")]})
        return min(int(raw), self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # decode_cursor checks the position against its ordering column
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or self._holds(cursor.position)
        if not valid:
            raise exceptions.ValidationError(
                {self.cursor_query_param: [exceptions.ErrorDetail(self.invalid_cursor_message, code="invalid_cursor")]})
        return cursor

    def _holds(self, position: str) -> bool:
        """Whether the ordering column can hold `position` (no NUL, the right type)."""
        if "\x00" in position:
            return False
        try:
            self.model._meta.get_field(self.ordering[0].lstrip("-")).to_python(position)
        except FieldDoesNotExist:  # an ordering across a relation: its lookup checks the value
            return True
        except DjangoValidationError:
            return False
        return True

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters
