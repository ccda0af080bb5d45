"""docker-compose.yml as `docker stack deploy` accepts it, on standard output.

docker-compose.yml stays the one description of the stack; this removes only what Docker's stack
loader (docker/cli's Compose v3 schema) refuses or ignores, checked with `docker stack config` on
Docker 28:

- top-level `name`: refused ("Additional property name is not allowed"); the stack's name is the
  argument of `docker stack deploy`;
- `depends_on` with conditions: refused ("must be a list", docker/cli#3880); Swarm has no start order
  at all, so the app's start scripts wait for the database, the broker and the schema instead
  (`manage.py wait_for_dependencies`);
- `ports`: docker-stack.yml publishes nginx's port in Swarm's own way (host mode on the edge
  nodes); Compose's `NGINX_BIND:NGINX_PORT:80` would only draw a warning that Swarm cannot bind one
  address;
- `build`, `container_name`, `restart`, `security_opt`: ignored by Swarm (docker/cli's
  UnsupportedProperties: images come from a registry, names are Swarm's, docker-stack.yml's
  restart_policy replaces `restart`; a service has no `no-new-privileges` option, so each node's
  daemon must set it: docs/scale-out.md), removed so the rendered file shows only what applies;
- services of an optional profile (`profiles:`, the monitoring profile): Swarm has no profiles, and
  its Prometheus is not placed or proven on Swarm yet (docs/scale-out.md), so they are left out;
- `tmpfs`: ignored by `docker stack deploy` (a read-only container then has nowhere to write:
  PostgreSQL, RabbitMQ and nginx fail to start), so each entry becomes a `type: tmpfs` mount with its
  size, which Swarm does apply;
- `x-` extension fields: docker-compose.yml's anchors, already resolved into each service;
- a relative `env_file`: made absolute, so the rendered file deploys from any folder;
- `deploy.resources.limits.pids` from a variable: the stack loader does not turn the interpolated
  string into a number ("must be a integer"), so CONTAINER_PIDS_LIMIT is read here.

And it adds one thing Compose has no use for: every network is an encrypted overlay (IPsec between
the nodes, `driver_opts: encrypted`), since the broker password, session cookies and Flower's Basic
auth cross the LAN on them. SWARM_OVERLAY_ENCRYPTION=false opts out (a kernel without ESP, or a
network already encrypted underneath: docs/scale-out.md). docker-compose.tls.yml in COMPOSE_FILE is
refused: its terminator shares nginx's network namespace, which Swarm cannot do.

Usage: python scripts/swarm/compose_for_swarm.py [docker-compose.yml] > swarm-base.yml
"""

import os
import sys
from pathlib import Path

import yaml

COMPOSE_ONLY_TOP = ("name",)
COMPOSE_ONLY_SERVICE = ("depends_on", "ports", "build", "container_name", "restart", "security_opt")
PIDS_VARIABLE = "CONTAINER_PIDS_LIMIT"
PIDS_DEFAULT = 512
ENCRYPTION_VARIABLE = "SWARM_OVERLAY_ENCRYPTION"
TLS_OVERRIDE = "docker-compose.tls.yml"


class _NoAliases(yaml.SafeDumper):
    """Write each service in full: the anchors of docker-compose.yml are resolved, not re-invented."""

    def ignore_aliases(self, data):
        return True


def pids_limit() -> int:
    raw = os.environ.get(PIDS_VARIABLE, "").strip() or str(PIDS_DEFAULT)
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{PIDS_VARIABLE}={raw!r} is not a positive integer.")
    return int(raw)


def overlay_encryption() -> bool:
    raw = os.environ.get(ENCRYPTION_VARIABLE, "").strip() or "true"
    if raw not in ("true", "false"):
        raise SystemExit(f"{ENCRYPTION_VARIABLE}={raw!r} must be true or false.")
    return raw == "true"


def refuse_compose_only_files() -> None:
    if TLS_OVERRIDE in os.environ.get("COMPOSE_FILE", "").split(":"):
        raise SystemExit(
            f"COMPOSE_FILE names {TLS_OVERRIDE}, which Swarm cannot run (its terminator shares nginx's "
            "network namespace). On Swarm, terminate TLS in front of the edge nodes: docs/scale-out.md."
        )


def encrypted(networks: dict) -> dict:
    """Each network with `encrypted` among its driver options, the others it has kept."""
    return {
        name: {
            **(network or {}),
            "driver_opts": {**(network or {}).get("driver_opts", {}), "encrypted": "true"},
        }
        for name, network in networks.items()
    }


def tmpfs_mount(entry: str) -> dict:
    """`/tmp:size=64m` (Compose's short form) as the long form of a volume that Swarm applies."""
    target, _, options = entry.partition(":")
    mount = {"type": "tmpfs", "target": target}
    for option in filter(None, options.split(",")):
        name, _, value = option.partition("=")
        if name != "size":
            raise SystemExit(f"tmpfs {entry!r}: only the size option is carried over to Swarm")
        mount["tmpfs"] = {"size": size_bytes(value)}
    return mount


def size_bytes(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = (value[:-1], value[-1].lower()) if value[-1:].isalpha() else (value, "")
    if not number.isdigit() or unit not in ("", *units):
        raise SystemExit(f"tmpfs size {value!r} is not a number of bytes with k, m or g")
    return int(number) * units.get(unit, 1)


def for_swarm(compose: dict, pids: int, folder: Path, *, encrypt: bool = True) -> dict:
    stack = {
        key: value
        for key, value in compose.items()
        if key not in COMPOSE_ONLY_TOP and not key.startswith("x-")
    }
    if encrypt:
        stack["networks"] = encrypted(stack.get("networks", {}))
    services = {}
    for name, service in compose["services"].items():
        if "profiles" in service:
            continue
        service = {key: value for key, value in service.items() if key not in COMPOSE_ONLY_SERVICE}
        if "tmpfs" in service:
            mounts = [tmpfs_mount(entry) for entry in service.pop("tmpfs")]
            service["volumes"] = service.get("volumes", []) + mounts
        if "env_file" in service:
            files = [service["env_file"]] if isinstance(service["env_file"], str) else service["env_file"]
            service["env_file"] = [str((folder / file).resolve()) for file in files]
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if str(limits.get("pids", "")).startswith("${" + PIDS_VARIABLE):
            service["deploy"] = {
                **service["deploy"],
                "resources": {**service["deploy"]["resources"], "limits": {**limits, "pids": pids}},
            }
        services[name] = service
    stack["services"] = services
    return stack


def main(argv: list[str]) -> None:
    path = Path(argv[1] if len(argv) > 1 else "docker-compose.yml")
    refuse_compose_only_files()
    compose = yaml.safe_load(path.read_text())
    stack = for_swarm(compose, pids_limit(), path.parent, encrypt=overlay_encryption())
    yaml.dump(stack, sys.stdout, Dumper=_NoAliases, sort_keys=False)


if __name__ == "__main__":
    main(sys.argv)
