"""Ingest documents into Weaviate (Ray Data: chunk, embed, batch import), then answer cfg.queries with sources.

    python jobs/ingest.py                                              # sample manuals, embedded Weaviate
    python jobs/ingest.py retriever=local data.documents='[/srv/manuals/**/*.pdf]' sync=true
    ray job submit --working-dir . -- python jobs/ingest.py retriever=local num_embed_actors=4
"""

import hydra
from omegaconf import DictConfig

from phi3ray.config import validate
from phi3ray.console import job_console
from phi3ray.rag.connection import connect
from phi3ray.rag.ingest import ingest
from phi3ray.rag.retriever import Retriever


@hydra.main(version_base="1.3", config_path="../conf", config_name="ingest")
def main(cfg: DictConfig) -> None:
    with job_console("ingest"):  # Weaviate down, failed objects, unreadable documents, a bad setting
        config = validate(cfg)
        client = connect(config.retriever.weaviate)  # embedded mode: this process runs the server
        try:
            summary = ingest(config, client)
            print(f"ingested: {summary.line()}")
            if config.data.on_error == "skip":
                for problem in summary.unreadable:
                    print(f"unreadable (skipped): {problem}")
            retriever = Retriever(config.retriever, client)
            for query in config.queries:
                print(f"\n{query}")
                for n, chunk in enumerate(retriever.search(query), start=1):
                    print(f"  [{n}] {chunk.score:.3f}  {chunk.title} — {chunk.section or '(intro)'}  ({chunk.source})")
            summary.check_readable(config.data.on_error)  # on_error=raise: list them and exit 1 (the rest is written)
        finally:
            client.close()


if __name__ == "__main__":
    main()
