"""Generator deployment: the Phi-3 base plus LoRA adapters; concurrent requests share every forward pass.

Two engines, chosen by ServeConfig.engine:
- continuous (the default, phi3ray.serve.engine): requests join the running batch at the next decode step and
  leave it when they end, each row with its own adapter, sampling and stop strings; a KV budget admits them,
  a bounded queue holds the rest and refuses more with 429.
- static (kept to measure the other against, bench/serve.py): `@serve.batch` gathers requests into one peft
  mixed-adapter generate, which runs until its longest row ends; a request arriving meanwhile waits for it.

Serve's model multiplexing is not used: `serve.batch` splits a batch by multiplexed model id, which would put
each adapter in a generate of its own. The replica's AdapterSet keeps up to `max_adapters_per_replica` adapters
resident and loads the others on demand (LRU). Streamed and non-streamed requests run the same way.

Adapters can also be loaded and unloaded at run time (the Ingress's admin endpoints, phi3ray.serve.catalog): the
replica that takes the load fetches the adapter, checks that it fits this base and reads its weights off the
model's thread (AdapterSet.prepare in a worker thread), then installs it between two steps; the others learn it
from the catalog and prepare it off their model thread on its first request. Nothing is fetched on the decode
thread unless a request for an evicted adapter arrives while another fetch of it is under way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ray import serve

from phi3ray.config import MethodConfig, ServeConfig, context_limit, system_prompt_of
from phi3ray.console import quiet_third_party
from phi3ray.errors import HardwareError, Phi3RayError, PromptError, RequestError, UnknownAdapterError
from phi3ray.models.adapters import AdapterSet
from phi3ray.models.generation import Completion, Sampling, declined_completion, encode_chat, generate_tokens
from phi3ray.names import BASE_ADAPTER
from phi3ray.rag.prompt import RetrievedChunk, build_prompt, declines
from phi3ray.serve.catalog import CatalogView, RuntimeAdapter
from phi3ray.serve.engine import Engine, EngineSettings, Event, Request, request_error, size_kv_cache
from phi3ray.serve.openai_schema import ChatRequest, ChatResult, cited_sources
from phi3ray.tracking import resolve_serve_adapters

logger = logging.getLogger(__name__)
access_log = logging.getLogger("ray.serve")  # Serve's replica logger: one line per request in the replica's log file


class ServeMetrics:
    """The Generator's Prometheus metrics (Ray Serve exports them with the deployment and replica as tags):
    queue length, running rows, KV slots reserved, tokens generated (rate() = tokens/s), time to first token,
    request latency, adapter loads and evictions."""

    def __init__(self, kv_budget: int):
        from ray.serve import metrics

        self.kv_budget = kv_budget
        self.waiting = metrics.Gauge("phi3ray_waiting_requests", "requests waiting for room in the engine")
        self.running = metrics.Gauge("phi3ray_running_rows", "rows decoding together")
        self.kv_reserved = metrics.Gauge("phi3ray_kv_cache_reserved_tokens", "KV slots reserved by the running rows")
        self.kv_usage = metrics.Gauge("phi3ray_kv_cache_usage", "KV slots reserved / the replica's KV budget")
        self.tokens = metrics.Counter("phi3ray_generated_tokens", "completion tokens", tag_keys=("adapter",))
        self.requests = metrics.Counter("phi3ray_finished_requests", "requests answered, by finish reason",
                                        tag_keys=("adapter", "finish_reason"))
        seconds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
        self.ttft = metrics.Histogram("phi3ray_time_to_first_token_s", "from the engine's queue to the first token",
                                      boundaries=seconds, tag_keys=("adapter",))
        self.latency = metrics.Histogram("phi3ray_request_latency_s", "from the engine's queue to the last token",
                                         boundaries=seconds, tag_keys=("adapter",))
        self.adapter_loads = metrics.Counter("phi3ray_adapter_loads", "adapters loaded into the replica")
        self.adapter_evictions = metrics.Counter("phi3ray_adapter_evictions", "adapters unloaded to make room")
        self._seen = (0, 0)

    def load(self, load: dict, adapters: AdapterSet) -> None:
        self.waiting.set(load["waiting"])
        self.running.set(load["running"])
        self.kv_reserved.set(load["kv_reserved"])
        self.kv_usage.set(load["kv_reserved"] / max(self.kv_budget, 1))
        loads, evictions = adapters.loads - self._seen[0], adapters.evictions - self._seen[1]
        if loads:
            self.adapter_loads.inc(loads)
        if evictions:
            self.adapter_evictions.inc(evictions)
        self._seen = (adapters.loads, adapters.evictions)

    def finished(self, request: Request, completion: Completion) -> None:
        tags = {"adapter": request.adapter}
        now = time.perf_counter()
        if completion.completion_tokens:
            self.tokens.inc(completion.completion_tokens, tags)
        self.requests.inc(1, {**tags, "finish_reason": completion.finish_reason})
        if request.first_token is not None:
            self.ttft.observe(request.first_token - request.submitted, tags)
        self.latency.observe(now - request.submitted, tags)


def plan_groups(rows: list[Request], max_adapters: int) -> list[list[int]]:
    """Split a batch into generate calls: at most max_adapters distinct adapters per call, and each
    seeded sampled row alone (its seed seeds that call's RNG)."""
    groups: list[list[int]] = []
    current: list[int] = []
    adapters: set[str] = set()
    for i, row in enumerate(rows):
        if not row.sampling.greedy and row.sampling.seed is not None:
            groups.append([i])
            continue
        wanted = adapters | ({row.adapter} - {BASE_ADAPTER})
        if current and len(wanted) > max_adapters:
            groups.append(current)
            current, wanted = [], {row.adapter} - {BASE_ADAPTER}
        current.append(i)
        adapters = wanted
    return groups + ([current] if current else [])


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@serve.deployment
class Generator:
    """The base loaded once (bf16 on GPU, float32 on CPU, or 4-bit) plus the configured adapters."""

    def __init__(self, cfg: ServeConfig, catalog=None):
        quiet_third_party()  # this replica's process is an entry point too
        self.cfg = cfg
        gpus = cfg.deployments.generator.num_gpus
        if gpus > 0 and not torch_cuda_available():  # never a silent float32 model on the CPU of a GPU deployment
            raise HardwareError(f"deployments.generator.num_gpus={gpus} but this replica sees no CUDA device")
        self.system_prompt = system_prompt_of(cfg)
        method = MethodConfig(name="qlora", load_in_4bit=True) if cfg.quantize == "4bit" else None
        # adapters named models:/<name>@<alias> -> the version's folder (refused if trained on another base)
        folders, self.registry = resolve_serve_adapters(cfg)
        self.adapters = AdapterSet.load(cfg.model, folders, cfg.max_adapters_per_replica, method,
                                        max_rank=cfg.max_lora_rank)
        self.catalog = catalog  # the application's AdapterCatalog handle (None: no adapters loaded at run time)
        self.replica = _replica_id()
        self.runtime: dict[str, RuntimeAdapter] = {}  # what this replica applied of the catalog
        self._catalog_version = ("", 0)  # (epoch, version) of the catalog view applied last
        self._catalog_checked = 0.0
        self.tokenizer = self.adapters.tokenizer
        self.vocab_size = len(self.tokenizer)
        self.calls: deque[tuple[int, int]] = deque(maxlen=10_000)  # static: (rows, distinct models) per generate
        self.finish_reasons: Counter[str] = Counter()  # static: stop | length | timeout | cancelled, over all rows
        self.engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        if cfg.engine == "continuous":
            model = self.adapters.model
            kv = cfg.kv_cache_tokens or size_kv_cache(model)
            self.engine = Engine(self.adapters, EngineSettings(kv, cfg.max_running_requests, cfg.max_queued_requests,
                                                               cfg.prefill_chunk_tokens))
            logger.info("continuous engine: %d KV tokens, %d rows, %d queued", kv, cfg.max_running_requests,
                        cfg.max_queued_requests)
            self.metrics = ServeMetrics(kv)
            self._reporter: asyncio.Task | None = None
        else:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")  # one generate at a time
        self._warm_up()

    def _warm_up(self) -> None:
        """One short answer, so the first request does not pay for lazy initialisation."""
        prompt = encode_chat(self.tokenizer, [{"role": "user", "content": "hi"}])
        if self.engine is not None:
            done = threading.Event()
            self.engine.submit(Request(prompt, Sampling(max_new_tokens=2), BASE_ADAPTER, float("inf"),
                                       post=lambda event: isinstance(event, (Completion, RequestError)) and done.set()))
            done.wait(600)
        else:
            self._generate([Request(prompt, Sampling(max_new_tokens=2), BASE_ADAPTER, float("inf"))], lambda _: None)
        self.calls.clear()
        self.finish_reasons.clear()
        if self.engine is not None:
            self.engine.finish_reasons.clear()

    def _on_model_thread(self, fn: Callable[[], object]) -> Future:
        """Run fn where the model is used (between two steps or two generates), so nothing changes under a forward."""
        return self.engine.call(fn) if self.engine is not None else self._executor.submit(fn)

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from Serve's user_config: app_for sets it from cfg (Serve calls this before the first
        request), and a `serve deploy` with new values changes them without a restart."""
        if "max_batch_size" in user_config:
            self._decode.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self._decode.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))
        if user_config.get("registry_refresh") not in (None, getattr(self, "_registry_refresh", None)):
            self._registry_refresh = user_config["registry_refresh"]  # any new value: resolve models:/ URIs again
            self._on_model_thread(self._refresh).result()

    async def refresh(self) -> dict[str, dict]:
        """Resolve the models:/<name>@<alias> adapters again (an alias may have moved); return what /v1/models shows.
        The swap runs on the model's thread, between two steps."""
        return await asyncio.wrap_future(self._on_model_thread(self._refresh))

    def _refresh(self) -> dict[str, dict]:
        folders, registry = resolve_serve_adapters(self.cfg)
        for name, info in registry.items():
            if info["version"] != self.registry.get(name, {}).get("version"):
                self.adapters.replace(name, folders[name])
        self.registry = registry
        return registry

    async def complete(
        self, request: ChatRequest, adapter: str, chunks: list[dict] | None, deadline: float
    ) -> ChatResult:
        """The whole answer to one request (chunks: the Retriever's, for RAG; None without)."""
        row, result = self._prepare(request, adapter, chunks, deadline)
        row.stream = False  # only the answer is wanted, not its pieces
        async for event in self._answer(row, result, chunks):
            if isinstance(event, Completion):
                _finish(result, event)
        return result

    async def stream(
        self, request: ChatRequest, adapter: str, chunks: list[dict] | None, deadline: float
    ) -> AsyncIterator[ChatResult | str]:
        """A ChatResult with the prompt's size and retrieved sources, then text pieces, then the final ChatResult."""
        row, result = self._prepare(request, adapter, chunks, deadline)
        yield result.model_copy()
        async for event in self._answer(row, result, chunks):
            if isinstance(event, Completion):
                _finish(result, event)
                yield result
            elif event:
                yield event

    async def models(self) -> dict[str, dict]:
        """name -> what /v1/models shows of each adapter: its card's base, revision and training-data hash, and
        for registry adapters the registered model, version and alias."""
        await self.sync_catalog(force=True)
        shown = self.adapters.shown()
        for name, info in self.registry.items():
            shown.setdefault(name, {}).update({k: v for k, v in info.items() if v is not None})
        return shown

    # ---- adapters at run time (phi3ray.serve.catalog) ----

    async def add_adapter(self, name: str, uri: str) -> RuntimeAdapter:
        """Load adapter `name` from `uri` on this replica (fetched and checked off the model's thread, installed
        between two steps) and return what the catalog records; a 400 when it cannot be fetched or does not fit."""
        try:
            prepared = await asyncio.to_thread(self.adapters.prepare, name, uri)
        except Phi3RayError as err:  # cannot be fetched, is no LoRA adapter, or does not fit this base
            raise RequestError(400, str(err), param="lora_path", code="invalid_adapter") from err
        adapter = RuntimeAdapter(uri, prepared.content, prepared.info())

        def install() -> None:  # on the model's thread; `runtime` changes with the model, so a sync sees both
            self.adapters.add(prepared, keep=tuple(self._busy()))
            self.runtime[name] = adapter

        try:
            await asyncio.shield(asyncio.wrap_future(self._on_model_thread(install)))
        except Phi3RayError as err:
            raise RequestError(400, str(err), param="lora_path", code="invalid_adapter") from err
        return adapter

    def _busy(self) -> set[str]:
        return self.engine.adapters_in_use() if self.engine is not None else set()

    async def sync_catalog(self, force: bool = False) -> None:
        """Apply what the catalog says (at most once a second unless forced): adapters loaded, reloaded (another
        content at the URI) or unloaded at run time. A reloaded adapter resident here is prepared off the model's
        thread first; the change itself runs on the model's thread."""
        if self.catalog is None or (not force and time.monotonic() - self._catalog_checked < 1.0):
            return
        self._catalog_checked = time.monotonic()
        view: CatalogView = await self.catalog.view.remote()
        if (view.epoch, view.version) == self._catalog_version and not self.adapters.forgotten_resident():
            return
        resident = set(self.adapters.loaded)
        prepared = {}
        for name, adapter in view.adapters.items():
            mine = self.runtime.get(name)
            if name in resident and mine is not None and (mine.uri, mine.content) != (adapter.uri, adapter.content):
                try:  # new weights behind a name rows may be using: read them here, swap between two steps
                    prepared[name] = await asyncio.to_thread(self.adapters.prepare, name, adapter.uri)
                except Exception as err:  # it loads on its next use instead (and fails there, naming why)
                    logger.warning("adapter %s: %s", name, err)
        await asyncio.shield(asyncio.wrap_future(self._on_model_thread(lambda: self._apply(view, prepared))))

    def _apply(self, view: CatalogView, prepared: dict) -> None:
        """Model's thread: bring this replica's adapters to `view` (an older view than one applied is ignored)."""
        busy = self._busy()
        if view.epoch != self._catalog_version[0] or view.version > self._catalog_version[1]:
            for name, adapter in view.adapters.items():
                mine = self.runtime.get(name)
                if mine is None or (mine.uri, mine.content) != (adapter.uri, adapter.content):
                    if name in prepared and prepared[name].content == adapter.content:
                        self.adapters.add(prepared[name], keep=tuple(busy))
                    else:
                        self.adapters.replace(name, adapter.uri)  # loads on its next use, prepared off this thread
                    self.runtime[name] = adapter
            for name in [n for n in self.runtime if n not in view.adapters]:
                del self.runtime[name]
                self.adapters.forget(name, unload=name not in busy)  # rows in flight finish with it
            self._catalog_version = (view.epoch, view.version)
        self.adapters.drop_forgotten(busy)

    async def stats(self) -> dict:
        """Batching and adapter counters of this replica (for tests and benches)."""
        engine = self.engine
        return {
            "engine": self.cfg.engine,
            "generate_calls": list(self.calls),
            "decode_steps": engine.decode_steps if engine else 0,
            "decode_rows": engine.decode_rows if engine else 0,  # rows summed over the steps: / steps = mean batch
            "most_running": engine.most_running if engine else 0,
            "prefill_chunks": engine.prefill_chunks if engine else 0,
            "refused_busy": engine.refused if engine else 0,
            **(engine.load() if engine else {}),
            "adapter_loads": self.adapters.loads,
            "adapter_load_seconds": self.adapters.load_seconds,
            "loaded_adapters": self.adapters.loaded,
            "finish_reasons": dict(engine.finish_reasons if engine else self.finish_reasons),
        }

    async def _ready(self, adapter: str) -> None:
        """The request's adapter known here and prepared off the model's thread (fetched, checked, read)."""
        if adapter == BASE_ADAPTER:
            return
        known = adapter in self.adapters.names
        try:
            await self.sync_catalog(force=not known)
        except Exception as err:  # the catalog restarting: adapters known here still answer
            logger.warning("adapter catalog: %s", err)
            if not known:
                raise RequestError(503, "The adapter catalog is restarting. Please retry.", "server_error",
                                   retry_after=5) from err
        if adapter not in self.adapters.names:
            raise request_error(UnknownAdapterError(adapter, self.adapters.names))
        if not self.adapters.prepared(adapter):
            try:
                await asyncio.to_thread(self.adapters.prepare, adapter)
            except Exception as err:
                raise request_error(err) from err

    async def _answer(self, row: Request, result: ChatResult, chunks: list[dict] | None) -> AsyncIterator[Event]:
        """The row's events; a RAG request left without sources gets prompt.ABSTAIN and the model is not run."""
        if declines(chunks, result.retrieved):
            if self.engine is not None:
                self.metrics.requests.inc(1, {"adapter": row.adapter, "finish_reason": "declined"})
            access_log.info("request %s adapter=%s prompt_tokens=%d declined: the prompt has no source",
                            _request_id(), row.adapter, result.prompt_tokens)
            completion = declined_completion(self.tokenizer, len(row.prompt), row.sampling)
            yield completion.text
            yield completion
            return
        async for event in self._events(row):
            yield event

    async def _events(self, row: Request) -> AsyncIterator[Event]:
        await self._ready(row.adapter)
        if self.engine is not None:
            async for event in self._engine_events(row):
                yield event
            return
        try:
            async for events in self._decode(row):
                for event in events or ():
                    if isinstance(event, RequestError):
                        raise event
                    yield event
        finally:
            row.cancelled = True  # no-op once the row is finished; stops it if the caller left early

    async def _engine_events(self, request: Request) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        if self._reporter is None:
            self._reporter = loop.create_task(self._report_load())
        events: asyncio.Queue = asyncio.Queue()

        def post(event: Event) -> None:  # from the decode thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody waits for this request any more
                request.cancelled = True

        request.post = post
        self.engine.submit(request)  # a 429 (queue full) or 400 (larger than the KV budget) is raised here
        try:
            while True:
                event = await events.get()
                if isinstance(event, RequestError):
                    raise event
                if isinstance(event, Completion):
                    self._log_request(request, event)
                yield event
                if isinstance(event, Completion):
                    return
        finally:
            request.cancelled = True  # no-op once the row is finished; stops it if the caller left early

    def _log_request(self, request: Request, completion: Completion) -> None:
        """One line per request (Serve's request id, so it joins the proxy's access log) and its metrics."""
        self.metrics.finished(request, completion)
        ttft = (request.first_token - request.submitted) if request.first_token is not None else float("nan")
        access_log.info("request %s adapter=%s prompt_tokens=%d completion_tokens=%d ttft=%.3fs latency=%.3fs finish=%s",
                    _request_id(), request.adapter, completion.prompt_tokens, completion.completion_tokens, ttft,
                    time.perf_counter() - request.submitted, completion.finish_reason)

    async def _report_load(self) -> None:
        while True:
            self.metrics.load(self.engine.load(), self.adapters)
            try:
                await self.sync_catalog()  # unloads reach an idle replica too
            except Exception as err:  # the catalog restarting: try again next second
                logger.warning("adapter catalog: %s", err)
            await asyncio.sleep(1.0)

    def _prepare(
        self, request: ChatRequest, adapter: str, chunks: list[dict] | None, deadline: float
    ) -> tuple[Request, ChatResult]:
        try:
            messages, used = build_prompt(
                request.conversation(),
                None if chunks is None else [RetrievedChunk(**c) for c in chunks],
                self.tokenizer,
                system_prompt=self.system_prompt,
                token_budget=self.cfg.generation.context_token_budget,
                context_length=context_limit(self.cfg),
                answer_tokens=request.requested_max_tokens or self.cfg.generation.max_new_tokens,
            )
        except PromptError as err:
            raise RequestError(400, str(err), param="messages") from err
        prompt = encode_chat(self.tokenizer, messages)
        row = Request(prompt, self._sampling(request, len(prompt)), adapter, deadline)
        return row, ChatResult(prompt_tokens=len(prompt), retrieved=used, replica=self.replica)

    def _sampling(self, request: ChatRequest, prompt_tokens: int) -> Sampling:
        limit = context_limit(self.cfg)
        asked = request.requested_max_tokens
        max_new = asked or min(self.cfg.generation.max_new_tokens, limit - prompt_tokens)
        if prompt_tokens + max(max_new, 1) > limit:
            raise RequestError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{prompt_tokens + max(max_new, 1)} tokens ({prompt_tokens} in the messages"
                + (f", {asked} in the completion" if asked else "")
                + "). Please reduce the length of the messages"
                + (" or completion." if asked else "."),
                param="messages",
                code="context_length_exceeded",
            )
        bias = request.logit_bias or {}
        if any(not 0 <= token < self.vocab_size for token in bias):
            raise RequestError(400, f"logit_bias: token ids must be in [0, {self.vocab_size})", param="logit_bias")
        gen = self.cfg.generation
        return Sampling(
            max_new_tokens=max_new,
            temperature=gen.temperature if request.temperature is None else request.temperature,
            top_p=gen.top_p if request.top_p is None else request.top_p,
            stop=tuple(request.stop or ()),
            seed=request.seed,
            logit_bias={int(k): float(v) for k, v in bias.items()},
        )

    @serve.batch(max_batch_size=ServeConfig.max_batch_size, batch_wait_timeout_s=ServeConfig.batch_wait_timeout_s)
    async def _decode(self, rows: list[Request]) -> AsyncIterator[list]:
        """Run a batch in the generate thread; after each step yield, per row, its new events."""
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue = asyncio.Queue()
        work = loop.run_in_executor(
            self._executor, self._generate, rows, lambda item: loop.call_soon_threadsafe(updates.put_nowait, item)
        )
        work.add_done_callback(lambda _: updates.put_nowait(None))
        ended = [False] * len(rows)
        running = True
        while running:
            merged: dict[int, list[Event]] = {}
            item = await updates.get()
            while True:  # take everything queued so far: a slow consumer gets fewer, larger pieces
                if item is None:
                    running = False
                    break
                for i, event in item.items():
                    merged.setdefault(i, []).append(event)
                if updates.empty():
                    break
                item = updates.get_nowait()
            out: list = []
            newly_ended = []
            for i in range(len(rows)):
                events = merged.get(i)
                if not ended[i] and events and not isinstance(events[-1], str):
                    ended[i] = True
                    newly_ended.append(i)
                out.append(StopIteration if ended[i] and i not in newly_ended else events)
            yield out
            if newly_ended:  # end those rows' streams now rather than at the batch's next step
                yield [StopIteration if ended[i] else None for i in range(len(rows))]
        work.result()  # an unexpected failure reaches every row still waiting

    def _generate(self, rows: list[Request], post: Callable[[dict[int, Event]], None]) -> None:
        """Generate thread: run the batch's groups one after the other, posting pieces and results."""
        for group in plan_groups(rows, self.adapters.max_loaded):
            try:
                names = self.adapters.ensure_all([rows[i].adapter for i in group])
                completions = generate_tokens(
                    self.adapters.model,
                    self.tokenizer,
                    [rows[i].prompt for i in group],
                    [rows[i].sampling for i in group],
                    names,
                    on_step=lambda pieces, group=group: (
                        any(pieces) and post({group[k]: piece for k, piece in enumerate(pieces) if piece})
                    ),
                    interrupt=lambda k, group=group: rows[group[k]].interrupted(),
                )
                self.calls.append((len(group), len(set(names))))
                self.finish_reasons.update(c.finish_reason for c in completions)
                post(dict(zip(group, completions)))
            except Exception as err:  # the rows of this group fail; the replica goes on
                post({i: request_error(err) for i in group})


def _request_id() -> str:
    from ray.serve.context import _get_serve_request_context  # Serve's id of the HTTP request (no public getter)

    return _get_serve_request_context().request_id or "-"


def _finish(result: ChatResult, completion: Completion) -> None:
    result.text = completion.text
    result.finish_reason = completion.finish_reason
    result.completion_tokens = completion.completion_tokens
    result.sources = cited_sources(completion.text, result.retrieved)


def _replica_id() -> str:
    """This replica's id in Ray Serve ("" when the class runs outside Serve, as in tests of its parts)."""
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        return serve.get_replica_context().replica_id.unique_id
    except RayServeException:
        return ""
