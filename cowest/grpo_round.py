"""One round of `cowest rounds --objective grpo`: TRL's GRPOTrainer samples K completions of the weak
model (adapter r-1) per query of the round and trains on their collaborative reward
(cowest/rewards.py); the round's adapter goes where a DPO round's does (OUT/RUN/round-R-grpo)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from cowest.core import BadInput, copy_as
from cowest.models import ModelSettings
from cowest.nodes.context import CollabContext
from cowest.nodes.ledger import Budget, keeping_ledger
from cowest.storage import Adapter, TraceStore
from cowest.tasks import Example, data_identity, get_task
from cowest.tasks.prompts import weak_draft_prompt
from cowest.trainer.grpo import GRPOOptions, grpo_config, train_grpo

from .collect import check_models
from .options import CollectOptions, RoundsOptions
from .rewards import RewardTally, collaborative_reward
from .runner import StoredQueries
from .spending import Spending


def grpo_round(
    opts: RoundsOptions,
    store: TraceStore,
    run: str,
    r: int,
    adapter: str | None,
    budget: Budget,
    settings: ModelSettings | None,
    out: str,
) -> tuple[Adapter | None, dict[str, Any]]:
    """Round r's adapter (None when the budget or failures stopped it before the end: nothing is
    recorded, and a rerun trains the round again, its rewards read back from the store), and what
    its rewards came to."""
    examples = round_queries(opts, r)
    ctx = reward_context(opts, run, r)
    check_models(ctx, settings)
    stored = ensure_queries(store, ctx, opts, examples)
    common = dict(run=run, round=r, out=out, weak=opts.train_base or opts.weak, from_adapter=adapter)
    grpo = copy_as(GRPOOptions, opts.training, **common)
    config = grpo_config(grpo, opts.training_values())
    rows = [{"prompt": weak_draft_prompt(ex.query, opts.format), "query_id": ex.id} for ex in examples]
    by_id = {ex.id: ex for ex in examples}
    tally = RewardTally()
    with keeping_ledger(opts.max_failures, budget) as ledger:
        reward = collaborative_reward(ctx, by_id, config.config.num_generations, ledger, tally, stored)

        def metrics() -> dict[str, Any]:
            return _metrics(opts, examples, tally, ledger)

        trained = train_grpo(store, grpo, config, rows, [reward], [_stop_when(ledger)], extra_metrics=metrics)
    return trained, metrics()


def round_queries(opts: RoundsOptions, r: int) -> list[Example]:
    """Round r's queries (a slice of its own with --fresh-queries)."""
    offset, _ = opts.training_rows()
    slice_start = (r - 1) * opts.limit if opts.fresh_queries and opts.limit else 0
    examples = get_task(opts.task).load(opts.data, limit=opts.limit, offset=offset + slice_start).examples
    if not examples:
        raise BadInput(f"{opts.data}: no usable rows for round {r} (nothing to train on)")
    return examples


def check_a_step_fits(opts: RoundsOptions, config: Any, rounds: range) -> None:
    """Every round has the queries one GRPO step takes, found before anything is stored or spent:
    with fewer, TRL's sampler yields no batch at all and training fails after the model has loaded."""
    generation = getattr(config, "generation_batch_size", None) or (
        config.per_device_train_batch_size * config.gradient_accumulation_steps
    )
    per_step = max(1, generation // config.num_generations)
    for r in rounds:
        n = len(round_queries(opts, r))
        if n < per_step:
            raise BadInput(
                f"a GRPO step takes {per_step} queries ({generation} completions: per_device_train_batch_size "
                f"{config.per_device_train_batch_size} x gradient_accumulation_steps "
                f"{config.gradient_accumulation_steps}, {config.num_generations} per query) and round {r} has {n}: "
                "give more queries (--limit), or lower --batch-size or --grad-accum"
            )


def reward_context(opts: RoundsOptions, run: str, r: int) -> CollabContext:
    """The reward graph's context for round r: the run's collection settings in a reward mode."""
    collecting = copy_as(CollectOptions, opts, run=run, round=r).context()
    return replace(collecting, mode="reward_individual" if opts.feedback == "individual" else "reward")


def ensure_queries(
    store: TraceStore, ctx: CollabContext, opts: RoundsOptions, examples: list[Example]
) -> StoredQueries:
    """The run's row and its queries' rows, which the reward's calls are stored under."""
    run_id = store.ensure_run(ctx.run, opts.task, data_path=data_identity(opts.data))
    return StoredQueries(run_id, store.ensure_queries(run_id, [(ex.id, ex.query, ex.gold, ex.line) for ex in examples]))


def _metrics(opts: RoundsOptions, examples: list, tally: RewardTally, ledger: Any) -> dict[str, Any]:
    stopped = None
    if ledger.budget_hit:
        stopped = ledger.budget.describe()
    elif ledger.tripped:
        stopped = f"stopped after {ledger.consecutive_failures} failed calls in a row; last error: {ledger.last_error}"
    return {
        "queries": len(examples),
        "drafts": tally.completions,  # the completions rewarded (the rounds table's drafts column)
        **_positives(opts, tally),
        "feedback": opts.feedback,
        "rewards": {k: v for k, v in asdict(tally).items() if k != "words"} | {"mean_reward": tally.mean_reward},
        "drafts_seen": tally.diagnostics(),
        "spending": asdict(Spending.of(ledger)),
        **({"stopped": stopped, "budget_stopped": ledger.budget_hit} if stopped else {}),
    }


def _positives(opts: RoundsOptions, tally: RewardTally) -> dict[str, int]:
    """With collaborative feedback, the rewarded completions that beat E_z and those that did not
    (the rounds table's positives and negatives, as a DPO round counts its drafts); an individual
    score beats nothing."""
    if opts.feedback == "individual":
        return {}
    return {"positives": tally.beat_solo, "negatives": tally.completions - tally.missing - tally.beat_solo}


def _stop_when(ledger: Any) -> Any:
    """A callback that stops training at the end of a step once the job should stop (the budget is
    spent, or the strong model failed too often in a row)."""
    from transformers import TrainerCallback

    class StopWhenTheJobShould(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
            if ledger.should_stop:
                control.should_training_stop = True
            return control

    return StopWhenTheJobShould()
