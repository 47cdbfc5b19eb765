"""strong_rag: the paper's retrieval-augmented baselines, with the strong model as backbone.

- SKR (self-knowledge guided retrieval, Wang et al. 2023): the strong model first says whether it
  can answer from what it knows; only when it says it cannot are passages retrieved (with the query)
  and put beside the question. Otherwise its answer is the strong-CoT call itself (reused).
- FLARE (active retrieval, Jiang et al. 2023, the "direct" variant): the answer is written one
  sentence at a time. The first sentence is written with passages retrieved by the query. Each later
  one is first written without passages; if any of its tokens has a probability below
  `flare_threshold`, passages are retrieved with that sentence as the query (its unsure tokens
  masked out) and the sentence is written again with them. Where the model returns no token
  probabilities (a local model, or an API without logprobs), every sentence counts as unsure: the
  paper's rule with the threshold at 1, which retrieves at each sentence.

Every retrieval and model call goes through run_jobs: stored, reused and resumed as any other call.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from langgraph.runtime import Runtime

from cowest.core import BadInput
from cowest.models import ModelSpec, Sampling
from cowest.models.base import GREEDY, Messages
from cowest.tasks.parsing import answer_fields
from cowest.tasks.prompts import flare_prompt, rag_answer_prompt, self_knowledge_prompt, strong_solo_prompt

from .awaits import store_work
from .calls import PLACEHOLDER, run_jobs
from .context import CollabContext
from .ledger import current_plan
from .modes import final_answer
from .recording import CallLog
from .retrievers import passages_of
from .state import CollabState, Step

MAX_SENTENCES = 8  # FLARE: sentences written at most; the Answer: line usually ends it sooner
_SENTENCE = re.compile(r"\s*((?:Explanation|Knowledge|Answer)\s*:\s*)?(.+?(?:[.!?](?=\s)|\n|$))", re.S)


async def strong_rag(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    if not ctx.retriever:
        raise BadInput(f"mode {ctx.mode} needs a retriever: --corpus FILE.jsonl (or CollabContext.retriever)")
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    if ctx.spec.rag == "skr":
        step = await _skr(log, ctx, state)
    else:
        step = await _flare(log, ctx, state)
    return {"rag": step, **final_answer(ctx.spec, "rag", step)}


async def _skr(log: CallLog, ctx: CollabContext, state: CollabState) -> Step:
    strong, sampling, query = ctx.strong_spec, ctx.greedy(), state["query"]
    probe = log.job("skr_probe", 0, strong, sampling, self_knowledge_prompt(query), every_round=True)
    [said] = await run_jobs(log, "skr_probe", strong, [probe], sampling, _self_knowledge, billed=True)
    if said.get("error"):
        return Step(index=0, call_id=said.get("call_id"), text=None, answer=None, error=said["error"], strong_calls=[])
    parse = answer_fields(ctx.task, state)
    if said.get("answer") == "known":  # the strong-CoT answer itself
        job = log.job("strong_solo", 0, strong, sampling, strong_solo_prompt(query, ctx.solo_format), every_round=True)
        [step] = await run_jobs(log, "strong_solo", strong, [job], sampling, parse, billed=True)
        return Step(**step, retrievals=0, passages=[], strong_calls=[said.get("call_id"), step.get("call_id")])
    passages = await _retrieve(log, ctx, query, 0)
    job = log.job("strong_rag", 0, strong, sampling, rag_answer_prompt(query, passages, ctx.solo_format))
    [step] = await run_jobs(log, "strong_rag", strong, [job], sampling, parse, billed=True)
    calls = [said.get("call_id"), step.get("call_id")]
    return Step(**step, retrievals=1, passages=[p["id"] for p in passages], strong_calls=calls)


async def _flare(log: CallLog, ctx: CollabContext, state: CollabState) -> Step:
    strong, sampling, query = ctx.strong_spec, ctx.greedy(), state["query"]
    unsure = replace(sampling, logprobs=True)  # the sentences written ahead: their tokens' probabilities decide
    text, found, retrievals = "", [], 0
    calls: list[int | None] = []  # every strong call the answer took
    last: Step | None = None
    for t in range(MAX_SENTENCES):
        search: str | None = query  # FLARE's first query is the question itself
        if t > 0:
            prompt = flare_prompt(query, text, [])
            ahead, sentence, probabilities = await _write(
                log, strong, unsure, "flare_lookahead", t, prompt, text, calls
            )
            if ahead.get("error"):
                return _failed(ahead, calls)
            if not sentence:
                break
            search, last = _unsure_query(sentence, probabilities, ctx.flare_threshold), ahead
        if search is not None:  # retrieve, and write the sentence again with what was found
            passages = await _retrieve(log, ctx, search, t)
            retrievals += 1
            found += [p["id"] for p in passages if p["id"] not in found]
            prompt = flare_prompt(query, text, passages)
            last, sentence, _ = await _write(log, strong, sampling, "strong_rag", t, prompt, text, calls)
            if last.get("error"):
                return _failed(last, calls)
            if not sentence:
                break
        text = _joined(text, sentence)
        if _is_answer(sentence):
            break
    answer = answer_fields(ctx.task, state)(text)["answer"] if text else None
    return Step(
        index=0,
        call_id=last.get("call_id") if last else None,
        text=text or None,
        answer=answer,
        error=None,
        retrievals=retrievals,
        passages=found,
        strong_calls=calls,
    )


async def _write(
    log: CallLog,
    spec: ModelSpec,
    sampling: Sampling,
    role: str,
    index: int,
    prompt: Messages,
    so_far: str,
    calls: list[int | None],
) -> tuple[Step, str, list[tuple[str, float]] | None]:
    """One strong call of FLARE, its id added to `calls`: the step, and the sentence it adds to the
    answer `so_far` with its tokens' probabilities ("" and None when the call failed)."""
    job = log.job(role, index, spec, sampling, prompt)
    [step] = await run_jobs(log, role, spec, [job], sampling, lambda text: {}, billed=True)
    calls.append(step.get("call_id"))
    if step.get("error"):
        return step, "", None
    sentence, probabilities = _next_sentence(step, so_far)
    return step, sentence, probabilities


async def _retrieve(log: CallLog, ctx: CollabContext, search: str, index: int) -> list[dict]:
    """The passages the run's retriever finds for `search` (none when the retrieval failed: the
    failure is recorded, and the model answers without them)."""
    spec = ModelSpec("retriever", ctx.retriever)
    job = log.job("retrieve", index, spec, GREEDY, [{"role": "user", "content": search}])
    [step] = await run_jobs(log, "retrieve", spec, [job], GREEDY, lambda text: {})
    return passages_of(step.get("text")) if not step.get("error") else []


def _self_knowledge(text: str) -> dict[str, Any]:
    said = text.lower()
    # "Lookup" (or anything unclear) retrieves: SKR falls back on retrieval when self-knowledge is lacking
    return {"answer": "known" if "known" in said and "look" not in said else "lookup"}


def _next_sentence(step: Step, so_far: str) -> tuple[str, list[tuple[str, float]] | None]:
    """The first sentence of a continuation (a restatement of the answer so far cut off), and the
    probabilities of its tokens when the call returned them. In a dry run every placeholder is a
    new unsure sentence, so the plan counts FLARE's most calls."""
    text = step.get("text") or ""
    if text == PLACEHOLDER and current_plan() is not None:
        return PLACEHOLDER, None
    start = 0  # where the continuation starts in the output
    if so_far and text.startswith(so_far.strip()):
        start = len(so_far.strip())
    m = _SENTENCE.match(text, start)
    if not m or not m.group(2).strip():
        return "", None
    sentence = text[m.start(1) if m.group(1) else m.start(2) : m.end()].strip()
    logprobs = step.get("logprobs")
    if not logprobs:
        return sentence, None
    raw = "".join(token for token, _ in logprobs)
    position = -(len(raw) - len(raw.lstrip()))  # the stored text is stripped; the tokens are not
    probabilities = []
    for token, logprob in logprobs:
        if position >= m.end():
            break
        if position + len(token) > start:
            probabilities.append((token, math.exp(logprob)))
        position += len(token)
    return sentence, probabilities


def _unsure_query(sentence: str, probabilities: list[tuple[str, float]] | None, threshold: float) -> str | None:
    """None when every token is at least `threshold` likely; else the sentence as a search query,
    its unsure tokens masked out (FLARE's masked query), or whole where no probabilities came back."""
    if probabilities is None:
        return sentence
    if all(p >= threshold for _, p in probabilities):
        return None
    kept = "".join(token for token, p in probabilities if p >= threshold).strip()
    return kept or sentence


def _joined(text: str, sentence: str) -> str:
    if not text:
        return sentence
    return (
        f"{text}\n{sentence}"
        if _is_answer(sentence) or sentence.startswith(("Explanation", "Knowledge"))
        else f"{text} {sentence}"
    )


def _is_answer(sentence: str) -> bool:
    return sentence.lstrip().lower().startswith("answer")


def _failed(step: Step, calls: list) -> Step:
    return Step(
        index=0, call_id=step.get("call_id"), text=None, answer=None, error=step.get("error"), strong_calls=calls
    )
