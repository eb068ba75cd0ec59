"""Serve fixtures: two LoRA adapters on the tiny Phi-3, the sample docs in the session's Weaviate, and two
running apps on loopback (started once for the whole tests/serve package):

- `serve_app`: the real thing: tiny Phi-3 + adapters `pumps` and `safety`, RAG over the `weaviate_server`
  fixture, an API key.
- `edge_app`: Weaviate at a port where nothing listens (rag_unavailable=degraded), a 2 s request timeout, a
  long context for a slow request, room for one adapter only (the other is loaded on demand), and the static
  (serve.batch) engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE_COLLECTION
from tests.support.net import free_port
from tests.support.random_adapters import make_random_adapters
from tests.support.weaviate_process import retriever_overrides

API_KEY = "test-key-5"
ADMIN_KEY = "test-admin-key-7"
ADAPTERS = ("pumps", "safety")
COLLECTION = SAMPLE_COLLECTION  # the `ingested` fixture's (tests/conftest.py)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningApp:
    name: str
    url: str  # http://127.0.0.1:<port>/<prefix>
    api_key: str | None
    dead_port: int | None = None  # edge app: the port its Weaviate config points at (nothing listens)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def post(self, body, **kwargs) -> httpx.Response:
        kwargs.setdefault("headers", self.headers)
        kwargs.setdefault("timeout", 60)
        if isinstance(body, (bytes, str)):
            return httpx.post(f"{self.url}/v1/chat/completions", content=body, **kwargs)
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, **kwargs)

    def openai(self, **kwargs):
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key=self.api_key or "unused", max_retries=0, **kwargs)

    def generator(self):
        from ray import serve

        return serve.get_deployment_handle("Generator", app_name=self.name)


@pytest.fixture(scope="session")
def adapter_dirs(tmp_path_factory, tiny_model_cfg) -> dict[str, str]:
    """Two LoRA adapters on the tiny Phi-3 with random (non-zero) weights: different greedy answers than the base."""
    return make_random_adapters(tiny_model_cfg, tmp_path_factory.mktemp("adapters"), list(ADAPTERS))


@pytest.fixture(scope="package")
def serve_http(ray_session):
    """Serve's HTTP proxy on 127.0.0.1 and a free port, shut down after the serve tests."""
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


SMALL_DEPLOYMENTS = [
    "deployments.ingress.num_cpus=0.05",
    "deployments.retriever.num_cpus=0.05",
    "deployments.generator.num_cpus=0.2",
]


def start_app(base_url: str, name: str, overrides: list[str], api_key: str | None) -> RunningApp:
    from ray import serve

    from phi3ray.serve.app import build_app
    from phi3ray.serve.ask import wait_until_healthy

    serve.run(build_app({"overrides": overrides}), name=name, route_prefix=f"/{name}")
    app = RunningApp(name, f"{base_url}/{name}", api_key)
    wait_until_healthy(app.url, timeout_s=120)
    return app


@pytest.fixture(scope="package")
def serve_app(serve_http, ingested, weaviate_server, adapter_dirs) -> RunningApp:
    overrides = [
        "model=tiny",
        *weaviate_server.overrides(COLLECTION),
        *(f"+adapters.{name}={path}" for name, path in adapter_dirs.items()),
        f"api_key={API_KEY}",
        f"admin_key={ADMIN_KEY}",
        "generation.max_new_tokens=48",
        "generation.context_token_budget=300",
        "max_batch_size=8",
        "batch_wait_timeout_s=0.1",
        "request_timeout_s=60",
        *SMALL_DEPLOYMENTS,
    ]
    app = start_app(serve_http, "main", overrides, API_KEY)
    yield app
    from ray import serve

    serve.delete("main")


@pytest.fixture(scope="package")
def edge_app(serve_http, adapter_dirs) -> RunningApp:
    dead = free_port()  # nothing listens there: Weaviate is unreachable, for real
    overrides = [
        "model=tiny",
        "model.context_length=8192",  # lets one request run long enough to hit the timeout
        *retriever_overrides("127.0.0.1", dead, free_port(), COLLECTION),
        *(f"+adapters.{name}={path}" for name, path in adapter_dirs.items()),
        "api_key=null",
        "rag_unavailable=degraded",
        "request_timeout_s=2",
        "max_tokens_cap=8000",
        "max_adapters_per_replica=1",
        "generation.max_new_tokens=48",
        "engine=static",  # the serve.batch path, kept for comparison, is served and tested here
        "batch_wait_timeout_s=0.01",
        *SMALL_DEPLOYMENTS,
    ]
    app = start_app(serve_http, "edge", overrides, None)
    app.dead_port = dead
    yield app
    from ray import serve

    serve.delete("edge")
