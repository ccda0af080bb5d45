"""The API's one body format: JSON, and only JSON (a form or text body is a 415)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # Python's decoder gives up on deep nesting (a 2 KB body of 1,000 brackets) with
        # RecursionError, which REST framework does not catch: it would be a 500.
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error: the document is nested too deeply.") from None
