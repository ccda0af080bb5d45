"""gunicorn's own lines (start-up, worker timeouts, the access log) in the project's format.

start-web names this class (--logger-class). Its error and access loggers hand their lines to the
root logger, configured from settings.LOGGING as in any other process, and each access line has its
fields (method, path, status, duration, the request id Django answered with) as JSON fields rather
than in a format string.
"""

import os

from gunicorn.glogging import Logger

from logs.config import configure


class StructuredLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server_config.settings")
        from django.conf import settings

        configure(settings.LOGGING)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(None, 1)[0]
        headers = {name.lower(): value for name, value in resp.headers}
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "-")
        duration_ms = round(request_time.total_seconds() * 1000, 1)
        fields = {
            "method": method,
            "path": path,
            "status": int(status) if status.isdigit() else status,
            "duration_ms": duration_ms,
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
        }
        # Django's answer carries the request's id (logs/middleware.py); an answer gunicorn made
        # itself has none.
        if headers.get("x-request-id"):
            fields["request_id"] = headers["x-request-id"]
        self.access_log.info("%s %s %s %.1f ms", method, path, status, duration_ms, extra=fields)
