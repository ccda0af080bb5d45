"""Fetching a URL source from a checked address, within ETL_MAX_SECONDS.

Each hop is checked on its own (scheme, ETL_URL_ALLOWED_HOSTS, every resolved address) and the
socket is connected to an address that was checked; the request then carries the URL's name in
its Host header and in TLS's SNI, and the certificate must match that name. A redirect is a new
hop, checked again, at most ETL_MAX_REDIRECTS times.

The deadline is a watchdog, not a read timeout: a source that sends a byte a second never trips a
per-read timeout, so at the deadline a timer shuts the socket down, whatever is reading it.
"""

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

from django.conf import settings

from weather.imports import addresses
from weather.imports.refusals import (
    CUT_OFF,
    ENCODING_NOT_SUPPORTED,
    NOT_OK,
    SCHEME_NOT_ALLOWED,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    TOO_SLOW,
    UNREACHABLE,
    URL_IMPORTS_OFF,
    URL_INVALID,
    ImportRefused,
)
from weather.imports.streams import CHUNK_BYTES, bytes_capped, gunzipped_capped

# No single connect or read waits longer than this, even while the deadline is further away.
CONNECT_SECONDS = 10.0
IDLE_SECONDS = 30.0
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "F_BRAIN-import/1"
# Characters left as they are in a request path: RFC 3986's reserved and unreserved ones, and `%`
# so that what the source's owner escaped stays escaped.
_PATH_SAFE = "/?#[]@!$&'()*+,;=:-._~%"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    authorization: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def url_target(url: str) -> Target:
    """Parse a URL and apply the rules that need no network: syntax, scheme, allowed host."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ImportRefused(URL_INVALID, "whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise ImportRefused(URL_INVALID, str(exc)) from exc
    if parts.scheme not in DEFAULT_PORTS:
        raise ImportRefused(SCHEME_NOT_ALLOWED, f"scheme {parts.scheme!r}")
    if not host:
        raise ImportRefused(URL_INVALID, "no host")
    if not settings.ETL_URL_ALLOWED_HOSTS:
        raise ImportRefused(URL_IMPORTS_OFF)
    host = _host_ascii(host)
    addresses.host_check(host)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    authorization = ""
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return Target(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], path, authorization)


def _host_ascii(host: str) -> str:
    host = host.rstrip(".")
    if ":" in host:  # an IPv6 literal
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ImportRefused(URL_INVALID, f"host {host!r}: {exc}") from exc


class Deadline:
    """ETL_MAX_SECONDS for a whole download. At the deadline a timer shuts the watched socket down
    (through a duplicate of its descriptor, so a closed and reused descriptor is never touched)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._expired = False
        self._lock = threading.Lock()
        self._watched: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def check(self) -> None:
        if self._expired or time.monotonic() >= self._at:
            raise ImportRefused(TOO_SLOW, f"over {self.seconds:g} s")

    def timeout(self, longest: float) -> float:
        self.check()
        return min(longest, self._at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._release()
            self._watched = sock.dup()
            if self._expired:
                self._shutdown()

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._release()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._watched is not None:
            # Already closed by the other side is as good.
            with contextlib.suppress(OSError):
                self._watched.shutdown(socket.SHUT_RDWR)

    def _release(self) -> None:
        if self._watched is not None:
            self._watched.close()
            self._watched = None


def url_chunks(url: str) -> Iterator[bytes]:
    """The body of a URL source as chunks, after checked redirects, decompressed and capped."""
    deadline = Deadline(settings.ETL_MAX_SECONDS)
    try:
        response = _response_following_redirects(url, deadline)
        with response:
            yield from _body(response, deadline)
    finally:
        deadline.close()


def _response_following_redirects(url: str, deadline: Deadline) -> http.client.HTTPResponse:
    first = url_target(url)
    for _hop in range(settings.ETL_MAX_REDIRECTS + 1):
        target = url_target(url)
        # Credentials go only to the origin they were written for, never to where it redirects.
        authorization = target.authorization or (first.authorization if target.origin == first.origin else "")
        response = _request(target, authorization, deadline)
        if response.status not in REDIRECT_STATUSES:
            if response.status != 200:
                response.close()
                raise ImportRefused(NOT_OK, f"HTTP {response.status} {response.reason}")
            return response
        location = response.getheader("Location", "").strip()
        response.close()
        if not location:
            raise ImportRefused(NOT_OK, f"HTTP {response.status} without a Location")
        url = urljoin(url, location)
    raise ImportRefused(TOO_MANY_REDIRECTS, f"more than {settings.ETL_MAX_REDIRECTS}")


def _request(target: Target, authorization: str, deadline: Deadline) -> http.client.HTTPResponse:
    checked = addresses.addresses_check(target.host, target.port)
    sock = _connect(checked, deadline)
    try:
        deadline.watch(sock)
        sock.settimeout(deadline.timeout(IDLE_SECONDS))
        if target.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        # The connection only writes the request and parses the answer: its socket is ours already.
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = sock
        connection.putrequest("GET", target.path, skip_host=True, skip_accept_encoding=True)
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": "text/csv, text/plain;q=0.9, */*;q=0.1",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "close",
        }
        if authorization:
            headers["Authorization"] = authorization
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        sock.close()
        deadline.check()
        raise ImportRefused(UNREACHABLE, f"{target.host}:{target.port}: {type(exc).__name__}: {exc}") from exc
    except ImportRefused:
        sock.close()
        raise


def _connect(checked: list[addresses.CheckedAddress], deadline: Deadline) -> socket.socket:
    failures = []
    for address in checked:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.timeout(CONNECT_SECONDS))
            sock.connect(address.sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            failures.append(f"{address.ip}: {exc}")
    raise ImportRefused(UNREACHABLE, "; ".join(failures))


def _body(response: http.client.HTTPResponse, deadline: Deadline) -> Iterator[bytes]:
    length = response.getheader("Content-Length")
    if length and length.strip().isdigit() and int(length) > settings.ETL_MAX_BYTES:
        raise ImportRefused(TOO_LARGE, f"Content-Length {length}")
    encoding = response.getheader("Content-Encoding", "identity").strip().lower()
    raw = bytes_capped(_raw_chunks(response, deadline), limit=settings.ETL_MAX_BYTES)
    if encoding in ("gzip", "x-gzip", "deflate"):
        return gunzipped_capped(raw, limit=settings.ETL_MAX_DECOMPRESSED_BYTES)
    if encoding in ("", "identity"):
        return raw
    raise ImportRefused(ENCODING_NOT_SUPPORTED, f"Content-Encoding {encoding!r}")


def _raw_chunks(response: http.client.HTTPResponse, deadline: Deadline) -> Iterator[bytes]:
    while True:
        deadline.check()
        try:
            chunk = response.read1(CHUNK_BYTES)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: a bad chunk size
            # A read the watchdog cut short is the deadline's doing, not the source's.
            deadline.check()
            raise ImportRefused(CUT_OFF, f"{type(exc).__name__}: {exc}") from exc
        # An answer read until the connection closes would look complete when the watchdog closed it.
        deadline.check()
        if chunk:
            yield chunk
        elif response.length:  # http.client ends a short Content-Length body quietly
            raise ImportRefused(CUT_OFF, f"{response.length} bytes short of its Content-Length")
        else:
            return
