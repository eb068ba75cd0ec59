"""The chunk collection in Weaviate: our own vectors (no vectorizer), BM25 on text, title and section.

The collection's description records the embedder and the vector dimension it was created for, so that a
run with another embedder stops with SchemaMismatchError instead of failing on the first insert.
"""

from __future__ import annotations

import re

import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, Vectorizers
from weaviate.collections import Collection

from phi3ray.errors import CollectionMissingError, SchemaMismatchError

# name -> (type, searchable by BM25); source, doc_id and content_hash are matched whole in filters.
PROPERTIES: dict[str, tuple[DataType, bool]] = {
    "text": (DataType.TEXT, True),
    "title": (DataType.TEXT, True),
    "section": (DataType.TEXT, True),
    "source": (DataType.TEXT, False),
    "doc_id": (DataType.TEXT, False),
    "chunk_index": (DataType.INT, False),
    "content_hash": (DataType.TEXT, False),
    "ingested_at": (DataType.DATE, False),
}
_DIMENSION = re.compile(r"dimension=(\d+)")


def create_collection(client: weaviate.WeaviateClient, name: str, embedder: str, dimension: int) -> Collection:
    properties = [
        Property(
            name=prop,
            data_type=dtype,
            index_searchable=searchable if dtype == DataType.TEXT else None,
            tokenization=(Tokenization.WORD if searchable else Tokenization.FIELD) if dtype == DataType.TEXT else None,
        )
        for prop, (dtype, searchable) in PROPERTIES.items()
    ]
    return client.collections.create(
        name,
        description=f"phi3ray document chunks; embedder={embedder} dimension={dimension}",
        vector_config=Configure.Vectors.self_provided(),
        properties=properties,
    )


def ensure_collection(client: weaviate.WeaviateClient, name: str, embedder: str, dimension: int) -> Collection:
    """Create the collection if absent; if present, check it fits this config (SchemaMismatchError if not)."""
    if not client.collections.exists(name):
        return create_collection(client, name, embedder, dimension)
    return check_collection(client, name, dimension, where="")


def check_collection(client: weaviate.WeaviateClient, name: str, dimension: int, where: str) -> Collection:
    """The existing collection, after checking its properties, vectorizer and vector dimension.

    Args:
        where: the Weaviate URL, named by CollectionMissingError when the collection does not exist.
    """
    if not client.collections.exists(name):
        raise CollectionMissingError(name, where)
    collection = client.collections.get(name)
    config = collection.config.get()
    have = {p.name: p.data_type for p in config.properties}
    problems = [
        f"property {prop!r} is {have[prop].value if prop in have else 'missing'}, expected {dtype.value}"
        for prop, (dtype, _) in PROPERTIES.items()
        if have.get(prop) != dtype
    ]
    vectorizers = {n: str(v.vectorizer.vectorizer) for n, v in (config.vector_config or {}).items()}
    if not vectorizers and config.vectorizer is not None:
        vectorizers = {"default": str(config.vectorizer)}
    if any(v not in (Vectorizers.NONE.value, str(Vectorizers.NONE)) for v in vectorizers.values()):
        problems.append(f"it has a vectorizer ({vectorizers}); phi3ray stores its own vectors (self_provided)")
    stored = _stored_dimension(collection, config.description)
    if stored is not None and stored != dimension:
        problems.append(f"its vectors have {stored} dimensions, the embedder makes {dimension}")
    if problems:
        raise SchemaMismatchError(
            name, "; ".join(problems) + " (use another retriever.collection, or delete this one and re-ingest)"
        )
    return collection


def _stored_dimension(collection: Collection, description: str | None) -> int | None:
    match = _DIMENSION.search(description or "")
    if match:
        return int(match.group(1))
    sample = collection.query.fetch_objects(limit=1, include_vector=True).objects  # a collection made elsewhere
    if not sample or not sample[0].vector:
        return None
    vector = next(iter(sample[0].vector.values()))
    return len(vector)

