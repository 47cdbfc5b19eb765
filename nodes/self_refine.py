"""self_refine: a model revises its own answer, up to `refine_steps` times (the Self-Refine baseline).

The weak model revises its draft (mode self_refine_weak), the strong model its solo answer
(self_refine_strong). It stops early once a revision keeps the previous answer.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.tasks.parsing import answer_fields
from cowest.tasks.prompts import self_refine_prompt

from .awaits import store_work
from .calls import run_jobs
from .context import CollabContext
from .modes import final_answer
from .recording import CallLog
from .state import CollabState


async def self_refine(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    weak = ctx.spec.revises == "draft"
    start = (state.get("drafts") or [{}])[0] if weak else (state.get("solo") or {})
    if start.get("error") or start.get("text") is None:
        return {}
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    spec, sampling, fmt = (
        (ctx.weak_spec, ctx.greedy(), ctx.format) if weak else (ctx.strong_spec, ctx.greedy(), ctx.solo_format)
    )
    parse = answer_fields(ctx.task, state)
    revisions, previous = [], start
    for step in range(1, ctx.refine_steps + 1):
        prompt = self_refine_prompt(state["query"], previous.get("text") or "", fmt)
        job = log.job("self_refine", step, spec, sampling, prompt, parent_id=previous.get("call_id"))
        [revised] = await run_jobs(log, "self_refine", spec, [job], sampling, parse, billed=not weak)
        if revised.get("error"):
            break
        revisions.append(revised)
        if revised.get("answer") == previous.get("answer"):
            break  # the model stands by its answer
        previous = revised
    return {"revisions": revisions, **final_answer(ctx.spec, "revision", revisions[-1] if revisions else start)}
