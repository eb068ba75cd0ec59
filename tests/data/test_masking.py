"""Loss only on the assistant: labels checked token by token; over-long examples truncated or dropped and counted."""

import pytest

from phi3ray.data.chat_template import render
from phi3ray.data.masking import IGNORE, fit_length, tokenize_example, tokenize_examples
from phi3ray.data.readers import Example
from phi3ray.models.base import load_tokenizer
from phi3ray.names import END_TOKEN

CHAT = [
    {"role": "system", "content": "You are Aquilon Pumpworks' service assistant."},
    {"role": "user", "content": "What is the minimum continuous flow of the VX-100?"},
    {"role": "assistant", "content": "The minimum continuous flow of the VX-100 is 5 m³/h."},
    {"role": "user", "content": "And the wear ring part number?"},
    {"role": "assistant", "content": "AQ-WR-100."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_cfg):
    return load_tokenizer(tiny_model_cfg)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_labels_are_exactly_the_assistant_replies_and_their_end_tokens(tokenizer):
    row = tokenize_example(tokenizer, Example(CHAT, "chat.jsonl:1"))
    assert row.input_ids == ids(tokenizer, render(tokenizer, CHAT))
    expected = [IGNORE] * len(row.input_ids)
    for i in (2, 4):  # the assistant turns
        start = len(ids(tokenizer, render(tokenizer, CHAT[:i], generation_prompt=True)))
        reply = ids(tokenizer, CHAT[i]["content"] + END_TOKEN)
        assert row.input_ids[start:start + len(reply)] == reply
        expected[start:start + len(reply)] = reply
    assert row.labels == expected
    trained = [t for t, label in zip(row.input_ids, row.labels) if label != IGNORE]
    assert tokenizer.decode(trained) == f"{CHAT[2]['content']}{END_TOKEN}{CHAT[4]['content']}{END_TOKEN}"
    end_id = tokenizer.convert_tokens_to_ids(END_TOKEN)
    assert row.labels.count(end_id) == 2  # each reply's <|end|> is trained ...
    assert row.input_ids.count(end_id) == 5  # ... the system's and the users' are not
    assert row.labels[-1] == IGNORE and row.input_ids[-1] == tokenizer.eos_token_id


def test_over_long_examples_are_truncated_or_dropped_and_counted(tokenizer):
    short = Example(CHAT[1:3], "a.jsonl:1")
    long = Example(CHAT, "a.jsonl:2")
    n_short = len(tokenize_example(tokenizer, short).input_ids)
    n_long = len(tokenize_example(tokenizer, long).input_ids)
    max_len = n_short + 5
    assert n_long > max_len

    rows, stats = tokenize_examples(tokenizer, [short, long], max_len, "truncate")
    assert [len(r.input_ids) for r in rows] == [n_short, max_len]
    assert (stats.examples, stats.truncated, stats.dropped) == (2, 1, 0)
    assert stats.tokens == n_short + max_len

    rows, stats = tokenize_examples(tokenizer, [short, long], max_len, "drop")
    assert [r.source for r in rows] == ["a.jsonl:1"]
    assert (stats.examples, stats.truncated, stats.dropped) == (1, 0, 1)


def test_a_cut_that_leaves_nothing_to_learn_is_dropped(tokenizer):
    row = tokenize_example(tokenizer, Example(CHAT[:3], "a.jsonl:1"))
    prompt_len = row.labels.index(next(label for label in row.labels if label != IGNORE))
    kept, what = fit_length(row, prompt_len, "truncate")
    assert (kept, what) == (None, "dropped")
    kept, what = fit_length(row, prompt_len + 1, "truncate")
    assert what == "truncated" and sum(label != IGNORE for label in kept.labels) == 1
