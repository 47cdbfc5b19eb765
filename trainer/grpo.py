"""GRPO of the weak model with LoRA (TRL's GRPOTrainer): online, on rewards a caller computes (the
collaborative reward of cowest/rewards.py), one round's queries at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cowest.storage import Adapter, TraceStore

from .common import save_round, start_policy
from .configs import TrainerConfig, build_config
from .options import GRPOOptions

__all__ = ["GRPOOptions", "grpo_config", "summarize_grpo_log", "train_grpo"]

# TRL's per-step GRPO metrics the round keeps (their means over the logged steps)
METRIC_KEYS = ("loss", "reward", "reward_std", "frac_reward_zero_std", "completions/mean_length")


def grpo_config(opts: GRPOOptions, run: dict[str, Any] | None = None) -> TrainerConfig:
    """The round's GRPOConfig; `run`: the round's own values (group size, completion length, sampling)."""
    return build_config("grpo", opts, {"output_dir": str(Path(opts.out).resolve()), **(run or {})})


def train_grpo(
    store: TraceStore,
    opts: GRPOOptions,
    config: TrainerConfig,
    rows: list[dict[str, Any]],
    reward_funcs: list[Any],
    callbacks: list[Any] | None = None,
    extra_metrics: Any = None,
) -> Adapter | None:
    """Train on `rows` (TRL prompt rows, with the columns the reward functions read), save a plain
    PEFT adapter at `opts.out`, record it. `extra_metrics`: a dict, or a function called after
    training that returns one (what the rewards came to). None on the non-main processes of a
    multi-GPU launch, or when a callback stopped training early (nothing is recorded: a rerun trains
    the round again, its rewards read back from the store)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    model, tokenizer, base_path, peft_config, reference = start_policy(opts.weak, opts.from_adapter, opts.lora)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=config.config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    speed = trainer.train().metrics
    if trainer.state.global_step < trainer.state.max_steps:
        return None
    metrics = summarize_grpo_log(trainer.state.log_history)
    metrics.update({k: speed[k] for k in ("train_runtime", "train_steps_per_second") if k in speed})
    metrics.update((extra_metrics() if callable(extra_metrics) else extra_metrics) or {})
    return save_round(
        store,
        trainer,
        tokenizer,
        opts,
        kind="grpo",
        config=config,
        base_path=base_path,
        reference=reference,
        metrics=metrics,
    )


def summarize_grpo_log(log_history: list[dict]) -> dict:
    """The steps and the mean of each of TRL's GRPO metrics over them (the first and last reward too)."""
    steps = [h for h in log_history if "reward" in h]
    out: dict = {"steps": len(steps)}
    if steps:
        out["first_reward"], out["last_reward"] = steps[0]["reward"], steps[-1]["reward"]
        for key in METRIC_KEYS:
            values = [h[key] for h in steps if key in h]
            if values:
                out[key] = sum(values) / len(values)
    return out
