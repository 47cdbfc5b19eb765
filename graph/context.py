"""Run-scoped settings of the graph (LangGraph `context_schema`; Studio's assistant form)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cowest.nodes.models import ModelSpec, Sampling
from cowest.settings import Settings

TOP_SCORE = 10


@dataclass
class CollabContext:
    """Everything about a run that is not the query itself."""

    # infer: weak draft -> strong refinement (Algorithm 2); collect: Algorithm 1 for one query.
    # The others are the evaluation baselines over the same nodes: weak / strong alone, each model
    # revising its own answer (self_refine_*), and SuperICL (the weak answer and its confidence
    # go into the strong model's prompt).
    mode: Literal["infer", "collect", "weak", "strong", "self_refine_weak", "self_refine_strong", "supericl"] = "infer"
    task: Literal["open", "ifqa", "medmcqa", "prosocial"] = "open"
    weak: str = "smollm2"  # provider:model[@adapter]
    strong: str = ""  # empty: the configured OpenAI-compatible API, else the bundled model
    judge: Literal["llm", "exact"] = "llm"
    judge_model: str = ""  # empty: same as the strong model
    samples: int = 4  # K weak drafts per query in collect mode (infer drafts one)
    format: Literal["direct", "knowledge", "cot"] = "cot"  # the weak draft's format
    solo_format: Literal["direct", "knowledge", "cot"] = "cot"  # the strong model alone (z is CoT in the paper)
    refine_steps: int = 4  # self_refine_*: revisions at most
    temperature: float = 1.0  # weak sampling in collect mode; infer and the strong model are greedy
    top_p: float = 0.9
    max_new_tokens: int = 256
    repetition_penalty: float = 1.1  # greedy decoding on local models (see Sampling)
    db: str = ""  # SQLAlchemy URL of the trace store; empty: record nothing
    run: str = "default"
    round: int = 1
    retry_failed: bool = False  # redo stored calls that ended in an error

    def __post_init__(self):
        settings = Settings.from_env()
        if not self.strong:
            self.strong = settings.default_strong()
        if not self.judge_model:
            self.judge_model = self.strong
        if self.samples < 1:
            raise ValueError("samples must be at least 1")

    # -- derived settings, one place for each --------------------------------------------------
    @property
    def weak_spec(self) -> ModelSpec:
        return ModelSpec.parse(self.weak)

    @property
    def strong_spec(self) -> ModelSpec:
        return ModelSpec.parse(self.strong)

    @property
    def judge_spec(self) -> ModelSpec:
        return ModelSpec.parse(self.judge_model)

    @property
    def judge_name(self) -> str:
        """What a judgment is attributed to: `exact`, or the judge model's spec."""
        return "exact" if self.judge == "exact" else str(self.judge_spec)

    def draft_sampling(self) -> Sampling:
        """Collect mode samples the K drafts as the paper does; every other mode drafts greedily."""
        if self.mode == "collect":
            return Sampling(self.temperature, self.top_p, self.max_new_tokens)
        return self.greedy()

    def greedy(self) -> Sampling:
        return Sampling(max_new_tokens=self.max_new_tokens, repetition_penalty=self.repetition_penalty)

    @property
    def draft_count(self) -> int:
        return self.samples if self.mode == "collect" else 1


@dataclass
class CollectContext(CollabContext):
    """The same settings, defaulting to preference collection (Studio's `collect` graph)."""

    mode: Literal["infer", "collect", "weak", "strong", "self_refine_weak", "self_refine_strong", "supericl"] = "collect"
