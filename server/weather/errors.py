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
