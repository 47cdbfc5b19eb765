"""Running `cowest train sft|dpo|kto|grpo` and `cowest rounds`. The flags argparse does not know
reach them as `args.trainer_flags`: TRL's config fields by their TRL names, checked here
(trl_fields) before anything is loaded or written."""

from __future__ import annotations

import argparse
import os
from typing import Any

from cowest.console import rounds_table
from cowest.core import EXIT_BUDGET, EXIT_FAILURES
from cowest.diagnostics import collapse_warning
from cowest.models import BUNDLED_NAME
from cowest.options import GRPOJobOptions
from cowest.rounds import RoundsOptions, run_rounds, train_grpo_alone
from cowest.spending import Spending
from cowest.storage import Adapter
from cowest.storage.schema import Run
from cowest.trainer.arguments import parse_flags
from cowest.trainer.configs import config_class
from cowest.trainer.dpo import DPOOptions, dpo_config, train_dpo
from cowest.trainer.kto import KTOOptions, kto_config, train_kto
from cowest.trainer.sft import SFTOptions, sft_config, train_sft

from . import check_data, from_args, store_of


def trl_fields(objective: str, args: argparse.Namespace) -> dict[str, Any]:
    """The TRL fields the command line sets (checked: BadInput before anything is loaded or written)."""
    return parse_flags(config_class(objective), getattr(args, "trainer_flags", []), args.cowest_flags)


def cmd_sft(args: argparse.Namespace) -> int:
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
    run_id = store.run_id(args.run)
    if args.weak:
        return args.weak
    with store.session() as s:
        run = s.get(Run, run_id)
        return ((run.config if run else None) or {}).get("weak", BUNDLED_NAME)


def cmd_dpo(args: argparse.Namespace) -> int:
    def line(row: Any, m: dict) -> str:
        return (
            f"DPO round {args.round}: {len(row.pair_ids)} pairs, {m.get('steps')} steps, first loss "
            f"{m.get('first_loss', float('nan')):.4f}, mean margin {m.get('rewards/margins', float('nan')):.4f}"
        )

    return _train_round(args, "dpo", DPOOptions, dpo_config, train_dpo, line)


def cmd_kto(args: argparse.Namespace) -> int:
    def line(row: Any, m: dict) -> str:
        return (
            f"KTO round {args.round}: {m['desirable']} desirable and {m['undesirable']} undesirable examples "
            f"(weights {m['desirable_weight']:.3g} / {m['undesirable_weight']:.3g}), {m.get('steps')} steps, "
            f"first loss {m.get('first_loss', float('nan')):.4f}, first KL {m.get('first_kl', float('nan')):.4f}"
        )

    return _train_round(args, "kto", KTOOptions, kto_config, train_kto, line)


def _train_round(args: argparse.Namespace, objective: str, options: Any, config: Any, train: Any, line: Any) -> int:
    """One preference round from the store (DPO or KTO): its settings checked before the store is
    opened, then trained, recorded and summed up in a line (`line(row, metrics)`)."""
    trl = trl_fields(objective, args)
    config(from_args(options, args, trl=trl))  # bad settings stop here, before the store is opened
    store = store_of(args)
    row = train(store, from_args(options, args, weak=_run_weak(store, args), trl=trl))
    if row is None:  # a non-main process of a multi-GPU launch
        return 0
    print(line(row, row.metrics))
    print(f"adapter: {row.path} (reference: {row.reference})")
    return 0


def cmd_grpo(args: argparse.Namespace) -> int:
    check_data(args)
    opts = from_args(GRPOJobOptions, args)
    opts.training.trl = trl_fields("grpo", args)
    report = train_grpo_alone(opts)
    return _print_rounds([report], opts)


def cmd_rounds(args: argparse.Namespace) -> int:
    check_data(args)
    opts = from_args(RoundsOptions, args)
    opts.training.trl = trl_fields(opts.objective, args)
    return _print_rounds(run_rounds(opts), opts)


def _print_rounds(reports: list, opts: Any) -> int:
    """The rounds table, any collapse warning and what was spent; the exit code they come to."""
    print(rounds_table(reports))
    for r in reports:
        warning = collapse_warning(r.drafts_seen)
        if warning:
            print(f"round {r.round}: {warning}")
    now = [r for r in reports if r.spent_now]
    spent = sum((r.spending for r in now), Spending())
    label = "all rounds" if len(now) == len(reports) else "this command (earlier rounds cost nothing now)"
    print(f"{label}: " + spent.line(sum(r.pairs for r in now), opts.price_in, opts.price_out))
    if any(r.budget_stopped for r in reports):
        print(reports[-1].note)
        return EXIT_BUDGET
    return EXIT_FAILURES if any(r.failed for r in reports) else 0
