"""A real HTTP(S) server on a local address playing a remote import source (stdlib only).

Each path answers the way a test sets it up: a body with a Content-Length, chunked, read until
the connection closes, gzip-encoded, dripped slowly, generated on the fly (a huge answer is never
held in memory), a redirect or an error status. Every request is recorded with its headers and,
over TLS, the name the client asked for (SNI), so a test can tell which server was reached and how.
"""

from __future__ import annotations

import contextlib
import gzip
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Body = bytes | Callable[[], Iterable[bytes]]


@dataclass
class Answer:
    body: Body = b""
    status: int = 200
    # "length": Content-Length; "chunked": Transfer-Encoding; "close": HTTP/1.0, ends at close.
    framing: str = "length"
    gzip: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds between chunks of the body, for a slow source.
    drip: float = 0.0


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    server_name: str | None


class ImportSource:
    def __init__(self, host: str = "127.0.0.1", *, tls: tuple[str, str] | None = None):
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        self._sni = threading.local()
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = self._record_sni
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.host, self.port = self._server.server_address[:2]
        # A short poll: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ImportSource:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def answer(self, path: str, body: Body = b"", **options) -> str:
        self.answers[path] = Answer(body, **options)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.answer(path, status=status, headers={"Location": location})

    def _record_sni(self, sock, server_name, context) -> None:
        sock.server_name_seen = server_name


def _handler(source: ImportSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            source.seen.append(
                Seen(
                    self.path, dict(self.headers.items()), getattr(self.connection, "server_name_seen", None)
                )
            )
            answer = source.answers.get(self.path, Answer(b"not here", status=404))
            # The client may stop reading midway: that is what a cap is for.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self._send(answer)

        def _send(self, answer: Answer) -> None:
            chunks = answer.body() if callable(answer.body) else [answer.body]
            if answer.gzip:
                chunks = [gzip.compress(b"".join(chunks))]
            if answer.framing == "close":
                self.protocol_version = "HTTP/1.0"
                self.close_connection = True
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.gzip:
                self.send_header("Content-Encoding", "gzip")
            if answer.framing == "length":
                chunks = [b"".join(chunks)]
                self.send_header("Content-Length", str(len(chunks[0])))
            elif answer.framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                if answer.drip:
                    time.sleep(answer.drip)
                self._write(chunk, chunked=answer.framing == "chunked")
            if answer.framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")

        def _write(self, chunk: bytes, *, chunked: bool) -> None:
            if chunked and chunk:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            elif not chunked:
                self.wfile.write(chunk)
            self.wfile.flush()

        def log_message(self, format, *args) -> None:
            pass

    return Handler
