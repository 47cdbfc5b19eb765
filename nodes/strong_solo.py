"""strong_solo: the strong model answers alone with a chain-of-thought prompt (z)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.graph.context import CollabContext
from cowest.graph.modes import final_answer
from cowest.graph.state import CollabState

from .calls import Job, run_jobs
from .parsing import answer_fields
from .prompts import strong_solo_prompt
from .recording import CallLog


def strong_solo(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    log = CallLog.open(state, ctx)
    spec, sampling = ctx.strong_spec, ctx.greedy()
    fmt = ctx.solo_format
    # Keyed without the round: z does not depend on the weak model, so every round reuses it.
    # (The default CoT format stays out of the key, which predates the other formats.)
    key = log.key("strong_solo", 0, spec, sampling, *([fmt] if fmt != "cot" else []), per_round=False)
    job = Job(0, key, strong_solo_prompt(state["query"], fmt))
    steps = run_jobs(log, "strong_solo", spec, [job], sampling, answer_fields(ctx.task, state))
    return {"solo": steps[0], **final_answer(ctx.spec, "solo", steps[0])}
