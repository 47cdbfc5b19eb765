"""DPO of the weak model on one round's pairs, read from the store, with LoRA (TRL's DPOTrainer)."""

from __future__ import annotations

from pathlib import Path

from cowest.core import BadInput
from cowest.storage import Adapter, TraceStore, preference_rows

from .common import load_weak, save_round, start_policy
from .configs import TrainerConfig, build_config
from .options import DPOOptions

__all__ = ["DPOOptions", "dpo_config", "dpo_dataset", "summarize_log", "train_dpo"]

METRIC_KEYS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def dpo_dataset(store: TraceStore, run: str, round: int):
    """The round's pairs as TRL conversational preference rows (and the pair ids, for lineage)."""
    from datasets import Dataset

    rows = preference_rows(store, run, round)
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]) if rows else None
    return ds, [r["pair_id"] for r in rows]


def train_dpo(store: TraceStore, opts: DPOOptions, extra_metrics: dict | None = None) -> Adapter | None:
    """Train on round `opts.round`'s pairs, save a plain PEFT adapter at `opts.out`, record it.
    Returns the adapter row (None on the non-main processes of a multi-GPU launch)."""
    from trl import DPOTrainer

    config = dpo_config(opts)  # bad settings stop here, before the model loads
    dataset, pair_ids = dpo_dataset(store, opts.run, opts.round)
    if dataset is None:
        raise BadInput(f"run {opts.run!r} round {opts.round} has no pairs to train on")
    model, tokenizer, base_path, peft_config, reference = start_policy(opts.weak, opts.from_adapter, opts.lora)
    ref_model = None
    if (
        opts.from_adapter
        and opts.reference == "sft"
        and opts.sft_adapter
        and _differs(opts.sft_adapter, opts.from_adapter)
    ):
        ref_model, reference = _frozen_policy(opts.weak, opts.sft_adapter), "sft"
    trainer = DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=config.config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    speed = trainer.train().metrics
    metrics = summarize_log(trainer.state.log_history)
    metrics.update({k: speed[k] for k in ("train_runtime", "train_steps_per_second") if k in speed})
    metrics["processes"] = trainer.args.world_size  # > 1 under `accelerate launch`
    metrics.update(extra_metrics or {})
    return save_round(
        store,
        trainer,
        tokenizer,
        opts,
        kind="dpo",
        config=config,
        base_path=base_path,
        reference=reference,
        metrics=metrics,
        pair_ids=pair_ids,
    )


def dpo_config(opts: DPOOptions) -> TrainerConfig:
    """The round's DPOConfig; TRL writes its logs (`--report_to`) into the adapter's folder."""
    return build_config("dpo", opts, {"output_dir": str(Path(opts.out).resolve())})


def summarize_log(log_history: list[dict]) -> dict:
    """TRL's per-step DPO metrics: the first loss (ln 2 when the reference is right), and the mean
    of each metric over the logged steps."""
    steps = [h for h in log_history if "loss" in h and "rewards/margins" in h]
    out: dict = {"steps": len(steps)}
    if steps:
        out["first_loss"] = steps[0]["loss"]
        for key in METRIC_KEYS:
            values = [h[key] for h in steps if key in h]
            if values:
                out[key] = sum(values) / len(values)
    return out


def _differs(a: str, b: str) -> bool:
    return Path(a).resolve() != Path(b).resolve()


def _frozen_policy(weak: str, adapter_dir: str):
    """The weak base with `adapter_dir` merged in, frozen: the reference model DPO is given (TRL's
    public `ref_model`; it costs a second copy of the base in memory)."""
    from peft import PeftModel

    base, _, _ = load_weak(weak)
    model = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
