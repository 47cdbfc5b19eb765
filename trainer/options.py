"""Every training option, with the paper's defaults: LoRA, SFT, DPO and KTO (the CLI builds its flags here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from cowest.core import BadInput, check_run_name, option
from cowest.nodes.models.bundled import BUNDLED_NAME
from cowest.nodes.prompts import DraftFormat


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
class SFTOptions:
    """The paper's SFT: LoRA r=16, alpha=16, lr 1.4e-5, batch 1, grad-accum 8, 1 epoch."""

    task: str = option(help="Task whose gold targets to train on (a name or a task file PATH.yaml).")
    data: str = option("", help="Data file (JSON array or JSON Lines); empty: the one a task file names.")
    out: str = option("adapters/sft", help="Adapter folder.")
    limit: int | None = option(None, help="Train on the first N usable rows.")
    weak: str = option(BUNDLED_NAME, help="Base model spec.")
    format: DraftFormat = option("cot", help="The draft format the targets are written in.")
    max_steps: int = option(-1, help="Stop after S optimizer steps (-1: the epochs).")
    epochs: float = option(1.0, help="Epochs over the data.")
    learning_rate: float = option(1.4e-5, help="Learning rate (the paper's).", flag="--lr")
    batch_size: int = option(1, help="Examples per device step.")
    grad_accum: int = option(8, help="Gradient accumulation steps.")
    max_length: int = option(1024, help="Tokens per prompt + completion at most.")
    seed: int = option(42, help="Training seed.")
    lora: LoraSettings = field(default_factory=LoraSettings)


# Named DPO settings (`--preset`), each the fields it changes from the paper's. small: for rounds of
# tens of pairs, where the paper's few optimizer steps at lr 1.41e-5 move nothing (bench/RESULTS.md,
# the learning benchmark).
DPO_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {"learning_rate": 1e-4, "grad_accum": 4},
}


@dataclass(kw_only=True)
class DPOHyperparams:
    """The paper's DPO settings: lr 1.41e-5, batch 1, grad-accum 16, RMSprop, 1 epoch, beta 0.1
    (or a named preset of them)."""

    preset: Literal["paper", "small"] = option(
        "paper",
        help=(
            "Named DPO settings: paper (its own: lr 1.41e-5, grad-accum 16, 1 epoch) or small (lr 1e-4, "
            "grad-accum 4: rounds of tens of pairs, where the paper's few steps move nothing). A DPO flag "
            "given with another value than the paper's wins over the preset."
        ),
        flag="--preset",
    )

    beta: float = option(0.1, help="DPO beta: how far the policy may move from the reference.")
    learning_rate: float = option(1.41e-5, help="DPO learning rate (the paper's).", flag="--dpo-lr")
    batch_size: int = option(1, help="DPO pairs per device step.", flag="--dpo-batch-size")
    grad_accum: int = option(16, help="DPO gradient accumulation steps.", flag="--dpo-grad-accum")
    epochs: float = option(1.0, help="DPO epochs over the round's pairs.", flag="--dpo-epochs")
    max_steps: int = option(-1, help="Stop each DPO after S optimizer steps (-1: the epochs).", flag="--dpo-max-steps")
    optim: str = option("rmsprop", help="Optimizer (transformers' names).", flag="--dpo-optim")
    max_length: int = option(1024, help="Tokens per prompt + completion at most.", flag="--dpo-max-length")
    seed: int = option(42, help="Training seed.", flag="--seed")
    lora: LoraSettings = field(default_factory=LoraSettings)

    def resolved(self) -> Any:
        """These settings with the preset filled in where a field still has the paper's value."""
        import dataclasses

        if self.preset not in DPO_PRESETS:
            raise BadInput(f"unknown --preset {self.preset!r}; choose one of: {', '.join(DPO_PRESETS)}")
        paper = {f.name: f.default for f in dataclasses.fields(DPOHyperparams)}
        changes = {k: v for k, v in DPO_PRESETS[self.preset].items() if getattr(self, k) == paper[k]}
        return dataclasses.replace(self, **changes)

    def described(self) -> dict[str, Any]:
        """What the round trained with, for its adapter row."""
        names = ("preset", "learning_rate", "grad_accum", "batch_size", "epochs", "beta", "optim")
        return {name: getattr(self, name) for name in names}


@dataclass(kw_only=True)
class RoundSource:
    """Which round of which run a preference objective trains on, from which adapter, and where its
    adapter goes (OUT/RUN/round-R, with the objective's suffix)."""

    suffix: ClassVar[str] = ""

    run: str = option(help="Run whose judged drafts to train on.")
    round: int = option(help="Round whose judged drafts to train on.")
    out: str = option("", help="Adapter folder; empty: adapters/RUN/round-R (round-R-kto for KTO).")
    weak: str = option("", help="Base model spec; empty: the run's weak model (an adapter in it is ignored).")
    from_adapter: str | None = option(None, help="Start from this adapter (the SFT adapter for round 1).")

    @classmethod
    def folder(cls, root: str, run: str, round: int) -> str:
        return str(Path(root) / run / f"round-{round}{cls.suffix}")

    def __post_init__(self) -> None:
        check_run_name(self.run)
        self.out = self.out or self.folder("adapters", self.run, self.round)


@dataclass(kw_only=True)
class DPOOptions(RoundSource, DPOHyperparams):
    """One round's DPO: which pairs, from which adapter, against which reference."""

    reference: Literal["sft", "previous"] = option(
        "previous",
        help=("previous: the reference is the adapter DPO starts from; sft: the SFT adapter in every round."),
    )
    sft_adapter: str | None = option(None, help="The reference adapter when --reference sft.")


@dataclass(kw_only=True)
class KTOHyperparams:
    """KTO on every judged draft that took a side. The learning rate, optimizer and effective batch (16)
    are DPO's, so the two objectives compare on the same collection; a device batch above 1 because
    KTO estimates its KL term from the other completions of the batch."""

    beta: float = option(0.1, help="KTO beta: how far the policy may move from the reference.", flag="--kto-beta")
    learning_rate: float = option(1.41e-5, help="KTO learning rate.", flag="--kto-lr")
    batch_size: int = option(4, help="KTO examples per device step (at least 2).", flag="--kto-batch-size")
    grad_accum: int = option(4, help="KTO gradient accumulation steps.", flag="--kto-grad-accum")
    epochs: float = option(1.0, help="KTO epochs over the round's examples.", flag="--kto-epochs")
    max_steps: int = option(-1, help="Stop each KTO after S optimizer steps (-1: the epochs).", flag="--kto-max-steps")
    optim: str = option("rmsprop", help="Optimizer (transformers' names).", flag="--kto-optim")
    max_length: int = option(1024, help="Tokens per prompt + completion at most.", flag="--kto-max-length")
    desirable_weight: float | None = option(
        None,
        help="Weight of the desirable examples' loss (empty: from the class balance, as TRL advises).",
        flag="--kto-desirable-weight",
    )
    undesirable_weight: float | None = option(
        None,
        help="Weight of the undesirable examples' loss (empty: from the class balance, as TRL advises).",
        flag="--kto-undesirable-weight",
    )

    def check(self) -> None:
        if self.batch_size < 2:
            raise BadInput("--kto-batch-size must be at least 2: KTO estimates its KL term from the batch")
        for name, w in (("desirable", self.desirable_weight), ("undesirable", self.undesirable_weight)):
            if w is not None and w <= 0:
                raise BadInput(f"--kto-{name}-weight must be positive")

    def weights(self, desirable: int, undesirable: int) -> tuple[float, float]:
        """(desirable, undesirable) loss weights. Unset: the minority class weighted up so that
        weight x count is equal for both (TRL's advice: their ratio in [1, 4/3]); one class absent: 1, 1."""
        if self.desirable_weight is not None or self.undesirable_weight is not None:
            return self.desirable_weight or 1.0, self.undesirable_weight or 1.0
        if not desirable or not undesirable:
            return 1.0, 1.0
        if desirable < undesirable:
            return undesirable / desirable, 1.0
        return 1.0, desirable / undesirable


@dataclass(kw_only=True)
class KTOOptions(RoundSource, KTOHyperparams):
    """One round's KTO: which examples, from which adapter (the reference is the policy it starts from)."""

    suffix: ClassVar[str] = "-kto"

    seed: int = option(42, help="Training seed (also orders the examples).", flag="--seed")
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check()
