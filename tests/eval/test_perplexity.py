"""Reference log-likelihood: batched and left-padded equals each row scored alone, on the answer tokens only."""

import pytest
import torch
import torch.nn.functional as F

from phi3ray.eval.perplexity import answer_token_ids, reference_nll
from phi3ray.models.base import load_base_model, load_tokenizer

CONVERSATIONS = [
    [{"role": "system", "content": "Answer precisely."}, {"role": "user", "content": "What torque for VX-220 bolts?"}],
    [{"role": "user", "content": "Hi"}],
]
ANSWERS = ["The casing bolts need 110 N·m.", "Hello, how can I help with your pump today?"]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_cfg):
    model = load_base_model(tiny_model_cfg)
    model.eval()
    return model, load_tokenizer(tiny_model_cfg)


def test_answer_tokens_are_the_assistant_turn(model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    ids, n = answer_token_ids(tokenizer, CONVERSATIONS[0], ANSWERS[0])
    assert tokenizer.decode(ids[-n:]) == ANSWERS[0]
    assert tokenizer.decode(ids[:-n]).endswith("<|assistant|>\n")


def test_batched_equals_alone(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    batched = reference_nll(model, tokenizer, CONVERSATIONS, ANSWERS)
    for conversation, answer, (nll, n) in zip(CONVERSATIONS, ANSWERS, batched):
        ids, expected_n = answer_token_ids(tokenizer, conversation, answer)
        x = torch.tensor([ids])  # (1, T)
        with torch.no_grad():
            logits = model(input_ids=x).logits[0]  # (T, V)
        alone = F.cross_entropy(logits[:-1], x[0, 1:], reduction="none")[-expected_n:].sum()
        assert n == expected_n
        assert nll == pytest.approx(float(alone), rel=1e-4)
