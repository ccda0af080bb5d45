"""The API's one body format: JSON, and only JSON (a form or text body is a 415)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request body of this API nests beyond a few levels. Deeper documents are refused here, where
# the depth is counted, rather than by the decoder: Python 3.11's gave up with RecursionError near
# 1,000 levels, 3.13's goes much deeper, and a serializer would then see an odd shape instead.
MAX_JSON_DEPTH = 32
_NESTED_TOO_DEEPLY = "JSON parse error: the document is nested too deeply."


def _depth(document) -> int:
    """How deeply lists and objects nest in a decoded document (walked without recursion)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        pending.extend((child, depth + 1) for child in value)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # A decoder that does give up on deep nesting raises RecursionError, which REST framework
        # does not catch: it would be a 500.
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_NESTED_TOO_DEEPLY) from None
        if _depth(document) > MAX_JSON_DEPTH:
            raise ParseError(_NESTED_TOO_DEEPLY)
        return document
