"""`cowest train sft`, `cowest train dpo`, `cowest train kto`, `cowest train grpo`, `cowest rounds`. Besides their own
flags, these take every field of TRL's config class by its TRL name (`--beta 0.2`, `--loss_type ipo`,
`--report_to tensorboard`): the flags argparse does not know reach them as `args.trainer_flags`."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.options import GRPOJobOptions, RoundsOptions
from cowest.trainer.options import DPOOptions, KTOOptions, SFTOptions

from . import add_db, add_options, command, group, handled_by
from .collab import add_collect_flags

ROUNDS_FLAGS: tuple[str, ...] = (
    "rounds",
    "objective",
    "sft_adapter",
    "fresh_queries",
    "reference",
    "out",
    "train_base",
)
ROUNDS_FLAGS += ("eval_data", "eval_limit", "allow_overlap", "stop_when_no_gain", "training")
TRL_HELP = (
    "Any field of TRL's {cls} by its TRL name ({example}--report_to tensorboard; "
    "--lr, --epochs, --batch-size, --grad-accum for short), over the paper's settings, --preset and "
    "--trainer-config."
)
EXAMPLES = {"dpo": "--beta 0.2, --loss_type ipo, ", "kto": "--beta 0.2, ", "grpo": "--beta 0.04, --loss_type dr_grpo, "}


def register(sub: Any) -> None:  # argparse's subparsers action
    train = group(sub, "train", "STAGE")
    sft = train.add_parser(
        "sft",
        help="LoRA SFT on a task's gold targets",
        epilog=TRL_HELP.format(cls="SFTConfig", example="--num_train_epochs 2, "),
    )
    add_options(sft, SFTOptions)
    add_db(sft)
    takes_trainer_flags(sft, "training:cmd_sft")

    dpo = train.add_parser(
        "dpo",
        help="DPO on one round's pairs from the store",
        epilog=TRL_HELP.format(cls="DPOConfig", example=EXAMPLES["dpo"]),
    )
    add_options(dpo, DPOOptions)
    add_db(dpo)
    takes_trainer_flags(dpo, "training:cmd_dpo")

    kto = train.add_parser(
        "kto",
        help="KTO on every judged draft of one round (desirable or not)",
        epilog=TRL_HELP.format(cls="KTOConfig", example=EXAMPLES["kto"]),
    )
    add_options(kto, KTOOptions)
    add_db(kto)
    takes_trainer_flags(kto, "training:cmd_kto")

    grpo = train.add_parser(
        "grpo",
        help="GRPO on the collaborative reward over a task file: one online round, outside `rounds`",
        epilog=TRL_HELP.format(cls="GRPOConfig", example=EXAMPLES["grpo"]),
    )
    add_collect_flags(grpo, ("round", "seed"))
    add_options(grpo, GRPOJobOptions, ("from_adapter", "out", "training"))
    takes_trainer_flags(grpo, "training:cmd_grpo")

    rounds = command(
        sub,
        "rounds",
        epilog=TRL_HELP.format(
            cls="DPOConfig (KTOConfig with --objective kto, GRPOConfig with --objective grpo)", example=EXAMPLES["dpo"]
        ),
    )
    add_rounds_flags(rounds)
    takes_trainer_flags(rounds, "training:cmd_rounds")


def takes_trainer_flags(p: argparse.ArgumentParser, handler: str) -> None:
    """Mark `p` as a training command run by `handler`: cli.main hands it the flags argparse does not
    know (TRL's), with its own flags for the did-you-mean of an unknown one."""
    handled_by(p, handler, cowest_flags=tuple(s for a in p._actions for s in a.option_strings))


def add_rounds_flags(p: argparse.ArgumentParser) -> None:
    add_collect_flags(p)
    add_options(p, RoundsOptions, ROUNDS_FLAGS)
