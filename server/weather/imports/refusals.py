"""The rules that stop an import source, worded for whoever started the import.

The message of an `ImportRefused` names the rule and nothing the source sent or the network said:
no content, no status line, no connection error. Those go to the log as `detail`.
"""

URL_IMPORTS_OFF = "URL imports are off: ETL_URL_ALLOWED_HOSTS is empty"
URL_INVALID = "source URL is not valid"
SCHEME_NOT_ALLOWED = "source scheme is not allowed: only http and https"
HOST_NOT_ALLOWED = "source host is not allowed: it is not in ETL_URL_ALLOWED_HOSTS"
HOST_UNRESOLVED = "source host name does not resolve"
# Completed by the kind of address: "source address is loopback", "... is private", ...
ADDRESS_NOT_PUBLIC = "source address is {kind}"
UNREACHABLE = "source cannot be reached"
CUT_OFF = "source answer was cut off before its end"
NOT_OK = "source did not answer 200 OK"
TOO_MANY_REDIRECTS = "source redirected more than ETL_MAX_REDIRECTS times"
ENCODING_NOT_SUPPORTED = "source content encoding is not supported: only gzip and deflate"
NOT_DECOMPRESSIBLE = "source is not valid compressed data"
TOO_LARGE = "source is larger than ETL_MAX_BYTES"
TOO_LARGE_DECOMPRESSED = "source is larger than ETL_MAX_DECOMPRESSED_BYTES once decompressed"
LINE_TOO_LONG = "a line of the source is longer than ETL_MAX_LINE_BYTES"
TOO_SLOW = "source took longer than ETL_MAX_SECONDS"
FILE_MISSING = "no such file in the import folder"
FILE_OUTSIDE = "source is outside the import folder"
FILE_UNREADABLE = "source file cannot be read"


class ImportRefused(Exception):
    """A source stopped by a rule. str() is the rule, safe to show; `detail` is for the log only."""

    def __init__(self, rule: str, detail: str = ""):
        super().__init__(rule)
        self.rule = rule
        self.detail = detail
