"""OpenAPI: the Bearer scheme, the strict text fields and the problem+json error responses of
every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension

from retailops.problems import PROBLEM_CONTENT_TYPE


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A partner or staff API token."}


class TextFieldSchema(OpenApiSerializerFieldExtension):
    """A strict text field's schema states the lengths it enforces."""

    target_class = "retailops.fields.TextField"

    def map_serializer_field(self, auto_schema, direction):
        schema = {"type": "string", "maxLength": self.target.max_length}
        if not self.target.allow_blank:
            schema["minLength"] = 1
        return schema


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem. `code` is stable within v1; other members may be added.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "example": "insufficient_stock"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string", "nullable": True, "example": "lines[0].quantity"},
                    "code": {"type": "string", "example": "min_value"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

_COMMON = {
    "400": "Bad input: malformed JSON, wrong types, unknown codes (see `code`).",
    "401": "No token, or a token that is not valid.",
    "403": "The token or role lacks the scope or permission, or the object is outside its scope.",
    "429": "Throttled; retry after `Retry-After` seconds.",
}
_BUSY = "The data is busy (`lock_timeout`); retry after `Retry-After` seconds."
_BY_METHOD = {
    "post": {
        "409": "Conflicts with the current state, or the Idempotency-Key is in use.",
        "422": "The Idempotency-Key was used with a different request.",
        "503": _BUSY,
    },
    "put": {"503": _BUSY},
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: document the problem responses every operation can give."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            wanted = dict(_COMMON)
            if "{" in path:
                wanted["404"] = "No such object, or it is outside the caller's scope."
            wanted.update(_BY_METHOD.get(method, {}))
            for status, description in wanted.items():
                response = {"description": description, "content": ref}
                if status in {"429", "503"}:
                    response["headers"] = _RETRY_AFTER
                responses.setdefault(status, response)
    return result
