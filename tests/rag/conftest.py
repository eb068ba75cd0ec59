"""RAG fixtures: an ingest config for a collection on the session's Weaviate, and the sample manuals ingested once."""

from __future__ import annotations

from pathlib import Path

import pytest

from phi3ray.config import IngestConfig, validate
from phi3ray.rag.ingest import IngestSummary, ingest
from tests.conftest import compose_config
from tests.support.weaviate_process import WeaviateProcess

ROOT = Path(__file__).resolve().parents[2]
PUMP_DOCS = str(ROOT / "data/pumps/docs/*.md")


def ingest_config(server: WeaviateProcess, collection: str, documents: list[str], *overrides: str) -> IngestConfig:
    """conf/ingest.yaml with retriever=local pointing at server, as `python jobs/ingest.py ...` would compose it."""
    paths = ",".join(f"'{d}'" for d in documents)
    return validate(
        compose_config(
            "ingest",
            [
                *server.overrides(collection),
                f"data.documents=[{paths}]",
                "queries=[]",
                *overrides,
            ],
        )
    )


@pytest.fixture(scope="session")
def pumps_ingested(ray_session, weaviate_server) -> tuple[IngestConfig, IngestSummary]:
    """The sample pump manuals ingested once into collection TestPumps (first run: everything is new)."""
    cfg = ingest_config(weaviate_server, "TestPumps", [PUMP_DOCS])
    return cfg, ingest(cfg)
