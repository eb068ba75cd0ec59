"""Connect to Weaviate in one of three modes: embedded (local binary), local (host/ports), cloud."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import weaviate
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.embedded import EmbeddedOptions

from phi3ray.config import WeaviateConfig
from phi3ray.errors import ConfigValueError, WeaviateUnavailableError
from phi3ray.storage import expand_path

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # the client logs every request at INFO


def describe(cfg: WeaviateConfig) -> str:
    """Where this config points, for error messages: a URL."""
    if cfg.mode == "cloud":
        return str(cfg.url)
    return f"http://{cfg.host}:{cfg.http_port} (grpc {cfg.grpc_port})"


def connect(cfg: WeaviateConfig) -> weaviate.WeaviateClient:
    """Return a connected client; raise WeaviateUnavailableError naming the URL if it cannot be reached.

    Embedded mode starts the server from the locally built binary, with data under cfg.data_dir,
    unless one already listens on the configured ports (another process of the same job started it),
    in which case it attaches to that one.
    """
    timeout = Timeout(init=10, query=cfg.timeout_s, insert=max(cfg.timeout_s, 60))
    additional = AdditionalConfig(timeout=timeout)
    try:
        if cfg.mode == "cloud":
            auth = Auth.api_key(cfg.api_key) if cfg.api_key else None
            client = weaviate.connect_to_weaviate_cloud(
                cluster_url=cfg.url, auth_credentials=auth, additional_config=additional
            )
        elif cfg.mode == "local" or _listening(cfg.host, cfg.http_port):
            client = weaviate.connect_to_local(
                host=cfg.host, port=cfg.http_port, grpc_port=cfg.grpc_port, additional_config=additional
            )
        else:
            client = _start_embedded(cfg, additional)
    except ConfigValueError:
        raise
    except Exception as err:  # the client raises several unrelated types for "not there"
        raise WeaviateUnavailableError(describe(cfg), _first_line(err)) from err
    return client


def _start_embedded(cfg: WeaviateConfig, additional: AdditionalConfig) -> weaviate.WeaviateClient:
    binary = Path(expand_path(cfg.binary))
    if not binary.is_file():
        raise ConfigValueError(
            "retriever.weaviate.binary", str(binary), "no weaviate-server there; run scripts/install.sh to build it"
        )
    # weaviate-client looks for <binary_path>/weaviate-v<version>-<sha256(v<version>)> and downloads it
    # when absent; we put a launcher of our locally built binary there, so that nothing is downloaded and
    # the server's own log (JSON lines: raft, cluster joins) goes to a file under the data folder.
    tag = f"v{cfg.version}"
    link_dir = binary.parent / "weaviate-embedded"
    link_dir.mkdir(parents=True, exist_ok=True)
    _write_launcher(link_dir / f"weaviate-{tag}-{hashlib.sha256(tag.encode()).hexdigest()}", binary)
    data_dir = expand_path(cfg.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    log = os.path.join(data_dir, "weaviate.log")
    logger.info("starting embedded Weaviate %s on %s, data in %s, its log in %s", tag, describe(cfg), data_dir, log)
    options = EmbeddedOptions(
        persistence_data_path=data_dir,
        binary_path=str(link_dir),
        version=cfg.version,
        port=cfg.http_port,
        grpc_port=cfg.grpc_port,
        hostname=cfg.host,
        # RAFT_TIMEOUTS_MULTIPLIER=1: a lone node elects itself leader after 1 s instead of 5 (ready in ~2.5 s, not
        # ~7-10 s); the default 5 is for tolerating network delays between nodes, which one local node does not have
        additional_env_vars={
            "ENABLE_MODULES": "", "DISABLE_TELEMETRY": "true", "LOG_LEVEL": "warning", "RAFT_TIMEOUTS_MULTIPLIER": "1",
            LOG_ENV: log,
        },
    )
    client = weaviate.WeaviateClient(embedded_options=options, additional_config=additional)
    client.connect()
    return client


LOG_ENV = "PHI3RAY_WEAVIATE_LOG"  # where the launcher sends the server's stdout and stderr


def _write_launcher(path: Path, binary: Path) -> None:
    """A shell launcher at path that runs binary with its output appended to $PHI3RAY_WEAVIATE_LOG."""
    script = f'#!/bin/sh\nexec "{binary}" "$@" >>"${{{LOG_ENV}:-/dev/stderr}}" 2>&1\n'
    if path.is_file() and not path.is_symlink() and path.read_text() == script:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(script)
    tmp.chmod(0o755)
    os.replace(tmp, path)  # atomic: a concurrent start sees the old launcher or the new one, never half of one


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]
