import contextlib
import subprocess
import time

import pytest

from tests.openmeteo_stub.server import OpenMeteoStub
from tests.stack.stack import MACHINE_ENV, REPO, env_lines
from tests.swarm.cluster import Cluster
from tests.swarm.deployment import SwarmStack

# This tier's own settings, on top of .env.example, its secrets and this machine's overrides.
SWARM_STACK = {
    # Four workers over the worker nodes, two processes each.
    "CELERY_REPLICAS": "4",
    "WORKER_CONCURRENCY": "2",
    # Delivery under failures is the point here, not the quota (tests/stack/test_quota.py proves it):
    # the budget of a paid key, so about 5,000 fetches in a few minutes are not spread over an hour.
    "WEATHER_QUOTA_PER_MINUTE": "1000000",
    "WEATHER_QUOTA_PER_HOUR": "1000000",
    "WEATHER_QUOTA_PER_DAY": "1000000",
    "WEATHER_API_TIMEOUT": "4",
    "WEATHER_RETRY_BACKOFF_SECONDS": "1",
    "WEATHER_RETRY_BACKOFF_MAX_SECONDS": "10",
    "SWARM_WAIT_SECONDS": "420",
    # This machine's kernel lacks the ESP (IPsec AEAD) support encrypted overlays need: nodes could not
    # talk at all. The documented opt-out (docs/scale-out.md); tests/fast/test_stack_file.py proves the
    # default render encrypts every network.
    "SWARM_OVERLAY_ENCRYPTION": "false",
    # The tier drives nginx over plain HTTP on the manager's address, inside this machine's namespaces:
    # the explicit acceptance `make swarm-up` asks for (make check-https, docs/security.md).
    "ALLOW_PUBLIC_PLAIN_HTTP": "true",
}
# The official images' stand-ins (machine.env), pushed into the Swarm's registry under their own names.
STANDINS = ("POSTGRES_IMAGE", "RABBITMQ_IMAGE", "NGINX_IMAGE")
# What `make swarm-up` of docs/scale-out.md runs after: each node labelled for its role.
ROLES = {1: ("fbrain.db=true", "fbrain.broker=true", "fbrain.edge=true")}
WORKER_ROLE = ("fbrain.worker=true",)


def save_logs(stack: SwarmStack) -> None:
    """Every container's log, from each node still up, in build/<project>-swarm.log. Not `docker
    service logs`, which waits for the nodes that are gone."""
    parts = []
    for node in stack.cluster.nodes:
        if node.name in stack.dead:
            continue
        listed = node.docker("ps", "-a", "--filter", f"label=com.docker.stack.namespace={stack.project}",
                             "--format", "{{.ID}} {{.Names}}", check=False).stdout.split("\n")  # fmt: skip
        for container, _, name in (line.partition(" ") for line in listed if line):
            out = node.docker("logs", "--timestamps", container, check=False, timeout=60)
            parts.append(f"===== {node.name} {name}\n{out.stdout}{out.stderr}")
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / f"{stack.project}-swarm.log").write_text("\n".join(parts))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    cluster = Cluster(prefix="fbrsw", root=tmp_path_factory.mktemp("swarm") / "nodes")
    try:
        yield cluster.up()
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def stack(cluster, tmp_path_factory):
    """F_BRAIN on the four-node Swarm, deployed the way docs/scale-out.md says: a copy of this checkout
    with the .env a user writes, the image built and pushed to the registry, the nodes labelled,
    `make swarm-up` on the manager; removed with `make swarm-down` afterwards."""
    weather = OpenMeteoStub(
        host=cluster.gateway, port=0, gazetteer=REPO / "server/weather/data/cities.csv"
    ).start()
    machine = env_lines(MACHINE_ENV)
    overrides = {
        **SWARM_STACK,
        "APP_IMAGE": f"{cluster.registry}/fbrain/app:1",
        **{name: f"{cluster.registry}/{machine[name].split('/', 1)[1]}" for name in STANDINS},
        # The site's address: nginx's port on the edge node, the manager here.
        "DJANGO_ALLOWED_HOSTS": cluster.manager.address,
        # Open-Meteo's stand-in, outside the cluster as the real one is: on this machine's LAN address.
        "WEATHER_API_URL": weather.forecast_url,
        "GEOCODING_API_URL": weather.geocoding_url,
    }
    stack = SwarmStack.create(tmp_path_factory.mktemp("swarm-stack"), **overrides)
    stack.cluster, stack.stub_url = cluster, weather.base_url
    # make swarm-up renders the stack file with the project's Python (PyYAML): this checkout's, made
    # by make test's earlier tiers, instead of a second one installed into the copy.
    (stack.directory / ".venv").symlink_to(REPO / ".venv")
    try:
        for name in STANDINS:
            cluster.push(machine[name], overrides[name].split("/", 1)[1])
        started = time.monotonic()
        stack.timed("make build")
        stack.timed(f"docker push {overrides['APP_IMAGE']}")
        for index, node in enumerate(cluster.nodes, start=1):
            cluster.label(node, *ROLES.get(index, WORKER_ROLE))
        stack.on_manager("make swarm-up")
        stack.timings["deployed, from the build"] = round(time.monotonic() - started, 1)
        stack.act_as_staff()
        yield stack
        save_logs(stack)
        stack.on_manager("make swarm-down")
    finally:
        if not (REPO / "build" / f"{stack.project}-swarm.log").exists():
            with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                save_logs(stack)
        weather.stop()
        print(f"\nswarm tier timings (s): {stack.timings}")
