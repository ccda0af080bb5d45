"""Application errors: what went wrong, in words a caller can act on.

The API maps each class to an HTTP status in one place (`weather.api.errors`); tasks let them end
the task as FAILURE with the message as its readable cause.
"""


class ApplicationError(Exception):
    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    pass


class ConflictError(ApplicationError):
    pass


class InvalidInputError(ApplicationError):
    pass


class UnavailableError(ApplicationError):
    """A dependency (broker, geocoding API) cannot be reached now; trying later may work."""


class QuotaExhaustedError(ApplicationError):
    """The weather API's shared budget has no room now (or the API paused us after a 429).

    `retry_after` is the number of seconds until it may have room; `blocked_by` names what blocks:
    minute, hour, day or pause.
    """

    def __init__(self, message: str, *, retry_after: float, blocked_by: str):
        super().__init__(message, {"retry_after": round(retry_after, 1), "blocked_by": blocked_by})
        self.retry_after = retry_after
        self.blocked_by = blocked_by
