"""A separate local Ray cluster started with `ray start --head`, as a user would, on free loopback ports, and
optionally worker nodes joined to it with `ray start --address` (several Ray nodes on one box).

It lives in its own temp dirs and ports, so the session's in-process Ray (the ray_session fixture) and
any other Ray on the machine are untouched. `ray stop` would stop every Ray on the machine, so
stop() ends only the processes of this cluster: those whose command line names one of its temp dirs.
Each worker node has a temp dir of its own, so one node can be killed (as a machine dies) and started again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.support.net import free_port

BIN = Path(sys.executable).parent


class WorkerNode:
    """One `ray start --address` node of a LocalRayCluster: its own temp dir, ports and custom resources."""

    def __init__(self, cluster: LocalRayCluster, index: int, name: str, num_cpus: int, resources: dict[str, float]):
        self.cluster, self.index, self.name, self.num_cpus = cluster, index, name, num_cpus
        head = cluster.ip.rsplit(".", 1)
        self.ip = f"{head[0]}.{int(head[1]) + 1 + index}"  # the next loopback addresses after the head's
        self.resources = {name: 1.0, **resources}  # {"node_a": 1}: work asks for it to land here
        self.temp_dir = ""

    def start(self) -> WorkerNode:
        self.temp_dir = tempfile.mkdtemp(prefix=f"rayw-{self.name}-", dir="/tmp")
        # the workers' ports: a range of this node's own below the kernel's ephemeral ports (32768+), which
        # free_port() and outgoing connections use, so no other node's or process's port falls in it
        low = 20000 + 1000 * self.index
        ports = [f"--{flag}={free_port()}" for flag in (
            "node-manager-port", "object-manager-port", "metrics-export-port", "runtime-env-agent-port",
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port")]
        self.cluster.ray(
            "start", f"--address={self.cluster.address}", f"--node-ip-address={self.ip}",
            f"--num-cpus={self.num_cpus}", f"--resources={json.dumps(self.resources)}", f"--temp-dir={self.temp_dir}",
            *ports, f"--min-worker-port={low}", f"--max-worker-port={low + 200}", "--disable-usage-stats",
            timeout=180,
            # Ray's CLI refuses to join a node unless "clusters" are on; then it only changes how a node finds its
            # own address (each is given one here) and reads 127.0.0.1 in --address as "this machine's address"
            env={"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"},
        )
        self.cluster.wait_for(lambda: self.alive_in_cluster(), f"node {self.name} to join", 120)
        return self

    def node_id(self) -> str | None:
        for node in self.cluster.nodes():
            if node["state"] == "ALIVE" and node["resources_total"].get(self.name):
                return node["node_id"]
        return None

    def alive_in_cluster(self) -> bool:
        return self.node_id() is not None

    def processes(self) -> list[psutil.Process]:
        """The node's processes: those naming its temp dir (raylet, log monitor) and their children, whose
        command lines Ray rewrites (ray::DashboardAgent, ray::RayTrainWorker, ...)."""
        found = processes_naming(self.temp_dir) if self.temp_dir else []
        for proc in list(found):
            try:
                found += [child for child in proc.children(recursive=True) if child not in found]
            except psutil.NoSuchProcess:
                pass
        return found

    def kill(self) -> float:
        """SIGKILL every process of this node at once, raylet first (a machine that dies); returns when it was.
        The cluster sees it dead some seconds later (3 missed health checks)."""
        procs = self.processes()
        raylet = [p for p in procs if (getattr(p, "info", {}).get("cmdline") or [""])[0].endswith("/raylet")]
        killed_at = time.time()
        for proc in raylet + [p for p in procs if p not in raylet]:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
        return killed_at

    def stop(self) -> None:
        _terminate(self.processes())
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class LocalRayCluster:
    def __init__(self, num_cpus: int = 2, env: dict[str, str] | None = None, resources: dict[str, float] | None = None,
                 ip: str = "127.0.0.1"):
        """ip: the head's address, on loopback; a cluster that will have worker nodes needs another one than
        127.0.0.1 (e.g. 127.0.0.2), which a joining `ray start` would replace with the machine's public address."""
        self.num_cpus, self.ip = num_cpus, ip
        self.resources = resources or {}
        self.workers: list[WorkerNode] = []
        self.temp_dir = tempfile.mkdtemp(prefix="rayc-", dir="/tmp")  # short: Ray's socket paths are length-limited
        self.port, self.dashboard_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",  # Ray >= 2.5x: the cluster and the CLI both use ~/.ray/auth_token
            **(env or {}),
        }
        self.env.pop("RAY_ADDRESS", None)

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def ray(self, *args: str, timeout: float = 120, check: bool = True, cli: str = "ray",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run the `ray` CLI (or another of Ray's, e.g. cli="serve") in this cluster's environment."""
        try:
            return subprocess.run([str(BIN / cli), *args], env={**self.env, **(env or {})}, capture_output=True,
                                  text=True, timeout=timeout, check=check)
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"{cli} {' '.join(args[:2])} failed ({err.returncode}):\n{err.stdout[-2000:]}\n"
                               f"{err.stderr[-3000:]}") from None

    def start(self) -> LocalRayCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.ray(
            "start", "--head", f"--node-ip-address={self.ip}", f"--port={self.port}", f"--num-cpus={self.num_cpus}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
            *([f"--resources={json.dumps(self.resources)}"] if self.resources else []), timeout=180,
        )
        self.wait_for(lambda: self.ray("job", "list", "--address", self.dashboard_url, check=False,
                                       timeout=60).returncode == 0, "the Ray dashboard to come up", 120)

    def add_worker(self, name: str, num_cpus: int = 1, resources: dict[str, float] | None = None) -> WorkerNode:
        """Start a worker node joined to this cluster (`ray start --address`), with the custom resource {name: 1},
        at the next loopback address after the head's and the other nodes' (its own "machine")."""
        assert self.ip != "127.0.0.1", "a cluster with worker nodes needs its head on another loopback address"
        node = WorkerNode(self, len(self.workers), name, num_cpus, resources or {})
        self.workers.append(node)
        try:
            return node.start()
        except BaseException:
            node.stop()
            raise

    def revive(self) -> None:
        """Start again every worker node that was killed, and wait until the cluster sees it."""
        for node in self.workers:
            if not node.processes():  # killed: once the cluster has seen it dead, a new node takes its name
                self.wait_for(lambda: not node.alive_in_cluster(), f"the cluster to see {node.name} dead", 120)
            if not node.alive_in_cluster():
                node.stop()
                node.start()

    def nodes(self) -> list[dict]:
        """The cluster's nodes as the state API lists them (node_id, state, resources_total, ...)."""
        return self._state("nodes")

    def actors(self, class_part: str) -> list[dict]:
        """The actors (alive or dead) whose class name holds class_part, with the node each ran on
        (e.g. "RayTrainWorker", "ServeReplica:<app>:<deployment>", "EmbedChunks" for Ray Data's actors)."""
        return [a for a in self._state("actors") if class_part in a["class_name"]]

    def _state(self, kind: str) -> list[dict]:
        """`ray list <kind> --detail` in this cluster's environment (its auth token), as dicts."""
        listed = self.ray("list", kind, "--address", self.dashboard_url, "--detail", "--format", "json",
                          "--limit", "1000", timeout=60)
        return json.loads(listed.stdout)

    def node_names(self) -> dict[str, str]:
        """node_id -> the worker node's name (its custom resource), "head" for the head node; alive nodes only."""
        names = [w.name for w in self.workers]
        return {n["node_id"]: next((name for name in names if n["resources_total"].get(name)), "head")
                for n in self.nodes() if n["state"] == "ALIVE"}

    @staticmethod
    def wait_for(check, what: str, timeout_s: float, poll_s: float = 1.0) -> None:
        deadline = time.time() + timeout_s
        while not check():
            if time.time() > deadline:
                raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(poll_s)

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: every process whose command line names one of its temp dirs."""
        return processes_naming(self.temp_dir) + [p for node in self.workers for p in node.processes()]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period, to this cluster's processes only (by pid)."""
        for node in self.workers:
            node.stop()
        _terminate(processes_naming(self.temp_dir))
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # session logs and sockets


def processes_naming(folder: str) -> list[psutil.Process]:
    """Every process whose command line names folder (a Ray instance's temp dir names its own)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(folder in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _terminate(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
