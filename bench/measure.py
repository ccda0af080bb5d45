"""What the benchmark measures on the pipeline: full refreshes, task overhead, worker memory."""

import time
import uuid

from bench.processes import rss_kib, seed_cities
from tests.polling import wait_for

# --- 1. full refresh ----------------------------------------------------------------------------


def refresh_floor(city_ids: list[int]) -> float:
    """The same requests and one bulk upsert, in this process, with no Celery."""
    from django.conf import settings
    from django.utils import timezone

    from weather.models import City, WeatherData
    from weather.openmeteo import LocationFailure, OpenMeteoClient
    from weather.services.observations import observation_from_current, observations_upsert

    WeatherData.objects.all().delete()
    client = OpenMeteoClient(
        forecast_url=settings.WEATHER_API_URL, geocoding_url=settings.GEOCODING_API_URL, timeout=10
    )
    started = time.perf_counter()
    cities = list(City.objects.filter(id__in=city_ids).order_by("id").only("id", "latitude", "longitude"))
    rows = []
    for i in range(0, len(cities), settings.WEATHER_BATCH_SIZE):
        batch = cities[i : i + settings.WEATHER_BATCH_SIZE]
        answers = client.fetch_current([(c.latitude, c.longitude) for c in batch])
        now = timezone.now()
        rows += [
            observation_from_current(city_id=c.id, current=a, fetched_at=now)
            for c, a in zip(batch, answers, strict=True)
            if not isinstance(a, LocationFailure)
        ]
    observations_upsert(rows)
    elapsed = time.perf_counter() - started
    assert WeatherData.objects.count() == len(city_ids)
    return elapsed


def refresh_celery(city_ids: list[int]) -> float:
    """The product: enqueue a full refresh, until the last row is committed and the run closed."""
    from weather.models import PipelineRun, WeatherData
    from weather.workflows import refresh_run_enqueue

    WeatherData.objects.all().delete()
    started = time.time()
    run = refresh_run_enqueue()
    run = wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        timeout=900,
    )
    assert run.cities_ok == len(city_ids), (run.state, run.cities_ok, run.error_summary)
    return run.finished_at.timestamp() - started


def refresh_naive(city_ids: list[int]) -> float:
    """The seed's design: a task, a request and an INSERT per city."""
    from bench.naive import fetch_one_naive
    from weather.models import WeatherData

    WeatherData.objects.all().delete()
    started = time.perf_counter()
    for city_id in city_ids:
        fetch_one_naive.delay(city_id)
    wait_for(lambda: WeatherData.objects.count() >= len(city_ids), timeout=1800, interval=0.2)
    return time.perf_counter() - started


# --- 2. task overhead ---------------------------------------------------------------------------


def noop_round_trips(count: int, *, stored: bool) -> float:
    from django_celery_results.models import TaskResult

    from bench.naive import noop, noop_unstored

    TaskResult.objects.all().delete()
    started = time.perf_counter()
    task = noop if stored else noop_unstored
    for _ in range(count):
        task.delay()
    # Unstored tasks leave no trace: a stored one queued behind them shows when the queue is through.
    sentinel = noop.delay()
    wait_for(
        lambda: (
            TaskResult.objects.filter(task_name="bench.naive.noop", status="SUCCESS").count()
            >= (count + 1 if stored else 1)
            and TaskResult.objects.filter(task_id=sentinel.id, status="SUCCESS").exists()
        ),
        timeout=600,
        interval=0.1,
    )
    return (count + 1) / (time.perf_counter() - started)


def kombu_floor(count: int) -> float:
    """Publish (persistent, confirmed) then consume and ack `count` messages with kombu alone."""
    from kombu import Connection, Exchange, Queue

    from server_config.celery import app

    queue = Queue(
        f"bench-raw-{uuid.uuid4().hex[:8]}", Exchange("bench-raw", type="direct"), routing_key="raw"
    )
    with Connection(app.conf.broker_url, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(serializer="json")
        received = 0

        def on_message(body, message):
            nonlocal received
            received += 1
            message.ack()

        started = time.perf_counter()
        for i in range(count):
            producer.publish(
                {"n": i}, exchange=queue.exchange, routing_key="raw", declare=[queue], delivery_mode=2
            )
        with conn.Consumer(queue, callbacks=[on_message], prefetch_count=1):
            while received < count:
                conn.drain_events(timeout=10)
        elapsed = time.perf_counter() - started
        queue(conn.default_channel).delete()
    return count / elapsed


# --- 4. memory ----------------------------------------------------------------------------------


def worker_memory(worker, first: int, total: int) -> dict:
    from django_celery_results.models import TaskResult

    from weather.tasks import fetch_weather_for_city

    city_ids = seed_cities(first)
    before = rss_kib(worker.pid)
    done = 0
    readings = {}
    for mark in (first, total):
        for i in range(done, mark):
            fetch_weather_for_city.delay(city_ids[i % len(city_ids)])
        wait_for(
            lambda m=mark: TaskResult.objects.filter(status="SUCCESS").count() >= m,
            timeout=1800,
            interval=0.5,
        )
        done = mark
        readings[mark] = rss_kib(worker.pid)
    growth = (readings[total] - readings[first]) / readings[first]
    return {
        "before_kib": before,
        f"after_{first}_kib": readings[first],
        f"after_{total}_kib": readings[total],
        "growth_after_first": round(growth, 4),
    }
