"""What SFT, DPO and KTO share: loading the weak model, starting a preference round from the
previous adapter, and saving and recording the trained one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cowest.core import BadInput
from cowest.models.local import resolve_model_path
from cowest.models.spec import ModelSpec
from cowest.storage import Adapter, TraceStore

from .configs import TrainerConfig, on_gpu


def load_weak(spec: str):
    """(model, tokenizer, base path) of the weak model's base, without any adapter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parsed = ModelSpec.parse(spec)
    if parsed.provider != "huggingface":
        raise BadInput(f"the weak model must be local to be trained, got {spec!r} (use huggingface:DIR or smollm2)")
    path = resolve_model_path(parsed.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu() else torch.float32)
    return model, tokenizer, path


def start_policy(weak: str, from_adapter: str | None, lora: Any):
    """(model, tokenizer, base path, peft_config, reference) of a preference round. From an adapter:
    a trainable PeftModel and no peft_config, so TRL freezes a copy of it as "ref" and the reference
    is the policy we start from; otherwise a fresh LoRA whose reference is the base (adapters off)."""
    from peft import PeftModel

    model, tokenizer, base_path = load_weak(weak)  # the base only; any adapter in the spec is ignored
    if from_adapter:
        model = PeftModel.from_pretrained(model, from_adapter, is_trainable=True)
        return model, tokenizer, base_path, None, "previous"
    return model, tokenizer, base_path, lora.config(), "base"


def save_round(
    store: TraceStore,
    trainer: Any,
    tokenizer: Any,
    opts: Any,
    *,
    kind: str,
    config: TrainerConfig,
    base_path: str,
    reference: str,
    metrics: dict,
    pair_ids: list[int] | None = None,
    example_ids: list[int] | None = None,
) -> Adapter | None:
    """Save the adapter of round `opts.round` at `opts.out` (with the TRL config it trained with) and
    record it with its parent (lineage), what it trained on and that config. None on the non-main
    processes of a multi-GPU launch: one process saves and records."""
    if not trainer.is_world_process_zero():
        return None
    out = Path(opts.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(out), selected_adapters=["default"])
    tokenizer.save_pretrained(str(out))
    config.write(out)
    parent_path = str(Path(opts.from_adapter).resolve()) if opts.from_adapter else None
    parent = store.adapter_by_path(parent_path) if parent_path else None
    return store.save_adapter(
        Adapter(
            run_id=store.run_id(opts.run),
            round=opts.round,
            kind=kind,
            path=str(out),
            base_model=base_path,
            parent_id=parent.id if parent else None,
            parent_path=parent_path,
            reference=reference,
            pair_ids=pair_ids or [],
            example_ids=example_ids,
            metrics={**metrics, **config.record()},
        )
    )
