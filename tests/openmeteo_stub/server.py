"""A local stand-in for Open-Meteo's forecast and geocoding APIs (stdlib only).

It speaks the real formats: one location answers with an object, several with an array in request
order whose items after the first carry `location_id`; errors are `{"error": true, "reason": ...}`.
Faults are injected at run time, in process (`OpenMeteoStub.configure/script`) or over HTTP
(`POST /_stub/config`, `/_stub/script`, `/_stub/reset`; `GET /_stub/stats`), so tests, benchmarks
and a container of the Compose stack can all make it misbehave.

Run alone: `python -m tests.openmeteo_stub --port 8080`, or `python server.py ...` when this folder is
copied or mounted elsewhere (its modules import each other as files then, stdlib only). The parts:
world.py (places, weather, the answers' JSON), faults.py (configuration, scripts, statistics), and
here the HTTP server and `OpenMeteoStub`, its handle for tests.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

if __package__:
    from . import faults, world
else:  # run as a file (`python server.py`), as the Compose stack's stub container does
    import faults
    import world


class _Handler(BaseHTTPRequestHandler):
    server_version = "openmeteo-stub/1.1"
    protocol_version = "HTTP/1.1"
    state: faults.State
    quiet = True

    def log_message(self, format, *args):
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type="application/json; charset=utf-8", headers=None):
        self.state.count(urlsplit(self.path).path, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload, headers=None):
        self._send(status, world.dumps(payload), headers=headers)

    def _error(self, status: int, reason: str, headers=None):
        self._json(status, {"error": True, "reason": reason}, headers)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if parts.path == "/v1/forecast":
            self._forecast(query)
        elif parts.path == "/v1/search":
            self._search(query)
        elif parts.path == "/_stub/stats":
            self._json(200, self.state.stats())
        elif parts.path == "/_stub/health":
            self._send(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._error(404, f"No route for {parts.path}")

    def do_POST(self):
        path = urlsplit(self.path).path
        try:
            body = self._body()
            if path == "/_stub/config":
                self.state.configure(body or {})
            elif path == "/_stub/script":
                self.state.add_script(body or [])
            elif path == "/_stub/reset":
                self.state.reset()
            else:
                self._error(404, f"No route for {path}")
                return
        except (ValueError, TypeError) as exc:
            self._error(400, str(exc))
            return
        self._json(200, {"ok": True})

    def _forecast(self, query: dict) -> None:
        state = self.state
        try:
            locations = world.parse_locations(query)
            variables = world.parse_variables(query)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        config, override, rolls, entry = state.arrive(len(locations), len(variables))
        state.sleep(config["latency_ms"] / 1000)
        fault, status = faults.pick_fault(override, config, rolls)
        with state.lock:
            entry[2] = "timeout" if fault == "timeout" else status
        override = override or {}
        if fault == "timeout":
            state.sleep(float(override.get("timeout_seconds", config["timeout_seconds"])))
            state.count("/v1/forecast", "timeout")
            self.close_connection = True  # no answer at all: the client's read times out
            return
        if fault == "status":
            headers = {}
            retry_after = override.get("retry_after", config["retry_after"] if status == 429 else None)
            if retry_after is not None:
                headers["Retry-After"] = f"{float(retry_after):g}"
            self._error(status, override.get("reason") or faults.REASONS.get(status, "Error"), headers)
            return
        rejected = next(
            (loc for loc in locations if faults.rejected_location(loc, config["reject_locations"])), None
        )
        if rejected:
            self._error(400, f"Location {rejected[0]}, {rejected[1]} cannot be served")
            return

        drop = override.get("drop_location")
        if drop is None and len(locations) > 1 and rolls[2] < config["drop_location_rate"]:
            drop = int(rolls[2] / config["drop_location_rate"] * len(locations))
        if drop is not None:
            drop = int(drop) % len(locations) if len(locations) > 1 else None
        time_str = config["fixed_time"] or world.current_slot()
        body = world.forecast_body(locations, variables, time_str, drop)
        if fault == "malformed":
            body = body[: len(body) // 2]  # cut mid-stream, as a dropped connection would
        self._send(200, body)

    def _search(self, query: dict) -> None:
        try:
            count = int(query.get("count") or 10)
        except ValueError:
            self._error(400, "Parameter 'count' must be an integer")
            return
        if not 1 <= count <= 100:
            self._error(400, "Parameter 'count' must be between 1 and 100")
            return
        name = world.fold(query.get("name", ""))
        body: dict = {}
        if len(name) >= 2:
            results = [place for key, place in self.state.gazetteer if key.startswith(name)][:count]
            if results:  # Open-Meteo leaves the key out when nothing matches
                body["results"] = results
        body["generationtime_ms"] = 0.5
        self._json(200, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 256


class OpenMeteoStub:
    """The stand-in in a background thread, for tests: `with OpenMeteoStub() as stub: ...`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        gazetteer: Path | str | None = None,
        *,
        quiet: bool = True,
    ):
        self.state = faults.State(Path(gazetteer) if gazetteer else None)
        handler = type("Handler", (_Handler,), {"state": self.state, "quiet": quiet})
        self.httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def forecast_url(self) -> str:
        return f"{self.base_url}/v1/forecast"

    @property
    def geocoding_url(self) -> str:
        return f"{self.base_url}/v1/search"

    def start(self) -> OpenMeteoStub:
        """Serve from a daemon thread; returns at once."""
        self._serving = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="openmeteo-stub", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until stop() (from another thread or a signal handler)."""
        self._serving = True
        try:
            self.httpd.serve_forever(poll_interval=0.1)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and cut short any simulated latency or timeout in progress. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.state.stopping.set()
        self.state.wake.set()
        if self._serving and threading.current_thread() is not self._thread:
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def configure(self, **changes) -> None:
        """Merge configuration keys (see DEFAULT_CONFIG); ValueError on unknown keys or bad values."""
        self.state.configure(changes)

    def script(self, overrides: list[dict]) -> None:
        """Append per-request overrides, consumed one per forecast request in order."""
        self.state.add_script(overrides)

    def reset(self) -> None:
        """Configuration, script and statistics back to defaults; pending delays end at once."""
        self.state.reset()

    def stats(self) -> dict:
        return self.state.stats()

    expected_current = staticmethod(world.expected_current)

    def __enter__(self) -> OpenMeteoStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--gazetteer", default=None, help="CSV: name,country,latitude,longitude,timezone,...")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every forecast request")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    stub = OpenMeteoStub(args.host, args.port, args.gazetteer, quiet=args.quiet)
    stub.configure(latency_ms=args.latency_ms)

    def on_signal(signum, _frame):
        sys.stderr.write(f"openmeteo-stub: {signal.Signals(signum).name}, stopping\n")
        # shutdown() waits for serve_forever(), which runs in this (the main) thread.
        threading.Thread(target=stub.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(
        f"openmeteo-stub listening on {stub.base_url} ({len(stub.state.gazetteer)} places in the gazetteer)\n"
    )
    sys.stderr.flush()
    stub.serve_forever()
    sys.stderr.write("openmeteo-stub stopped\n")


if __name__ == "__main__":
    main()
