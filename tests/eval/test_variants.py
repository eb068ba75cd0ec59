"""The variant matrix and the prompts every variant shares."""

import pytest
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.variants import build_matrix, build_prompts
from phi3ray.names import BASE_ADAPTER

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_matrix_is_base_and_each_adapter_with_and_without_rag():
    matrix = build_matrix(["pumps", "drives"])
    assert [(v.name, v.adapter, v.rag) for v in matrix] == [
        ("base", BASE_ADAPTER, False), ("base+rag", BASE_ADAPTER, True),
        ("pumps", "pumps", False), ("pumps+rag", "pumps", True),
        ("drives", "drives", False), ("drives+rag", "drives", True),
    ]
    assert [v.reference for v in matrix] == ["base", "base+rag"] * 3
    assert matrix[3].adapter_variant == "pumps"
    assert [v.name for v in build_matrix([], rag=False)] == ["base"]


def test_plain_prompts_share_the_system_prompt():
    questions = [HeldoutQuestion("q1", "What is E21?", "keypad")]
    [prompt] = build_prompts(questions, tokenizer=None, system_prompt="Be exact.", retriever_cfg=None,
                             context_token_budget=100, context_length=1024, answer_tokens=64)
    assert prompt.plain == [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "What is E21?"}]
    assert prompt.rag is None and prompt.sources == []
    [bare] = build_prompts(questions, None, None, None, 100, 1024, 64)
    assert bare.plain == [{"role": "user", "content": "What is E21?"}]
