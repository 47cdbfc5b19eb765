"""The graph's state: one query, its drafts, refinements, scores and pairs."""

from __future__ import annotations

from typing import Annotated, TypedDict


class Step(TypedDict, total=False):
    """One model output as it moves through the graph. Refinement i refines draft i."""

    index: int  # sample index (0 for the solo answer)
    call_id: int | None  # its row in the store (None when nothing is stored)
    text: str | None
    answer: str | None  # parsed into the task's canonical form
    error: str | None
    score: float | None  # the judge's score, once judged
    judge_call_id: int | None
    judge_error: str | None
    confidence: float | None  # SuperICL: probability of the draft's answer tokens under the weak model
    logprobs: list  # [[token, log probability], ...] of the output, where asked for (FLARE)
    retrievals: int  # RAG baselines: the retrievals made for this answer
    passages: list[str]  # their passages' ids, in order
    strong_calls: list[int | None]  # every strong call the answer took (what it cost)


class PairOut(TypedDict):
    index: int
    chosen: int  # sample index of the chosen draft
    rejected: int
    chosen_call_id: int | None
    rejected_call_id: int | None


def merge_steps(old: list[Step] | None, new: list[Step] | None) -> list[Step]:
    """Merge by sample index: a later update of a step (its score, say) replaces it, so branches
    that work on different samples combine without losing any."""
    merged = {s["index"]: s for s in old or []}
    for step in new or []:
        merged[step["index"]] = {**merged.get(step["index"], {}), **step}
    return [merged[i] for i in sorted(merged)]


class CollabInput(TypedDict, total=False):
    """What a caller gives: the query, and the gold answer when it should be judged."""

    query: str
    query_id: str  # the data's own id; a hash of the query when missing
    gold: str | None  # gold answer as the judge sees it
    answers: list[str]  # acceptable answers for the exact judge (defaults to [gold])
    options: list[str]  # option texts of a multiple-choice query


class StoredIds(TypedDict):
    """Where a query's calls are recorded: its run's row and its own, in the run's store."""

    run_id: int
    query_pk: int


class JobInput(CollabInput, total=False):
    """A job's input (`collect`, `eval`, `rounds`: graph/builder.py's shared_graph): the query and the
    ids the job has just stored it under, so that no node looks them up. Not an input of the served
    graphs: a caller there cannot point the nodes at other rows."""

    stored: StoredIds


class RewardInput(JobInput, total=False):
    """An online trainer's input (graph/builder.py's reward_graph): the query and the completions it
    sampled, as drafts. Not an input of the served graphs: a caller there cannot hand in drafts."""

    drafts: list[Step]


class CollabState(CollabInput, total=False):
    stored: StoredIds  # a job's: the query's rows (else the nodes look them up by name)
    solo: Step | None
    solo_top: bool  # the solo answer has the top score: no draft can beat it
    drafts: Annotated[list[Step], merge_steps]
    refinements: Annotated[list[Step], merge_steps]
    pairs: list[PairOut]
    revisions: list[Step]  # self-refine baselines: each revision of the model's own answer
    rag: Step | None  # the RAG baselines' answer (SKR, FLARE)
    answer: str | None  # the collaboration's final answer (infer mode)
    output: str | None  # its full text


class StartState(TypedDict, total=False):
    """What the first router reads: the query, to refuse one past the operator's size limit."""

    query: str


class RouteState(TypedDict, total=False):
    """What the routers read (graph/builder.py): LangGraph hands a router only the channels its input
    type names, and at every step, so they get these three rather than the whole state."""

    gold: str | None
    answers: list[str]
    refinements: list[Step]
