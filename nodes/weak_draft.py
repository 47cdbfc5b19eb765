"""weak_draft: the weak model writes K drafts (explanation + answer) in one batched generate."""
from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.graph.context import CollabContext
from cowest.graph.state import CollabState

from .calls import Job, run_jobs
from .parsing import answer_fields
from .prompts import weak_draft_prompt
from .recording import CallLog


def weak_draft(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    log = CallLog.open(state, ctx)
    spec, sampling = ctx.weak_spec, ctx.draft_sampling()
    prompt = weak_draft_prompt(state["query"], ctx.format)
    jobs = [Job(i, log.key("weak_draft", i, spec, ctx.format, sampling), prompt) for i in range(ctx.draft_count)]
    steps = run_jobs(log, "weak_draft", spec, jobs, sampling, answer_fields(ctx.task, state))
    return {"drafts": [steps[i] for i in sorted(steps)]}
