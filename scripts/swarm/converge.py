"""Wait until a deployed stack has converged, within a bound, saying what it waits for.

`docker stack deploy` returns as soon as Swarm has the new spec; the tasks start afterwards, and
`docker service create` without --detach would wait forever for a task that keeps failing. So `make
swarm-up` waits here instead: every replicated service runs as many tasks as it asks for, each on
the service's current image and, where it has a health check, healthy (Swarm reports a task running
only then); the migrate job's latest run has completed. It logs a line every 10 s naming the services
still converging, and after the bound it prints their tasks' errors and exits 1.

What it does not wait for: an update's monitoring window (docker-stack.yml: 200 s for a worker),
during which Swarm may still roll a service back. `docker service inspect --format
'{{.UpdateStatus.State}}' SERVICE` tells.

Usage: python scripts/swarm/converge.py STACK [SECONDS]
"""

import json
import subprocess
import sys
import time


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def services(stack: str) -> list[dict]:
    out = docker(
        "service", "ls", "--filter", f"label=com.docker.stack.namespace={stack}", "--format", "{{json .}}"
    )
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def without_digest(image: str) -> str:
    return image.split("@", 1)[0]


def pending(service: dict) -> str | None:
    """Why this service has not converged, or None when it has."""
    name, mode, replicas = service["Name"], service["Mode"], service["Replicas"]
    if mode.endswith("job"):  # "replicated job", "global job"
        # "0/1 (1/1 completed)": the tasks of the job's latest run that completed.
        done = replicas.rpartition("(")[2].split()[0] if "(" in replicas else "0/1"
        completed, wanted = done.split("/")
        return None if completed == wanted != "0" else f"{name} job {done} completed"
    wanted = int(replicas.split("/")[1].split()[0])
    tasks = docker(
        "service",
        "ps",
        name,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}}\t{{.CurrentState}}",
    ).splitlines()
    image = without_digest(service["Image"])
    rows = [line.split("\t") for line in tasks]
    current = [row for row in rows if row[1].startswith("Running") and without_digest(row[0]) == image]
    return None if len(current) == wanted else f"{name} {len(current)}/{wanted}"


def errors(name: str) -> str:
    return docker(
        "service",
        "ps",
        name,
        "--no-trunc",
        "--format",
        "  {{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}",
    )


def main(stack: str, bound: float) -> int:
    started = time.monotonic()
    last_log = 0.0
    while True:
        found = services(stack)
        waiting = (
            [reason for reason in map(pending, found) if reason] if found else [f"no service of {stack} yet"]
        )
        elapsed = time.monotonic() - started
        if not waiting:
            print(f"stack {stack}: {len(found)} services converged in {elapsed:.0f} s")
            return 0
        if elapsed > bound:
            print(
                f"stack {stack} did not converge within {bound:.0f} s: {', '.join(waiting)}", file=sys.stderr
            )
            for reason in waiting:
                print(errors(reason.split()[0]), file=sys.stderr)
            return 1
        if elapsed - last_log >= 10:
            print(f"waiting ({elapsed:.0f} s of {bound:.0f} s): {', '.join(waiting)}", flush=True)
            last_log = elapsed
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 600))
