"""The continuous engine, in this process on the tiny Phi-3 with two random adapters: requests that join a running
batch at any step answer exactly what they answer alone, prefill is chunked between decode steps, the KV budget
and the queue bound hold, and cancellation, deadlines, seeds and unknown adapters touch only their own row."""

from __future__ import annotations

import contextlib
import pickle
import threading
import time

import pytest
import torch

from phi3ray.errors import RequestError
from phi3ray.models.adapters import AdapterSet
from phi3ray.models.base import stop_token_ids
from phi3ray.models.decoding import Completion, Sampling
from phi3ray.models.generation import encode_chat, generate_tokens
from phi3ray.names import BASE_ADAPTER
from phi3ray.serve.engine import Engine, EngineSettings, Request, kv_bytes_per_token

QUESTIONS = ["How do I replace the seal of the VX-220?", "What torque do the casing bolts need?", "hi",
             "Tell me the lubrication interval of the bearings, and which oil grade they take."]
MODELS = (BASE_ADAPTER, "pumps", "safety")
SETTINGS = EngineSettings(kv_cache_tokens=100_000, max_running=16, max_waiting=64, prefill_chunk_tokens=64)


@pytest.fixture(scope="module")
def adapter_set(tiny_model_cfg, adapter_dirs):
    return AdapterSet.load(tiny_model_cfg, adapter_dirs, max_loaded=2)


@pytest.fixture(scope="module")
def prompts(adapter_set):
    return [encode_chat(adapter_set.tokenizer, [{"role": "user", "content": q}]) for q in QUESTIONS]


class Collector:
    """Events of several requests: pieces streamed, then the Completion or the RequestError."""

    def __init__(self, count: int):
        self.pieces = [[] for _ in range(count)]
        self.ends: dict[int, Completion | RequestError] = {}
        self.done = threading.Event()
        self.count = count

    def post(self, i: int):
        def post(event):
            if isinstance(event, str):
                self.pieces[i].append(event)
                return
            self.ends[i] = event
            if len(self.ends) == self.count:
                self.done.set()

        return post

    def wait(self) -> list[Completion | RequestError]:
        assert self.done.wait(120), f"only {len(self.ends)} of {self.count} requests ended"
        return [self.ends[i] for i in range(self.count)]


def alone(adapter_set, prompt, adapter, sampling) -> str:
    return generate_tokens(adapter_set.model, adapter_set.tokenizer, [prompt], [sampling], [adapter])[0].text


def run(engine: Engine, jobs: list[tuple[list[int], str, Sampling]], gap_s: float = 0.0, **request) -> Collector:
    events = Collector(len(jobs))
    for i, (prompt, adapter, sampling) in enumerate(jobs):
        engine.submit(Request(prompt, sampling, adapter, request.get("deadline", time.time() + 120), events.post(i)))
        time.sleep(gap_s * (i % 3))  # some join a batch already decoding, some arrive together
    return events


@contextlib.contextmanager
def started(adapter_set, settings: EngineSettings = SETTINGS):
    engine = Engine(adapter_set, settings)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def engine(adapter_set):
    with started(adapter_set) as engine:
        yield engine


def test_rows_joining_at_any_step_answer_what_they_answer_alone(adapter_set, prompts, engine):
    jobs = [(p, m, Sampling(max_new_tokens=24)) for p in prompts for m in MODELS]  # 12 rows, base + 2 adapters
    ends = run(engine, jobs, gap_s=0.02).wait()
    expected = [alone(adapter_set, p, m, s) for p, m, s in jobs]
    assert [e.text for e in ends] == expected
    assert len({e.text for e, (p, _, _) in zip(ends, jobs) if p == prompts[0]}) == 3  # the adapters differ
    assert engine.most_running > 3 and engine.decode_rows > 2 * engine.decode_steps  # they shared the steps


def test_streamed_pieces_add_up_to_the_answer_and_usage_is_exact(prompts, engine):
    jobs = [(p, "pumps", Sampling(max_new_tokens=16)) for p in prompts]
    events = run(engine, jobs)
    ends = events.wait()
    for pieces, end, (prompt, _, _) in zip(events.pieces, ends, jobs):
        assert "".join(pieces) == end.text and end.prompt_tokens == len(prompt)
        assert 0 < end.completion_tokens <= 16
    quiet = Collector(1)  # a caller that wants only the answer gets no pieces
    engine.submit(Request(prompts[0], Sampling(max_new_tokens=16), "pumps", time.time() + 60, quiet.post(0),
                          stream=False))
    assert quiet.wait()[0].text == ends[0].text and quiet.pieces == [[]]


def test_a_long_prompt_is_prefilled_in_chunks_between_decode_steps(adapter_set, prompts):
    with started(adapter_set, EngineSettings(100_000, 8, 8, prefill_chunk_tokens=16)) as engine:
        long_prompt = encode_chat(adapter_set.tokenizer, [{"role": "user", "content": " ".join(QUESTIONS * 3)}])
        chunks_seen: list[int] = []  # prefill chunks done when each token of the running stream arrived
        running = Collector(1)
        post = running.post(0)
        engine.submit(Request(prompts[2], Sampling(max_new_tokens=60), "safety", time.time() + 120,
                              lambda e: (chunks_seen.append(engine.prefill_chunks), post(e))))
        while not chunks_seen:
            time.sleep(0.001)
        newcomer = Collector(1)
        engine.submit(Request(long_prompt, Sampling(max_new_tokens=8), "pumps", time.time() + 120, newcomer.post(0)))
        end = newcomer.wait()[0]
        running.wait()
        chunks = -(-len(long_prompt) // 16)
        assert engine.prefill_chunks >= 1 + chunks
        during = {c for c in chunks_seen if 1 < c < 1 + chunks}  # the stream went on while the newcomer prefilled
        assert len(during) >= chunks - 2, (chunks_seen, chunks)
        assert end.text == alone(adapter_set, long_prompt, "pumps", Sampling(max_new_tokens=8))


def test_the_kv_budget_caps_the_running_rows_and_the_rest_wait_their_turn(adapter_set, prompts):
    longest = max(len(p) for p in prompts) + 20
    settings = EngineSettings(kv_cache_tokens=2 * longest, max_running=16, max_waiting=64, prefill_chunk_tokens=512)
    with started(adapter_set, settings) as engine:
        jobs = [(p, m, Sampling(max_new_tokens=20)) for p in prompts for m in MODELS[:2]]
        ends = run(engine, jobs).wait()
        assert engine.most_running == 2
        assert [e.text for e in ends] == [alone(adapter_set, p, m, s) for p, m, s in jobs]
        with pytest.raises(RequestError) as err:  # one request larger than the whole budget can never run
            engine.submit(Request(prompts[0], Sampling(max_new_tokens=3 * longest), BASE_ADAPTER, time.time() + 60))
        assert err.value.status == 400 and err.value.code == "context_length_exceeded"


def test_a_full_queue_refuses_with_429_and_retry_after(adapter_set, prompts):
    settings = EngineSettings(100_000, max_running=1, max_waiting=2, prefill_chunk_tokens=512)
    with started(adapter_set, settings) as engine:
        events = Collector(3)
        for i in range(3):  # one runs, two wait
            engine.submit(Request(prompts[0], Sampling(max_new_tokens=40), BASE_ADAPTER, time.time() + 60,
                                  events.post(i)))
            while i == 0 and engine.load()["running"] == 0:
                time.sleep(0.001)
        with pytest.raises(RequestError) as err:
            engine.submit(Request(prompts[1], Sampling(max_new_tokens=4), BASE_ADAPTER, time.time() + 60))
        assert err.value.status == 429 and err.value.retry_after >= 1 and engine.refused == 1
        again = pickle.loads(pickle.dumps(err.value))  # crosses Ray from the replica to the ingress intact
        assert (again.status, again.retry_after, str(again)) == (429, err.value.retry_after, str(err.value))
        assert all(isinstance(e, Completion) for e in events.wait())  # the queued ones were answered


def test_cancelled_and_timed_out_rows_leave_and_the_others_finish(adapter_set, prompts, engine):
    never = Sampling(max_new_tokens=200, logit_bias={i: -100.0 for i in stop_token_ids(adapter_set.tokenizer)})
    events = Collector(3)
    keep = Request(prompts[0], Sampling(max_new_tokens=30), "pumps", time.time() + 120, events.post(0))
    cancel = Request(prompts[1], never, "safety", time.time() + 120, events.post(1))
    late = Request(prompts[2], never, BASE_ADAPTER, time.time() + 0.3, events.post(2))
    for request in (keep, cancel, late):
        engine.submit(request)
    while not events.pieces[1]:
        time.sleep(0.001)
    cancel.cancelled = True
    ends = events.wait()
    assert [e.finish_reason for e in ends[1:]] == ["cancelled", "timeout"]
    assert ends[0].text == alone(adapter_set, prompts[0], "pumps", Sampling(max_new_tokens=30))
    assert engine.load() == {"waiting": 0, "running": 0, "kv_reserved": 0}


def test_a_seeded_sample_does_not_depend_on_its_batch_mates(prompts, engine):
    sampled = Sampling(max_new_tokens=16, temperature=1.0, seed=7)
    alone_text = run(engine, [(prompts[0], "pumps", sampled)]).wait()[0].text
    crowd = [(p, m, Sampling(max_new_tokens=16, temperature=1.0)) for p in prompts for m in MODELS]
    together = run(engine, crowd + [(prompts[0], "pumps", sampled)]).wait()[-1].text
    other_seed = run(engine, [(prompts[0], "pumps", Sampling(max_new_tokens=16, temperature=1.0, seed=8))]).wait()
    assert together == alone_text != other_seed[0].text


def test_an_unknown_adapter_fails_its_own_row_only(prompts, engine):
    jobs = [(prompts[0], "nope", Sampling(max_new_tokens=8)), (prompts[1], "pumps", Sampling(max_new_tokens=8))]
    ends = run(engine, jobs).wait()
    assert isinstance(ends[0], RequestError) and ends[0].status == 404
    assert isinstance(ends[1], Completion) and ends[1].text


def test_more_adapters_than_resident_wait_for_room_and_answer_the_same(tiny_model_cfg, adapter_dirs, prompts):
    one = AdapterSet.load(tiny_model_cfg, adapter_dirs, max_loaded=1)
    with started(one) as engine:
        jobs = [(p, m, Sampling(max_new_tokens=12)) for p in prompts[:2] for m in ("pumps", "safety")]
        ends = run(engine, jobs).wait()
        reference = AdapterSet.load(tiny_model_cfg, adapter_dirs, max_loaded=2)
        assert [e.text for e in ends] == [alone(reference, p, m, s) for p, m, s in jobs]
        assert one.loads >= 2 and len(one.loaded) == 1


@pytest.mark.fast
def test_kv_bytes_per_token_of_phi3_mini_is_384_kib():
    from transformers import Phi3Config

    config = Phi3Config(hidden_size=3072, num_attention_heads=32, num_key_value_heads=32, num_hidden_layers=32)
    assert kv_bytes_per_token(config, torch.bfloat16) == 384 * 1024
    assert kv_bytes_per_token(config, torch.float32) == 768 * 1024


def test_an_adapter_replaced_mid_answer_is_reloaded_and_its_rows_go_on(adapter_set, prompts, engine, adapter_dirs):
    """A registry alias moving (Generator.refresh -> AdapterSet.replace, run between two steps) unloads the adapter
    that running rows use: they continue with it, loaded again from its (here: the same) folder."""
    never = Sampling(max_new_tokens=40, logit_bias={i: -100.0 for i in stop_token_ids(adapter_set.tokenizer)})
    events = Collector(2)
    for i, prompt in enumerate(prompts[:2]):
        engine.submit(Request(prompt, never, "pumps", time.time() + 120, events.post(i)))
    while not events.pieces[0]:
        time.sleep(0.001)
    loads = adapter_set.loads
    engine.call(lambda: adapter_set.replace("pumps", adapter_dirs["pumps"])).result(timeout=30)
    ends = events.wait()
    assert all(isinstance(e, Completion) and e.completion_tokens == 40 for e in ends), ends
    assert adapter_set.loads == loads + 1 and "pumps" in adapter_set.loaded
    assert [e.text for e in ends] == [alone(adapter_set, p, "pumps", never) for p in prompts[:2]]


def test_new_weights_behind_the_same_name_are_served_after_a_replace(tiny_model_cfg, adapter_dirs, prompts):
    """One resident adapter: after replace() it comes back under the same name and place, with other weights."""
    one = AdapterSet.load(tiny_model_cfg, {"pumps": adapter_dirs["pumps"]}, max_loaded=1)
    with started(one) as engine:
        greedy = Sampling(max_new_tokens=12)
        before = run(engine, [(prompts[0], "pumps", greedy)]).wait()[0].text
        engine.call(lambda: one.replace("pumps", adapter_dirs["safety"])).result(timeout=30)
        after = run(engine, [(prompts[0], "pumps", greedy)]).wait()[0].text
        reference = AdapterSet.load(tiny_model_cfg, adapter_dirs, max_loaded=2)
        assert before != after == alone(reference, prompts[0], "safety", greedy)


def test_no_queue_still_admits_what_fits_and_a_near_zero_temperature_harms_no_one(adapter_set, prompts):
    settings = EngineSettings(100_000, max_running=2, max_waiting=0, prefill_chunk_tokens=512)
    with started(adapter_set, settings) as engine:
        events = Collector(2)
        tiny_t = Sampling(max_new_tokens=30, temperature=1e-40)  # logits / 1e-40 would be inf, softmax NaN
        engine.submit(Request(prompts[0], tiny_t, "pumps", time.time() + 60, events.post(0)))
        engine.submit(Request(prompts[1], Sampling(max_new_tokens=30), "safety", time.time() + 60, events.post(1)))
        with pytest.raises(RequestError) as err:  # both rows taken, no queue: the third is refused
            engine.submit(Request(prompts[2], Sampling(max_new_tokens=4), BASE_ADAPTER, time.time() + 60))
        assert err.value.status == 429
        ends = events.wait()
        assert all(isinstance(e, Completion) for e in ends), ends
        assert ends[1].text == alone(adapter_set, prompts[1], "safety", Sampling(max_new_tokens=30))


def test_a_call_whose_caller_left_is_skipped_and_the_engine_goes_on(prompts, engine):
    """A request cancelled while its adapter sync waited for the decode thread (asyncio.wrap_future cancels the
    call's future): the engine skips the call; before, setting the result of a cancelled future killed the thread."""
    ran = []
    with engine._cond:  # the decode thread cannot take the call before it is cancelled
        future = engine.call(lambda: ran.append(1))
        assert future.cancel()
    later = engine.call(lambda: "after")
    assert later.result(timeout=30) == "after" and ran == []
    (completion,) = run(engine, [(prompts[0], BASE_ADAPTER, Sampling(max_new_tokens=4))]).wait()
    assert completion.completion_tokens == 4
