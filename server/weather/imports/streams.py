"""Byte streams with caps: what a source yields passes through these before anyone parses it.

Each stage is a generator of byte chunks that raises `ImportRefused` the moment a cap is passed, so
nothing beyond a cap is ever held in memory: a gzip bomb stops at ETL_MAX_DECOMPRESSED_BYTES, a
200 MB line at ETL_MAX_LINE_BYTES, long before either reaches the CSV parser.
"""

import io
import zlib
from collections.abc import Iterable, Iterator

from weather.imports.refusals import (
    LINE_TOO_LONG,
    NOT_DECOMPRESSIBLE,
    TOO_LARGE,
    TOO_LARGE_DECOMPRESSED,
    ImportRefused,
)

CHUNK_BYTES = 64 * 1024
# gzip or zlib header, detected from the data: HTTP's "deflate" is zlib-wrapped.
_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32


def bytes_capped(chunks: Iterable[bytes], *, limit: int, rule: str = TOO_LARGE) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ImportRefused(rule, f"more than {limit} bytes")
        yield chunk


def gunzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress gzip or zlib data, never more than CHUNK_BYTES at a time."""
    decompressor = zlib.decompressobj(_GZIP_OR_ZLIB)
    for chunk in chunks:
        data = chunk
        while data:
            try:
                out = decompressor.decompress(data, CHUNK_BYTES)
            except zlib.error as exc:
                raise ImportRefused(NOT_DECOMPRESSIBLE, str(exc)) from exc
            data = decompressor.unconsumed_tail
            if decompressor.eof and decompressor.unused_data:
                # Concatenated gzip members are one stream (RFC 1952); start on the next one.
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(_GZIP_OR_ZLIB)
            if out:
                yield out
    if not decompressor.eof:
        raise ImportRefused(NOT_DECOMPRESSIBLE, "the compressed data ends early")


def gunzipped_capped(chunks: Iterable[bytes], *, limit: int) -> Iterator[bytes]:
    return bytes_capped(gunzipped(chunks), limit=limit, rule=TOO_LARGE_DECOMPRESSED)


class LineGuard:
    """Refuses a CSV record longer than the cap. A newline inside a quoted field does not end the
    record (the CSV reader keeps reading it), so quotes are followed: `""` toggles twice, which
    leaves the state right for escaped quotes as well."""

    def __init__(self, limit: int):
        self.limit = limit
        self.length = 0
        self.quoted = False

    def feed(self, chunk: bytes) -> None:
        if not self.quoted and b'"' not in chunk:
            self._unquoted(chunk)
            return
        for index, part in enumerate(chunk.split(b'"')):
            if index:
                self.quoted = not self.quoted
                self.length += 1
            if self.quoted:
                self.length += len(part)
                self._check(self.length)
            else:
                self._unquoted(part)

    def _unquoted(self, data: bytes) -> None:
        first = data.find(b"\n")
        if first < 0:
            self.length += len(data)
            self._check(self.length)
            return
        self._check(self.length + first)
        last = data.rfind(b"\n")
        if last - first > self.limit:
            self._check(max(map(len, data[first + 1 : last].split(b"\n"))))
        self.length = len(data) - last - 1
        self._check(self.length)

    def _check(self, length: int) -> None:
        if length > self.limit:
            raise ImportRefused(LINE_TOO_LONG, f"a line passed {self.limit} bytes")


def lines_capped(chunks: Iterable[bytes], *, limit: int) -> Iterator[bytes]:
    guard = LineGuard(limit)
    for chunk in chunks:
        guard.feed(chunk)
        yield chunk


class ChunkReader(io.RawIOBase):
    """A readable binary file over a generator of chunks, for io.BufferedReader and TextIOWrapper.
    It stays open until closed, however much was read (a stream that closes itself once drained
    is what broke URL imports with a Content-Length)."""

    def __init__(self, chunks: Iterator[bytes]):
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if close:
                close()
        super().close()
