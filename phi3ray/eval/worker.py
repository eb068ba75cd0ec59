"""The evaluation worker (a Ray actor): loads the base and every adapter once, answers batches of questions."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from phi3ray.config import GenerationSettings, ModelConfig
from phi3ray.console import quiet_third_party
from phi3ray.eval.perplexity import reference_nll
from phi3ray.eval.variants import Variant
from phi3ray.models.adapters import AdapterSet
from phi3ray.models.generation import Sampling, declined_completion, encode_chat, generate_chat

logger = logging.getLogger(__name__)


@dataclass
class WorkItem:
    """What a worker needs of one question: its prompts per variant kind and the reference answer."""

    question_id: str
    plain: list[dict]
    rag: list[dict] | None
    reference: str
    declined: bool = False  # RAG found no source: +rag variants answer prompt.ABSTAIN without generating


@dataclass
class AnswerRecord:
    """One variant's answer to one question, as generated (scores are computed on the driver)."""

    question_id: str
    variant: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length
    latency_s: float  # wall time of the generate call that produced it (a batch of questions); NaN: not generated
    reference_nll: float  # sum of -log p of the reference answer's tokens under this variant's prompt
    reference_tokens: int


class EvalWorker:
    """Holds one model copy: the base plus all adapters on one PeftModel (on the GPU when there is one)."""

    def __init__(self, model: ModelConfig, adapters: dict[str, str], generation: GenerationSettings, seed: int,
                 allow_revision_mismatch: bool = False):
        quiet_third_party()  # this actor's process is an entry point too
        self.adapters = AdapterSet.load(model, adapters, max_loaded=max(1, len(adapters)),  # on the GPU if any
                                        allow_revision_mismatch=allow_revision_mismatch)
        self.sampling = Sampling(
            max_new_tokens=generation.max_new_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            seed=seed if generation.temperature > 0 else None,
        )
        warmup = Sampling(max_new_tokens=2, seed=self.sampling.seed)  # first-call costs stay out of the latencies
        generate_chat(self.adapters.model, self.adapters.tokenizer, [[{"role": "user", "content": "hi"}]], [warmup])
        logger.info("eval worker ready on %s (%d torch threads)", self.adapters.model.device, torch.get_num_threads())

    def answer(self, items: list[WorkItem], variants: list[Variant]) -> list[AnswerRecord]:
        """Every variant's answer to every item: one generate call and one scoring pass per variant."""
        records = []
        for variant in variants:
            adapter = self.adapters.ensure(variant.adapter)
            model, tokenizer = self.adapters.model, self.adapters.tokenizer
            conversations = [item.rag if variant.rag else item.plain for item in items]
            names = [adapter] * len(items)
            run = [i for i, item in enumerate(items) if not (variant.rag and item.declined)]
            start = time.perf_counter()
            generated = generate_chat(model, tokenizer, [conversations[i] for i in run], [self.sampling] * len(run),
                                      [names[i] for i in run]) if run else []
            latency = time.perf_counter() - start
            completions = dict(zip(run, generated))
            nlls = reference_nll(model, tokenizer, conversations, [item.reference for item in items], names)
            for i, (item, (nll, n_tokens)) in enumerate(zip(items, nlls)):
                # a declined question was not generated: its answer is prompt.ABSTAIN and it has no latency
                completion = completions.get(i) or declined_completion(
                    tokenizer, len(encode_chat(tokenizer, conversations[i])), self.sampling
                )
                records.append(
                    AnswerRecord(
                        question_id=item.question_id,
                        variant=variant.name,
                        answer=completion.text.strip(),
                        prompt_tokens=completion.prompt_tokens,
                        completion_tokens=completion.completion_tokens,
                        finish_reason=completion.finish_reason,
                        latency_s=latency if i in completions else float("nan"),
                        reference_nll=nll,
                        reference_tokens=n_tokens,
                    )
                )
        return records

