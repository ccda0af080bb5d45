"""The benchmark's report: the machine it ran on, and its tables as Markdown."""

import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.stack.stack import TEST_APP_IMAGE


def machine() -> dict:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def image_size() -> int | None:
    if not shutil.which("docker"):
        return None
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", TEST_APP_IMAGE],
        capture_output=True,
        text=True,
    )
    return int(result.stdout) if result.returncode == 0 else None


def report(r: dict) -> str:
    m = r["machine"]
    lines = [f"F_BRAIN benchmark — {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, {m['date']}"]
    if r["refresh"]:
        lines += refresh_report(r)
    if "web" in r:
        lines += web_report(r["web"])
    if "memory" in r:
        lines += ["", f"Worker memory (2 processes, KiB): {r['memory']}"]
    if "quota" in r:
        lines += quota_report(r["quota"])
    if r.get("image_bytes"):
        lines.append(f"Runtime image: {r['image_bytes'] / 1e6:.0f} MB")
    return "\n".join(lines)


def table_head(title: str, columns: str) -> list[str]:
    """A blank line, the title, and a Markdown table's head; a column ending in ":" is right-aligned."""
    names = [column.strip() for column in columns.split(",")]
    head = " | ".join(name.rstrip(":") for name in names)
    rule = "|".join("---:" if name.endswith(":") else "---" for name in names)
    return ["", title, f"| {head} |", f"|{rule}|"]


def refresh_report(r: dict) -> list[str]:
    lines = table_head(
        "Full refresh (enqueue → last row committed, run closed)",
        "cities:, API latency:, workers:, Celery s:, cities/s:, × floor:, naive s:, naive ÷ Celery:",
    )
    for row in r["refresh"]:
        naive = f"{row['naive_s']:.1f}{'*' if row['naive_extrapolated'] else ''}"
        lines.append(
            f"| {row['cities']:,} | {row['latency_ms']} ms | {row['workers']} | {row['celery_s']:.2f} | "
            f"{row['cities'] / row['celery_s']:,.0f} | {row['celery_s'] / row['floor_s']:.2f} | {naive} | "
            f"{row['naive_s'] / row['celery_s']:.1f} |"
        )
    floors = ", ".join(f"{k.replace('@', ' cities @')} ms: {v:.2f} s" for k, v in r["floors"].items())
    lines += ["", f"Floors (one process, the same requests, one bulk upsert): {floors}"]
    growth = []
    for row in r["refresh"]:
        if row["cities"] == 10_000:
            small = next(
                x for x in r["refresh"]
                if (x["cities"], x["latency_ms"], x["workers"]) == (1000, row["latency_ms"], row["workers"])
            )  # fmt: skip
            factor = row["celery_s"] / small["celery_s"]
            growth.append(f"{row['latency_ms']} ms, {row['workers']} worker(s): {factor:.1f}")
    if growth:
        lines.append("Time for 10,000 ÷ time for 1,000 cities (10 = linear): " + "; ".join(growth))
    lines.append(
        "* naive design extrapolated linearly from a sample (100 cities in --quick; 1,000 at 50 ms)."
    )
    lines += table_head("Task overhead (no-op round trips per second)", "workers:, results, per s:")
    for row in r["overhead"]:
        lines.append(f"| {row['workers']} | {'stored' if row['stored'] else 'off'} | {row['per_s']:,.0f} |")
    floor = r["kombu_floor_per_s"]
    lines.append(f"RabbitMQ floor (kombu: publish, confirmed, then consume; one process): {floor:,.0f}/s")
    off = next(row["per_s"] for row in r["overhead"] if row["workers"] == 2 and not row["stored"])
    lines.append(f"No-op, 2 processes, results off ÷ the floor: {off / floor:.2f} (goal: at least 0.5)")
    return lines


def _load_figures(m: dict) -> str:
    """req/s, p50 and p99 of a clean run; of any other, why there are none."""
    if m["non_2xx"] or m["socket_errors"]:
        refused = f"{m['non_2xx']:,} non-2xx and {m['socket_errors']:,} socket errors"
        return f"none: {refused} of {m['requests']:,} answers | | "
    return f"{m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f}"


def _clean(*runs: dict) -> bool:
    return all(not (m["non_2xx"] or m["socket_errors"]) for m in runs)


def _queued(m: dict) -> str:
    return "" if m.get("queued") is None else f"{m['queued']:,} of {m['requests']:,}"


def web_report(web: dict) -> list[str]:
    lines = table_head(
        "Web path under load (wrk, 2 threads, 16 connections; gunicorn with 2 workers)",
        "via, endpoint, req/s:, p50 ms:, p99 ms:, tasks queued:",
    )
    for via in ("gunicorn", "nginx"):
        for endpoint, m in web[via].items():
            lines.append(f"| {via} | {endpoint} | {_load_figures(m)} | {_queued(m)} |")
    alone = web["alone"]
    lines += table_head(
        "One request per worker at a time (2 connections): a request's own time",
        "endpoint, req/s:, p50 ms:, p99 ms:, tasks queued:",
    )
    for endpoint, m in alone.items():
        lines.append(f"| {endpoint} | {_load_figures(m)} | {_queued(m)} |")
    parts = web["parts_ms"]
    lines.append(
        f"Parts alone, p50: the PENDING row's INSERT {parts['pending_insert']:.2f} ms, "
        f"a confirmed publish to a quorum queue {parts['confirmed_publish']:.2f} ms"
    )
    read, enqueue = alone["city_detail"], alone["enqueue_refresh"]
    unthrottled = alone["city_detail_unthrottled"]
    if _clean(read, unthrottled):
        cost = (read["p50_ms"] - unthrottled["p50_ms"]) / unthrottled["p50_ms"]
        lines.append(f"The throttles' cost: {cost:+.0%} of an unthrottled read's p50 (goal: at most 15 %)")
    if _clean(read, enqueue):
        floor = read["p50_ms"] + parts["pending_insert"] + parts["confirmed_publish"]
        ratio = enqueue["p50_ms"] / floor
        lines.append(f"Enqueue p50 ÷ (read p50 + INSERT + publish): {ratio:.2f} (goal: at most 1.3)")
    lines.append(f"Web memory (gunicorn, KiB) before and after the load: {web['web_rss_kib']}")
    return lines


def quota_report(r: dict) -> list[str]:
    rate, cost = r["rate"], r["cost"]["processes"]
    lines = [
        "",
        f"API budget: {rate['cities']:,} cities, limit {rate['limit']} calls per {rate['window_s']} s "
        f"window, batches of {rate['batch']}, 2 worker processes",
        f"  calls per window: {rate['calls_per_window']} (max {rate['max_calls_in_a_window']}, "
        f"429s {rate['refused_429']}); refresh took {rate['elapsed_s']} s",
        f"  rate achieved ÷ limit, full windows: mean {rate['ratio_mean']}, min {rate['ratio_min']} "
        "(goal ≥ 0.95; never above 1)",
    ]
    for processes, figures in cost.items():
        lines.append(
            f"  {processes} process(es) fetching batches of {rate['batch']} at once: reservation "
            f"{figures['reserve_ms']} ms, batch {figures['batch_ms']} ms, "
            f"budget ÷ batch {figures['share']:.2%} (goal < 5%)"
        )
    return lines
