"""cowest's own training options (data, adapter folders, LoRA, a named preset, a recipe file) and
the paper's defaults. TRL's own settings are not mirrored here: they are the fields of TRL's config
classes, given by their TRL names (trainer/configs.py builds the config, trainer/arguments.py reads
the flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from cowest.core import BadInput, check_run_name, option
from cowest.models.bundled import BUNDLED_NAME
from cowest.tasks.prompts import DraftFormat

# The paper's settings, by TRL field name, per objective: SFT lr 1.4e-5, grad-accum 8; DPO lr 1.41e-5,
# grad-accum 16, RMSprop; 1 epoch. KTO takes DPO's learning rate, optimizer and effective batch (16)
# so the two objectives compare on one collection, with a device batch above 1 because KTO estimates
# its KL term from the other completions of the batch.
PAPER: dict[str, dict[str, Any]] = {
    "sft": {
        "learning_rate": 1.4e-5,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "num_train_epochs": 1.0,
        "max_length": 1024,
    },
    "dpo": {
        "learning_rate": 1.41e-5,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 16,
        "num_train_epochs": 1.0,
        "optim": "rmsprop",
        "beta": 0.1,
        "max_length": 1024,
    },
    # GRPO is not in the paper: TRL's defaults, with the paper's sampling of drafts (temperature 1.0,
    # top-p 0.9, set by the run from --temperature / --top-p), and a generation batch of 4 queries.
    "grpo": {
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "num_train_epochs": 1.0,
    },
    "kto": {
        "learning_rate": 1.41e-5,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "num_train_epochs": 1.0,
        "optim": "rmsprop",
        "beta": 0.1,
        "max_length": 1024,
    },
}

# Named settings (`--preset`) over the paper's, per objective. small: for rounds of tens of pairs or queries,
# where the paper's few optimizer steps at lr 1.41e-5 move nothing (bench/RESULTS.md, the learning
# benchmark).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"sft": {}, "dpo": {}, "kto": {}, "grpo": {}},
    "small": {
        "dpo": {"learning_rate": 1e-4, "gradient_accumulation_steps": 4},
        # LoRA at TRL's GRPO learning rate (1e-6) moves nothing in tens of queries
        "grpo": {"learning_rate": 1e-4, "gradient_accumulation_steps": 2},
    },
}


@dataclass
class LoraSettings:
    """The paper's LoRA: r=16, alpha=16."""

    r: int = option(16, help="LoRA rank.", flag="--lora-r")
    alpha: int = option(16, help="LoRA alpha.", flag="--lora-alpha")
    dropout: float = option(0.05, help="LoRA dropout.", flag="--lora-dropout")
    target_modules: str = option(
        "all-linear",
        help="Modules LoRA adapts (PEFT's names; all-linear: every linear layer).",
        flag="--lora-target-modules",
    )

    def config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


@dataclass(kw_only=True)
class TrainingChoice:
    """What a training run takes on top of TRL's defaults: the paper's settings, a preset, a recipe,
    then TRL fields set one by one (`trl`, filled from the command line's TRL flags)."""

    preset: str = option(
        "paper",
        help=(
            "Named settings over TRL's: paper (the paper's own; DPO lr 1.41e-5, grad-accum 16, 1 epoch) or small "
            "(for rounds of tens of pairs or queries, where the paper's few steps move nothing: DPO lr 1e-4, "
            "grad-accum 4; GRPO lr 1e-4, grad-accum 2; KTO and SFT as paper). A recipe and TRL flags win over it."
        ),
        flag="--preset",
    )
    trainer_config: str = option(
        "",
        help=(
            "A YAML recipe of TRL config fields by their TRL names (alignment-handbook style), over the preset; "
            "TRL flags on the command line win over it."
        ),
        flag="--trainer-config",
        metavar="YAML",
    )
    trl: dict[str, Any] = option(
        default_factory=dict,
        help="TRL config fields by their TRL names, over everything else (the command line's TRL flags).",
        cli=False,
    )
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass(kw_only=True)
class SFTOptions(TrainingChoice):
    """The paper's SFT on a task's gold targets (LoRA r=16, alpha=16, lr 1.4e-5, grad-accum 8, 1 epoch)."""

    task: str = option(help="Task whose gold targets to train on (a name or a task file PATH.yaml).")
    data: str = option("", help="Data file (JSON array or JSON Lines); empty: the one a task file names.")
    out: str = option("adapters/sft", help="Adapter folder.")
    limit: int | None = option(None, help="Train on the first N usable rows.")
    weak: str = option(BUNDLED_NAME, help="Base model spec.")
    format: DraftFormat = option("cot", help="The draft format the targets are written in.")


@dataclass(kw_only=True)
class RoundSource:
    """Which round of which run a preference objective trains on, from which adapter, and where its
    adapter goes (OUT/RUN/round-R, with the objective's suffix)."""

    suffix: ClassVar[str] = ""

    run: str = option(help="Run whose pairs (DPO) or judged drafts (KTO) to train on.")
    round: int = option(help="Round whose pairs (DPO) or judged drafts (KTO) to train on.")
    out: str = option("", help="Adapter folder; empty: adapters/RUN/round-R (round-R-kto for KTO).")
    weak: str = option("", help="Base model spec; empty: the run's weak model (an adapter in it is ignored).")
    from_adapter: str | None = option(None, help="Start from this adapter (the SFT adapter for round 1).")

    @classmethod
    def folder(cls, root: str, run: str, round: int) -> str:
        return str(Path(root) / run / f"round-{round}{cls.suffix}")

    def __post_init__(self) -> None:
        check_run_name(self.run)
        self.out = self.out or self.folder("adapters", self.run, self.round)
        # found here, before the store is opened: PEFT would take a missing folder for a hub id
        if self.from_adapter and not Path(self.from_adapter, "adapter_config.json").is_file():
            raise BadInput(f"{self.from_adapter}: not a PEFT adapter folder")


@dataclass(kw_only=True)
class DPOOptions(RoundSource, TrainingChoice):
    """One round's DPO: which pairs, from which adapter, against which reference."""

    reference: Literal["sft", "previous"] = option(
        "previous",
        help=("previous: the reference is the adapter DPO starts from; sft: the SFT adapter in every round."),
    )
    sft_adapter: str | None = option(None, help="The reference adapter when --reference sft.")


@dataclass(kw_only=True)
class GRPOOptions(RoundSource, TrainingChoice):
    """One round's GRPO: TRL samples the weak model's completions for the round's queries and the
    collaborative reward scores them (cowest/rewards.py); from which adapter it starts."""

    suffix: ClassVar[str] = "-grpo"


@dataclass(kw_only=True)
class KTOOptions(RoundSource, TrainingChoice):
    """One round's KTO on every judged draft that took a side: which examples, from which adapter
    (the reference is the policy it starts from)."""

    suffix: ClassVar[str] = "-kto"
