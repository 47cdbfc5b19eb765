"""What SFT and DPO share: hyper-parameters, loading the weak model, device-aware TRL settings."""

from __future__ import annotations

from cowest.core import BadInput
from cowest.nodes.models.local import resolve_model_path
from cowest.nodes.models.spec import ModelSpec


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def trainer_args(**overrides) -> dict:
    """Settings every TRL config here shares. bf16 only on a GPU: on CPUs it makes steps 10-40x
    slower; gradient checkpointing likewise only pays off where memory is short."""
    gpu = on_gpu()
    args = dict(
        bf16=gpu,
        gradient_checkpointing=gpu,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        use_cpu=not gpu,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    args.update(overrides)
    return args


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
