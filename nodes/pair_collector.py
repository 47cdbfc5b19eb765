"""pair_collector: Algorithm 1's preference pairs from the judged drafts of one query, and every
draft that took a side as a labelled example (what KTO trains on)."""

from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.runtime import Runtime

from .awaits import store_work
from .context import CollabContext
from .recording import CallLog
from .state import CollabState, PairOut


@dataclass
class Split:
    positives: list[int]  # sample indices whose collaborative score beat the solo score
    negatives: list[int]
    pairs: list[tuple[int, int]]  # (positive, negative) sample indices
    deltas: dict[int, float] = field(default_factory=dict)  # Δ of every draft that took a side

    def examples(self) -> list[tuple[int, bool, float]]:
        """(sample index, desirable, Δ) of every draft that took a side, by sample index."""
        return sorted(
            [(i, True, self.deltas[i]) for i in self.positives] + [(i, False, self.deltas[i]) for i in self.negatives]
        )


def split_drafts(solo_score: float | None, scores: list[tuple[int, float | None]]) -> Split:
    """Algorithm 1: Δ = E(y*) − E(z); Δ > 0 is a positive, Δ ≤ 0 a negative; pair the j-th
    positive with the j-th negative for j < min(|Y+|, |Y-|). Drafts with no score (a failed
    refinement or judgment) take no side; with no solo score there is nothing to compare to."""
    if solo_score is None:
        return Split([], [], [])
    positives = [i for i, s in scores if s is not None and s > solo_score]
    negatives = [i for i, s in scores if s is not None and s <= solo_score]
    deltas = {i: s - solo_score for i, s in scores if s is not None}
    return Split(positives, negatives, list(zip(positives, negatives)), deltas)


def split_individual(scores: list[tuple[int, float | None]]) -> Split:
    """Individual feedback (RLWF / RLAIF as the paper adapts them): each draft is scored on its own,
    and those above the mean of their query's scores are positives, the rest negatives; paired as in
    Algorithm 1, Δ = score − mean. Unscored drafts take no side."""
    scored = [s for _, s in scores if s is not None]
    return split_drafts(sum(scored) / len(scored) if scored else None, scores)


def split_of_state(state: CollabState, individual: bool = False) -> Split:
    """The split of one query's judged drafts; `individual`: by the drafts' own scores."""
    drafts = [d for d in state.get("drafts", []) if d.get("text") is not None and not d.get("error")]
    if individual:
        return split_individual([(d["index"], d.get("score")) for d in drafts])
    solo = state.get("solo") or {}
    if state.get("solo_top"):
        # Refinement was skipped: every draft is a negative (no score can exceed the top one).
        return split_drafts(solo.get("score"), [(d["index"], solo.get("score")) for d in drafts])
    scores = {r["index"]: r.get("score") for r in state.get("refinements", [])}
    return split_drafts(solo.get("score"), [(d["index"], scores.get(d["index"])) for d in drafts])


async def pair_collector(state: CollabState, runtime: Runtime[CollabContext]) -> dict:
    ctx = runtime.context
    split = split_of_state(state, ctx.spec.individual)
    call_ids = {d["index"]: d.get("call_id") for d in state.get("drafts", [])}
    pairs = [
        PairOut(index=j, chosen=p, rejected=n, chosen_call_id=call_ids.get(p), rejected_call_id=call_ids.get(n))
        for j, (p, n) in enumerate(split.pairs)
    ]
    log = await store_work(ctx.db, CallLog.open, state, ctx)
    if log.writable and log.store is not None and log.run_id is not None and log.query_pk is not None:
        stored = [(c, r) for p in pairs if (c := p["chosen_call_id"]) and (r := p["rejected_call_id"])]
        examples = [(i, cid, good, delta) for i, good, delta in split.examples() if (cid := call_ids.get(i))]
        if stored or examples:
            await store_work(ctx.db, log.store.save_judged, log.run_id, ctx.round, log.query_pk, stored, examples)
    return {"pairs": pairs}
