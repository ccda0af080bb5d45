"""What an import source is, how it is shown, and opening it as a capped binary stream."""

import io
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from weather.imports.download import url_chunks, url_target
from weather.imports.refusals import (
    FILE_MISSING,
    FILE_OUTSIDE,
    FILE_UNREADABLE,
    SCHEME_NOT_ALLOWED,
    TOO_LARGE,
    URL_INVALID,
    ImportRefused,
)
from weather.imports.streams import CHUNK_BYTES, ChunkReader, bytes_capped, lines_capped

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    # What is read: the URL as given (credentials and query included), or the file's absolute path.
    location: str
    # What is shown: see source_display.
    display: str
    is_url: bool


def source_check(text: str) -> Source:
    """An http(s) URL on an allowed host, or the name of a file in ETL_IMPORT_DIR. Addresses are
    checked when the source is opened, since names may resolve differently by then."""
    text = text.strip()
    try:
        scheme = urlsplit(text).scheme
    except ValueError as exc:
        raise ImportRefused(URL_INVALID, str(exc)) from exc
    if scheme in ("http", "https"):
        url_target(text)
        return Source(text, source_display(text), is_url=True)
    if scheme:
        raise ImportRefused(SCHEME_NOT_ALLOWED, f"scheme {scheme!r}")
    root = Path(settings.ETL_IMPORT_DIR).resolve()
    try:
        path = (root / text).resolve()
        if not path.is_relative_to(root):
            raise ImportRefused(FILE_OUTSIDE, text)
        if not path.is_file():
            raise ImportRefused(FILE_MISSING, text)
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise ImportRefused(FILE_MISSING, f"{type(exc).__name__}: {exc}") from exc
    return Source(str(path), path.relative_to(root).as_posix(), is_url=False)


def source_display(text: str) -> str:
    """A source as it may be shown: a URL without credentials, query or fragment; a file by its
    name in the import folder, never the server's path to it."""
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a URL that is not valid)"
    if parts.scheme in ("http", "https"):
        netloc = f"[{host}]" if host and ":" in host else host or ""
        netloc += f":{port}" if port else ""
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    root = Path(settings.ETL_IMPORT_DIR).resolve()
    path = Path(text)
    if path.is_absolute():
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return text


@contextmanager
def source_open(source: Source) -> Iterator[BinaryIO]:
    """The source's bytes, decompressed, every cap applied. A refusal raised while the caller
    reads is logged here with its detail, then passed on; its message is safe to show."""
    chunks = url_chunks(source.location) if source.is_url else _file_chunks(source.location)
    reader = io.BufferedReader(
        ChunkReader(lines_capped(chunks, limit=settings.ETL_MAX_LINE_BYTES)), CHUNK_BYTES
    )
    try:
        with reader:
            yield reader
    except ImportRefused as exc:
        logger.warning("Import from %s stopped: %s (%s)", source.display, exc.rule, exc.detail or "-")
        raise
    finally:
        chunks.close()  # the socket and the deadline's timer now, not whenever the generator is collected


def _file_chunks(path: str) -> Iterator[bytes]:
    try:
        # Not through a symbolic link swapped in since the check, and only a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ImportRefused(FILE_UNREADABLE, f"{exc.strerror}") from exc
    with open(fd, "rb", buffering=0) as fh:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ImportRefused(FILE_UNREADABLE, "not a regular file")
        if status.st_size > settings.ETL_MAX_BYTES:
            raise ImportRefused(TOO_LARGE, f"{status.st_size} bytes")
        yield from bytes_capped(iter(lambda: fh.read(CHUNK_BYTES), b""), limit=settings.ETL_MAX_BYTES)
