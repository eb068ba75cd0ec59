"""The variant matrix (base, base+rag, and per adapter: adapter, adapter+rag) and each question's prompts.

Every variant sees the same system prompt and question; the +rag variants see the same retrieved
sources too, because retrieval runs once per question and is shared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.config import RetrieverConfig
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.names import BASE_ADAPTER, BASE_VARIANT, RAG_SUFFIX
from phi3ray.rag.prompt import build_prompt, declines, last_question, retrieval_query
from phi3ray.rag.retriever import Retriever

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Variant:
    name: str  # base | base+rag | <adapter> | <adapter>+rag
    adapter: str  # peft adapter name, BASE_ADAPTER for the base model
    rag: bool  # the prompt carries retrieved, numbered sources

    @property
    def reference(self) -> str:
        """The variant it is compared against: base, or base+rag for a +rag variant."""
        return BASE_VARIANT + RAG_SUFFIX if self.rag else BASE_VARIANT

    @property
    def adapter_variant(self) -> str:
        """The same model without RAG."""
        return self.name.removesuffix(RAG_SUFFIX)


def build_matrix(adapter_names: Sequence[str], rag: bool = True) -> list[Variant]:
    """base, base+rag, then for each adapter: adapter, adapter+rag (the +rag ones only when rag)."""
    variants = []
    for name, adapter in [(BASE_VARIANT, BASE_ADAPTER)] + [(a, a) for a in adapter_names]:
        variants.append(Variant(name, adapter, rag=False))
        if rag:
            variants.append(Variant(name + RAG_SUFFIX, adapter, rag=True))
    return variants


@dataclass
class QuestionPrompts:
    """One held-out question as every variant will see it."""

    question: HeldoutQuestion
    plain: list[dict]  # system prompt (if any) + the question
    rag: list[dict] | None = None  # the same with the numbered sources, when the matrix has +rag variants
    sources: list[dict] = field(default_factory=list)  # the sources the RAG prompt numbers (rag.prompt.Source)
    retrieved_doc_ids: list[str] = field(default_factory=list)  # doc_id of each retrieved chunk, by rank
    retrieval_s: float = 0.0
    declined: bool = False  # RAG found no source: +rag variants answer prompt.ABSTAIN, as serving does

    def messages(self, variant: Variant) -> list[dict]:
        return self.rag if variant.rag else self.plain


def build_prompts(
    questions: Sequence[HeldoutQuestion],
    tokenizer: PreTrainedTokenizerBase,
    system_prompt: str | None,
    retriever_cfg: RetrieverConfig | None,
    context_token_budget: int,
    context_length: int,
    answer_tokens: int,
) -> list[QuestionPrompts]:
    """Plain prompts for all; with a retriever config, retrieve once per question and build the RAG prompt.

    Both are made by phi3ray.rag.prompt.build_prompt, as serving makes them for the same settings."""

    def prompt(question: str, chunks: list | None):
        return build_prompt(
            [{"role": "user", "content": question}], chunks, tokenizer, system_prompt=system_prompt,
            token_budget=context_token_budget, context_length=context_length, answer_tokens=answer_tokens,
        )

    prompts = [QuestionPrompts(q, prompt(q.question, None)[0]) for q in questions]
    if retriever_cfg is None:
        return prompts
    retriever = Retriever(retriever_cfg)
    try:
        for question in tqdm(prompts, desc="retrieving", unit="question"):
            start = time.perf_counter()
            chunks = retriever.search(retrieval_query(question.plain), question=last_question(question.plain))
            question.retrieval_s = time.perf_counter() - start
            question.retrieved_doc_ids = [chunk.doc_id for chunk in chunks]
            question.rag, sources = prompt(question.question.question, chunks)
            question.sources = [asdict(source) for source in sources]
            question.declined = declines(chunks, sources)
    finally:
        retriever.close()
    return prompts
