"""Batched chat generation: each row keeps its own adapter and sampling, and equals its answer alone."""

import pytest

from phi3ray.models.adapters import AdapterSet
from phi3ray.models.decoding import RowText
from phi3ray.models.generation import Sampling, encode_chat, generate_chat, generate_tokens
from phi3ray.names import BASE_ADAPTER
from tests.support.random_adapters import make_random_adapters

QUESTIONS = [
    "How do I replace the seal of the VX-220?",
    "What torque do the casing bolts need?",
    "Summarise the section 'Safety' of 'VX-220 Seal Replacement'.",
]


@pytest.fixture(scope="module")
def adapter_set(tiny_model_cfg, tmp_path_factory) -> AdapterSet:
    folders = make_random_adapters(tiny_model_cfg, tmp_path_factory.mktemp("gen-adapters"), ["a", "b"])
    return AdapterSet.load(tiny_model_cfg, folders, max_loaded=2)


def chat(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


def test_mixed_adapter_and_mixed_sampling_batch_equals_each_row_alone(adapter_set):
    model, tok = adapter_set.model, adapter_set.tokenizer
    rows = [(q, name) for q in QUESTIONS[:2] for name in (BASE_ADAPTER, "a", "b")]
    greedy = Sampling(max_new_tokens=16)
    alone = {row: generate_chat(model, tok, [chat(row[0])], [greedy], [row[1]])[0] for row in rows}
    # one sampled row rides along: greedy rows must not notice it
    convs = [chat(q) for q, _ in rows] + [chat(QUESTIONS[0])]
    samplings = [greedy] * len(rows) + [Sampling(max_new_tokens=16, temperature=1.0, top_p=0.9)]
    together = generate_chat(model, tok, convs, samplings, [n for _, n in rows] + ["a"])
    for row, completion in zip(rows, together):
        assert completion.text == alone[row].text, row
        assert completion.completion_tokens == alone[row].completion_tokens
    texts = {name: alone[(QUESTIONS[0], name)].text for name in (BASE_ADAPTER, "a", "b")}
    assert len(set(texts.values())) == 3, texts  # the adapters really change the answer


def no_end(tok) -> dict[int, float]:
    """logit_bias that bans <|end|> and EOS, so an answer runs to max_new_tokens."""
    return {tok.convert_tokens_to_ids("<|end|>"): -100.0, tok.eos_token_id: -100.0}


def test_rows_stop_at_their_own_limits_and_stop_strings(adapter_set):
    model, tok = adapter_set.model, adapter_set.tokenizer
    ban = no_end(tok)
    full = generate_chat(model, tok, [chat(QUESTIONS[1])], [Sampling(max_new_tokens=30, logit_bias=ban)], ["a"])[0]
    assert full.finish_reason == "length" and full.completion_tokens == 30
    stop = full.text.split()[3]  # a word in the middle of the answer
    short, cut = generate_chat(
        model,
        tok,
        [chat(QUESTIONS[1])] * 2,
        [Sampling(max_new_tokens=5, logit_bias=ban), Sampling(max_new_tokens=30, stop=(stop,), logit_bias=ban)],
        ["a", "a"],
    )
    assert short.finish_reason == "length" and short.completion_tokens == 5
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.index(stop)]


def test_logit_bias_bans_the_end_token(adapter_set):
    model, tok = adapter_set.model, adapter_set.tokenizer
    # a question the tiny Phi-3 answers in one sentence, then ends (to others it can run on, repeating itself)
    ended = generate_chat(model, tok, [chat(QUESTIONS[0])], [Sampling(max_new_tokens=200)], [BASE_ADAPTER])[0]
    assert ended.finish_reason == "stop" and ended.completion_tokens < 200
    forced = generate_chat(
        model, tok, [chat(QUESTIONS[0])], [Sampling(max_new_tokens=200, logit_bias=no_end(tok))], [BASE_ADAPTER]
    )
    assert forced[0].finish_reason == "length" and forced[0].completion_tokens == 200


def test_seeded_sampling_repeats(adapter_set):
    model, tok = adapter_set.model, adapter_set.tokenizer
    runs = [
        generate_chat(model, tok, [chat(QUESTIONS[0])], [Sampling(max_new_tokens=20, temperature=1.0, seed=s)], ["b"])
        for s in (7, 7, 8)
    ]
    assert runs[0][0].text == runs[1][0].text != runs[2][0].text


def test_interrupt_and_step_callbacks(adapter_set):
    model, tok = adapter_set.model, adapter_set.tokenizer
    prompt = encode_chat(tok, chat(QUESTIONS[0]))
    steps: list[list[str]] = []
    ban = no_end(tok)
    out = generate_tokens(
        model,
        tok,
        [prompt, prompt],
        [Sampling(max_new_tokens=50, logit_bias=ban)] * 2,
        ["a", "b"],
        on_step=steps.append,
        interrupt=lambda i: "timeout" if i == 0 and len(steps) >= 10 else None,
    )
    assert out[0].finish_reason == "timeout" and out[0].completion_tokens == 11  # checked after its 11th token
    assert out[1].finish_reason == "length" and out[1].completion_tokens == 50
    assert "".join(step[1] for step in steps) == out[1].text


def test_row_text_holds_back_a_possible_stop_string(tiny_model_cfg):
    from phi3ray.models.base import load_tokenizer

    tok = load_tokenizer(tiny_model_cfg)
    row = RowText(tok, set(), Sampling(max_new_tokens=100, stop=("STOP",)))
    shown = "".join(row.push(t) for t in tok.encode("pump ST", add_special_tokens=False))
    assert shown == "pump " and row.text == "pump ST"  # "ST" may begin "STOP": not shown yet
    shown += "".join(row.push(t) for t in tok.encode("OP now", add_special_tokens=False))
    assert row.finish_reason == "stop" and row.text == "pump " and shown == "pump "


def test_a_model_without_adapters_refuses_adapter_rows(tiny_model_cfg):
    from phi3ray.models.base import load_base_model, load_tokenizer

    model, tok = load_base_model(tiny_model_cfg), load_tokenizer(tiny_model_cfg)
    with pytest.raises(ValueError, match="without adapters"):
        generate_chat(model, tok, [chat("Hi")], [Sampling(max_new_tokens=2)], ["a"])
