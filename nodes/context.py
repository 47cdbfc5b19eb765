"""Run-scoped settings of the graph (LangGraph `context_schema`; Studio's assistant form).

Each field owns its option: its default and its help (the `description` Studio's form shows and
the help of the CLI flag built from it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cowest.core import BadInput, option
from cowest.core.limits import limits
from cowest.models import (
    BUNDLED_NAME,
    ENGINE_HELP,
    ModelSettings,
    ModelSpec,
    RequestPolicy,
    Sampling,
    WeakEngine,
)
from cowest.tasks.prompts import DRAFT_FORMATS, DraftFormat

from .modes import MODES, ModeName, ModeSpec

TOP_SCORE = 10

JudgeKind = Literal["llm", "exact"]


@dataclass
class CollabContext:
    """Everything about a run that is not the query itself."""

    mode: ModeName = option(
        "infer",
        help=(
            "What runs: infer (weak draft -> strong refinement, Algorithm 2), collect (Algorithm 1 for one "
            "query), or a baseline over the same nodes: weak, strong, self_refine_weak, self_refine_strong, "
            "supericl, and the RAG baselines skr and flare (see nodes/modes.py)."
        ),
    )
    task: str = option(
        "open",
        help=(
            "The task: how queries are framed and answers parsed and judged; ifqa, medmcqa, prosocial, open, "
            "or a task file PATH.yaml."
        ),
    )
    weak: str = option(
        BUNDLED_NAME, help=("Weak model spec, provider:model[@adapter] (smollm2 is the bundled offline model).")
    )
    strong: str = option(
        "", help=("Strong model spec; empty: openai:$COWEST_OPENAI_MODEL when an API is configured, else smollm2.")
    )
    judge: JudgeKind = option(
        "llm", help="llm: a chat model scores 1-10 on the rubric; exact: 10 on an exact match, else 1."
    )
    judge_model: str = option("", help="Judge model spec; empty: the strong model.")
    samples: int = option(
        4,
        help=(
            "K weak drafts per query in collect mode (the other modes draft one); with GRPO, the completions "
            "sampled per query (TRL's num_generations)."
        ),
    )
    format: DraftFormat = option("cot", help="The weak draft's format: direct, knowledge or cot.")
    solo_format: DraftFormat = option(
        "cot", help="The strong model's format when it answers alone (z is CoT in the paper)."
    )
    refine_steps: int = option(4, help="Self-refine baselines: revisions at most.")
    retriever: str = option(
        "",
        help=(
            "RAG baselines (skr, flare): the registered retriever to search with (nodes/retrievers.py); "
            "the CLI's --corpus FILE.jsonl registers a BM25 one."
        ),
    )
    flare_threshold: float = option(
        0.4,
        help=(
            "FLARE: a sentence any of whose tokens has a probability below this is written again after a "
            "retrieval (where the strong model returns no token probabilities, every sentence is)."
        ),
    )
    temperature: float = option(
        1.0, help="Sampling temperature of the weak model's drafts (collect, GRPO); every other call is greedy."
    )
    top_p: float = option(0.9, help="Sampling top-p of the weak model's drafts (collect, GRPO).")
    max_new_tokens: int = option(256, help="Generation budget of every call.")
    repetition_penalty: float = option(
        1.1,
        help=("Greedy decoding on local models; small models loop without it ('The final answer is: The final ...')."),
    )
    timeout: float = option(
        60.0,
        help=(
            "Seconds a remote request may take, counted from when it is sent (a request waiting for a slot "
            "inside cowest is not timed)."
        ),
    )
    max_retries: int = option(
        2,
        help=(
            "Retries of a failed remote request (timeouts, 429, 5xx): exponential backoff with jitter, "
            "honouring Retry-After. A timeout or 429 met while other requests to the model were in flight "
            "is resent without counting: it halves the model's in-flight limit instead."
        ),
    )
    strong_concurrency: int = option(
        0,
        help=(
            "Requests to the strong model in flight at once; 0: adaptive (halves when the server pushes back "
            "with a timeout, 429 or 503, grows back after successes), which suits one-slot servers and fast APIs."
        ),
    )
    judge_concurrency: int = option(0, help="Requests to the judge model in flight at once; 0: adaptive.")
    weak_concurrency: int = option(
        0, help="Requests to the weak model in flight at once when it is served (openai: spec); 0: adaptive."
    )
    weak_engine: WeakEngine = option("auto", help=ENGINE_HELP)
    weak_base_url: str = option(
        "",
        help=(
            "The OpenAI-compatible server of an openai: weak model (vLLM: n=K sampling, LoRA adapters loaded "
            "at run time), when it is not $OPENAI_BASE_URL."
        ),
    )
    db: str = option(
        "",
        help=(
            "SQLAlchemy URL of the trace store; empty: record nothing (the CLI's default is $COWEST_DB or "
            "sqlite:///cowest.db)."
        ),
    )
    run: str = option("default", help="Run name: the calls, queries and pairs of one run belong together.")
    round: int = option(1, help="Round of the feedback loop (round r drafts with adapter r-1).")
    retry_failed: bool = option(False, help="Redo stored calls that ended in an error.")
    seed: int | None = option(
        None,
        help=(
            "Sampled weak drafts reproducible: each draws from a random stream seeded by this and its identity "
            "(run, round, query, sample index), so a rerun into a fresh store gives the same drafts (a local "
            "model; a served one gets the API's `seed`). Empty: fresh randomness."
        ),
    )
    cache: bool = option(
        True,
        help=(
            "Reuse any stored call with the same content (model, messages, decoding) from any run; "
            "--no-cache sends every call this run has not made itself."
        ),
    )

    def __post_init__(self) -> None:
        if not self.strong:
            self.strong = ModelSettings.from_env().default_strong()
        if not self.judge_model:
            self.judge_model = self.strong
        if self.mode not in MODES:
            raise BadInput(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        for name in ("format", "solo_format"):
            if getattr(self, name) not in DRAFT_FORMATS:
                raise BadInput(f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(DRAFT_FORMATS)}")
        if self.judge not in ("llm", "exact"):
            raise BadInput(f"unknown judge {self.judge!r}; choose llm or exact")
        for name, ok, rule in (
            ("samples", self.samples >= 1, "at least 1"),
            ("max_new_tokens", self.max_new_tokens >= 1, "at least 1"),
            ("temperature", self.temperature >= 0, "0 or more"),
            ("top_p", 0 < self.top_p <= 1, "in (0, 1]"),
            ("refine_steps", self.refine_steps >= 1, "at least 1"),
            ("flare_threshold", 0 <= self.flare_threshold <= 1, "in [0, 1]"),
            ("timeout", self.timeout > 0, "more than 0"),
            ("max_retries", self.max_retries >= 0, "0 or more"),
            ("strong_concurrency", self.strong_concurrency >= 0, "0 (adaptive) or more"),
            ("judge_concurrency", self.judge_concurrency >= 0, "0 (adaptive) or more"),
            ("weak_concurrency", self.weak_concurrency >= 0, "0 (adaptive) or more"),
        ):
            if not ok:
                raise BadInput(f"--{name.replace('_', '-')} must be {rule} (got {getattr(self, name)})")
        caps = limits()
        for name, cap, env in (
            ("samples", caps.max_samples, "COWEST_MAX_SAMPLES"),
            ("max_new_tokens", caps.max_new_tokens, "COWEST_MAX_NEW_TOKENS"),
        ):
            if getattr(self, name) > cap:
                flag, value = name.replace("_", "-"), getattr(self, name)
                raise BadInput(f"--{flag} {value:,} is over the limit of {cap:,} ({env}, the operator's)")

    # -- derived settings, one place for each --------------------------------------------------
    @property
    def spec(self) -> ModeSpec:
        """What this mode runs, which output is final and what is judged."""
        return MODES[self.mode]

    def request_policy_for(self, spec: ModelSpec) -> RequestPolicy:
        """How requests to `spec` are sent. Its in-flight limit is the first one pinned for a role
        it plays (the strong model first: the judge is often the same server)."""
        roles = (
            (self.strong_spec, self.strong_concurrency),
            (self.judge_spec, self.judge_concurrency),
            (self.weak_spec, self.weak_concurrency),
        )
        pinned = [n for role_spec, n in roles if n and role_spec.base == spec.base]
        own_server = self.weak_base_url if self.weak_base_url and spec.base == self.weak_spec.base else None
        return RequestPolicy(
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_in_flight=pinned[0] if pinned else 0,
            base_url=own_server,
            engine=self.weak_engine if spec.base == self.weak_spec.base else "auto",
        )

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
        if self.spec.sampled_drafts:
            return Sampling(self.temperature, self.top_p, self.max_new_tokens)
        return self.greedy()

    def greedy(self) -> Sampling:
        return Sampling(max_new_tokens=self.max_new_tokens, repetition_penalty=self.repetition_penalty)

    @property
    def draft_count(self) -> int:
        return self.samples if self.spec.sampled_drafts else 1


@dataclass
class CollectContext(CollabContext):
    """The same settings, defaulting to preference collection (Studio's `collect` graph)."""

    mode: ModeName = option("collect", help="collect: Algorithm 1 for one query (see CollabContext.mode).")
