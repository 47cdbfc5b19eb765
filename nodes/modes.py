"""The one table of modes: what runs, which output is the final answer, what is judged.

The routers in builder.py and the nodes read this table; nothing else decides what a mode means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ModeName = Literal[
    "infer",
    "collect",
    "collect_individual",
    "weak",
    "strong",
    "self_refine_weak",
    "self_refine_strong",
    "supericl",
    "skr",
    "flare",
    "reward",
    "reward_individual",
]
Output = Literal["solo", "draft", "refinement", "revision", "rag"]


@dataclass(frozen=True)
class ModeSpec:
    """One mode of the graph.

    `starts_with` is the first model to answer; `then` is what works on that answer; `final` is the
    output returned as the answer (None: collect mode returns pairs, not an answer). Outputs are
    judged against the gold answer when one is given, except where `judge_solo_first` makes the
    solo judgment a step of the algorithm (collect: a top-scored z skips refinement)."""

    starts_with: Literal["strong_solo", "weak_draft", "strong_rag", "judge"]
    then: Literal["strong_refine", "self_refine", "weak_draft", "judge", "end"]
    final: Output | None
    sampled_drafts: bool = False  # K sampled drafts (collect) rather than one greedy draft
    judge_solo_first: bool = False
    pairs: bool = False  # pair_collector ends the run
    supericl: bool = False  # the strong model sees the weak answer and its confidence, not the draft
    individual: bool = False  # individual feedback: each draft is judged on its own, nothing is refined
    rag: Literal["skr", "flare"] | None = None  # a retrieval-augmented baseline, the strong model as backbone
    given_drafts: bool = False  # the drafts come in the input (an online trainer's completions), not from weak_draft

    @property
    def uses_weak(self) -> bool:
        return "weak_draft" in (self.starts_with, self.then)

    @property
    def uses_strong(self) -> bool:
        return self.starts_with in ("strong_solo", "strong_rag") or self.then == "strong_refine"

    @property
    def revises(self) -> Literal["solo", "draft"] | None:
        """Whose answer the self_refine node revises."""
        if self.then != "self_refine":
            return None
        return "solo" if self.starts_with == "strong_solo" else "draft"


MODES: dict[str, ModeSpec] = {
    # Algorithm 2: the weak model drafts, the strong model refines.
    "infer": ModeSpec("weak_draft", "strong_refine", final="refinement"),
    # Algorithm 1 for one query: z, its score, K sampled drafts, their refinements and scores, pairs.
    "collect": ModeSpec(
        "strong_solo", "weak_draft", final=None, sampled_drafts=True, judge_solo_first=True, pairs=True
    ),
    # Individual feedback (the paper's RLWF / RLAIF baselines): K sampled drafts, each judged on its own
    # against the gold by the annotator (no strong refinement); those above their query's mean are positives.
    "collect_individual": ModeSpec("weak_draft", "judge", final=None, sampled_drafts=True, pairs=True, individual=True),
    # Baselines of the evaluation, over the same nodes.
    "weak": ModeSpec("weak_draft", "end", final="draft"),
    "strong": ModeSpec("strong_solo", "end", final="solo"),
    "self_refine_weak": ModeSpec("weak_draft", "self_refine", final="revision"),
    "self_refine_strong": ModeSpec("strong_solo", "self_refine", final="revision"),
    "supericl": ModeSpec("weak_draft", "strong_refine", final="refinement", supericl=True),
    # The paper's RAG baselines over a retriever (nodes/rag.py): SKR retrieves only when the strong model
    # says it needs to; FLARE retrieves for each sentence it is unsure of and writes that sentence again.
    "skr": ModeSpec("strong_rag", "end", final="rag", rag="skr"),
    "flare": ModeSpec("strong_rag", "end", final="rag", rag="flare"),
    # Online training's reward (GRPO, cowest/grpo_round.py): the drafts are the trainer's completions,
    # given in the input. reward: z and its score, then each draft refined and judged (Algorithm 1's
    # comparison, made continuous); reward_individual: each draft judged on its own.
    "reward": ModeSpec("strong_solo", "strong_refine", final=None, judge_solo_first=True, given_drafts=True),
    "reward_individual": ModeSpec("judge", "end", final=None, individual=True, given_drafts=True),
}


def final_answer(spec: ModeSpec, output: Output, step: Mapping[str, Any] | None) -> dict:
    """The state update that makes `step` the answer, when `output` is this mode's final one."""
    if spec.final != output or step is None:
        return {}
    return {"answer": step.get("answer"), "output": step.get("text")}
