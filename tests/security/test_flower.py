"""Flower only shows: its control API, tried through nginx with the right password, changes nothing."""

import pytest

from tests.polling import wait_for

# Every kind of control Flower offers: a worker's shutdown and pool, a task started or revoked.
CONTROLS = [
    "/flower/api/worker/shutdown/{worker}",
    "/flower/api/worker/pool/restart/{worker}",
    "/flower/api/worker/pool/shrink/{worker}",
    "/flower/api/worker/queue/cancel-consumer/{worker}?queue=celery",
    "/flower/api/task/async-apply/weather.tasks.update_all_weather_data",
    "/flower/api/task/send-task/weather.tasks.update_all_weather_data",
    "/flower/api/task/revoke/00000000-0000-0000-0000-000000000000?terminate=true",
    "/flower/api/task/rate-limit/weather.tasks.fetch_weather_for_city?workername={worker}&ratelimit=1/h",
]


def online_workers(stack) -> list[str]:
    workers = stack.http("GET", "/flower/api/workers?refresh=1", auth=stack.flower_auth)
    assert workers.status == 200, workers.body[:300]
    return sorted(workers.json())


@pytest.fixture(scope="module")
def worker(stack) -> str:
    return wait_for(lambda: next(iter(online_workers(stack)), None), timeout=120, what="a worker in Flower")


@pytest.mark.parametrize("control", CONTROLS)
def test_flowers_control_api_is_refused_with_its_password_and_the_workers_stay_up(stack, worker, control):
    before = online_workers(stack)
    runs = stack.sql("SELECT count(*) FROM weather_pipelinerun")
    response = stack.http("POST", control.format(worker=worker), {}, auth=stack.flower_auth)
    assert response.status == 403, response.body[:300]
    assert b"Read only mode is enabled" in response.body
    # Still answering: a refused shutdown shuts nothing down, a refused task starts no run.
    stack.exec("celery", "celery", "-A", "server_config", "inspect", "ping", "-d", worker)  # fails if none
    assert online_workers(stack) == before
    assert stack.sql("SELECT count(*) FROM weather_pipelinerun") == runs


def test_flowers_pages_still_show_the_workers_and_tasks(stack, worker):
    for page in (f"/flower/worker/{worker}", "/flower/tasks", "/flower/broker"):
        assert stack.http("GET", page, auth=stack.flower_auth).status == 200, page
