"""Generator deployment: the Phi-3 base plus LoRA adapters; concurrent requests share one generate.

Requests are gathered with `@serve.batch` and run as one peft mixed-adapter batch: each row names
its adapter (or the base), so requests for different adapters share every forward pass. Serve's
model multiplexing is not used for that: `serve.batch` splits a batch by multiplexed model id, which
would put each adapter in a generate of its own. The replica's AdapterSet keeps up to
`max_adapters_per_replica` adapters resident and loads the others on demand (LRU). Streamed and
non-streamed requests go through the same batches, so a stream answers with its own adapter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ray import serve

from phi3ray.config import MethodConfig, ServeConfig, context_limit, system_prompt_of
from phi3ray.console import quiet_third_party
from phi3ray.errors import HardwareError, Phi3RayError, PromptError, RequestError, UnknownAdapterError
from phi3ray.models.adapters import AdapterSet
from phi3ray.models.generation import Completion, Sampling, encode_chat, generate_tokens
from phi3ray.names import BASE_ADAPTER
from phi3ray.rag.prompt import build_prompt
from phi3ray.rag.retriever import RetrievedChunk
from phi3ray.tracking import resolve_serve_adapters
from phi3ray.serve.openai_schema import ChatRequest, ChatResult, cited_sources

logger = logging.getLogger(__name__)

Event = str | Completion | RequestError  # what a row receives: text pieces, then its Completion (or an error)


@dataclass
class Row:
    """One request inside a batch."""

    prompt: list[int]  # token ids, chat template applied
    sampling: Sampling
    adapter: str  # peft adapter name, BASE_ADAPTER for the base
    deadline: float  # time.time() after which the row stops with finish_reason "timeout"
    cancelled: bool = False  # set when the caller went away

    def interrupted(self) -> str | None:
        if self.cancelled:
            return "cancelled"
        return "timeout" if time.time() > self.deadline else None


def plan_groups(rows: list[Row], max_adapters: int) -> list[list[int]]:
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

    def __init__(self, cfg: ServeConfig):
        quiet_third_party()  # this replica's process is an entry point too
        self.cfg = cfg
        gpus = cfg.deployments.generator.num_gpus
        if gpus > 0 and not torch_cuda_available():  # never a silent float32 model on the CPU of a GPU deployment
            raise HardwareError(f"deployments.generator.num_gpus={gpus} but this replica sees no CUDA device")
        self.system_prompt = system_prompt_of(cfg)
        method = MethodConfig(name="qlora", load_in_4bit=True) if cfg.quantize == "4bit" else None
        # adapters named models:/<name>@<alias> -> the version's folder (refused if trained on another base)
        folders, self.registry = resolve_serve_adapters(cfg)
        self.adapters = AdapterSet.load(cfg.model, folders, cfg.max_adapters_per_replica, method)
        self.tokenizer = self.adapters.tokenizer
        self.vocab_size = len(self.tokenizer)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")  # one generate at a time
        self.calls: deque[tuple[int, int]] = deque(maxlen=10_000)  # (rows, distinct models, base included) per generate
        self.finish_reasons: Counter[str] = Counter()  # stop | length | timeout | cancelled, over all rows
        warmup = Row(
            encode_chat(self.tokenizer, [{"role": "user", "content": "hi"}]),
            Sampling(max_new_tokens=2),
            BASE_ADAPTER,
            deadline=float("inf"),
        )
        self._generate([warmup], lambda _: None)
        self.calls.clear()
        self.finish_reasons.clear()

    def reconfigure(self, user_config: dict) -> None:
        """Batching knobs from Serve's user_config: app_for sets it from cfg (Serve calls this before the first
        request), and a `serve deploy` with new values changes them without a restart."""
        if "max_batch_size" in user_config:
            self._decode.set_max_batch_size(int(user_config["max_batch_size"]))
        if "batch_wait_timeout_s" in user_config:
            self._decode.set_batch_wait_timeout_s(float(user_config["batch_wait_timeout_s"]))
        if user_config.get("registry_refresh") not in (None, getattr(self, "_registry_refresh", None)):
            self._registry_refresh = user_config["registry_refresh"]  # any new value: resolve models:/ URIs again
            self._executor.submit(self._refresh).result()

    async def refresh(self) -> dict[str, dict]:
        """Resolve the models:/<name>@<alias> adapters again (an alias may have moved); return what /v1/models shows.
        The swap runs on the generate thread, between two generate calls."""
        return await asyncio.wrap_future(self._executor.submit(self._refresh))

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
        async for event in self._events(row):
            if isinstance(event, Completion):
                _finish(result, event)
        return result

    async def stream(
        self, request: ChatRequest, adapter: str, chunks: list[dict] | None, deadline: float
    ) -> AsyncIterator[ChatResult | str]:
        """A ChatResult with the prompt's size and retrieved sources, then text pieces, then the final ChatResult."""
        row, result = self._prepare(request, adapter, chunks, deadline)
        yield result.model_copy()
        async for event in self._events(row):
            if isinstance(event, Completion):
                _finish(result, event)
                yield result
            elif event:
                yield event

    async def models(self) -> dict[str, dict]:
        """Registry adapters: name -> registered model, version, alias, base and revision (for /v1/models)."""
        return self.registry

    async def stats(self) -> dict:
        """Batching and adapter counters of this replica (for tests and benches)."""
        return {
            "generate_calls": list(self.calls),
            "adapter_loads": self.adapters.loads,
            "adapter_load_seconds": self.adapters.load_seconds,
            "loaded_adapters": self.adapters.loaded,
            "finish_reasons": dict(self.finish_reasons),
        }

    async def _events(self, row: Row) -> AsyncIterator[Event]:
        try:
            async for events in self._decode(row):
                for event in events or ():
                    if isinstance(event, RequestError):
                        raise event
                    yield event
        finally:
            row.cancelled = True  # no-op once the row is finished; stops it if the caller left early

    def _prepare(
        self, request: ChatRequest, adapter: str, chunks: list[dict] | None, deadline: float
    ) -> tuple[Row, ChatResult]:
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
        row = Row(prompt, self._sampling(request, len(prompt)), adapter, deadline)
        return row, ChatResult(prompt_tokens=len(prompt), retrieved=used)

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
    async def _decode(self, rows: list[Row]) -> AsyncIterator[list]:
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

    def _generate(self, rows: list[Row], post: Callable[[dict[int, Event]], None]) -> None:
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
                post({i: _request_error(err) for i in group})


def _finish(result: ChatResult, completion: Completion) -> None:
    result.text = completion.text
    result.finish_reason = completion.finish_reason
    result.completion_tokens = completion.completion_tokens
    result.sources = cited_sources(completion.text, result.retrieved)


def _request_error(err: Exception) -> RequestError:
    if isinstance(err, RequestError):
        return err
    if isinstance(err, UnknownAdapterError):
        return RequestError(404, str(err), param="model", code="model_not_found")
    if isinstance(err, Phi3RayError):  # e.g. an adapter that cannot be fetched or does not fit the base
        logger.error("generation failed: %s", err)
        return RequestError(500, f"generation failed: {err}", "server_error")
    logger.exception("generation failed")
    return RequestError(500, "generation failed; the Generator's log has the details", "server_error")
