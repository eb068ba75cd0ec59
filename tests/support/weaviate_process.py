"""A real weaviate-server child process on free loopback ports, data in a folder; for tests and benches."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests

from phi3ray.storage import cache_dir

DEFAULT_BINARY = os.path.expanduser(os.environ.get("PHI3RAY_WEAVIATE_BIN") or cache_dir("bin", "weaviate-server-v1.39.0"))


def _free_port(held: ExitStack, port: int = 0) -> int:
    sock = held.enter_context(socket.socket())
    sock.bind(("127.0.0.1", port))
    return sock.getsockname()[1]


def _consecutive_ports(held: ExitStack) -> tuple[int, int]:
    for _ in range(100):
        first = _free_port(held)
        try:
            return first, _free_port(held, first + 1)
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def retriever_overrides(host: str, http_port: int, grpc_port: int, collection: str | None = None) -> list[str]:
    """Hydra overrides that point retriever=local at host:ports (and at a collection)."""
    found = [
        "retriever=local",
        f"retriever.weaviate.host={host}",
        f"retriever.weaviate.http_port={http_port}",
        f"retriever.weaviate.grpc_port={grpc_port}",
    ]
    return found + ([f"retriever.collection={collection}"] if collection else [])


@dataclass
class WeaviateProcess:
    """weaviate-server on 127.0.0.1; start() waits for /v1/.well-known/ready, stop() ends it."""

    data_dir: Path
    binary: str = DEFAULT_BINARY
    host: str = "127.0.0.1"
    http_port: int = 0
    grpc_port: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def overrides(self, collection: str | None = None) -> list[str]:
        """Hydra overrides that point retriever=local at this server (and at a collection)."""
        return retriever_overrides(self.host, self.http_port, self.grpc_port, collection)

    def start(self, timeout_s: float = 90.0) -> "WeaviateProcess":
        if not os.path.isfile(self.binary):
            raise RuntimeError(f"weaviate-server not found at {self.binary}: run scripts/install.sh")
        with ExitStack() as held:
            self.http_port = self.http_port or _free_port(held)
            self.grpc_port = self.grpc_port or _free_port(held)
            gossip, data = _consecutive_ports(held)
            raft, raft_rpc = _consecutive_ports(held)
            profiling = _free_port(held)
        env = dict(
            os.environ,
            PERSISTENCE_DATA_PATH=str(self.data_dir),
            AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED="true",
            DEFAULT_VECTORIZER_MODULE="none",
            ENABLE_MODULES="",
            DISABLE_TELEMETRY="true",
            LOG_LEVEL="warning",
            QUERY_DEFAULTS_LIMIT="25",
            GRPC_PORT=str(self.grpc_port),
            CLUSTER_HOSTNAME="node1",
            CLUSTER_IN_LOCALHOST="true",
            CLUSTER_GOSSIP_BIND_PORT=str(gossip),
            CLUSTER_DATA_BIND_PORT=str(data),
            RAFT_PORT=str(raft),
            RAFT_INTERNAL_RPC_PORT=str(raft_rpc),
            RAFT_BOOTSTRAP_EXPECT="1",
            RAFT_TIMEOUTS_MULTIPLIER="1",  # one local node: leader after 1 s, not 5 (ready in ~2.5 s, not ~7)
            RAFT_JOIN=f"node1:{raft}",
            PROFILING_PORT=str(profiling),
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.data_dir.parent / f"weaviate-{self.http_port}.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--host", self.host, "--port", str(self.http_port), "--scheme", "http"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weaviate-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if requests.get(f"{self.url}/v1/.well-known/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weaviate-server not ready at {self.url} after {timeout_s}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 2000) -> str:
        path = self.data_dir.parent / f"weaviate-{self.http_port}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""
