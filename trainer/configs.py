"""The TRL config a training run uses: TRL's own config class, built in layers, each over the one
before it:

    TRL's defaults < the machine's < the run's (output_dir, ...) < the paper's (PAPER)
        < --preset < --trainer-config recipe.yaml < TRL flags (TrainingChoice.trl)

The run records the fields these layers set, as the built config holds them."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowest.core import BadInput

from .arguments import check_values, did_you_mean, field_actions, read_recipe
from .options import PAPER, PRESETS, TrainingChoice

# Objective -> TRL's config class (GRPOConfig slots in here).
CONFIG_CLASSES = {"sft": "SFTConfig", "dpo": "DPOConfig", "kto": "KTOConfig", "grpo": "GRPOConfig"}

# cowest's choices for every run, below the paper's: one log line per step (the round's metrics read
# it), no checkpoints (the adapter is saved at the end), no reporting unless asked (--report_to).
RUN_DEFAULTS: dict[str, Any] = {
    "report_to": "none",
    "logging_steps": 1,
    "save_strategy": "no",
    "dataloader_num_workers": 0,
    "disable_tqdm": False,
}


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def machine_settings() -> dict[str, Any]:
    """bf16 only on a GPU: on CPUs it makes steps 10-40x slower; gradient checkpointing likewise only
    pays off where memory is short."""
    gpu = on_gpu()
    return {"bf16": gpu, "gradient_checkpointing": gpu, "use_cpu": not gpu}


def config_class(objective: str) -> type:
    import trl

    if objective not in CONFIG_CLASSES:
        raise BadInput(f"no trainer for objective {objective!r}; choose one of: {', '.join(CONFIG_CLASSES)}")
    return getattr(trl, CONFIG_CLASSES[objective])


@dataclass
class TrainerConfig:
    """A built TRL config and what cowest and the user set in it."""

    objective: str
    preset: str
    config: Any  # the TRL config object
    given: dict[str, Any]  # the fields the layers set (TRL names), as the config holds them

    def record(self) -> dict[str, Any]:
        """What the adapter's row keeps: the preset and the fields set over TRL's defaults."""
        return {"preset": self.preset, "trainer_config": self.given}

    def write(self, folder: str | Path) -> None:
        """Every field of the config, next to the adapter it trained (trainer_config.json)."""
        path = Path(folder) / "trainer_config.json"
        path.write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True, default=str) + "\n")


def build_config(objective: str, choice: TrainingChoice, run: dict[str, Any]) -> TrainerConfig:
    """The TRL config of `objective` (see the module's docstring for the layers). Bad fields, values
    and recipes are BadInput, found here before any model loads."""
    cls = config_class(objective)
    fields = {
        **machine_settings(),
        **RUN_DEFAULTS,
        **run,
        **PAPER[objective],
        **preset_fields(objective, choice.preset),
        **read_recipe(choice.trainer_config, cls),
        **_checked_flags(cls, choice.trl),
    }
    if objective == "kto" and fields.get("per_device_train_batch_size", 1) < 2:
        raise BadInput("KTO needs per_device_train_batch_size of at least 2: it estimates its KL term from the batch")
    try:
        with warnings.catch_warnings():
            # transformers >= 5.x renames the field TRL's configs set themselves; transformers 5.0,
            # the oldest we allow, has only the old name: nothing for a user to change
            warnings.filterwarnings("ignore", message="`gradient_checkpointing` is deprecated", category=FutureWarning)
            config = cls(**fields)
    except (TypeError, ValueError) as exc:
        message = " ".join(str(exc).split())
        if "num_generations" in message:  # which of cowest's flags those are
            message += " (num_generations is --samples; the batch is --batch-size x --grad-accum)"
        raise BadInput(f"{cls.__name__}: {message}") from None
    _check_reporters(config.report_to)
    full = config.to_dict()
    given = json.loads(json.dumps({k: full[k] for k in fields if k in full}, default=str))
    return TrainerConfig(objective, choice.preset, config, given)


# --report_to's integrations and the packages any one of which each needs (transformers finds out only
# when the trainer starts: after the models load, and in rounds after a collection was paid for).
_REPORTERS = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "trackio": ("trackio",),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
}


def _check_reporters(report_to: list[str] | str | None) -> None:
    from importlib.util import find_spec

    for name in [report_to] if isinstance(report_to, str) else report_to or []:
        needs = _REPORTERS.get(name)
        if needs and not any(find_spec(module) for module in needs):
            raise BadInput(f"--report_to {name} needs {' or '.join(needs)} installed (pip install {needs[-1]})")


def preset_fields(objective: str, preset: str) -> dict[str, Any]:
    if preset not in PRESETS:
        raise BadInput(f"unknown --preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    if objective not in PRESETS[preset]:
        have = [name for name, table in PRESETS.items() if objective in table]
        raise BadInput(f"--preset {preset} has no {objective.upper()} settings; choose one of: {', '.join(have)}")
    return dict(PRESETS[preset][objective])


def _checked_flags(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """TRL fields a caller set in code: the same checks as the command line's (flags arrive checked)."""
    actions = field_actions(cls)
    for key in values:
        if key not in actions:
            raise BadInput(f"{cls.__name__} has no field {key!r}{did_you_mean(key, list(actions))}")
    check_values(cls, values, cls.__name__)
    return dict(values)
