"""Reading a source within its caps: every way an HTTP answer may be framed or encoded, the byte,
decompressed, line and time caps with this process's memory measured, errors that name the rule
and nothing the source said, sources shown without secrets, and files in the import folder."""

import gzip
import logging
import socket
import threading
import zlib
from pathlib import Path

import pytest

from tests.fast.imports.conftest import OUTSIDE, PeakMemory, read, refusal
from weather.imports.refusals import (
    CUT_OFF,
    ENCODING_NOT_SUPPORTED,
    FILE_MISSING,
    FILE_OUTSIDE,
    LINE_TOO_LONG,
    NOT_DECOMPRESSIBLE,
    NOT_OK,
    TOO_LARGE,
    TOO_LARGE_DECOMPRESSED,
    TOO_SLOW,
    UNREACHABLE,
    ImportRefused,
)
from weather.imports.sources import source_check, source_display, source_open

ROWS = b"name,latitude,longitude\n" + b"".join(
    b"City %d,%d.5,%d.25\n" % (i, i % 90, i % 180) for i in range(5000)
)
MIB = 2**20


def repeated(piece: bytes, total: int):
    """A body generated on the fly: the server never holds more than one piece."""

    def chunks():
        for _ in range(total // len(piece)):
            yield piece

    return chunks


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """400 MiB of short CSV-like lines in about 400 KB: one gzip member of 1 MiB, 400 times over
    (a reader must take concatenated members as one stream, so this is as good as one member)."""
    return gzip.compress(b"0,0,0\n" * (MIB // 6)) * 400


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("compressed", [False, True])
def test_an_answer_is_read_whole_however_it_is_framed(source, framing, compressed):
    # A Content-Length answer used to fail once fully read ("I/O operation on closed file").
    assert read(source.answer("/rows.csv", ROWS, framing=framing, gzip=compressed)) == ROWS


def test_deflate_and_concatenated_gzip_members_are_decoded(source):
    deflated = source.answer("/deflate.csv", zlib.compress(ROWS), headers={"Content-Encoding": "deflate"})
    assert read(deflated) == ROWS
    members = gzip.compress(ROWS[:1000]) + gzip.compress(ROWS[1000:])
    assert read(source.answer("/members.csv", members, headers={"Content-Encoding": "gzip"})) == ROWS


def test_an_encoding_it_cannot_decode_or_broken_gzip_is_refused(source):
    brotli = source.answer("/a.csv", b"\x0b\x02\x80", headers={"Content-Encoding": "br"})
    assert refusal(brotli) == ENCODING_NOT_SUPPORTED
    broken = source.answer("/b.csv", b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert refusal(broken) == NOT_DECOMPRESSIBLE
    cut = source.answer("/c.csv", gzip.compress(ROWS)[:-100], headers={"Content-Encoding": "gzip"})
    assert refusal(cut) == NOT_DECOMPRESSIBLE


def test_a_content_length_over_the_cap_is_refused_before_reading(rules, source):
    rules.ETL_MAX_BYTES = 10_000
    assert refusal(source.answer("/big.csv", ROWS)) == TOO_LARGE


def test_a_chunked_answer_over_the_cap_is_cut_at_the_cap(rules, source):
    rules.ETL_MAX_BYTES = 10_000
    assert (
        refusal(source.answer("/big.csv", repeated(b"1,2,3\n" * 1000, 50_000), framing="chunked"))
        == TOO_LARGE
    )


def test_a_gzip_bomb_stops_at_the_decompressed_cap_in_bounded_memory(rules, source, gzip_bomb):
    rules.ETL_MAX_BYTES = 8 * MIB
    rules.ETL_MAX_DECOMPRESSED_BYTES = 64 * MIB
    url = source.answer("/bomb.csv", gzip_bomb, headers={"Content-Encoding": "gzip"})
    with PeakMemory() as memory:
        assert refusal(url) == TOO_LARGE_DECOMPRESSED
    assert memory.growth_mib < 32, f"peak grew by {memory.growth_mib:.0f} MiB"


def test_a_200_mb_single_line_stops_at_the_line_cap_in_bounded_memory(source):
    url = source.answer("/line.csv", repeated(b"x" * 65536, 200 * MIB), framing="close")
    with PeakMemory() as memory:
        assert refusal(url) == LINE_TOO_LONG
    assert memory.growth_mib < 32, f"peak grew by {memory.growth_mib:.0f} MiB"


def test_the_line_cap_counts_a_quoted_field_with_newlines_as_one_record(rules, source):
    rules.ETL_MAX_LINE_BYTES = 1000
    fits = b'name,note\nA,"' + b"x\n" * 400 + b'"\nB,"say ""hi"""\n'
    assert read(source.answer("/fits.csv", fits)) == fits
    too_long = b'name,note\nA,"' + b"x\n" * 600 + b'"\n'
    assert refusal(source.answer("/long.csv", too_long)) == LINE_TOO_LONG


def test_a_line_just_at_the_cap_is_read_and_one_byte_more_is_refused(rules, source):
    rules.ETL_MAX_LINE_BYTES = 1000
    at_cap = b"h\n" + b"y" * 1000 + b"\n" + b"z" * 1000
    assert read(source.answer("/at.csv", at_cap, framing="chunked")) == at_cap
    assert refusal(source.answer("/over.csv", b"h\n" + b"y" * 1001 + b"\n")) == LINE_TOO_LONG


def test_a_slow_drip_source_is_cut_at_the_deadline(rules, source):
    # One small chunk every 0.2 s never trips a read timeout; only the total deadline stops it.
    rules.ETL_MAX_SECONDS = 1.0
    url = source.answer("/drip.csv", repeated(b"1,2,3\n", 6 * 100), framing="chunked", drip=0.2)
    assert refusal(url) == TOO_SLOW


def test_a_source_that_never_answers_is_cut_at_the_deadline(rules):
    rules.ETL_MAX_SECONDS = 1.0
    with socket.create_server((OUTSIDE, 0)) as silent:  # accepts, reads nothing, says nothing
        assert refusal(f"http://{OUTSIDE}:{silent.getsockname()[1]}/a.csv") == TOO_SLOW


def test_an_error_status_names_the_rule_and_logs_the_detail(source, caplog):
    url = source.answer("/secret.csv", b"internal token=abc123", status=500)
    with caplog.at_level(logging.WARNING, logger="weather.imports.sources"):
        assert refusal(url) == NOT_OK
    assert "HTTP 500" in caplog.text
    assert "abc123" not in caplog.text


def test_a_refused_connection_shows_the_rule_not_the_error(rules, caplog):
    with socket.create_server((OUTSIDE, 0)) as closed:
        port = closed.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="weather.imports.sources"):
        assert refusal(f"http://{OUTSIDE}:{port}/a.csv") == UNREACHABLE
    assert "Connection refused" in caplog.text


@pytest.mark.parametrize(
    ("banner", "rule"),
    [(b"SSH-2.0-OpenSSH_9.6 internal-db-7\r\n", UNREACHABLE), (b"", UNREACHABLE),
     (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nname,lat\r\n", CUT_OFF),
     (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nname,lat\n\r\n", CUT_OFF)],
)  # fmt: skip
def test_a_bad_or_broken_answer_shows_the_rule_not_what_was_said(rules, banner, rule):
    with socket.create_server((OUTSIDE, 0)) as server:
        threading.Thread(target=_say_and_hang_up, args=(server, banner), daemon=True).start()
        with pytest.raises(ImportRefused) as caught:
            read(f"http://{OUTSIDE}:{server.getsockname()[1]}/a.csv")
    assert str(caught.value) == rule
    assert b"internal" not in str(caught.value).encode()


def _say_and_hang_up(server: socket.socket, banner: bytes) -> None:
    conn, _ = server.accept()
    with conn:
        conn.recv(65536)
        conn.sendall(banner)


@pytest.mark.parametrize(
    ("source", "shown"),
    [("https://user:pa55@data.example.org/x/cities.csv?token=abc#frag", "https://data.example.org/x/cities.csv"),
     ("http://DATA.example.org:8080/c.csv?sig=1", "http://data.example.org:8080/c.csv"),
     ("http://[2001:db8::1]:81/c.csv?k=v", "http://[2001:db8::1]:81/c.csv"),
     ("http://[::1/x", "(a URL that is not valid)"),
     ("cities.csv", "cities.csv"),
     ("/srv/elsewhere/secret/cities.csv", "cities.csv")],
)  # fmt: skip
def test_a_source_is_shown_without_credentials_query_or_server_path(source, shown):
    assert source_display(source) == shown


def test_a_file_is_shown_by_its_name_in_the_import_folder(settings):
    folder = Path(settings.ETL_IMPORT_DIR)
    (folder / "2026").mkdir(exist_ok=True)
    (folder / "2026" / "nov.csv").write_bytes(b"name,latitude,longitude\n")
    checked = source_check("2026/nov.csv")
    assert checked.display == "2026/nov.csv"
    assert source_display(checked.location) == "2026/nov.csv"
    assert str(folder) not in checked.display


@pytest.mark.parametrize(
    ("name", "rule"),
    [("../../etc/passwd", FILE_OUTSIDE), ("/etc/passwd", FILE_OUTSIDE), ("x" * 2000 + ".csv", FILE_MISSING),
     ("a\x00.csv", FILE_MISSING), ("missing.csv", FILE_MISSING), ("link-out.csv", FILE_OUTSIDE)],
)  # fmt: skip
def test_a_file_source_must_be_a_file_in_the_import_folder(settings, name, rule):
    link = Path(settings.ETL_IMPORT_DIR) / "link-out.csv"
    if not link.is_symlink():
        link.symlink_to("/etc/hostname")
    with pytest.raises(ImportRefused) as caught:
        source_check(name)
    assert str(caught.value) == rule


def test_a_file_source_has_the_same_byte_and_line_caps(settings):
    folder = Path(settings.ETL_IMPORT_DIR)
    (folder / "rows.csv").write_bytes(ROWS)
    (folder / "line.csv").write_bytes(b"name\n" + b"x" * 20_000 + b"\n")
    assert read("rows.csv") == ROWS
    assert refusal("line.csv") == LINE_TOO_LONG
    settings.ETL_MAX_BYTES = 10_000
    assert refusal("rows.csv") == TOO_LARGE


def test_a_refused_source_hands_the_reader_nothing_past_the_cap(rules, source):
    # What was read before a cap is the caller's to drop; nothing past it is ever handed over.
    rules.ETL_MAX_BYTES = 50_000
    url = source.answer("/big.csv", repeated(b"1,2\n" * 1000, 200_000), framing="chunked")
    got = bytearray()
    with pytest.raises(ImportRefused), source_open(source_check(url)) as stream:
        while chunk := stream.read(4096):
            got += chunk
    assert len(got) <= 50_000
