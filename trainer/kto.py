"""KTO of the weak model on every judged draft of one round that took a side (TRL's KTOTrainer,
LoRA): desirable when its collaboration beat the strong model alone, undesirable otherwise."""

from __future__ import annotations

from pathlib import Path

from cowest.core import BadInput
from cowest.storage import Adapter, TraceStore, example_rows

from .common import save_round, start_policy
from .configs import TrainerConfig, build_config
from .options import KTOOptions

__all__ = ["KTOOptions", "balance_weights", "kto_config", "kto_dataset", "summarize_kto_log", "train_kto"]

METRIC_KEYS = ("loss", "kl", "rewards/chosen", "rewards/rejected", "rewards/margins")


def kto_dataset(store: TraceStore, run: str, round: int, seed: int):
    """The round's examples as TRL unpaired preference rows, shuffled with `seed` (KTO's KL term pairs
    each completion with its batch neighbour's prompt: the drafts of one query must not sit together),
    and their example ids, for lineage."""
    from datasets import Dataset

    rows = example_rows(store, run, round)
    if not rows:
        return None, []
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "completion", "label", "example_id")} for r in rows])
    ds = ds.shuffle(seed=seed)
    return ds, list(ds["example_id"])


def train_kto(store: TraceStore, opts: KTOOptions, extra_metrics: dict | None = None) -> Adapter | None:
    """Train on round `opts.round`'s examples, save a plain PEFT adapter at `opts.out`, record it with
    its example ids. Returns the adapter row (None on the non-main processes of a multi-GPU launch)."""
    from trl import KTOTrainer

    seed = kto_config(opts).config.seed  # bad settings stop here, before the model loads
    dataset, example_ids = kto_dataset(store, opts.run, opts.round, seed)
    if dataset is None:
        raise BadInput(f"run {opts.run!r} round {opts.round} has no judged examples to train on")
    labels = list(dataset["label"])
    desirable = sum(labels)
    config = kto_config(opts, balance_weights(desirable, len(labels) - desirable))
    model, tokenizer, base_path, peft_config, reference = start_policy(opts.weak, opts.from_adapter, opts.lora)
    trainer = KTOTrainer(
        model=model,
        args=config.config,
        train_dataset=dataset.remove_columns("example_id"),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train()
    metrics = summarize_kto_log(trainer.state.log_history)
    metrics.update(
        desirable=desirable,
        undesirable=len(labels) - desirable,
        desirable_weight=config.config.desirable_weight,
        undesirable_weight=config.config.undesirable_weight,
    )
    metrics.update(extra_metrics or {})
    return save_round(
        store,
        trainer,
        tokenizer,
        opts,
        kind="kto",
        config=config,
        base_path=base_path,
        reference=reference,
        metrics=metrics,
        example_ids=example_ids,
    )


def kto_config(opts: KTOOptions, weights: tuple[float, float] = (1.0, 1.0)) -> TrainerConfig:
    """The round's KTOConfig. The loss weights from the class balance are run values: a recipe or a
    flag (desirable_weight, undesirable_weight) wins over them."""
    run = {
        "output_dir": str(Path(opts.out).resolve()),
        "desirable_weight": weights[0],
        "undesirable_weight": weights[1],
    }
    return build_config("kto", opts, run)


def balance_weights(desirable: int, undesirable: int) -> tuple[float, float]:
    """(desirable, undesirable) loss weights: the minority class weighted up so that weight x count
    is equal for both (TRL's advice: their ratio in [1, 4/3]); one class absent: 1, 1."""
    if not desirable or not undesirable:
        return 1.0, 1.0
    if desirable < undesirable:
        return undesirable / desirable, 1.0
    return 1.0, desirable / undesirable


def summarize_kto_log(log_history: list[dict]) -> dict:
    """TRL's per-step KTO metrics: the first step's loss, KL and rewards (with the reference equal
    to the policy, rewards and KL are 0 and each example's loss is 1/2 of its weight), and each
    metric's mean over the logged steps."""
    steps = [h for h in log_history if "loss" in h and "kl" in h]
    out: dict = {"steps": len(steps)}
    if steps:
        first = steps[0]
        out["first_loss"] = first["loss"]
        out["first_kl"] = first["kl"]
        out["first_rewards"] = {k: first[k] for k in ("rewards/chosen", "rewards/rejected") if k in first}
        for key in METRIC_KEYS:
            values = [h[key] for h in steps if key in h]
            if values:
                out[key] = sum(values) / len(values)
    return out
