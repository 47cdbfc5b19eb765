"""judge: score the solo answer and each refinement against the gold answer (with individual
feedback, each draft itself).

`llm`: a chat model applies the 1/3/6/10 rubric; an output that is not an integer 1-10 is asked
for once more, then recorded as a failed judgment (never given a score). `exact`: 10 when the
parsed answer matches the gold under the task's normalisation, else 1; no model is called.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.models import Sampling
from cowest.storage.keys import stable_key
from cowest.tasks import get_task, task_rubric
from cowest.tasks.parsing import example_of, parse_score
from cowest.tasks.prompts import judge_prompt

from .awaits import store_work
from .call_rows import InvalidOutput
from .calls import run_jobs
from .context import TOP_SCORE, CollabContext
from .recording import CallLog
from .state import CollabState, Step

LOW_SCORE = 1
_JUDGE_TOKENS = 8
# A greedy retry of a local model repeats itself word for word; a little temperature gives the
# one retry a chance.
_RETRY = Sampling(temperature=0.7, top_p=0.95, max_new_tokens=_JUDGE_TOKENS)
_SAMPLING = Sampling(max_new_tokens=_JUDGE_TOKENS)


async def judge(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    if not state.get("gold") and not state.get("answers"):
        return {}  # nothing to judge against
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    targets: list[tuple[str, Step]] = []
    solo = state.get("solo")
    if solo and _unjudged(solo):
        targets.append(("solo", solo))
    targets += [("refinements", r) for r in state.get("refinements", []) if _unjudged(r)]
    if ctx.spec.individual:  # individual feedback: the annotator scores each draft on its own
        targets += [("drafts", d) for d in state.get("drafts", []) if _unjudged(d)]
    if not targets:
        return {}
    if ctx.judge == "exact":
        scored = await store_work(ctx.db, _judge_exact, ctx, log, state, targets)  # no model: the store's work only
    else:
        scored = await _judge_llm(ctx, log, state, targets)
    update: dict = {}
    for (field, step), verdict in zip(targets, scored):
        merged = {
            **step,
            "score": verdict.get("score"),
            "judge_call_id": verdict.get("call_id"),
            "judge_error": verdict.get("error"),
        }
        if field == "solo":
            update["solo"] = merged
        else:
            update.setdefault(field, []).append(merged)
    return update


def _unjudged(step: Step) -> bool:
    return (
        step.get("score") is None
        and not step.get("judge_error")
        and not step.get("error")
        and step.get("text") is not None
    )


async def _judge_llm(ctx, log, state, targets) -> list[dict]:
    gold = state.get("gold") or "; ".join(state.get("answers") or [])
    rubric = task_rubric(ctx.task)
    jobs = [
        # A solo judgment, like its target, is shared by every round of the run.
        log.job(
            "judge",
            step["index"],
            ctx.judge_spec,
            _SAMPLING,
            judge_prompt(gold, step["text"], rubric),
            parent_id=step.get("call_id"),
            every_round=(field == "solo"),
        )
        for field, step in targets
    ]
    steps = await run_jobs(
        log, "judge", ctx.judge_spec, jobs, _SAMPLING, _score_fields, retry_sampling=_RETRY, billed=True
    )
    return [{"score": s.get("score"), "call_id": s.get("call_id"), "error": s.get("error")} for s in steps]


def _score_fields(text: str) -> dict:
    score = parse_score(text)
    if score is None:
        raise InvalidOutput(f"judge output is not an integer 1-10: {text[:80]!r}")
    return {"score": float(score)}


def _judge_exact(ctx, log, state, targets) -> list[dict]:
    task, example = get_task(ctx.task), example_of(state)
    verdicts = []
    for field, step in targets:
        content = stable_key(judge="exact", task=ctx.task, answer=step.get("answer"), gold=state.get("gold"))
        key = log.key("judge", step["index"], content, every_round=(field == "solo"))
        found = log.lookup([key]).get(key)
        if found is not None:
            verdicts.append({"score": found.score, "call_id": found.id, "error": found.error})
            continue
        score = float(TOP_SCORE if task.is_correct(step.get("answer"), example) else LOW_SCORE)
        row = log.record(
            key,
            content_key=content,
            role="judge",
            sample_index=step["index"],
            parent_id=step.get("call_id"),
            model="exact",
            answer=step.get("answer"),
            score=score,
        )
        if row is not None:  # the stored verdict (another writer's, if it stored first)
            score = row.score if row.score is not None else score
        verdicts.append({"score": score, "call_id": row.id if row else None, "error": None})
    return verdicts
