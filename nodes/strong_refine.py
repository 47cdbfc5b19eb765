"""strong_refine: the strong model reads the query and each draft and writes the final answer."""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.tasks.parsing import answer_fields
from cowest.tasks.prompts import strong_refine_prompt, supericl_prompt

from .awaits import store_work
from .calls import run_jobs
from .context import TOP_SCORE, CollabContext
from .modes import final_answer
from .recording import CallLog
from .state import CollabState


async def strong_refine(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    if ctx.spec.judge_solo_first:
        solo_score = (state.get("solo") or {}).get("score")
        if solo_score is None:
            return {}  # z failed or was not judged: no draft can be compared, spend nothing
        if solo_score >= TOP_SCORE:
            return {"solo_top": True}  # no draft can beat a top-scored z: save the strong calls
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    spec, sampling = ctx.strong_spec, ctx.greedy()
    drafts = [d for d in state.get("drafts", []) if d.get("text") is not None and not d.get("error")]
    if ctx.spec.supericl:  # the strong model sees the weak answer and its confidence, not the draft
        prompts = [supericl_prompt(state["query"], d.get("answer"), d.get("confidence")) for d in drafts]
    else:
        prompts = [strong_refine_prompt(state["query"], d["text"] or "") for d in drafts]
    jobs = [
        log.job("strong_refine", d["index"], spec, sampling, prompt, parent_id=d.get("call_id"))
        for d, prompt in zip(drafts, prompts)
    ]
    refinements = await run_jobs(
        log, "strong_refine", spec, jobs, sampling, answer_fields(ctx.task, state), billed=True
    )
    first = refinements[0] if refinements else None
    return {"refinements": refinements, **final_answer(ctx.spec, "refinement", first)}
