"""The evaluation driver: questions -> leakage guard -> shared retrieval -> Ray actors answer every variant
-> scores, CIs and paired tests -> results.json, answers.jsonl, report.md/.html -> promotion gate."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import ray
from tqdm.auto import tqdm

from phi3ray.config import EvaluateConfig, system_prompt_of
from phi3ray.errors import Phi3RayError, PromotionGateError
from phi3ray.eval.gate import GateOutcome, check_gate_settings, judge_gate
from phi3ray.eval.heldout import read_heldout
from phi3ray.eval.leakage import guard
from phi3ray.eval.lineage import adapter_lineage, base_lineage, data_lineage
from phi3ray.eval.report import write_report
from phi3ray.eval.scoring import retrieval_scores, score_answer, summarize
from phi3ray.eval.variants import QuestionPrompts, Variant, build_matrix, build_prompts
from phi3ray.eval.verdict import write_verdict
from phi3ray.eval.worker import AnswerRecord, EvalWorker, WorkItem
from phi3ray.models.adapters import pin_revision
from phi3ray.models.base import load_tokenizer
from phi3ray.placement import resource_options, room_for
from phi3ray.storage import expand_path
from phi3ray.tracking import resolve_eval_adapters, start_evaluation

logger = logging.getLogger(__name__)


@dataclass
class EvalRun:
    run_dir: Path
    results: dict  # what results.json holds
    report_md: Path
    report_html: Path
    gate: GateOutcome | None


def evaluate(settings: EvaluateConfig) -> EvalRun:
    """Run the whole evaluation described by an `evaluate` config; raise PromotionGateError
    (after writing every output) when the gate is set and an adapter fails it."""
    started = time.perf_counter()
    check_gate_settings(settings)
    settings, versions = resolve_eval_adapters(settings)  # adapters named models:/<name>@<alias> -> their folders
    questions = read_heldout(settings.data.heldout_file, settings.max_questions)
    lineage = collect_lineage(settings)
    leakage = {"checked": False, "overlaps": []}
    if settings.check_leakage:  # copies, paraphrases, answer overlaps: its data.train_files and the adapters' cards'
        leakage = guard(settings, questions, lineage)
    tracker = start_evaluation(settings, lineage, versions)  # MLflow run; finds each adapter's registered version
    variants = build_matrix(list(settings.adapters), settings.rag)
    logger.info("evaluating %d questions x %d variants: %s", len(questions), len(variants), [v.name for v in variants])
    system_prompt = system_prompt_of(settings)
    retriever = settings.retriever if settings.rag else None
    budget = settings.generation.context_token_budget
    prompts = build_prompts(
        questions, load_tokenizer(settings.model), system_prompt, retriever, budget,
        context_length=settings.model.context_length, answer_tokens=settings.generation.max_new_tokens,
    )
    answering = time.perf_counter()
    records = answer_all(prompts, variants, settings)
    timings = {"retrieval_s": sum(p.retrieval_s for p in prompts), "answering_s": time.perf_counter() - answering}

    scores = {v.name: [score_answer(records[(p.question.id, v.name)], p, v.rag) for p in prompts] for v in variants}
    k = settings.retriever.top_k
    retrieval = [retrieval_scores(p, k) for p in prompts] if settings.rag else None
    kinds = [p.question.kind for p in prompts]
    summary = summarize(variants, scores, retrieval, k, settings.bootstrap_samples, settings.seed, kinds=kinds)
    gate = judge_gate(settings.gate, list(settings.adapters), summary)

    run_name = settings.run_name or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(expand_path(settings.output_dir)) / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {
        "run_name": run_name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_dir),
        "config": _public_config(settings),
        "lineage": lineage,
        "leakage": leakage,
        **scored_results(len(prompts), variants, summary, gate),
        "tracking": None if tracker is None else tracker.describe(),
    }
    results["verdict"] = write_verdict(_json_ready(results), primary=settings.gate.metric or "f1")
    results["timings"] = timings | {"total_s": time.perf_counter() - started}
    results = _json_ready(results)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    write_answers(run_dir / "answers.jsonl", prompts, variants, records, scores, retrieval)
    report_md, report_html = write_report(results, run_dir)
    logger.info("report: %s", report_md)
    if tracker is not None:  # metrics and the run folder to MLflow; the gate moves the alias or tags the rejection
        tracker.finish(results, run_dir, gate)
    if gate is not None and not gate.passed:
        raise PromotionGateError(gate.lines(), str(report_md))
    return EvalRun(run_dir, results, report_md, report_html, gate)


def collect_lineage(settings: EvaluateConfig) -> dict:
    """Base id/revision, each adapter's folder and hashes (fetched here, so a bad URI fails before any work)."""
    adapters = [adapter_lineage(name, uri) for name, uri in settings.adapters.items()]
    # the base at the revision the adapters' cards record (model.revision null), refused here, before any work, when
    # they disagree with each other or with model.revision: the results name the revision evaluated, not the config's
    model = pin_revision(settings.model, {a["name"]: a["path"] for a in adapters}, settings.allow_revision_mismatch)
    base = base_lineage(model)
    trained_on = {a["name"]: r for a in adapters
                  if (r := (((a.get("cards") or {}).get("adapter_card.json") or {}).get("base_model") or {})
                      .get("revision")) is not None and r != model.revision}
    if trained_on:  # only with allow_revision_mismatch=true: pin_revision refused it otherwise
        base["revision_mismatch_allowed"] = trained_on  # adapter -> the revision its card records
    return {
        "base": base,
        "adapters": adapters,
        "data": data_lineage(settings.data.heldout_file, settings.data.train_files),
    }


def actor_resources(settings: EvaluateConfig) -> dict[str, float]:
    """What each evaluation actor asks Ray for: from the config (use_gpu), not from the nodes up at start, so
    that on an autoscaling cluster a GPU actor brings up a GPU node instead of running on the CPU head."""
    return {"num_cpus": 1, "num_gpus": 1 if settings.use_gpu else 0, **resource_options(settings.actor_resources)}


def answer_all(
    prompts: list[QuestionPrompts], variants: list[Variant], settings: EvaluateConfig
) -> dict[tuple[str, str], AnswerRecord]:
    """Send batches of questions to num_actors Ray actors (a GPU each with use_gpu);
    each actor loads the model once and answers every variant of its batches. One bar over questions."""
    if not ray.is_initialized():
        ray.init()
    resources = ray.cluster_resources()
    asks = actor_resources(settings)
    if settings.num_actors > resources.get("GPU" if asks["num_gpus"] else "CPU", 0):
        logger.warning("num_actors=%d but the cluster has %s now; some actors wait (or the autoscaler adds nodes)",
                       settings.num_actors, resources)
    room = room_for(settings.actor_resources, resources)
    actors_up_to = settings.num_actors if room is None or room == 0 else min(settings.num_actors, room)
    if actors_up_to < settings.num_actors:  # batches go round-robin: one sent to an actor never placed would hang
        logger.warning("num_actors=%d but the cluster has room for %d actors asking for %s; using %d",
                       settings.num_actors, room, settings.actor_resources, actors_up_to)
    actor_cls = ray.remote(**asks)(EvalWorker)
    items = [WorkItem(p.question.id, p.plain, p.rag, p.question.answer, p.declined) for p in prompts]
    batches = [items[i : i + settings.batch_size] for i in range(0, len(items), settings.batch_size)]
    actors = [
        actor_cls.remote(settings.model, settings.adapters, settings.generation, settings.seed,
                         settings.allow_revision_mismatch)
        for _ in range(min(actors_up_to, len(batches)))  # an actor without a batch would only load the model
    ]
    pending = {actors[i % len(actors)].answer.remote(batch, variants): len(batch) for i, batch in enumerate(batches)}
    records: dict[tuple[str, str], AnswerRecord] = {}
    try:
        with tqdm(total=len(items), desc=f"answering ({len(variants)} variants)", unit="question") as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for record in _get(done[0]):
                    records[(record.question_id, record.variant)] = record
                bar.update(pending.pop(done[0]))
    finally:
        for actor in actors:
            ray.kill(actor)
    return records


def _get(ref: ray.ObjectRef) -> list[AnswerRecord]:
    """ray.get, re-raising a worker's Phi3RayError as itself so the user sees its message."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, Phi3RayError):
            raise err.cause from err
        raise


def scored_results(questions: int, variants: list[Variant], summary, gate) -> dict:
    """results.json's figures: the matrix, metrics with CIs, paired comparisons, retrieval, per kind, the gate."""
    return {
        "questions": questions,
        "variants": [asdict(v) for v in variants],
        "metrics": summary.metrics,
        "comparisons": summary.comparisons,
        "retrieval": summary.retrieval,
        "by_kind": [asdict(row) for row in summary.by_kind],
        "gate": None if gate is None else {**asdict(gate), "passed": gate.passed, "lines": gate.lines()},
    }


def write_answers(
    path: Path,
    prompts: list[QuestionPrompts],
    variants: list[Variant],
    records: dict[tuple[str, str], AnswerRecord],
    scores: dict[str, list[dict]],
    retrieval: list[dict] | None,
) -> None:
    """One line per question x variant: the answer, its scores and (for +rag) the sources it was shown, each with
    the text the prompt showed of it."""
    with path.open("w", encoding="utf-8") as out:
        for i, prompt in enumerate(prompts):
            for variant in variants:
                record = records[(prompt.question.id, variant.name)]
                answer_scores = dict(scores[variant.name][i])
                answer_scores["perplexity"] = math.exp(answer_scores["perplexity"])  # this question's perplexity
                del answer_scores["abstention_case"]  # an input of set-level statistics; kind and abstained say it
                row = {
                    "question_id": prompt.question.id,
                    "variant": variant.name,
                    "question": prompt.question.question,
                    "reference": prompt.question.answer,
                    "kind": prompt.question.kind,
                    "answer": record.answer,
                    "abstained": bool(answer_scores["abstained"]),
                    "scores": answer_scores,
                    "prompt_tokens": record.prompt_tokens,
                    "completion_tokens": record.completion_tokens,
                    "finish_reason": record.finish_reason,
                    "sources": prompt.sources if variant.rag else [],
                    "retrieval": retrieval[i] if variant.rag and retrieval else None,
                }
                out.write(json.dumps(_json_ready(row), ensure_ascii=False) + "\n")


def _public_config(settings: EvaluateConfig) -> dict:
    """The config as it ran, secrets blanked."""
    config = asdict(settings)
    weaviate = config.get("retriever", {}).get("weaviate", {})
    if weaviate.get("api_key"):
        weaviate["api_key"] = "***"
    return config


def _json_ready(value):
    """NaN -> None (JSON has no NaN), recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value
