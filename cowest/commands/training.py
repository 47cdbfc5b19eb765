"""`cowest train sft`, `cowest train dpo`, `cowest train kto`, `cowest train grpo`, `cowest rounds`. Besides their own
flags, these take every field of TRL's config class by its TRL name (`--beta 0.2`, `--loss_type ipo`,
`--report_to tensorboard`): the flags argparse does not know reach them as `args.trainer_flags`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from . import add_db, add_options, check_data, from_args, store_of
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
    from cowest.options import GRPOJobOptions
    from cowest.trainer.options import DPOOptions, KTOOptions, SFTOptions

    train = sub.add_parser("train", help="train the weak model").add_subparsers(metavar="STAGE")
    sft = train.add_parser(
        "sft",
        help="LoRA SFT on a task's gold targets",
        epilog=TRL_HELP.format(cls="SFTConfig", example="--num_train_epochs 2, "),
    )
    add_options(sft, SFTOptions)
    add_db(sft)
    takes_trainer_flags(sft, cmd_sft)

    dpo = train.add_parser(
        "dpo",
        help="DPO on one round's pairs from the store",
        epilog=TRL_HELP.format(cls="DPOConfig", example=EXAMPLES["dpo"]),
    )
    add_options(dpo, DPOOptions)
    add_db(dpo)
    takes_trainer_flags(dpo, cmd_dpo)

    kto = train.add_parser(
        "kto",
        help="KTO on every judged draft of one round (desirable or not)",
        epilog=TRL_HELP.format(cls="KTOConfig", example=EXAMPLES["kto"]),
    )
    add_options(kto, KTOOptions)
    add_db(kto)
    takes_trainer_flags(kto, cmd_kto)

    grpo = train.add_parser(
        "grpo",
        help="GRPO on the collaborative reward over a task file: one online round, outside `rounds`",
        epilog=TRL_HELP.format(cls="GRPOConfig", example=EXAMPLES["grpo"]),
    )
    add_collect_flags(grpo, ("round", "seed"))
    add_options(grpo, GRPOJobOptions, ("from_adapter", "out", "training"))
    takes_trainer_flags(grpo, cmd_grpo)

    rounds = sub.add_parser(
        "rounds",
        help="N rounds of collect -> DPO or KTO (or GRPO, online) -> next adapter (resumable)",
        epilog=TRL_HELP.format(
            cls="DPOConfig (KTOConfig with --objective kto, GRPOConfig with --objective grpo)", example=EXAMPLES["dpo"]
        ),
    )
    add_rounds_flags(rounds)
    takes_trainer_flags(rounds, cmd_rounds)


def takes_trainer_flags(p: argparse.ArgumentParser, func: Any) -> None:
    """Mark `p` as a training command: cli.main hands it the flags argparse does not know (TRL's),
    with its own flags for the did-you-mean of an unknown one."""
    p.set_defaults(func=func, cowest_flags=tuple(s for a in p._actions for s in a.option_strings))


def trl_fields(objective: str, args: argparse.Namespace) -> dict[str, Any]:
    """The TRL fields the command line sets (checked: BadInput before anything is loaded or written)."""
    from cowest.trainer.arguments import parse_flags
    from cowest.trainer.configs import config_class

    return parse_flags(config_class(objective), getattr(args, "trainer_flags", []), args.cowest_flags)


def add_rounds_flags(p: argparse.ArgumentParser) -> None:
    from cowest.options import RoundsOptions

    add_collect_flags(p)
    add_options(p, RoundsOptions, ROUNDS_FLAGS)


def cmd_sft(args: argparse.Namespace) -> int:
    from cowest.storage import Adapter
    from cowest.trainer.sft import SFTOptions, sft_config, train_sft

    check_data(args)
    opts = from_args(SFTOptions, args, trl=trl_fields("sft", args))
    sft_config(opts)  # bad settings stop here, before the store is opened
    store = store_of(args)
    result = train_sft(opts)
    if not result["main_process"]:
        return 0
    store.save_adapter(
        Adapter(
            run_id=None,
            round=0,
            kind="sft",
            path=os.path.abspath(opts.out),
            base_model=opts.weak,
            metrics={k: v for k, v in result.items() if k not in ("log", "main_process")},
        )
    )
    print(f"SFT: {result['examples']} examples, {result['steps']} steps, train loss {result['train_loss']:.4f}")
    print(f"adapter: {os.path.abspath(opts.out)}")
    return 0


def _run_weak(store: Any, args: argparse.Namespace) -> str:
    """--weak, or the weak model the run collected with."""
    from cowest.models import BUNDLED_NAME
    from cowest.storage.schema import Run

    run_id = store.run_id(args.run)
    if args.weak:
        return args.weak
    with store.session() as s:
        run = s.get(Run, run_id)
        return ((run.config if run else None) or {}).get("weak", BUNDLED_NAME)


def cmd_dpo(args: argparse.Namespace) -> int:
    from cowest.trainer.dpo import DPOOptions, dpo_config, train_dpo

    trl = trl_fields("dpo", args)
    dpo_config(from_args(DPOOptions, args, trl=trl))  # bad settings stop here, before the store is opened
    store = store_of(args)
    row = train_dpo(store, from_args(DPOOptions, args, weak=_run_weak(store, args), trl=trl))
    if row is None:  # a non-main process of a multi-GPU launch
        return 0
    m = row.metrics
    print(
        f"DPO round {args.round}: {len(row.pair_ids)} pairs, {m.get('steps')} steps, first loss "
        f"{m.get('first_loss', float('nan')):.4f}, mean margin {m.get('rewards/margins', float('nan')):.4f}"
    )
    print(f"adapter: {row.path} (reference: {row.reference})")
    return 0


def cmd_kto(args: argparse.Namespace) -> int:
    from cowest.trainer.kto import KTOOptions, kto_config, train_kto

    trl = trl_fields("kto", args)
    kto_config(from_args(KTOOptions, args, trl=trl))  # bad settings stop here, before the store is opened
    store = store_of(args)
    opts = from_args(KTOOptions, args, weak=_run_weak(store, args), trl=trl)
    row = train_kto(store, opts)
    if row is None:  # a non-main process of a multi-GPU launch
        return 0
    m = row.metrics
    print(
        f"KTO round {args.round}: {m['desirable']} desirable and {m['undesirable']} undesirable examples "
        f"(weights {m['desirable_weight']:.3g} / {m['undesirable_weight']:.3g}), {m.get('steps')} steps, "
        f"first loss {m.get('first_loss', float('nan')):.4f}, first KL {m.get('first_kl', float('nan')):.4f}"
    )
    print(f"adapter: {row.path} (reference: {row.reference})")
    return 0


def cmd_grpo(args: argparse.Namespace) -> int:
    from cowest.options import GRPOJobOptions
    from cowest.rounds import train_grpo_alone

    check_data(args)
    opts = from_args(GRPOJobOptions, args)
    opts.training.trl = trl_fields("grpo", args)
    report = train_grpo_alone(opts)
    return _print_rounds([report], opts)


def cmd_rounds(args: argparse.Namespace) -> int:
    from cowest.rounds import RoundsOptions, run_rounds

    check_data(args)
    opts = from_args(RoundsOptions, args)
    opts.training.trl = trl_fields(opts.objective, args)
    return _print_rounds(run_rounds(opts), opts)


def _print_rounds(reports: list, opts: Any) -> int:
    """The rounds table, any collapse warning and what was spent; the exit code they come to."""
    from cowest.console import rounds_table
    from cowest.core import EXIT_BUDGET, EXIT_FAILURES
    from cowest.diagnostics import collapse_warning
    from cowest.spending import Spending

    print(rounds_table(reports))
    for r in reports:
        warning = collapse_warning(r.drafts_seen)
        if warning:
            print(f"round {r.round}: {warning}")
    spent = sum((r.spending for r in reports), Spending())
    print("all rounds: " + spent.line(sum(r.pairs for r in reports), opts.price_in, opts.price_out))
    if any(r.budget_stopped for r in reports):
        print(reports[-1].note)
        return EXIT_BUDGET
    return EXIT_FAILURES if any(r.failed for r in reports) else 0
