"""weak_draft: the weak model writes K drafts (explanation + answer) in one batched generate."""

from __future__ import annotations

from langgraph.runtime import Runtime

from cowest.models import get_model
from cowest.tasks.normalize import split_output
from cowest.tasks.parsing import answer_fields
from cowest.tasks.prompts import weak_draft_prompt

from .awaits import in_thread, store_work
from .calls import run_jobs
from .context import CollabContext
from .ledger import current_plan
from .modes import final_answer
from .recording import CallLog
from .state import CollabState


async def weak_draft(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    spec, sampling = ctx.weak_spec, ctx.draft_sampling()
    prompt = weak_draft_prompt(state["query"], ctx.format)
    jobs = [log.job("weak_draft", i, spec, sampling, prompt) for i in range(ctx.draft_count)]
    drafts = await run_jobs(log, "weak_draft", spec, jobs, sampling, answer_fields(ctx.task, state))
    if ctx.spec.supericl and current_plan() is None:
        confidence = await in_thread(_confidence, spec, log.policy_for(spec), prompt, drafts[0])
        drafts[0] = {**drafts[0], "confidence": confidence}
    return {"drafts": drafts, **final_answer(ctx.spec, "draft", drafts[0])}


def _confidence(spec, policy, prompt, draft) -> float | None:
    """The weak model's probability of its own answer; only a local model exposes it."""
    model = get_model(spec, policy=policy)
    _, answer_text = split_output(draft.get("text"))
    if draft.get("error") or not answer_text or not hasattr(model, "answer_confidence"):
        return None
    return model.answer_confidence(prompt, draft["text"], answer_text)
