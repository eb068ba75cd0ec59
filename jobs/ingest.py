"""Ingest documents into Weaviate (Ray Data: chunk, embed, batch import), then answer cfg.queries with sources.

    python jobs/ingest.py                                              # sample manuals, embedded Weaviate
    python jobs/ingest.py retriever=local data.documents='[/srv/manuals/**/*.pdf]' sync=true
    ray job submit --working-dir . -- python jobs/ingest.py retriever=local num_embed_actors=4
"""

from phi3ray.console import job_console, quiet_third_party

quiet_third_party()  # before the libraries below load: some warn as they are imported

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from phi3ray.config import validate  # noqa: E402
from phi3ray.rag.connection import connect  # noqa: E402
from phi3ray.rag.ingest import ingest  # noqa: E402
from phi3ray.rag.retriever import Retriever  # noqa: E402


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
