"""The stack deployed on the test Swarm: the same handle as a Compose stack (tests/stack/stack.py),
its commands run against the Swarm's manager, its containers found on whichever node runs them."""

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field

from tests.stack.stack import Stack
from tests.swarm.cluster import Cluster, Node


@dataclass
class Task:
    id: str
    service: str
    node: Node
    container: str
    image: str


@dataclass
class SwarmStack(Stack):
    cluster: Cluster | None = None
    stub_url: str = ""
    dead: set[str] = field(default_factory=set)  # nodes powered off: their tasks cannot be reached

    @property
    def manager(self) -> Node:
        return self.cluster.manager

    def on_manager(self, command: str, *, label: str = "", **kwargs) -> subprocess.CompletedProcess:
        """A command as the operator types it on the manager (DOCKER_HOST names the manager's engine),
        timed under `label` (the command itself by default); run() and timed() run on the machine
        that builds, this one's own engine."""
        started = time.monotonic()
        result = self.run(command, shell_vars={"DOCKER_HOST": self.manager.socket}, **kwargs)
        self.timings[label or command] = round(time.monotonic() - started, 1)
        return result

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.manager.docker(*args, **kwargs)

    def service(self, name: str) -> str:
        return f"{self.project}_{name}"

    def tasks(self, service: str) -> list[Task]:
        """The service's tasks that run now, with the node and the container of each."""
        out = self.docker(
            "service", "ps", self.service(service), "--filter", "desired-state=running", "--no-trunc",
            "--format", "{{.ID}}",
        ).stdout.split()  # fmt: skip
        if not out:
            return []
        nodes = {n.name: n for n in self.cluster.nodes}
        found = []
        for task in json.loads(self.docker("inspect", *out).stdout):
            container = task["Status"].get("ContainerStatus", {}).get("ContainerID")
            if task["Status"]["State"] != "running" or not container:
                continue
            node = self.docker(
                "node", "inspect", task["NodeID"], "--format", "{{.Description.Hostname}}"
            ).stdout
            if node.strip() in self.dead:
                continue
            image = task["Spec"]["ContainerSpec"]["Image"].split("@", 1)[0]
            found.append(Task(task["ID"], service, nodes[node.strip()], container, image))
        return found

    def exec(
        self, service, *command, env=None, input=None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        task = self.tasks(service)[0]
        options = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
        return task.node.docker(
            "exec", "-i", *options, task.container, *command, input=input or "", timeout=timeout
        )

    def stub(self, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.stub_url + path, data=data, method="POST" if data else "GET")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    @property
    def url(self) -> str:
        # nginx's port in host mode on the edge node (docker-stack.yml), the manager here.
        return f"http://{self.manager.address}:{self.port}"

    def workers_by_node(self) -> dict[str, str]:
        """Celery's name of each running worker (celery@<container id>) -> the node it runs on."""
        return {f"celery@{t.container[:12]}": t.node.name for t in self.tasks("celery")}
