"""`serve run serve/config.yaml` and `serve deploy serve/config.yaml`, the documented ways to serve, run as a
user runs them: as commands.

`serve run` answers a chat completion with the tiny Phi-3, one adapter and RAG over the session's Weaviate,
and a SIGINT (what Ctrl-C sends) stops it and every Ray process it started. `serve run` gets the signal
alone, with SIGINT at its default disposition (see the Popen below for why that has to be said).
`serve deploy` puts the same app onto a cluster of three nodes started with `ray start`, its Generator spread over
two of them, and it serves on when one of those dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from phi3ray.serve.ask import wait_until_healthy
from tests.serve.conftest import COLLECTION, ROOT, SMALL_DEPLOYMENTS
from tests.support.net import free_port
from tests.support.ray_cluster import processes_naming

pytestmark = pytest.mark.slow


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
        while processes_naming(ray_tmp) and time.monotonic() < deadline:
            time.sleep(1.0)
        assert not processes_naming(ray_tmp), [p.info["cmdline"][:2] for p in processes_naming(ray_tmp)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for leftover in processes_naming(ray_tmp):
            leftover.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_serve_deploy_spreads_the_generator_over_two_nodes_and_serves_on_when_one_dies(
        ingested, weaviate_server, adapter_dirs, ray_nodes, tmp_path):
    """`serve deploy` onto the three-node cluster (ray_nodes): two Generator replicas, one per worker node
    (max_replicas_per_node=1, a resource only worker nodes have), the Ingress and the Retriever on the head, one
    shared Weaviate (retriever=local). Both replicas answer mixed-adapter requests with the same greedy text; when
    the node of one dies, the app goes on answering from the other."""
    ray_nodes.revive()
    port = free_port()
    config = yaml.safe_load((ROOT / "serve/config.yaml").read_text())
    config["http_options"]["port"] = port
    config["proxy_location"] = "HeadOnly"  # one box: every node's proxy would want the same 127.0.0.1 port
    (app,) = config["applications"]
    app["args"]["overrides"] = [  # on a cluster the overrides travel in the file, not in the CLI's environment
        "model=tiny", *(f"+adapters.{name}={path}" for name, path in adapter_dirs.items()),
        *weaviate_server.overrides(COLLECTION), "generation.max_new_tokens=16", *SMALL_DEPLOYMENTS,
        "deployments.generator.num_replicas=2", "deployments.generator.max_replicas_per_node=1",
        "+deployments.generator.resources={worker: 0.1}",
        "+deployments.ingress.resources={head: 0.1}", "+deployments.retriever.resources={head: 0.1}",
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cluster, url = ray_nodes, f"http://127.0.0.1:{port}"
    questions = ["How do I replace the VX-220 seal?", "What torque do the pump bolts need?"]
    models = ["phi3", *adapter_dirs]

    def ask(model: str, question: str) -> httpx.Response:
        return httpx.post(f"{url}/v1/chat/completions", timeout=120, json={
            "model": model, "messages": [{"role": "user", "content": question}], "temperature": 0,
            "rag": {"enabled": True, "top_k": 2}})

    try:
        deployed = cluster.ray("deploy", str(path), "--address", cluster.dashboard_url, cli="serve", check=False,
                               timeout=300)
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
        wait_until_healthy(url, timeout_s=300)

        def generators() -> list[dict]:
            return [a for a in cluster.actors("ServeReplica:phi3ray:Generator") if a["state"] == "ALIVE"]

        cluster.wait_for(lambda: len(generators()) == 2, "both Generator replicas to be up", 300)
        names = cluster.node_names()
        replicas = {a["name"].rsplit("#", 1)[-1]: names.get(a["node_id"], "?") for a in generators()}
        assert sorted(replicas.values()) == ["node_a", "node_b"], replicas  # one replica per worker node

        # every (model, question) pair 4 times, 8 at a time: the router spreads them over both replicas
        asks = [(m, q) for m in models for q in questions] * 4
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda mq: (mq, ask(*mq)), asks))
        texts: dict[tuple, set[str]] = {}
        per_node: Counter[str] = Counter()
        for key, response in answers:
            assert response.status_code == 200, response.text
            texts.setdefault(key, set()).add(response.json()["choices"][0]["message"]["content"])
            per_node[replicas[response.headers["x-phi3ray-replica"]]] += 1
        assert per_node["node_a"] > 0 and per_node["node_b"] > 0, per_node
        assert all(len(answer) == 1 for answer in texts.values()), texts  # greedy: the same on both replicas
        assert len({next(iter(texts[(m, questions[0])])) for m in models}) == len(models)  # each adapter its own

        node_b = next(n for n in cluster.workers if n.name == "node_b")
        killed_at = node_b.kill()
        after: list[tuple[float, int, str]] = []  # (seconds after the kill, status, node)
        while time.time() - killed_at < 120 and not (len(after) >= 12 and all(c == 200 for _, c, _ in after[-12:])):
            response = ask(models[len(after) % len(models)], questions[0])
            node = replicas.get(response.headers.get("x-phi3ray-replica", ""), "-")
            after.append((time.time() - killed_at, response.status_code, node))
        served = [entry for entry in after[-12:] if entry[1] == 200 and entry[2] == "node_a"]
        assert len(served) == 12, after  # the app serves on from node_a
        failed = [entry for entry in after if entry[1] != 200]
        print(f"\nbefore the kill: {dict(per_node)} answers per node over {len(asks)} requests; after node_b died: "
              f"{len(failed)} failed ({[code for _, code, _ in failed]}), then 12/12 from node_a by "
              f"{after[-1][0]:.1f} s after the kill")
        status = cluster.ray("status", "--address", cluster.dashboard_url, cli="serve", check=False).stdout
        assert "RUNNING" in status or "DEPLOYING" in status, status
    finally:
        cluster.ray("shutdown", "--yes", "--address", cluster.dashboard_url, cli="serve", check=False, timeout=120)
