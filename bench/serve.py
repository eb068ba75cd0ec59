"""Serving bench: the continuous engine against the static `@serve.batch` one and against one request at a time,
under concurrent and Poisson arrivals, and time-to-first-token with and without RAG, all in one run against the
real apps over HTTP.

    python bench/serve.py                                   # tiny Phi-3, 4 adapters, on CPU
    python bench/serve.py --requests 32 --max-tokens 128 model=phi3-mini-4k deployments.generator.num_gpus=1

Setup: a private weaviate-server on free ports with the sample manuals ingested, LoRA adapters with
random weights on the model (stand-ins for trained ones: same shapes, same cost), and two apps from
conf/serve.yaml (+ the overrides given) on 127.0.0.1, side by side, identical but for `engine`:
/continuous (engine=continuous) and /static (engine=static, max_batch_size=--requests).

- throughput: --requests greedy requests spread over --adapters adapters, each forced to exactly
  --max-tokens tokens (logit_bias bans <|end|> and EOS, so every side does the same work), all at once
  and one at a time (the static app with its batch wait set to 0 for that, so a lone request does not
  wait for company). Best of --rounds rounds each.
- Poisson arrivals: --poisson requests, exponential gaps at --rate requests/s (default: the static app's
  best throughput in the concurrent test, in requests of these lengths: where it saturates), output lengths
  drawn from 8-256 tokens, the
  adapters in turn, the same seeded schedule sent to both apps, streamed: throughput (tokens / makespan),
  p50/p95 latency and time to first token; TTFT p95 under that load against an idle server's.
- time to first token: --ttft-samples streamed requests each with RAG (Retriever -> Weaviate hybrid
  search -> sources in the prompt) and without, alternating, one at a time, on the continuous app.
- in this process, no HTTP: the same mixed batch as one peft mixed-adapter generate against one generate
  per adapter; the continuous engine with all rows at once against one row at a time (the model side of the
  concurrency ratio, without the HTTP stack that shares the cores); the time to load an adapter on demand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
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
    engine_alone(adapter_set, prompts, names, sampling)
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


def engine_alone(adapter_set, prompts: list[list[int]], names: list[str], sampling) -> None:
    """The continuous engine in this process, without HTTP or Serve: all rows at once vs one row at a time."""
    from phi3ray.serve.engine import Engine, EngineSettings, Request, run_requests

    engine = Engine(adapter_set, EngineSettings(10**7, max_running=len(prompts), max_waiting=len(prompts),
                                                prefill_chunk_tokens=512))

    def run(pairs: list[tuple[list[int], str]]) -> float:
        start = time.perf_counter()
        run_requests(engine, [Request(prompt, sampling, name, time.time() + 600, stream=False) for prompt, name in pairs])
        return time.perf_counter() - start

    try:
        run(list(zip(prompts, names))[:2])  # warm-up
        together = run(list(zip(prompts, names)))
        alone = sum(run([pair]) for pair in zip(prompts, names))
    finally:
        engine.close()
    tokens = len(prompts) * sampling.max_new_tokens
    print(
        f"continuous engine in this process (no HTTP): {len(prompts)} rows at once {tokens / together:.0f} tok/s vs "
        f"one row at a time {tokens / alone:.0f} tok/s -> {alone / together:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--adapters", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--poisson", type=int, default=48, help="requests in the Poisson-arrival run")
    parser.add_argument("--rate", type=float, default=0.0, help="Poisson arrivals per second (0: the static app's)")
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
            common = (
                overrides
                + retriever
                + [f"+adapters.{n}={p}" for n, p in adapters.items()]
                + [
                    f"max_batch_size={args.requests}",
                    f"max_adapters_per_replica={args.adapters}",
                    f"deployments.generator.max_ongoing_requests={max(64, args.requests, args.poisson)}",
                    f"max_queued_requests={max(64, args.poisson)}",
                    "deployments.ingress.num_cpus=0.05",
                    "deployments.retriever.num_cpus=0.05",
                    "deployments.generator.num_cpus=0.9",  # two apps on 2 cores; torch still gets 1 thread
                    "api_key=null",
                ]
            )
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            cfgs = {}
            for engine in ("continuous", "static"):
                cfgs[engine] = load_serve_config(common + [f"engine={engine}"])
                serve.run(app_for(cfgs[engine]), name=engine, route_prefix=f"/{engine}")
            cfg = cfgs["static"]
            print(
                f"apps up: {cfg.model.name}, adapters {list(adapters)}, /continuous (max_running_requests="
                f"{cfg.max_running_requests}) and /static (max_batch_size={cfg.max_batch_size}, batch_wait_timeout_s="
                f"{cfg.batch_wait_timeout_s}), generator CPUs {cfg.deployments.generator.num_cpus}, GPUs "
                f"{cfg.deployments.generator.num_gpus}",
                flush=True,
            )
            run_http_benches(f"http://127.0.0.1:{port}", cfg, list(adapters), args)
            multiplexing_check(model_cfg, adapters, args.requests, args.max_tokens)
        finally:
            serve.shutdown()
            ray.shutdown()
            server.stop()


def _body(adapter: str, question: str, max_tokens: int, ban: dict) -> dict:
    return {
        "model": adapter,
        "max_tokens": max_tokens,
        "temperature": 0,
        "logit_bias": ban,
        "messages": [{"role": "user", "content": question}],
    }


def run_http_benches(base: str, cfg, adapters: list[str], args) -> None:
    from ray import serve

    tok = _tokenizer(cfg)
    ban = {str(tok.convert_tokens_to_ids("<|end|>")): -100, str(tok.eos_token_id): -100}
    bodies = [
        _body(adapters[i % len(adapters)], QUESTIONS[i % len(QUESTIONS)], args.max_tokens, ban)
        for i in range(args.requests)
    ]
    urls = {engine: f"{base}/{engine}" for engine in ("continuous", "static")}
    for url in urls.values():
        asyncio.run(throughput(url, bodies[: len(adapters)], concurrent=True))  # warm-up
    static = serve.get_deployment_handle("Generator", app_name="static")
    continuous = serve.get_deployment_handle("Generator", app_name="continuous")
    wait = {"batch_wait_timeout_s": cfg.batch_wait_timeout_s}
    rates: dict[str, dict[str, float]] = {engine: {"one": 0.0, "all": 0.0} for engine in urls}
    for _ in range(args.rounds):
        for engine, url in urls.items():
            if engine == "static":
                static.reconfigure.remote({"batch_wait_timeout_s": 0.0}).result()  # a lone request waits for no one
            seconds, tokens = asyncio.run(throughput(url, bodies, concurrent=False))
            rates[engine]["one"] = max(rates[engine]["one"], tokens / seconds)
            if engine == "static":
                static.reconfigure.remote(wait).result()
            before = continuous.stats.remote().result()
            seconds, tokens = asyncio.run(throughput(url, bodies, concurrent=True))
            rates[engine]["all"] = max(rates[engine]["all"], tokens / seconds)
            if engine == "continuous":
                after = continuous.stats.remote().result()
                steps = after["decode_steps"] - before["decode_steps"]
                rows_per_step = (after["decode_rows"] - before["decode_rows"]) / max(steps, 1)
                step_ms = seconds / max(steps, 1) * 1000
    one = rates["continuous"]["one"]
    print(f"continuous engine, last concurrent round: {steps} decode steps, {rows_per_step:.1f} rows per step, "
          f"{step_ms:.1f} ms of wall time per step (HTTP, Serve and the client share the cores with the model)")
    for engine in urls:
        print(
            f"throughput, {args.requests} concurrent requests over {len(adapters)} adapters, {args.max_tokens} tokens "
            f"each, {engine}: {rates[engine]['all']:.0f} tok/s vs one at a time {rates[engine]['one']:.0f} tok/s -> "
            f"{rates[engine]['all'] / rates[engine]['one']:.1f}x",
            flush=True,
        )
    print(f"throughput ratio continuous / static, {args.requests} concurrent: "
          f"{rates['continuous']['all'] / rates['static']['all']:.2f}x (one at a time: continuous {one:.0f} tok/s, "
          f"static {rates['static']['one']:.0f} tok/s)", flush=True)

    idle = [time_to_first_token(urls["continuous"], _body(adapters[i % len(adapters)], QUESTIONS[i % 4], 8, {}))
            for i in range(max(args.ttft_samples, 10))]
    lengths = random.Random(1).choices(range(8, 257), k=args.poisson)
    # default rate: the static app's best throughput (16 at once) in requests of these lengths: it saturates there
    rate = args.rate or rates["static"]["all"] / statistics.mean(lengths)
    schedule = poisson_schedule(lengths, rate, adapters, ban, seed=0)
    results = {engine: asyncio.run(poisson_run(url, schedule)) for engine, url in urls.items()}
    for engine, r in results.items():
        print(
            f"Poisson arrivals, {args.poisson} requests at {rate:.2f}/s, 8-256 tokens, {engine}: {r['tok_s']:.0f} tok/s, "
            f"latency p50 {r['p50']:.2f} s p95 {r['p95']:.2f} s, TTFT p50 {r['ttft50'] * 1000:.0f} ms "
            f"p95 {r['ttft95'] * 1000:.0f} ms",
            flush=True,
        )
    c, s = results["continuous"], results["static"]
    print(
        f"Poisson ratios continuous / static: throughput {c['tok_s'] / s['tok_s']:.2f}x (target >= 1.5), "
        f"p95 latency {c['p95'] / s['p95']:.2f}x (target <= 0.6); continuous TTFT p95 under load / idle "
        f"{c['ttft95'] / percentile(idle, 95):.2f}x (target <= 3; idle p95 {percentile(idle, 95) * 1000:.0f} ms)",
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
        plain.append(time_to_first_token(urls["continuous"], body))
        rag.append(time_to_first_token(urls["continuous"], {**body, "rag": {"enabled": True}}))
    for name, values in (("without RAG", plain), ("with RAG", rag)):
        print(
            f"time to first token {name}: p50 {percentile(values, 50) * 1000:.0f} ms, "
            f"p95 {percentile(values, 95) * 1000:.0f} ms ({len(values)} streamed requests, one at a time)"
        )


def poisson_schedule(lengths: list[int], rate: float, adapters: list[str], ban: dict, seed: int) -> list[tuple[float, dict]]:
    """(send time in s, body) per output length: exponential gaps at rate per second, the adapters in turn."""
    rng = random.Random(seed)
    at, schedule = 0.0, []
    for i, length in enumerate(lengths):
        schedule.append((at, _body(adapters[i % len(adapters)], QUESTIONS[i % len(QUESTIONS)], length, ban)))
        at += rng.expovariate(rate)
    return schedule


async def poisson_run(url: str, schedule: list[tuple[float, dict]]) -> dict[str, float]:
    """Send each body at its time, streamed; throughput over the makespan, latency and TTFT percentiles."""

    async def one(client: httpx.AsyncClient, at: float, body: dict, t0: float) -> tuple[float, float, float]:
        await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
        start, first = time.perf_counter(), None
        async with client.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if first is None and '"content":"' in line and '"content":""' not in line:
                    first = time.perf_counter()
        end = time.perf_counter()
        return start, (first or end) - start, end - start

    limits = httpx.Limits(max_connections=len(schedule) + 8, max_keepalive_connections=len(schedule) + 8)
    async with httpx.AsyncClient(timeout=900, limits=limits) as client:
        t0 = time.perf_counter()
        done = await asyncio.gather(*(one(client, at, body, t0) for at, body in schedule))
    makespan = max(start + latency for start, _, latency in done) - t0
    tokens = sum(body["max_tokens"] for _, body in schedule)  # exactly: <|end|> and EOS are banned
    latencies, ttfts = [d[2] for d in done], [d[1] for d in done]
    return {
        "tok_s": tokens / makespan,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "ttft50": percentile(ttfts, 50),
        "ttft95": percentile(ttfts, 95),
    }


def _tokenizer(cfg):
    from phi3ray.models.base import load_tokenizer

    return load_tokenizer(cfg.model)


if __name__ == "__main__":
    main()
