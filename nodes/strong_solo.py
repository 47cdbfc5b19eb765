"""strong_solo: the strong model answers alone with a chain-of-thought prompt (z).

The same call, with the same prompt and settings, is the strong-CoT baseline of `cowest eval`:
an evaluation over the queries of a finished collection reuses it and sends nothing."""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.tasks.parsing import answer_fields
from cowest.tasks.prompts import strong_solo_prompt

from .awaits import store_work
from .calls import run_jobs
from .context import CollabContext
from .modes import final_answer
from .recording import CallLog
from .state import CollabState


async def strong_solo(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    spec, sampling = ctx.strong_spec, ctx.greedy()
    # z does not depend on the weak model: every round of the run shares it.
    job = log.job(
        "strong_solo", 0, spec, sampling, strong_solo_prompt(state["query"], ctx.solo_format), every_round=True
    )
    [step] = await run_jobs(log, "strong_solo", spec, [job], sampling, answer_fields(ctx.task, state), billed=True)
    return {"solo": step, **final_answer(ctx.spec, "solo", step)}
