"""Start the app, ask it one question (with RAG), print the answer and the sources it cites, shut everything down.

    python -m phi3ray.serve.ask "How do I replace the VX-220 mechanical seal?" model=tiny
    python -m phi3ray.serve.ask --model pumps "..." model=tiny +adapters.pumps=$HOME/phi3ray_runs/<run>/adapter

Positional words after the question are Hydra overrides of conf/serve.yaml (as for `serve run`). The
app is the one `serve run serve/config.yaml` starts, on that file's http_options, called with the openai client.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import time

import httpx

from phi3ray.config import ServeConfig
from phi3ray.console import job_console
from phi3ray.errors import RequestError
from phi3ray.serve.app import app_for, http_options, load_serve_config

logger = logging.getLogger(__name__)


def wait_until_healthy(url: str, timeout_s: float = 300.0, process: subprocess.Popen | None = None) -> None:
    """Poll GET /health until it answers 200; stop early if `process` (the server's, when we started it) exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server process exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise TimeoutError(f"the app at {url} did not answer /health within {timeout_s:.0f} s")


def ask(cfg: ServeConfig, question: str, model: str | None = None, rag: bool = True, max_tokens: int | None = None):
    """Start Ray (if needed) and the app, ask once with the openai client, stop both; return the ChatCompletion."""
    import ray
    from openai import APIStatusError, OpenAI
    from ray import serve

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        http = http_options()
        serve.start(http_options=http)
        serve.run(app_for(cfg), name="phi3ray", route_prefix="/")
        url = f"http://{http['host']}:{http['port']}"
        wait_until_healthy(url)
        client = OpenAI(base_url=f"{url}/v1", api_key=cfg.api_key or "unused", max_retries=0)
        try:
            return client.chat.completions.create(
                model=model or cfg.base_name,
                messages=[{"role": "user", "content": question}],
                max_tokens=max_tokens,
                extra_body={"rag": {"enabled": rag}},
            )
        except APIStatusError as err:  # the app's own answer (404 unknown model, 503 Weaviate down): the user's to fix
            raise RequestError(err.status_code, f"{err.status_code} {err.message}") from err
    finally:
        serve.shutdown()  # replicas stop gracefully; an embedded Weaviate started by the Retriever stops with it
        if started_ray:
            ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/serve.yaml, e.g. model=tiny")
    parser.add_argument("--model", help="base name or adapter (default: the base)")
    parser.add_argument("--no-rag", action="store_true", help="answer without retrieval")
    parser.add_argument("--max-tokens", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with job_console("ask"):  # a bad override, an unknown adapter, Weaviate unreachable: one line, exit 1
        cfg = load_serve_config(args.overrides)
        answer = ask(cfg, args.question, args.model, rag=not args.no_rag, max_tokens=args.max_tokens)
    print(f"Q ({answer.model}): {args.question}")
    print(f"A: {answer.choices[0].message.content.strip()}")
    usage = answer.usage
    print(
        f"   ({usage.prompt_tokens} prompt + {usage.completion_tokens} answer tokens, "
        f"finish_reason={answer.choices[0].finish_reason})"
    )
    extra = answer.model_extra or {}
    cited, retrieved = extra.get("sources") or [], extra.get("retrieved") or []
    if extra.get("rag") == "degraded":
        print("(retrieval was unavailable: answered without sources)")
    elif extra.get("rag") == "used" and not retrieved:
        print("(retrieval found no relevant source)")
    elif extra.get("rag") == "used" and not cited:
        print("(the answer cites none of the sources it was given)")
        for source in retrieved:
            print(f"  retrieved [{source['number']}] {describe_source(source)}")
    for source in cited:
        print(f"  [{source['number']}] {describe_source(source)}")


def describe_source(source: dict) -> str:
    """One source of a response, as ask prints it."""
    return f"{source['title']} ({source['source']}, object {source['object_id']}, score {source['score']:.2f})"


if __name__ == "__main__":
    main()
