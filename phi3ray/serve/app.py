"""The Serve application: conf/serve.yaml (+ overrides) -> Ingress(Retriever, Generator).

`serve run serve/config.yaml` and `serve deploy serve/config.yaml` call `build_app` with the
config file's `args`; `serve run phi3ray.serve.app:build_app overrides="model=tiny"` works too.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml
from pydantic import BaseModel, field_validator
from ray.serve import Application

from phi3ray.config import EMBEDDED_ALONE, DeploymentSettings, ServeConfig, conf_dir, load_config
from phi3ray.errors import ConfigValueError
from phi3ray.models.base import model_path
from phi3ray.placement import resource_options
from phi3ray.serve.catalog import AdapterCatalog
from phi3ray.serve.generator import Generator
from phi3ray.serve.ingress import Ingress
from phi3ray.serve.retriever import RetrieverDeployment

OVERRIDES_ENV = "PHI3RAY_SERVE_OVERRIDES"  # extra Hydra overrides, space-separated, applied last


class AppArgs(BaseModel):
    """The `args` of serve/config.yaml."""

    overrides: list[str] = []  # Hydra overrides of conf/<config_name>.yaml, e.g. ["model=tiny"]
    config_name: str = "serve"

    @field_validator("overrides", mode="before")
    @classmethod
    def _split(cls, value):
        return shlex.split(value) if isinstance(value, str) else value  # `serve run ... overrides="a=1 b=2"`


def load_serve_config(overrides: list[str] | None = None, config_name: str = "serve") -> ServeConfig:
    """Compose conf/serve.yaml with overrides (then $PHI3RAY_SERVE_OVERRIDES) and check every value."""
    return load_config(config_name, list(overrides or []) + shlex.split(os.environ.get(OVERRIDES_ENV, "")))


def http_options(config_file: str | None = None) -> dict:
    """host and port of Serve's HTTP proxy as serve/config.yaml sets them (the one place: `serve run` reads
    that file, and `python -m phi3ray.serve.ask` serves where `serve run` would)."""
    path = Path(config_file) if config_file else Path(conf_dir("serve")).parent / "serve" / "config.yaml"
    options = yaml.safe_load(path.read_text()).get("http_options") or {}
    return {"host": options.get("host", "127.0.0.1"), "port": int(options.get("port", 8000))}


def deployment_options(settings: DeploymentSettings) -> dict:
    """Ray Serve deployment options for one deployment's settings."""
    options: dict = {
        "ray_actor_options": {"num_cpus": settings.num_cpus, "num_gpus": settings.num_gpus,
                              **resource_options(settings.resources)},
        "max_ongoing_requests": settings.max_ongoing_requests,
    }
    if settings.max_replicas_per_node:
        options["max_replicas_per_node"] = settings.max_replicas_per_node
    if settings.autoscaling:
        options["autoscaling_config"] = {
            "min_replicas": settings.min_replicas,
            "max_replicas": settings.max_replicas,
            "target_ongoing_requests": settings.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = settings.num_replicas
    return options


def check_retriever_topology(cfg: ServeConfig, nodes: int | None = None) -> None:
    """Refuse an embedded Weaviate on a Ray cluster of several nodes (nodes: alive ones; None = ask Ray, if up).

    Several replicas are refused by the config itself (ServeConfig); here the cluster: its one replica may be
    placed, or replaced after a failure, on a node whose embedded Weaviate holds nothing.
    """
    if cfg.retriever.weaviate.mode != "embedded":
        return
    if nodes is None:
        import ray

        nodes = sum(1 for n in ray.nodes() if n.get("Alive")) if ray.is_initialized() else 1
    if nodes > 1:
        raise ConfigValueError("retriever", cfg.retriever.name, f"on a Ray cluster of {nodes} nodes {EMBEDDED_ALONE}; "
                               "run one Weaviate (the weaviate-server binary, its container image or Weaviate "
                               "Cloud) and use retriever=local|cloud")


def app_for(cfg: ServeConfig) -> Application:
    """Wire the graph for a composed config: Ingress(Retriever, Generator)."""
    model_path(cfg.model)  # a model made on first use (the tiny Phi-3) is made here, once, before any replica reads it
    check_retriever_topology(cfg)
    d = cfg.deployments
    batching = {"max_batch_size": cfg.max_batch_size, "batch_wait_timeout_s": cfg.batch_wait_timeout_s}
    # adapters loaded at run time: one deployment shared by the Ingress and every Generator replica, only when the
    # admin endpoints are on (admin_key set); without it adapters change through this config alone
    catalog = AdapterCatalog.bind() if cfg.admin_key else None
    return Ingress.options(**deployment_options(d.ingress)).bind(
        RetrieverDeployment.options(**deployment_options(d.retriever)).bind(cfg.retriever),
        Generator.options(**deployment_options(d.generator), user_config=batching).bind(cfg, catalog),
        cfg,
        catalog,
    )


def build_app(args: AppArgs | dict) -> Application:
    """Ray Serve app builder (import path phi3ray.serve.app:build_app)."""
    args = args if isinstance(args, AppArgs) else AppArgs.model_validate(args)
    return app_for(load_serve_config(args.overrides, args.config_name))
