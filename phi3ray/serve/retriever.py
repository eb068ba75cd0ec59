"""Retriever deployment: hybrid search over the Weaviate chunk collection, scaled apart from the Generator."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from ray import serve

from phi3ray.config import RetrieverConfig
from phi3ray.errors import CollectionMissingError, ConfigValueError, RequestError, WeaviateUnavailableError
from phi3ray.rag.connection import describe
from phi3ray.rag.retriever import Retriever

logger = logging.getLogger(__name__)


@serve.deployment(name="Retriever")
class RetrieverDeployment:
    """Serves phi3ray.rag.retriever.Retriever; connects lazily and reconnects after Weaviate comes back."""

    def __init__(self, cfg: RetrieverConfig):
        self.cfg = cfg
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()  # one search at a time per replica: the embedder runs on its CPUs
        try:
            self._connected()
        except RequestError as err:  # serve anyway: non-RAG requests work, RAG ones get a 503
            logger.warning("starting without Weaviate: %s", err)

    def _connected(self) -> Retriever:
        if self._retriever is None:
            try:
                with _as_request_error(self.cfg):
                    self._retriever = Retriever(self.cfg)
            except RequestError as err:  # at connect time every problem is the server's, not the request's
                why = err.message.removeprefix("rag.")
                raise RequestError(503, why, "service_unavailable", "rag", "rag_unavailable") from err
        return self._retriever

    def _search(
        self, query: str, top_k: int | None, alpha: float | None, filters: dict | None, question: str | None
    ) -> list[dict]:
        with self._lock:
            retriever = self._connected()
            try:
                with _as_request_error(self.cfg):
                    chunks = retriever.search(query, top_k=top_k, alpha=alpha, filters=filters, question=question)
                    return [asdict(chunk) for chunk in chunks]  # plain dicts: the Ingress passes them on unopened
            except RequestError as err:
                if err.status == 503:  # drop the client; the next request connects afresh
                    self._disconnect()
                raise

    async def search(
        self, query: str, top_k: int | None = None, alpha: float | None = None, filters: dict | None = None,
        question: str | None = None,
    ) -> list[dict]:
        """The best chunks for query (none when they do not cover question), as dicts of RetrievedChunk's fields.

        Raises RequestError: 503 when Weaviate cannot be reached, 400 for bad filters.
        """
        return await asyncio.to_thread(self._search, query, top_k, alpha, filters, question)

    async def ready(self) -> bool:
        """Whether Weaviate answers now (for /health)."""

        def check() -> bool:
            with self._lock:
                try:
                    return bool(self._connected().client.is_ready())
                except Exception:  # any failure means "not ready"; /health reports it, nothing to raise
                    self._disconnect()
                    return False

        return await asyncio.to_thread(check)

    def _disconnect(self) -> None:
        if self._retriever is not None:
            try:
                self._retriever.close()
            except Exception as err:  # closing a dead connection may fail too; nothing to recover
                logger.debug("closing the Weaviate client failed: %s", err)
            self._retriever = None

    def __del__(self) -> None:
        self._disconnect()  # embedded mode: stops the Weaviate server this replica started


@contextmanager
def _as_request_error(cfg: RetrieverConfig) -> Iterator[None]:
    """Turn retrieval failures into RequestErrors the Ingress answers with: 503, or 400 for bad filters."""
    try:
        yield
    except RequestError:
        raise
    except (WeaviateUnavailableError, CollectionMissingError) as err:
        raise RequestError(
            503, f"retrieval is unavailable: {err}", "service_unavailable", "rag", "rag_unavailable"
        ) from err
    except ConfigValueError as err:
        raise RequestError(400, f"rag.{err}", "invalid_request_error", "rag") from err
    except Exception as err:
        where = describe(cfg.weaviate)
        logger.exception("retrieval from %s failed", where)
        why = f"retrieval from Weaviate at {where} failed ({type(err).__name__}); see the Retriever's log"
        raise RequestError(503, why, "service_unavailable", "rag", "rag_unavailable") from err
