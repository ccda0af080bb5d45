import json
import urllib.parse
import urllib.request

import pytest

from tests.stack.stack import Stack, free_port, running_stack

# The smallest stack that still has every scrape target: no seeded cities, one process per worker
# container, two gunicorn processes (enough to need the multiprocess sums). The monitoring profile is
# enabled the user's way: COMPOSE_PROFILES in .env (docs/operations.md, "Metrics and alerts").
MONITORING_STACK = {
    "SEED_CITIES": "false",
    "WORKER_CONCURRENCY": "1",
    "ETL_WORKER_CONCURRENCY": "1",
    "GUNICORN_WORKERS": "2",
    "COMPOSE_PROFILES": "monitoring",
}


class Prometheus:
    """Prometheus's HTTP API on the port the monitoring profile publishes on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expression: str) -> list[dict]:
        return self.get("/api/v1/query", query=expression)["result"]

    def targets(self) -> dict[str, str]:
        """Each scrape job's worst health: 'up' only when every target of the job is."""
        health: dict[str, str] = {}
        for target in self.get("/api/v1/targets", state="active")["activeTargets"]:
            job = target["labels"]["job"]
            health[job] = target["health"] if health.get(job, "up") == "up" else health[job]
        return health

    def alerts(self) -> list[dict]:
        return self.get("/api/v1/alerts")["alerts"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("monitoring")
    with running_stack(workdir, PROMETHEUS_PORT=str(port), **MONITORING_STACK) as started:
        started.prometheus_port = port
        yield started


@pytest.fixture(scope="session")
def prometheus(stack: Stack) -> Prometheus:
    return Prometheus(stack.prometheus_port)
