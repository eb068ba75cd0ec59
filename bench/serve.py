"""Serving bench: batching across adapters against one request at a time, and time-to-first-token with and
without RAG, all measured in one run against the real app over HTTP.

    python bench/serve.py                                   # tiny Phi-3, 4 adapters, 16 requests, on CPU
    python bench/serve.py --requests 32 --max-tokens 128 model=phi3-mini-4k deployments.generator.num_gpus=1

Setup: a private weaviate-server on free ports with the sample manuals ingested, LoRA adapters with
random weights on the model (stand-ins for trained ones: same shapes, same cost), and the app from
conf/serve.yaml (+ the overrides given) on 127.0.0.1.

- throughput: --requests greedy requests spread over --adapters adapters, each forced to exactly
  --max-tokens tokens (logit_bias bans <|end|> and EOS, so both sides do the same work). "batched" sends
  them all at once (the Generator gathers them with serve.batch into mixed-adapter generates); "one at a
  time" sends the same requests sequentially, with the batch wait set to 0 (Generator.reconfigure) so a
  lone request does not wait for company. Best of --rounds rounds each, alternating.
- time to first token: --ttft-samples streamed requests each with RAG (Retriever -> Weaviate hybrid
  search -> sources in the prompt) and without, alternating, one at a time; p50 and p95 of the time
  from sending to the first content chunk.
- multiplexing check (in this process, no HTTP): the same mixed batch as one peft mixed-adapter
  generate against one generate per adapter (what serve.batch gives when requests carry a multiplexed
  model id, since it splits batches by that id), and the time to load an adapter on demand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import torch  # noqa: E402

from phi3ray.config import load_config  # noqa: E402
from phi3ray.serve.app import load_serve_config  # noqa: E402

QUESTIONS = [
    "How do I replace the mechanical seal of the VX-220?",
    "What torque do the VX-220 casing bolts need?",
    "How often should the bearings be lubricated?",
    "What must be done before opening the pump casing?",
]


def make_adapters(model_cfg, root: Path, count: int) -> dict[str, str]:
    """LoRA adapters with random weights (rank 16, Phi-3's four projections), saved as peft folders."""
    from peft import LoraConfig, get_peft_model

    from phi3ray.models.base import load_base_model

    folders = {}
    for i in range(count):
        torch.manual_seed(i + 1)
        lora = LoraConfig(
            r=16,
            lora_alpha=32,
            target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
            init_lora_weights=False,
        )
        get_peft_model(load_base_model(model_cfg), lora).save_pretrained(root / f"adapter{i}")
        folders[f"adapter{i}"] = str(root / f"adapter{i}")
    return folders


def ingest_docs(server, docs: list[str]) -> list[str]:
    """Ingest the manuals into the private Weaviate; return the retriever overrides pointing at it."""
    from phi3ray.rag.ingest import ingest

    overrides = server.overrides("BenchServe")
    cfg = load_config("ingest", overrides + [f"data.documents=[{','.join(docs)}]", "queries=[]"])
    print(f"ingested: {ingest(cfg).line()}", flush=True)
    return overrides


async def throughput(url: str, bodies: list[dict], concurrent: bool) -> tuple[float, int]:
    """Seconds and completion tokens for the requests, all at once or one after the other."""
    async with httpx.AsyncClient(timeout=600) as client:
        start = time.perf_counter()
        if concurrent:
            responses = await asyncio.gather(*(client.post(f"{url}/v1/chat/completions", json=b) for b in bodies))
        else:
            responses = [await client.post(f"{url}/v1/chat/completions", json=b) for b in bodies]
        seconds = time.perf_counter() - start
    for r in responses:
        r.raise_for_status()
    return seconds, sum(r.json()["usage"]["completion_tokens"] for r in responses)


def time_to_first_token(url: str, body: dict) -> float:
    start = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}, timeout=120) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                return time.perf_counter() - start
    raise RuntimeError(f"no content in the stream for {body}")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def multiplexing_check(model_cfg, adapters: dict[str, str], rows: int, max_tokens: int) -> None:
    """One mixed-adapter generate vs one generate per adapter, and on-demand adapter loads (this process)."""
    from phi3ray.models.adapters import AdapterSet
    from phi3ray.models.generation import Sampling, encode_chat, generate_tokens

    torch.set_num_threads(1)  # as in the Generator replica (Ray gives it OMP_NUM_THREADS=num_cpus)
    adapter_set = AdapterSet.load(model_cfg, adapters, max_loaded=len(adapters))
    model, tok = adapter_set.model, adapter_set.tokenizer
    names = [list(adapters)[i % len(adapters)] for i in range(rows)]
    prompts = [encode_chat(tok, [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]) for i in range(rows)]
    ban = {tok.convert_tokens_to_ids("<|end|>"): -100.0, tok.eos_token_id: -100.0}
    sampling = Sampling(max_new_tokens=max_tokens, logit_bias=ban)
    generate_tokens(model, tok, prompts[:2], [sampling] * 2, names[:2])  # warm-up
    start = time.perf_counter()
    generate_tokens(model, tok, prompts, [sampling] * rows, names)
    mixed = time.perf_counter() - start
    start = time.perf_counter()
    for name in adapters:
        idx = [i for i, n in enumerate(names) if n == name]
        generate_tokens(model, tok, [prompts[i] for i in idx], [sampling] * len(idx), [name] * len(idx))
    split = time.perf_counter() - start
    print(
        f"mixed-adapter batch: {rows} rows x {len(adapters)} adapters in one generate {mixed:.2f} s vs one "
        f"generate per adapter (serve.batch split by multiplexed model id) {split:.2f} s -> {split / mixed:.2f}x"
    )
    tight = AdapterSet.load(model_cfg, adapters, max_loaded=1)  # room for one: every switch loads one
    loads = []
    for name in list(adapters)[1:]:
        start = time.perf_counter()
        tight.ensure(name)
        loads.append(time.perf_counter() - start)
    print(
        f"loading an adapter on demand (AdapterSet LRU, evicting another): "
        f"{statistics.mean(loads) * 1000:.0f} ms on average over {len(loads)} loads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ttft-samples", type=int, default=20)
    parser.add_argument("--docs", action="append", help="document glob to ingest (repeatable; default: all manuals)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/serve.yaml (default model=tiny)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ray
    from ray import serve

    from phi3ray.serve.app import app_for
    from tests.support.net import free_port
    from tests.support.weaviate_process import WeaviateProcess

    overrides = args.overrides or ["model=tiny"]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model_cfg = load_serve_config(overrides).model
        adapters = make_adapters(model_cfg, Path(tmp), args.adapters)
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        server = WeaviateProcess(data_dir=Path(tmp) / "weaviate").start()
        try:
            retriever = ingest_docs(server, [str(ROOT / d) for d in args.docs or ["data/pumps/docs/*.md"]])
            cfg = load_serve_config(
                overrides
                + retriever
                + [f"+adapters.{n}={p}" for n, p in adapters.items()]
                + [
                    f"max_batch_size={args.requests}",
                    f"max_adapters_per_replica={args.adapters}",
                    f"deployments.generator.max_ongoing_requests={max(64, args.requests)}",
                    "api_key=null",
                ]
            )
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(app_for(cfg), name="bench", route_prefix="/")
            url = f"http://127.0.0.1:{port}"
            print(
                f"app up: {cfg.model.name}, adapters {list(adapters)}, max_batch_size={cfg.max_batch_size}, "
                f"batch_wait_timeout_s={cfg.batch_wait_timeout_s}, generator CPUs "
                f"{cfg.deployments.generator.num_cpus}, GPUs {cfg.deployments.generator.num_gpus}",
                flush=True,
            )
            run_http_benches(url, cfg, list(adapters), args)
            multiplexing_check(model_cfg, adapters, args.requests, args.max_tokens)
        finally:
            serve.shutdown()
            ray.shutdown()
            server.stop()


def run_http_benches(url: str, cfg, adapters: list[str], args) -> None:
    from ray import serve

    tok = _tokenizer(cfg)
    ban = {str(tok.convert_tokens_to_ids("<|end|>")): -100, str(tok.eos_token_id): -100}
    bodies = [
        {
            "model": adapters[i % len(adapters)],
            "max_tokens": args.max_tokens,
            "temperature": 0,
            "logit_bias": ban,
            "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
        }
        for i in range(args.requests)
    ]
    asyncio.run(throughput(url, bodies[: len(adapters)], concurrent=True))  # warm-up
    generator = serve.get_deployment_handle("Generator", app_name="bench")
    one, batched, calls = [], [], []
    wait = {"batch_wait_timeout_s": cfg.batch_wait_timeout_s}
    for _ in range(args.rounds):
        generator.reconfigure.remote({"batch_wait_timeout_s": 0.0}).result()  # a lone request waits for no company
        seconds, tokens = asyncio.run(throughput(url, bodies, concurrent=False))
        one.append(tokens / seconds)
        generator.reconfigure.remote(wait).result()
        before = len(generator.stats.remote().result()["generate_calls"])
        seconds, tokens = asyncio.run(throughput(url, bodies, concurrent=True))
        batched.append(tokens / seconds)
        calls.append(generator.stats.remote().result()["generate_calls"][before:])
    best = max(range(args.rounds), key=lambda i: batched[i])
    shape = ", ".join(f"{rows} rows/{names} models" for rows, names in calls[best])
    print(
        f"throughput, {args.requests} requests over {len(adapters)} adapters, {args.max_tokens} tokens each: "
        f"batched {max(batched):.0f} tok/s ({len(calls[best])} generate calls: {shape}) vs one at a time "
        f"{max(one):.0f} tok/s -> {max(batched) / max(one):.1f}x",
        flush=True,
    )

    plain, rag = [], []
    for i in range(args.ttft_samples):
        body = {
            "model": adapters[i % len(adapters)],
            "max_tokens": 8,
            "temperature": 0,
            "messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
        }
        plain.append(time_to_first_token(url, body))
        rag.append(time_to_first_token(url, {**body, "rag": {"enabled": True}}))
    for name, values in (("without RAG", plain), ("with RAG", rag)):
        print(
            f"time to first token {name}: p50 {percentile(values, 50) * 1000:.0f} ms, "
            f"p95 {percentile(values, 95) * 1000:.0f} ms ({len(values)} streamed requests, one at a time)"
        )


def _tokenizer(cfg):
    from phi3ray.models.base import load_tokenizer

    return load_tokenizer(cfg.model)


if __name__ == "__main__":
    main()
