"""Connecting to a real Weaviate: the test server, the embedded mode on the local binary, and failures."""

import uuid

import pytest
import requests
from weaviate.classes.config import Configure, DataType, Property

from phi3ray.config import WeaviateConfig
from phi3ray.errors import WeaviateUnavailableError
from phi3ray.rag.connection import connect
from tests.support.weaviate_process import DEFAULT_BINARY, WeaviateProcess, _free_port


def test_fixture_server_is_ready(weaviate_server):
    assert requests.get(f"{weaviate_server.url}/v1/.well-known/ready", timeout=5).status_code == 200
    meta = requests.get(f"{weaviate_server.url}/v1/meta", timeout=5).json()
    assert meta["version"] == "1.39.0"


def test_server_starts_and_stops(tmp_path):
    server = WeaviateProcess(data_dir=tmp_path / "data").start()
    url = server.url
    assert requests.get(f"{url}/v1/.well-known/ready", timeout=5).ok
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/v1/.well-known/ready", timeout=2)


def test_local_mode_connects_to_the_server(weaviate_server):
    cfg = WeaviateConfig(
        mode="local", host=weaviate_server.host, http_port=weaviate_server.http_port, grpc_port=weaviate_server.grpc_port
    )
    client = connect(cfg)
    try:
        assert client.is_ready()
    finally:
        client.close()


def _free_ports(n: int) -> list[int]:
    from contextlib import ExitStack

    with ExitStack() as held:
        return [_free_port(held) for _ in range(n)]


def test_embedded_mode_writes_reads_own_vectors_and_persists_across_restart(tmp_path):
    http_port, grpc_port = _free_ports(2)
    cfg = WeaviateConfig(
        mode="embedded", data_dir=str(tmp_path / "data"), binary=DEFAULT_BINARY, http_port=http_port, grpc_port=grpc_port
    )
    vectors = {f"doc-{i}": [float(i == j) for j in range(8)] for i in range(4)}
    ids = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in vectors}

    client = connect(cfg)
    try:
        assert client.get_meta()["version"] == "1.39.0"
        docs = client.collections.create(
            "EmbeddedTest",
            vector_config=Configure.Vectors.self_provided(),
            properties=[Property(name="text", data_type=DataType.TEXT)],
        )
        for name, vector in vectors.items():
            docs.data.insert({"text": f"text of {name}"}, uuid=ids[name], vector=vector)
        hit = docs.query.near_vector([0.0, 0.0, 1.0, 0, 0, 0, 0, 0], limit=1).objects[0]
        assert hit.properties["text"] == "text of doc-2"
    finally:
        client.close()  # stops the embedded server

    client = connect(cfg)  # a new server process on the same data folder
    try:
        docs = client.collections.get("EmbeddedTest")
        assert docs.aggregate.over_all(total_count=True).total_count == 4
        obj = docs.query.fetch_object_by_id(ids["doc-3"], include_vector=True)
        assert obj.properties["text"] == "text of doc-3"
        assert obj.vector["default"] == pytest.approx(vectors["doc-3"])
    finally:
        client.close()


def test_unreachable_weaviate_names_the_url():
    (port,) = _free_ports(1)
    cfg = WeaviateConfig(mode="local", host="127.0.0.1", http_port=port, grpc_port=port)
    with pytest.raises(WeaviateUnavailableError, match=f"127.0.0.1:{port}"):
        connect(cfg)


def test_embedded_without_binary_says_how_to_build_it(tmp_path):
    (http_port, grpc_port) = _free_ports(2)
    cfg = WeaviateConfig(
        mode="embedded", data_dir=str(tmp_path), binary=str(tmp_path / "nope"), http_port=http_port, grpc_port=grpc_port
    )
    with pytest.raises(Exception, match="scripts/install.sh"):
        connect(cfg)
