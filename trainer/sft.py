"""LoRA SFT of the weak model on a task's gold targets, written in the weak model's draft format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cowest.core import BadInput
from cowest.tasks import Example, get_task
from cowest.tasks.prompts import weak_draft_prompt

from .common import load_weak
from .configs import TrainerConfig, build_config
from .options import SFTOptions


def sft_target(example: Example, fmt: str) -> str:
    """The gold answer in the draft format: explanation + answer where the data has an explanation
    (MedMCQA `exp`), the answer alone otherwise."""
    if example.explanation and fmt != "direct":
        label = "Knowledge" if fmt == "knowledge" else "Explanation"
        return f"{label}:\n{example.explanation}\nAnswer:\n{example.gold}"
    return f"Answer:\n{example.gold}"


def sft_rows(examples: list[Example], fmt: str) -> list[dict]:
    """TRL's conversational prompt-completion rows: the loss falls on the completion only."""
    return [
        {
            "prompt": weak_draft_prompt(ex.query, fmt),
            "completion": [{"role": "assistant", "content": sft_target(ex, fmt)}],
        }
        for ex in examples
    ]


def sft_config(opts: SFTOptions) -> TrainerConfig:
    """The SFTConfig; TRL writes its logs (`--report_to`) into the adapter's folder."""
    return build_config("sft", opts, {"output_dir": str(Path(opts.out).resolve())})


def train_sft(opts: SFTOptions) -> dict:
    """Train, save a plain PEFT adapter folder at `opts.out`, return TRL's final metrics."""
    from datasets import Dataset
    from trl import SFTTrainer

    config = sft_config(opts)  # bad settings stop here, before the model loads
    examples = get_task(opts.task).load(opts.data, limit=opts.limit).examples
    if not examples:
        raise BadInput(f"{opts.data}: no usable rows to train on")
    model, tokenizer, _ = load_weak(opts.weak)
    trainer = SFTTrainer(
        model=model,
        args=config.config,
        train_dataset=Dataset.from_list(sft_rows(examples, opts.format)),
        processing_class=tokenizer,
        peft_config=opts.lora.config(),
    )
    result = trainer.train()
    main = trainer.is_world_process_zero()
    if main:  # under `accelerate launch`: one process saves
        trained: Any = trainer.model
        trained.save_pretrained(opts.out)
        tokenizer.save_pretrained(opts.out)
        config.write(opts.out)
    return {
        **config.record(),
        "main_process": main,
        "train_loss": result.training_loss,
        "steps": result.global_step,
        "examples": len(examples),
        "log": trainer.state.log_history,
    }
