"""`serve run serve/config.yaml` and `serve deploy serve/config.yaml`, the documented ways to serve, run as a
user runs them: as commands.

`serve run` answers a chat completion with the tiny Phi-3, one adapter and RAG over the session's Weaviate,
and a SIGINT (what Ctrl-C sends) stops it and every Ray process it started. `serve run` gets the signal
alone, with SIGINT at its default disposition (see the Popen below for why that has to be said).
`serve deploy` puts the same app onto a cluster started with `ray start --head`, which answers the same way.
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

import httpx
import psutil
import pytest
import yaml

from phi3ray.serve.ask import wait_until_healthy
from tests.serve.conftest import COLLECTION, ROOT, SMALL_DEPLOYMENTS
from tests.support.net import free_port
from tests.support.ray_cluster import LocalRayCluster

pytestmark = pytest.mark.slow


def processes_under(folder: str) -> list[psutil.Process]:
    """Ray's processes of one instance: those whose command line names its temp folder."""
    return [p for p in psutil.process_iter(["cmdline"]) if any(folder in part for part in p.info["cmdline"] or [])]


def test_serve_run_answers_with_an_adapter_and_stops_on_ctrl_c(ingested, weaviate_server, adapter_dirs, tmp_path):
    port = free_port()
    config = tmp_path / "config.yaml"  # serve/config.yaml as shipped, on a free port instead of 8000
    shipped = (ROOT / "serve/config.yaml").read_text()
    assert "  port: 8000\n" in shipped
    config.write_text(shipped.replace("  port: 8000\n", f"  port: {port}\n"))
    overrides = [
        "model=tiny",
        f"+adapters.pumps={adapter_dirs['pumps']}",
        *weaviate_server.overrides(COLLECTION),
        "generation.max_new_tokens=24",
        *SMALL_DEPLOYMENTS,
    ]
    ray_tmp = tempfile.mkdtemp(prefix="rs-", dir="/tmp")  # short: Ray's socket paths are length-limited
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PHI3RAY_SERVE_OVERRIDES": " ".join(overrides),  # as the README shows
        "RAY_ADDRESS": "local",  # a Ray of its own, not the test session's
        "RAY_TMPDIR": ray_tmp,
        "PYTHONUNBUFFERED": "1",  # its log is whole when the test reads it
    }
    log = tmp_path / "serve-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["serve", "run", str(config)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: nothing the test session signals reaches it
            # Ctrl-C live, as in a terminal: a suite started in the background (`cmd &` in a script) inherits
            # SIGINT ignored, and Python then never raises KeyboardInterrupt in `serve run`
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, timeout_s=300, process=proc)
        except (RuntimeError, TimeoutError) as err:
            pytest.fail(f"serve run: {err}\n{log.read_text()[-3000:]}", pytrace=False)
        response = httpx.post(
            f"{url}/v1/chat/completions", timeout=120,
            json={"model": "pumps", "messages": [{"role": "user", "content": "How do I replace the VX-220 seal?"}],
                  "rag": {"enabled": True, "top_k": 2}},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "pumps"
        assert body["choices"][0]["message"]["content"].strip()
        assert body["retrieved"] and all(s["source"].endswith(".md") for s in body["retrieved"])

        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve run did not stop within 180 s of SIGINT:\n{log.read_text()[-3000:]}", pytrace=False)
        assert proc.returncode in (0, -signal.SIGINT, 130), log.read_text()[-3000:]
        deadline = time.monotonic() + 30
        while processes_under(ray_tmp) and time.monotonic() < deadline:
            time.sleep(1.0)
        assert not processes_under(ray_tmp), [p.info["cmdline"][:2] for p in processes_under(ray_tmp)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for leftover in processes_under(ray_tmp):
            leftover.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_serve_deploy_puts_the_app_on_a_ray_start_cluster(ingested, weaviate_server, adapter_dirs, tmp_path):
    port = free_port()
    config = yaml.safe_load((ROOT / "serve/config.yaml").read_text())
    config["http_options"]["port"] = port
    (app,) = config["applications"]
    app["args"]["overrides"] = [  # on a cluster the overrides travel in the file, not in the CLI's environment
        "model=tiny", f"+adapters.pumps={adapter_dirs['pumps']}", *weaviate_server.overrides(COLLECTION),
        "generation.max_new_tokens=24", *SMALL_DEPLOYMENTS,
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cluster = LocalRayCluster(num_cpus=2, env={"HF_HUB_OFFLINE": "1"}).start()
    try:
        deployed = cluster.ray("deploy", str(path), "--address", cluster.dashboard_url, cli="serve", check=False, timeout=300)
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, timeout_s=300)
        response = httpx.post(
            f"{url}/v1/chat/completions", timeout=120,
            json={"model": "pumps", "messages": [{"role": "user", "content": "How do I replace the VX-220 seal?"}],
                  "rag": {"enabled": True, "top_k": 2}},
        )
        assert response.status_code == 200, response.text
        assert response.json()["retrieved"]
        status = cluster.ray("status", "--address", cluster.dashboard_url, cli="serve", check=False).stdout
        assert "RUNNING" in status, status
    finally:
        cluster.stop()
    assert not cluster.processes()
