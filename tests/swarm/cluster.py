"""Several Docker hosts on this one machine, joined in a Swarm, with a registry they all pull from.

Each node is a host of its own as far as Docker can tell: a network namespace with one interface on
a private LAN (a bridge on this machine), its own dockerd with its own data root, exec root, socket
and containerd. The steps and their pitfalls are the ones verified in ../shared/notes/docker-here.md
(last section):

- dockerd is started with `nsenter --net`, not `ip netns exec`, which remounts /sys and hides the
  cgroups ("Devices cgroup isn't mounted");
- the first engine sets FORWARD's policy to DROP and bridged frames go through iptables here, so
  one DOCKER-USER rule lets the nodes reach each other on the LAN (removed on teardown);
- this kernel has no IPVS: services are reached by DNS round robin and nginx's port is published
  in host mode (docker-stack.yml says so).

The registry is Debian's `docker-registry` (the distribution project's server) on the LAN's gateway
address, over TLS with a CA made for the run: every engine here, this machine's own included, trusts
it through /etc/docker/certs.d/<registry>/ca.crt, so images are pushed and pulled as with any
private registry, no engine runs with `--insecure-registry`.

Everything lives under one root folder and names that start with the cluster's prefix, and
`down()` removes all of it, whatever state the nodes are in.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.polling import wait_for

CERTS_D = Path("/etc/docker/certs.d")
CGROUP_PIDS = Path("/sys/fs/cgroup/pids")


def run(*args: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Node:
    name: str  # also its hostname in `docker node ls`
    address: str
    root: Path  # data root and log
    run_dir: Path  # exec root, socket, pid file: short, since unix socket paths are limited to 107 bytes

    @property
    def socket(self) -> str:
        return f"unix://{self.run_dir}/docker.sock"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def cgroup(self) -> str:
        """Every process of this host: its dockerd, containerd, shims and containers."""
        return f"/{self.name}"

    def docker(self, *args: str, check: bool = True, timeout: float = 120, **kwargs):
        return run("docker", "-H", self.socket, *args, check=check, timeout=timeout, **kwargs)


@dataclass
class Cluster:
    prefix: str  # names of the bridge, namespaces, veths and cgroups: at most 8 characters
    root: Path
    lan: str = "10.231.0"  # a /24: .1 is this machine (gateway, registry, weather API), .2... the nodes
    size: int = 4
    nodes: list[Node] = field(default_factory=list)
    registry_port: int = 5443
    _registry: subprocess.Popen | None = None

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def gateway(self) -> str:
        return f"{self.lan}.1"

    @property
    def registry(self) -> str:
        return f"{self.gateway}:{self.registry_port}"

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    # --- the LAN ----------------------------------------------------------------------------
    def up(self) -> "Cluster":
        self.root.mkdir(parents=True, exist_ok=True)
        self.nodes = [
            Node(
                name=f"{self.prefix}n{i}",
                address=f"{self.lan}.{i + 1}",
                root=self.root / f"n{i}",
                run_dir=Path("/run") / f"{self.prefix}n{i}",
            )
            for i in range(1, self.size + 1)
        ]
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        run("iptables", "-I", "DOCKER-USER", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT")
        for node in self.nodes:
            self._host_create(node)
        self._registry_start()
        for node in self.nodes:
            self._daemon_start(node)
        for node in self.nodes:
            wait_for(
                lambda n=node: n.docker("info", check=False).returncode == 0,
                timeout=60,
                what=f"{node.name}'s dockerd",
            )
        self._swarm_form()
        return self

    def _host_create(self, node: Node) -> None:
        outside, inside = f"{node.name}h", f"{node.name}c"
        run("ip", "netns", "add", node.netns)
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        run("ip", "link", "set", outside, "master", self.bridge, "up")
        run("ip", "link", "set", inside, "netns", node.netns)
        inns = ("ip", "-n", node.netns)
        run(*inns, "link", "set", inside, "name", "eth0")
        run(*inns, "addr", "add", f"{node.address}/24", "dev", "eth0")
        run(*inns, "link", "set", "eth0", "up")
        run(*inns, "link", "set", "lo", "up")
        run(*inns, "route", "add", "default", "via", self.gateway)

    def _daemon_start(self, node: Node) -> None:
        node.root.mkdir(parents=True, exist_ok=True)
        node.run_dir.mkdir(parents=True, exist_ok=True)
        cgroup = CGROUP_PIDS / node.cgroup.lstrip("/")
        cgroup.mkdir(exist_ok=True)
        # The daemon joins the node's cgroup before it starts, so containerd and the shims it starts
        # are in it too; `--cgroup-parent` puts the containers below it. power_off() empties it.
        script = (
            # A UTS namespace of its own: the node's hostname is its name in `docker node ls`.
            f"echo $$ > {cgroup}/cgroup.procs && exec nsenter --net=/run/netns/{node.netns} "
            f"unshare --uts sh -c 'hostname {node.name} && exec dockerd "
            f"--data-root {node.root}/data --exec-root {node.run_dir}/exec -H {node.socket} "
            f"--pidfile {node.run_dir}/docker.pid --cgroup-parent {node.cgroup} "
            # What docs/scale-out.md asks of every node: no container may gain privileges.
            "--no-new-privileges"
            f"' >>{node.root}/dockerd.log 2>&1"
        )
        subprocess.Popen(["setsid", "sh", "-c", script], stdin=subprocess.DEVNULL, start_new_session=True)

    def _swarm_form(self) -> None:
        # Overlay subnets from a pool of their own, never the LAN's.
        self.manager.docker(
            "swarm", "init", "--advertise-addr", self.manager.address,
            "--default-addr-pool", "10.232.0.0/16", "--default-addr-pool-mask-length", "24",
        )  # fmt: skip
        token = self.manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for node in self.nodes[1:]:
            node.docker(
                "swarm",
                "join",
                "--token",
                token,
                "--advertise-addr",
                node.address,
                f"{self.manager.address}:2377",
            )
        wait_for(
            lambda: self.node_states() == {n.name: "ready" for n in self.nodes},
            timeout=60, what="every node Ready in the Swarm",
        )  # fmt: skip

    def node_states(self) -> dict[str, str]:
        out = self.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout
        return {name: status.lower() for name, status in (line.split() for line in out.splitlines())}

    def label(self, node: Node, *labels: str) -> None:
        args = [arg for label in labels for arg in ("--label-add", label)]
        self.manager.docker("node", "update", *args, node.name)

    # --- the registry -----------------------------------------------------------------------
    def _registry_start(self) -> None:
        folder = self.root / "registry"
        (folder / "data").mkdir(parents=True, exist_ok=True)
        run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt"),
            "-subj", f"/CN={self.prefix} test CA",
        )  # fmt: skip
        run(
            "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(folder / "tls.key"),
            "-out", str(folder / "tls.csr"), "-subj", f"/CN={self.gateway}",
        )  # fmt: skip
        (folder / "san.ext").write_text(f"subjectAltName=IP:{self.gateway}\n")
        run(
            "openssl", "x509", "-req", "-in", str(folder / "tls.csr"), "-CA", str(folder / "ca.crt"),
            "-CAkey", str(folder / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(folder / "san.ext"), "-out", str(folder / "tls.crt"),
        )  # fmt: skip
        trust = CERTS_D / self.registry
        trust.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "ca.crt", trust / "ca.crt")
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(folder / "data")}, "delete": {"enabled": True}},
            "http": {
                "addr": self.registry,
                "tls": {"certificate": str(folder / "tls.crt"), "key": str(folder / "tls.key")},
            },
        }
        (folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        with open(folder / "registry.log", "ab") as log:
            self._registry = subprocess.Popen(
                ["docker-registry", "serve", str(folder / "config.yml")],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        (folder / "registry.pid").write_text(str(self._registry.pid))
        probe = ("curl", "-sf", "--cacert", str(folder / "ca.crt"), f"https://{self.registry}/v2/")
        wait_for(lambda: run(*probe, check=False).returncode == 0, timeout=30, what="the registry")

    def push(self, local: str, name: str) -> str:
        """Tag an image of this machine's engine into the registry and push it; its registry name."""
        remote = f"{self.registry}/{name}"
        run("docker", "tag", local, remote)
        run("docker", "push", remote, timeout=900)
        return remote

    # --- failures ---------------------------------------------------------------------------
    def power_off(self, node: Node) -> None:
        """The node's host dies: its link goes first (so nothing it had open is closed politely, as
        with a power cut), then every process of it, daemon and containers alike."""
        run("ip", "link", "set", f"{node.name}h", "down")
        self._kill_all(node)

    def _kill_all(self, node: Node) -> None:
        cgroup = CGROUP_PIDS / node.cgroup.lstrip("/")
        if not cgroup.exists():
            return
        for _ in range(50):
            pids = {int(p) for f in cgroup.rglob("cgroup.procs") for p in f.read_text().split()}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        raise AssertionError(f"processes of {node.name} outlived SIGKILL: {sorted(pids)}")

    # --- teardown ---------------------------------------------------------------------------
    def down(self) -> None:
        """Remove every trace, whatever was left running; never raises on what is already gone."""
        for node in self.nodes:
            self._kill_all(node)
        pidfile = self.root / "registry" / "registry.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
        if self._registry:
            self._registry.wait()
        for node in self.nodes:
            # Mounts a killed daemon left behind (overlay layers, shm, netns files of containers).
            mounts = [
                line.split()[1]
                for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1].startswith((str(node.root), str(node.run_dir)))
            ]
            for mount in sorted(mounts, key=len, reverse=True):
                run("umount", "-l", mount, check=False)
            run("ip", "netns", "delete", node.netns, check=False)
            run("ip", "link", "delete", f"{node.name}h", check=False)
            shutil.rmtree(node.run_dir, ignore_errors=True)
            for cgroup in sorted(
                (CGROUP_PIDS / node.cgroup.lstrip("/")).glob("**/"), key=lambda p: len(str(p)), reverse=True
            ):
                with contextlib.suppress(OSError):
                    cgroup.rmdir()
        run(
            "iptables", "-D", "DOCKER-USER", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT", check=False
        )
        run("ip", "link", "delete", self.bridge, check=False)
        shutil.rmtree(CERTS_D / self.registry, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
