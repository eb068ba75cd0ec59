"""Adapters loaded at run time (POST /v1/load_lora_adapter), shared by every replica of one application.

One small deployment holds what was loaded: name -> URI, the content key the loading replica fetched
(phi3ray.storage.content_key: a retrained adapter written over the same URI has another one) and what
/v1/models shows of it. Ingress replicas read it to know the names; Generator replicas poll its version and
apply the difference between two steps: new or changed adapters are (re)loaded on their next use, removed ones
are forgotten. Its state lives as long as its one replica: adapters to keep across restarts (of the application,
or of this replica, which Serve restarts empty) belong in serve.yaml's `adapters`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ray import serve


@dataclass(frozen=True)
class RuntimeAdapter:
    uri: str
    content: str  # phi3ray.storage.content_key of uri when it was loaded
    info: dict = field(default_factory=dict, hash=False)  # base_model, base_revision, data_sha256 (its card)


@dataclass(frozen=True)
class CatalogView:
    epoch: str  # new each time the catalog starts (a restarted one is empty and counts from 0 again)
    version: int  # grows with every load and unload
    adapters: dict[str, RuntimeAdapter]


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class AdapterCatalog:
    def __init__(self):
        self.adapters: dict[str, RuntimeAdapter] = {}
        self.epoch = uuid.uuid4().hex
        self.version = 0

    def put(self, name: str, adapter: RuntimeAdapter) -> CatalogView:
        self.adapters[name] = adapter
        self.version += 1
        return self.view()

    def remove(self, name: str) -> CatalogView:
        if self.adapters.pop(name, None) is not None:
            self.version += 1
        return self.view()

    def view(self) -> CatalogView:
        return CatalogView(self.epoch, self.version, dict(self.adapters))
