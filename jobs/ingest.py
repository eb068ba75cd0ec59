"""Ingest documents into Weaviate (Ray Data: chunk, embed, batch import), then answer cfg.queries with sources.

    python jobs/ingest.py                                              # sample manuals, embedded Weaviate
    python jobs/ingest.py retriever=local data.documents='[/srv/manuals/**/*.pdf]' sync=true
    ray job submit --working-dir . -- python jobs/ingest.py retriever=local num_embed_actors=4
"""

import hydra
from omegaconf import DictConfig

from phi3ray.config import validate
from phi3ray.errors import Phi3RayError
from phi3ray.rag.connection import connect
from phi3ray.rag.ingest import ingest
from phi3ray.rag.retriever import Retriever


@hydra.main(version_base="1.3", config_path="../conf", config_name="ingest")
def main(cfg: DictConfig) -> None:
    config = validate(cfg)
    client = None
    try:
        client = connect(config.retriever.weaviate)  # embedded mode: this process runs the server
        summary = ingest(config, client)
        print(f"ingested: {summary.line()}")
        for problem in summary.unreadable:
            print(f"unreadable: {problem}")
        retriever = Retriever(config.retriever, client)
        for query in config.queries:
            print(f"\n{query}")
            for n, chunk in enumerate(retriever.search(query), start=1):
                print(f"  [{n}] {chunk.score:.3f}  {chunk.title} — {chunk.section or '(intro)'}  ({chunk.source})")
    except Phi3RayError as err:  # Weaviate down, failed objects, a bad setting: the message says what to do
        raise SystemExit(f"ingest: {err}") from None
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    main()
