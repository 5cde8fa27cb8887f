"""The API's one JSON parser (DRF `DEFAULT_PARSER_CLASSES`).

A body nested deeper than any request of the contract needs is refused as malformed JSON
(400) before a serializer sees it: otherwise a few kilobytes of `[[[[…` exhaust Python's
recursion limit in the decoder, or later in whatever walks the document, and the client
gets a 500.
"""

from rest_framework import exceptions, parsers

# The deepest request of the contract is an object of lists of objects (a few levels);
# this leaves room for additions and none for abuse.
MAX_DEPTH = 32


def _depth(document) -> int:
    """How deeply arrays and objects nest in a decoded document (iterative: it cannot
    overflow the stack it is there to protect)."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    too_deep = f"The JSON document is nested more than {MAX_DEPTH} levels deep."

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(self.too_deep) from None
        if _depth(document) > MAX_DEPTH:
            raise exceptions.ParseError(self.too_deep)
        return document
