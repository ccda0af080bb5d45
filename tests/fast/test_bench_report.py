"""`make bench`'s web table (bench/report.py) prints no latency and no ratio from a run in which
any answer was not 2xx: those figures would time 429s or errors, not the work."""

import sys

from bench.report import web_report


def test_the_report_loads_without_the_benchmarks_environment():
    # bench/processes.py sets the benchmark's settings in os.environ on import; here they would reach
    # the fast tier's worker, which inherits this process's environment.
    assert "bench.processes" not in sys.modules


def load(p50: float, *, non_2xx: int = 0, socket_errors: int = 0, queued: int | None = None) -> dict:
    return {
        "requests": 1000, "rps": 300.0, "p50_ms": p50, "p99_ms": p50 * 3,
        "non_2xx": non_2xx, "socket_errors": socket_errors, "queued": queued,
    }  # fmt: skip


def web(**alone_overrides) -> dict:
    alone = {
        "city_detail": load(5.0),
        "enqueue_refresh": load(9.0, queued=1000),
        "city_detail_unthrottled": load(4.5),
        **alone_overrides,
    }
    under_load = {"city_detail": load(40.0), "enqueue_refresh": load(80.0, queued=1000)}
    return {
        "gunicorn": {"healthz": load(10.0), **under_load},
        "nginx": under_load,
        "alone": alone,
        "parts_ms": {"pending_insert": 0.5, "confirmed_publish": 1.5},
        "web_rss_kib": {"before": 1, "after": 2},
    }


def test_clean_runs_give_their_latencies_and_both_ratios():
    text = "\n".join(web_report(web()))
    assert "| city_detail | 300 | 5.00 | 15.00 |  |" in text
    assert "The throttles' cost: +11% of an unthrottled read's p50" in text
    assert "Enqueue p50 ÷ (read p50 + INSERT + publish): 1.29" in text


def test_a_run_with_refused_answers_shows_no_figure_and_no_ratio_built_on_it():
    text = "\n".join(web_report(web(enqueue_refresh=load(9.0, non_2xx=37, queued=963))))
    assert "| enqueue_refresh | none: 37 non-2xx and 0 socket errors of 1,000 answers |" in text
    assert "9.00" not in text and "Enqueue p50 ÷" not in text
    assert "The throttles' cost" in text  # its two runs were clean


def test_socket_errors_void_a_run_too():
    text = "\n".join(web_report(web(city_detail_unthrottled=load(4.5, socket_errors=2))))
    assert "none: 0 non-2xx and 2 socket errors" in text and "The throttles' cost" not in text
