"""The options of the jobs over a task file (collect, rounds; eval's are eval_options.py): the graph's settings
(CollabContext) plus the job's own. Light to import: the CLI builds its flags from these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cowest.core import BadInput, check_run_name, copy_as, option
from cowest.nodes.context import CollabContext
from cowest.nodes.modes import ModeName
from cowest.tasks.base import data_identity
from cowest.tasks.template import is_task_file
from cowest.trainer.configs import TrainerConfig, build_config
from cowest.trainer.options import TrainingChoice


def task_label(task: str) -> str:
    """A task as run names show it: its name, or a task file's own `name`."""
    if not is_task_file(task):
        return task
    from cowest.tasks import get_task

    return get_task(task).name


@dataclass(kw_only=True)
class JobOptions:
    """Which rows, which store, how many queries at once."""

    data: str = option(
        "", help="Data file (JSON array or JSON Lines), or hf:OWNER/NAME[:SPLIT]; empty: the one a task file names."
    )
    limit: int | None = option(None, help="The first N usable rows (after --offset).")
    offset: int = option(0, help="Skip the first N rows (those a training run used, say).")
    concurrency: int = option(4, help="Queries in flight at once.")
    run: str = option("", help="Run name; empty: derived from the options, so the same command resumes the same run.")
    db: str = option(
        "", help="SQLAlchemy URL of the trace store, or a SQLite file's path; empty: $COWEST_DB or sqlite:///cowest.db."
    )
    max_failures: int = option(
        20, help=("Stop the job after this many failed model calls in a row (a dead API); 0: never.")
    )

    lease_seconds: float = option(
        60.0,
        help=(
            "Several collectors on one run split its queries through the store; a query stays its worker's "
            "this long after the worker stops renewing it (it died), then another takes it over."
        ),
    )
    max_strong_calls: int | None = option(
        None,
        metavar="N",
        help=(
            "Stop before this run has sent more than N strong and LLM-judge requests in all (calls reused "
            "from the store are free); exit 4, and the same command with a larger N continues."
        ),
    )
    max_strong_tokens: int | None = option(
        None,
        metavar="N",
        help="The same cap on those requests' tokens (each reserved at the most it can cost before sending).",
    )
    price_in: float | None = option(
        None, metavar="USD", help="USD per 1M input tokens of the strong model: summaries show cost."
    )
    price_out: float | None = option(None, metavar="USD", help="USD per 1M output tokens of the strong model.")

    def check_job(self) -> None:
        """Bad values found before anything is loaded, spent or written."""
        if self.limit is not None and self.limit < 1:
            raise BadInput(f"--limit must be at least 1 (got {self.limit})")
        if self.offset < 0:
            raise BadInput(f"--offset must be 0 or more (got {self.offset})")
        if self.concurrency < 1:
            raise BadInput(f"--concurrency must be at least 1 (got {self.concurrency})")
        if self.lease_seconds <= 0:
            raise BadInput(f"--lease-seconds must be more than 0 (got {self.lease_seconds})")
        if self.max_failures < 0:
            raise BadInput(f"--max-failures must be 0 or more (got {self.max_failures})")
        if self.run:
            check_run_name(self.run)
        for name in ("max_strong_calls", "max_strong_tokens", "price_in", "price_out"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise BadInput(f"--{name.replace('_', '-')} must be 0 or more (got {value})")

    def budget(self, spent: tuple[int, int] = (0, 0)):
        """The run's budget, given what it has already spent (TraceStore.spent)."""
        from cowest.nodes.ledger import Budget

        return Budget(self.max_strong_calls, self.max_strong_tokens, spent_calls=spent[0], spent_tokens=spent[1])

    @property
    def store_url(self) -> str:
        from cowest.storage.database import as_store_url  # SQLAlchemy only when a job runs

        return as_store_url(self.db)


# The options that decide what a run collects, and so its derived name (the weak model, which
# changes every round, is not one of them).
_IDENTITY = (
    "task",
    "data",
    "limit",
    "offset",
    "samples",
    "strong",
    "judge",
    "judge_model",
    "format",
    "temperature",
    "top_p",
    "max_new_tokens",
)


@dataclass(kw_only=True)
class CollectOptions(JobOptions, CollabContext):
    """A collection over a task file: the graph's settings (CollabContext) plus the job's."""

    mode: ModeName = option("collect", help="Always collect: Algorithm 1 for each query.")
    feedback: Literal["collaborative", "individual"] = option(
        "collaborative",
        help=(
            "collaborative: Algorithm 1 (a draft is positive when its strong refinement beats the strong model "
            "alone); individual: the paper's RLWF / RLAIF baselines, each draft scored on its own against the "
            "gold by --annotator, no refinement, positives above their query's mean score."
        ),
    )
    annotator: str = option(
        "strong",
        help=(
            "With --feedback individual, who scores the drafts with the rubric: weak (the weak base model: RLWF), "
            "strong (the strong model or --judge-model: RLAIF), or a model spec. --judge exact scores by exact "
            "match instead."
        ),
    )

    def check_feedback(self) -> None:
        if self.feedback not in ("collaborative", "individual"):
            raise BadInput(f"--feedback must be collaborative or individual (got {self.feedback!r})")
        if self.feedback == "collaborative" and self.annotator != "strong":
            raise BadInput("--annotator is for --feedback individual (collaborative feedback is judged by --judge)")

    def context(self) -> CollabContext:
        """The graph's run context: these options without the job's own."""
        self.check_feedback()
        individual = self.feedback == "individual"
        return copy_as(
            CollabContext,
            self,
            mode="collect_individual" if individual else "collect",
            judge_model=self.annotator_spec() if individual else self.judge_model,
            db=self.store_url,
            run=self.run_name(),
        )

    def annotator_spec(self) -> str:
        """The model that scores drafts with individual feedback."""
        weak_base = str(self.weak_spec.with_adapter(None))
        return {"weak": weak_base, "strong": self.judge_model}.get(self.annotator, self.annotator)

    def run_name(self) -> str:
        if self.run:
            return self.run
        ident = {name: getattr(self, name) for name in _IDENTITY}
        ident["data"] = data_identity(self.data)
        # A judge model left to default was recorded as None: derived names of existing runs stay the same.
        ident["judge_model"] = None if self.judge_model == self.strong else self.judge_model
        if self.feedback != "collaborative":  # likewise: collaborative runs keep their names
            ident.update(feedback=self.feedback, annotator=self.annotator)
        digest = hashlib.sha1(repr(sorted(ident.items())).encode()).hexdigest()[:8]
        return f"{task_label(self.task)}-{digest}"


@dataclass(kw_only=True)
class RoundsOptions(CollectOptions):
    """N rounds of collect -> DPO (or KTO). The weak spec is the base model; round r drafts with adapter r-1."""

    rounds: int = option(help="Rounds to run (finished rounds are skipped on a rerun).")
    objective: Literal["dpo", "kto", "grpo"] = option(
        "dpo",
        help=(
            "dpo: the paper's pairs, min(|Y+|, |Y-|) per query; kto: every judged draft that took a side, "
            "desirable or not; grpo: online, TRL's GRPO on the collaborative reward (the judge's score of the "
            "strong model's refinement of each sampled draft minus E_z), --samples completions per query. "
            "The training flags (TRL's fields) apply to each."
        ),
    )
    sft_adapter: str | None = option(None, help="Adapter round 1 starts from; empty: the bare base model.")
    fresh_queries: bool = option(False, help="Collect a new slice of --limit rows each round.")
    reference: Literal["sft", "previous"] = option(
        "previous",
        help="previous: round r's reference is adapter r-1; sft: the SFT adapter in every round (DPO only).",
    )
    out: str = option(
        "adapters", help="Adapters go to OUT/RUN/round-R (round-R-kto with --objective kto, round-R-grpo with grpo)."
    )
    train_base: str = option(
        "",
        help=(
            "With an openai: weak model served by vLLM (DPO or KTO): the same weights as a local model spec, "
            "which training updates; each round's adapter is then loaded into the server and drafts are asked "
            "of it by name."
        ),
    )
    eval_data: str = option(
        "",
        help=(
            "Held-out task file: after each round (and before round 1: round 0) the collab method is evaluated "
            "on it with that round's adapter, with 95% intervals and the paired difference to the previous "
            "round and to round 0."
        ),
    )
    eval_limit: int | None = option(None, help="The first N usable rows of --eval-data.")
    allow_overlap: bool = option(
        False, help="Allow --eval-data queries that are also training queries (same ids); refused otherwise."
    )
    stop_when_no_gain: bool = option(
        False,
        help=(
            "With --eval-data: stop after a round whose paired held-out gain over the previous round has a 95% "
            "interval that does not lie above 0."
        ),
    )
    training: TrainingChoice = field(default_factory=TrainingChoice)

    def check_rounds(self) -> None:
        self.check_job()
        self.check_feedback()
        if self.eval_limit is not None and self.eval_limit < 1:
            raise BadInput(f"--eval-limit must be at least 1 (got {self.eval_limit})")
        if (self.eval_limit or self.stop_when_no_gain) and not self.eval_data:
            raise BadInput("--eval-limit and --stop-when-no-gain need --eval-data (the held-out queries)")
        if self.eval_data and self.train_base:
            raise BadInput("--eval-data evaluates a local weak model's adapters; it does not drive a served one yet")
        if self.objective != "dpo" and self.reference == "sft":
            raise BadInput(f"--reference sft is for DPO; {self.objective.upper()}'s is set by its own trainer")
        if self.objective == "grpo" and self.train_base:
            raise BadInput("--objective grpo samples the weak model inside TRL: give a local weak model")
        if self.objective == "grpo" and self.samples < 2:
            raise BadInput("--objective grpo compares a query's completions with each other: --samples at least 2")
        if self.rounds < 1:
            raise BadInput("--rounds must be at least 1")
        if self.fresh_queries and self.limit is None:
            raise BadInput("--fresh-queries needs --limit: the size of each round's slice")
        if "@" in self.weak:
            raise BadInput("give the weak model without an adapter; start from one with --sft-adapter")
        if self.weak_spec.provider != "huggingface" and not self.train_base:
            raise BadInput(f"{self.weak} is served: give its weights with --train-base (what DPO trains)")
        if self.train_base and self.weak_spec.provider == "huggingface":
            raise BadInput("--train-base is for a served weak model (openai:NAME); a local one trains itself")
        if self.sft_adapter and not Path(self.sft_adapter, "adapter_config.json").is_file():
            raise BadInput(f"{self.sft_adapter}: not a PEFT adapter folder")

    def trainer_config(self) -> TrainerConfig:
        """The TRL config the rounds train with (each round sets its own folder as output_dir): bad
        training settings are BadInput here, before anything is spent. Its seed also samples the drafts."""
        return build_config(self.objective, self.training, {"output_dir": self.out, **self.training_values()})

    def training_values(self) -> dict[str, Any]:
        """The run's own values of the training config: GRPO samples --samples completions per query,
        --max-new-tokens long, at the drafts' --temperature and --top-p; with --weak-engine vllm, TRL
        generates them with vLLM in the training process (colocate)."""
        if self.objective != "grpo":
            return {}
        values: dict[str, Any] = {
            "num_generations": self.samples,
            "max_completion_length": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.weak_engine == "vllm":
            values.update(use_vllm=True, vllm_mode="colocate")
        return values

    def training_rows(self) -> tuple[int, int | None]:
        """(offset, limit) of every row the rounds collect on (all slices with --fresh-queries)."""
        if self.fresh_queries and self.limit:
            return self.offset, self.limit * self.rounds
        return self.offset, self.limit

    def collect_options(self, round: int, weak: str, offset: int, training_seed: int) -> CollectOptions:
        """Round `round`'s collection; its drafts are sampled with the seed training uses (TRL's `seed`)."""
        seed = training_seed if self.seed is None else self.seed
        return copy_as(CollectOptions, self, run=self.run_name(), round=round, weak=weak, offset=offset, seed=seed)


@dataclass(kw_only=True)
class GRPOJobOptions(CollectOptions):
    """`cowest train grpo`: one GRPO run over a task file, outside the rounds loop (no held-out
    curve): the collection's settings say how completions are sampled and rewarded, --round which
    round of the run it is (its calls are stored under it)."""

    from_adapter: str | None = option(None, help="Start from this adapter (an SFT adapter, or an earlier round's).")
    out: str = option("", help="Adapter folder; empty: adapters/RUN/round-R-grpo.")
    training: TrainingChoice = field(default_factory=TrainingChoice)

    def as_round(self) -> RoundsOptions:
        """The same job as round --round of `rounds --objective grpo` (checked as one)."""
        if self.round < 1:
            raise BadInput(f"--round must be at least 1 (got {self.round})")
        return copy_as(RoundsOptions, self, rounds=self.round, objective="grpo", sft_adapter=self.from_adapter)
