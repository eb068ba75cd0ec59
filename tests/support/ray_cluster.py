"""A separate local Ray cluster started with `ray start --head`, as a user would, on free loopback ports.

It lives in its own temp dir and ports, so the session's in-process Ray (the ray_session fixture) and
any other Ray on the machine are untouched. `ray stop` would stop every Ray on the machine, so
stop() ends only the processes of this cluster: those whose command line names its temp dir.
"""

from __future__ import annotations

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


class LocalRayCluster:
    def __init__(self, num_cpus: int = 2, env: dict[str, str] | None = None):
        self.num_cpus = num_cpus
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
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def ray(self, *args: str, timeout: float = 120, check: bool = True, cli: str = "ray") -> subprocess.CompletedProcess:
        """Run the `ray` CLI (or another of Ray's, e.g. cli="serve") in this cluster's environment."""
        return subprocess.run([str(BIN / cli), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def start(self) -> LocalRayCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.ray(
            "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}", f"--num-cpus={self.num_cpus}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats", timeout=180,
        )
        deadline = time.time() + 120
        while self.ray("job", "list", "--address", self.dashboard_url, check=False, timeout=60).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError(f"the Ray dashboard at {self.dashboard_url} did not come up")
            time.sleep(2)

    def processes(self) -> list[psutil.Process]:
        """This cluster's processes: every process whose command line names its temp dir."""
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if any(self.temp_dir in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        return found

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period, to this cluster's processes only (by pid)."""
        procs = self.processes()
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
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # session logs and sockets
