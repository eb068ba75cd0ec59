"""Continuous batching for the Generator: requests join the running batch at the next decode step and leave it
when they end, each row with its own adapter, sampling, stop strings and deadline.

One decode thread owns the model. Every iteration it
1. runs the calls queued for it (an adapter swap, counters) between two forwards, so nothing changes under one;
2. ends rows that were cancelled or ran past their deadline, waiting or running;
3. admits waiting requests, first come first served, while the KV budget, the row cap and the resident-adapter
   cap allow, into one *prefill group*;
4. prefills that group by one chunk (at most ``prefill_chunk_tokens`` prompt tokens), so a long prompt stalls the
   running streams by one chunk per step, never by the whole prompt; when the group is done its first tokens are
   sampled and it is merged into the running batch;
5. runs one decode step of the running batch and hands each row its new text.

What was chosen, and why:
- **Per-row adapters as a row index into stacked LoRA weights** (phi3ray.models.row_lora): S-LoRA's and
  Punica's answer (their BGMV/SGMV kernels gather each token's adapter inside the LoRA matmul), here two batched
  matmuls per LoRA layer over every resident adapter's A and B, any mix of adapters and the base per forward.
  transformers' ``ContinuousBatchingManager`` (paged attention, chunked prefill) flattens all requests into one
  token stream and has no notion of a per-request adapter, so it could not be used as it is. peft's own
  mixed-adapter forward (``adapter_names``) splits the batch by adapter in Python at every layer and step:
  two thirds of a 16-row decode step of the tiny Phi-3 over 4 adapters, and on an H100 a mixed batch ran slower
  than one generate per adapter; it remains the route for adapters the gathered path does not cover (DoRA, ...).
- **A padded DynamicCache**, rows right-aligned: a new group is left-padded to the running width and
  concatenated, a finished row is dropped by index, and leading columns that only padding holds are cut. Memory
  is therefore rows x the longest row, not the sum of the rows (what paged attention saves); the budget counts
  exactly that.
- **Admission by reservation** (TGI's ``max_batch_total_tokens``): a row reserves prompt + max_tokens at
  admission, so the batch can never outgrow the budget mid-answer (no preemption, no out-of-memory of the
  whole batch). Over budget a request waits in a bounded queue; past the bound it gets a 429 with Retry-After.
- **Seeds per row**: a seeded row samples from its own torch.Generator, so its answer does not depend on what
  else is in the batch; a greedy row takes its own arg-max.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from peft import PeftModel
from transformers import DynamicCache

from phi3ray.errors import AdapterRefusedError, Phi3RayError, RequestError, UnknownAdapterError
from phi3ray.models.adapters import AdapterSet
from phi3ray.models.base import stop_token_ids
from phi3ray.models.decoding import Completion, RowSampling, RowText, Sampling
from phi3ray.models.row_lora import RowLora
from phi3ray.names import BASE_ADAPTER

logger = logging.getLogger(__name__)

Event = str | Completion | RequestError  # what a request receives: text pieces, then its Completion (or an error)
Post = Callable[[Event], None]


@dataclass
class EngineSettings:
    """The continuous engine's limits (ServeConfig holds their defaults)."""

    kv_cache_tokens: int  # KV slots the running batch may hold: rows x the longest row's prompt + max_tokens
    max_running: int  # rows decoding together
    max_waiting: int  # requests queued for admission; one more is a 429
    prefill_chunk_tokens: int  # prompt tokens (rows x columns) prefilled between two decode steps


def kv_bytes_per_token(config, dtype: torch.dtype) -> int:
    """Bytes of K and V cache one token holds across all layers, in the model's activation dtype (Phi-3-mini in
    bf16: 384 KiB). Not config.dtype: a model cast after it was built (or 4-bit) keeps the dtype it was made in."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * dtype.itemsize


def size_kv_cache(model, cuda_fraction: float = 0.8, cpu_fraction: float = 0.25) -> int:
    """KV tokens that fit the model's device now (after it was loaded): a share of free CUDA memory, or of RAM."""
    if model.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(model.device)
        room = free * cuda_fraction
    else:
        import psutil

        room = psutil.virtual_memory().available * cpu_fraction
    return int(room // kv_bytes_per_token(model.config, model.dtype))


@dataclass(eq=False)
class Request:
    """One request inside the engine."""

    prompt: list[int]  # token ids, chat template applied
    sampling: Sampling
    adapter: str  # peft adapter name, BASE_ADAPTER for the base
    deadline: float  # time.time() after which the row stops with finish_reason "timeout"
    post: Post = field(repr=False, default=lambda event: None)  # called from the decode thread with each event
    stream: bool = True  # False: only the Completion is posted, not every piece (fewer wake-ups of the caller)
    cancelled: bool = False  # set when the caller went away
    text: RowText | None = field(default=None, repr=False)
    generator: torch.Generator | None = field(default=None, repr=False)
    submitted: float = field(default_factory=time.perf_counter)
    first_token: float | None = None  # perf_counter time of the first token

    @property
    def reserve(self) -> int:
        return len(self.prompt) + self.sampling.max_new_tokens

    def interrupted(self) -> str | None:
        if self.cancelled:
            return "cancelled"
        return "timeout" if time.time() > self.deadline else None


@dataclass
class _Batch:
    """Rows sharing one padded KV cache: right-aligned, mask 0 on each row's left padding."""

    requests: list[Request]
    cache: DynamicCache
    mask: torch.Tensor  # (B, W) 1 where the cache holds a real token
    lengths: torch.Tensor  # (B,) real tokens per row in the cache
    next_tokens: torch.Tensor | None = None  # (B,) the token each row feeds next (decode)
    prompt: torch.Tensor | None = None  # (B, P) left-padded prompts (prefill only)
    prefilled: int = 0  # prompt columns already in the cache (prefill only)

    @property
    def width(self) -> int:
        return self.mask.shape[1]


def _left_pad(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n == 0:
        return t
    pad = [0, 0] * (t.dim() - 1 - dim) + [n, 0]
    return F.pad(t, pad)


def _merge(a: _Batch, b: _Batch) -> _Batch:
    """a and b as one batch, the narrower one left-padded to the wider one's width."""
    width = max(a.width, b.width)
    da, db = width - a.width, width - b.width
    layers = [(torch.cat([_left_pad(la.keys, da, 2), _left_pad(lb.keys, db, 2)]),
               torch.cat([_left_pad(la.values, da, 2), _left_pad(lb.values, db, 2)]))
              for la, lb in zip(a.cache.layers, b.cache.layers)]  # all made before a changes (out of memory: a intact)
    for layer, (keys, values) in zip(a.cache.layers, layers):
        layer.keys, layer.values = keys, values
    a.mask = torch.cat([_left_pad(a.mask, da, 1), _left_pad(b.mask, db, 1)])
    a.lengths = torch.cat([a.lengths, b.lengths])
    a.next_tokens = torch.cat([a.next_tokens, b.next_tokens])
    a.requests = a.requests + b.requests
    return a


def _select(batch: _Batch, keep: list[int]) -> None:
    """Keep only rows `keep`, then cut the leading columns that are padding in every row left."""
    if len(keep) < len(batch.requests):
        index = torch.tensor(keep, dtype=torch.long, device=batch.mask.device)
        for layer in batch.cache.layers:
            layer.batch_select_indices(index)
        batch.mask, batch.lengths = batch.mask[index], batch.lengths[index]
        batch.next_tokens = batch.next_tokens[index]
        batch.requests = [batch.requests[i] for i in keep]
    if not batch.requests:
        return
    cut = batch.width - int(batch.lengths.max())
    if cut > 0:
        for layer in batch.cache.layers:
            layer.keys, layer.values = layer.keys[:, :, cut:], layer.values[:, :, cut:]
        batch.mask = batch.mask[:, cut:]


class Engine:
    """Iteration-level scheduling of one model (an AdapterSet) on one decode thread. Thread-safe submit/call."""

    def __init__(self, adapters: AdapterSet, settings: EngineSettings):
        self.adapters = adapters
        self.tokenizer = adapters.tokenizer
        self.settings = settings
        self.stop_ids = set(stop_token_ids(self.tokenizer))
        self.pad = self.tokenizer.pad_token_id
        self.device = adapters.model.device
        self.vocab = adapters.model.get_output_embeddings().weight.shape[0]
        self._cond = threading.Condition()
        self._waiting: deque[Request] = deque()
        self._calls: deque[tuple[Callable, Future]] = deque()
        self._running: _Batch | None = None
        self._prefill: _Batch | None = None
        self._stopping = False
        self._names: list[str] = []  # each row's adapter in the forward about to run (read by peft's hooks)
        self._hooks = None  # peft's hook context, entered once per model and adapter set
        self._row_lora: RowLora | None = None  # or the gathered per-row LoRA, when every adapter is plain LoRA
        self._hooked = None  # the model and adapters the routing was set up for
        self._routed: tuple = ()
        # counters, read by stats(): steps and the rows each one decoded, prefill chunks, refusals
        self.decode_steps = 0
        self.decode_rows = 0
        self.prefill_chunks = 0
        self.most_running = 0
        self.refused = 0
        self.served = 0
        self.finish_reasons: Counter[str] = Counter()  # stop | length | timeout | cancelled
        self._service_s = 1.0  # moving average of a request's time in the engine (Retry-After)
        self._thread = threading.Thread(target=self._loop, name="decode", daemon=True)
        self._thread.start()

    # ---- called from any thread ----

    def submit(self, request: Request) -> None:
        """Queue a request; its events go to request.post from the decode thread. Raises a 429 RequestError when
        the queue is full and a 400 when the request alone needs more KV cache than the replica has."""
        if request.reserve > self.settings.kv_cache_tokens:
            raise RequestError(
                400, f"This request needs {request.reserve} tokens of KV cache (prompt and max_tokens); a replica "
                f"holds at most {self.settings.kv_cache_tokens}. Please reduce the length of the messages or "
                "max_tokens.", param="messages", code="context_length_exceeded")
        if request.text is None:
            request.text = RowText(self.tokenizer, self.stop_ids, request.sampling)
        if request.sampling.seed is not None and not request.sampling.greedy:
            request.generator = torch.Generator(self.device).manual_seed(request.sampling.seed)
        with self._cond:
            if not self._thread.is_alive() or self._stopping:
                raise RequestError(503, "The model server is shutting down.", "server_error", retry_after=5)
            running = sum(len(b.requests) for b in (self._running, self._prefill) if b is not None)
            room = max(self.settings.max_running - running, 0)  # rows that can still join without waiting
            if len(self._waiting) >= self.settings.max_waiting + room:
                self.refused += 1
                retry = max(1, math.ceil(self._service_s))
                raise RequestError(429, f"The server is busy: {len(self._waiting)} requests are waiting for this "
                                   f"replica. Please retry after {retry} s.", "rate_limit_error",
                                   code="server_busy", retry_after=retry)
            self._waiting.append(request)
            self._cond.notify()

    def call(self, fn: Callable[[], object]) -> Future:
        """Run fn on the decode thread between two steps (e.g. swap an adapter); its result or error in the future."""
        future: Future = Future()
        with self._cond:
            self._calls.append((fn, future))
            self._cond.notify()
        return future

    def load(self) -> dict:
        """What the engine holds now: waiting and running rows, the KV slots reserved."""
        with self._cond:
            waiting = len(self._waiting)
        rows = [r for b in (self._running, self._prefill) if b is not None for r in b.requests]
        return {"waiting": waiting, "running": len(rows), "kv_reserved": self._reserved(rows)}

    def adapters_in_use(self) -> set[str]:
        """Adapters of the rows running or being prefilled (on the decode thread, e.g. in a call)."""
        return {r.adapter for b in (self._running, self._prefill) if b is not None for r in b.requests}

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)
        if self._row_lora is not None:
            self._row_lora.uninstall()
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)

    # ---- the decode thread ----

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._waiting or self._calls or self._running or self._prefill):
                    self._cond.wait()
                if self._stopping:
                    break
                calls = list(self._calls)
                self._calls.clear()
            for fn, future in calls:
                if not future.set_running_or_notify_cancel():  # its caller left (a request cancelled): skip it
                    continue
                try:
                    future.set_result(fn())
                except BaseException as err:  # the caller gets it
                    future.set_exception(err)
            try:
                if calls:
                    self._reload_unloaded()
                self._iterate()
            except Exception as err:  # our bug: every row in flight gets a 500, the engine goes on
                for batch in (self._running, self._prefill):
                    for request in batch.requests if batch is not None else ():
                        request.post(request_error(err))
                self._running = self._prefill = None
        error = RequestError(503, "The model server is shutting down.", "server_error")
        for batch in (self._running, self._prefill):
            for request in batch.requests if batch is not None else ():
                request.post(error)
        for request in self._waiting:
            request.post(error)

    def _reload_unloaded(self) -> None:
        """After a call unloaded an adapter that rows in flight use (a registry alias moved: AdapterSet.replace),
        load it again, from its new folder; those rows go on with it. A row whose adapter cannot load fails alone."""
        for attr in ("_running", "_prefill"):
            batch = getattr(self, attr)
            if batch is None:
                continue
            keep = tuple({r.adapter for r in batch.requests} - {BASE_ADAPTER})
            failed: dict[int, RequestError] = {}
            for i, request in enumerate(batch.requests):
                try:
                    self.adapters.ensure(request.adapter, keep=keep)
                except Exception as err:
                    failed[i] = request_error(err)
            if not failed:
                continue
            if attr == "_prefill":  # a prefill group is all or nothing: its cache is half built
                failed = {i: failed.get(i) or next(iter(failed.values())) for i in range(len(batch.requests))}
            for i, error in failed.items():
                batch.requests[i].post(error)
            if attr == "_running":
                self._set_running([i for i in range(len(batch.requests)) if i not in failed])
            else:
                self._prefill = None

    @torch.inference_mode()
    def _iterate(self) -> None:
        self._drop_interrupted()
        if self._prefill is None:
            self._prefill = self._admit()
        if self._prefill is not None:
            self._prefill_chunk()
        if self._running is not None:
            self._decode_step()

    def _drop_interrupted(self) -> None:
        with self._cond:
            waiting = list(self._waiting)
        for request in waiting:
            if (reason := request.interrupted()) is not None:
                with self._cond:
                    self._waiting.remove(request)
                request.text.finish(reason)
                self._finish(request)
        if self._running is not None:
            keep = []
            for i, request in enumerate(self._running.requests):
                if (reason := request.interrupted()) is None:
                    keep.append(i)
                    continue
                if (piece := request.text.finish(reason)) and request.stream:
                    request.post(piece)
                self._finish(request)
            self._set_running(keep)

    def _reserved(self, requests: list[Request]) -> int:
        """KV slots a batch of these rows may come to hold: rows x the longest reservation (padding included)."""
        return len(requests) * max((r.reserve for r in requests), default=0)

    def _admit(self) -> _Batch | None:
        """Take waiting requests (in order) that fit beside the running rows into a new prefill group."""
        running = self._running.requests if self._running is not None else []
        chosen: list[Request] = []
        with self._cond:
            while self._waiting:
                request = self._waiting[0]
                rows = running + chosen + [request]
                adapters = {r.adapter for r in rows} - {BASE_ADAPTER}
                if (len(rows) > self.settings.max_running or self._reserved(rows) > self.settings.kv_cache_tokens
                        or len(adapters) > self.adapters.max_loaded):
                    break  # first come, first served: the head waits for room, and so do those behind it
                chosen.append(self._waiting.popleft())
        if not chosen:
            return None
        ready = []
        keep = tuple({r.adapter for r in running + chosen} - {BASE_ADAPTER})
        for request in chosen:
            try:
                self.adapters.ensure(request.adapter, keep=keep)
            except Exception as err:  # unknown adapter, one that cannot be fetched or does not fit: this row only
                request.post(request_error(err))
                continue
            ready.append(request)
        if not ready:
            return None
        width = max(len(r.prompt) for r in ready)
        prompt = torch.tensor([[self.pad] * (width - len(r.prompt)) + r.prompt for r in ready], device=self.device)
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in ready], device=self.device)
        lengths = torch.tensor([len(r.prompt) for r in ready], device=self.device)
        return _Batch(ready, DynamicCache(), mask, lengths, prompt=prompt)

    def _forward(self, batch: _Batch, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor):
        self._route([r.adapter for r in batch.requests])
        out = self.adapters.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                  past_key_values=batch.cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]  # (B, V)

    def _route(self, names: list[str]) -> None:
        """Give the LoRA layers each row's adapter for the next forward (BASE_ADAPTER: none).

        Plain LoRA adapters run as one gathered matmul per layer (phi3ray.models.row_lora); others (DoRA, ...)
        through peft's mixed-batch forward, whose hooks are set once per model and adapter set, on one list that
        each forward refills in place (peft walks every module to set them: a third of a decode step of the tiny
        Phi-3 if done per call). Without either, a PeftModel would run its active adapter on every row.
        """
        model = self.adapters.model
        if not isinstance(model, PeftModel):
            return
        loaded = tuple(self.adapters.loaded)
        # reroute on any load or unload, not on LRU reorders; `loads` changes when an adapter comes back (replace)
        key = (frozenset(loaded), self.adapters.loads)
        if model is not self._hooked or key != self._routed:
            self._reroute(model, loaded)
            self._routed = key
        if self._row_lora is not None:
            self._row_lora.rows(names, self.device)
        else:
            self._names[:] = names

    def _reroute(self, model: PeftModel, loaded: tuple[str, ...]) -> None:
        if self._hooks is not None:
            self._hooks.__exit__(None, None, None)
            self._hooks = None
        if self._row_lora is not None:
            self._row_lora.uninstall()
            self._row_lora = None
        if RowLora.supported(model):
            self._row_lora = RowLora(model)
            self._row_lora.refresh(list(loaded))
        else:
            self._hooks = model._enable_peft_forward_hooks(adapter_names=self._names)
            self._hooks.__enter__()
        self._hooked = model

    def _prefill_chunk(self) -> None:
        group = self._prefill
        columns = max(1, self.settings.prefill_chunk_tokens // len(group.requests))
        start, end = group.prefilled, min(group.prefilled + columns, group.prompt.shape[1])
        positions = (group.mask.cumsum(-1) - 1).clamp(min=0)[:, start:end]
        try:
            logits = self._forward(group, group.prompt[:, start:end], group.mask[:, :end], positions)
        except Exception as err:
            self._fail(group, err)
            self._prefill = None
            return
        self.prefill_chunks += 1
        group.prefilled = end
        if end < group.prompt.shape[1]:
            return
        self._prefill = None
        group.prompt = None
        try:
            group.next_tokens = self._sample(group.requests, logits)
            merged = group if self._running is None else _merge(self._running, group)
        except Exception as err:  # e.g. out of memory while merging: this group fails, the running rows go on
            self._fail(group, err)
            return
        now = time.perf_counter()
        for request in group.requests:
            request.first_token = now
        self._running = merged
        self.most_running = max(self.most_running, len(self._running.requests))
        self._push(self._running, list(range(len(self._running.requests) - len(group.requests),
                                             len(self._running.requests))))

    def _decode_step(self) -> None:
        batch = self._running
        batch.mask = torch.cat([batch.mask, torch.ones_like(batch.mask[:, :1])], dim=1)
        try:
            logits = self._forward(batch, batch.next_tokens[:, None], batch.mask, batch.lengths[:, None])
        except Exception as err:
            self._fail(batch, err)
            self._running = None
            return
        batch.lengths = batch.lengths + 1
        batch.next_tokens = self._sample(batch.requests, logits)
        self.decode_steps += 1
        self.decode_rows += len(batch.requests)
        self._push(batch, list(range(len(batch.requests))))

    def _sample(self, requests: list[Request], logits: torch.Tensor) -> torch.Tensor:
        """Each row's next token: its arg-max when greedy, else drawn with its bias, temperature and top-p."""
        samplings = [r.sampling for r in requests]
        scores = RowSampling(samplings, self.vocab, logits.device)(None, logits.float())
        tokens = scores.argmax(dim=-1)
        for i, request in enumerate(requests):
            if not request.sampling.greedy:
                probs = scores[i].softmax(dim=-1)
                tokens[i] = torch.multinomial(probs, 1, generator=request.generator)[0]
        return tokens

    def _push(self, batch: _Batch, rows: list[int]) -> None:
        """Hand rows their sampled token's text; rows that ended leave the batch."""
        tokens = batch.next_tokens.tolist()
        ended = set()
        for i in rows:
            request = batch.requests[i]
            piece = request.text.push(tokens[i])
            if piece and request.stream:
                request.post(piece)
            if request.text.finished:
                ended.add(i)
                self._finish(request)
        if ended:
            self._set_running([i for i in range(len(batch.requests)) if i not in ended])

    def _set_running(self, keep: list[int]) -> None:
        if self._running is None:
            return
        _select(self._running, keep)
        if not self._running.requests:
            self._running = None

    def _finish(self, request: Request) -> None:
        completion = request.text.completion(len(request.prompt))
        request.post(completion)
        self.served += 1
        self.finish_reasons[completion.finish_reason] += 1
        self._service_s = 0.9 * self._service_s + 0.1 * (time.perf_counter() - request.submitted)

    def _fail(self, batch: _Batch, err: Exception) -> None:
        error = request_error(err)
        for request in batch.requests:
            request.post(error)


def run_requests(engine: Engine, requests: list[Request], timeout_s: float = 600.0) -> list[Completion | RequestError]:
    """Submit requests and block until every one has ended: each one's last event (its Completion, or its error), in
    order. For benches and scripts that drive an engine without Serve; it sets each request's `post`."""
    done, ends = threading.Event(), [None] * len(requests)
    left = [len(requests)]
    lock = threading.Lock()

    def poster(i: int):
        def post(event) -> None:
            if isinstance(event, (Completion, RequestError)):
                ends[i] = event
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        done.set()
        return post

    for i, request in enumerate(requests):
        request.post = poster(i)
        engine.submit(request)
    if requests and not done.wait(timeout_s):
        raise TimeoutError(f"{left[0]} of {len(requests)} requests still running after {timeout_s:g} s")
    return ends


def request_error(err: Exception) -> RequestError:
    """What a request is told when its generation failed: its own RequestError, a 404 for an unknown adapter, a 500."""
    if isinstance(err, RequestError):
        return err
    if isinstance(err, UnknownAdapterError):
        return RequestError(404, str(err), param="model", code="model_not_found")
    if isinstance(err, AdapterRefusedError):  # e.g. trained on another base: the request can only change model
        return RequestError(400, str(err), param="model", code="invalid_adapter")
    if isinstance(err, Phi3RayError):  # e.g. an adapter that cannot be fetched or does not fit the base
        logger.error("generation failed: %s", err)
        return RequestError(500, f"generation failed: {err}", "server_error")
    logger.exception("generation failed")
    return RequestError(500, "generation failed; the Generator's log has the details", "server_error")
