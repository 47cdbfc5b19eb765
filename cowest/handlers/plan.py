"""Running `cowest plan collect|rounds|eval`: the calls a job would send, before anything is sent."""

from __future__ import annotations

import argparse
from typing import Any

from cowest.console import plan_table
from cowest.eval_options import EvalOptions
from cowest.options import CollectOptions, RoundsOptions
from cowest.planning import (
    free_local_models,
    plan_collect,
    plan_eval,
    plan_rounds,
    with_token_estimates,
    without_writing,
)

from . import check_data, from_args
from .training import trl_fields


def cmd_plan(args: argparse.Namespace) -> int:
    check_data(args)
    opts: Any
    if args.job == "collect":
        opts = from_args(CollectOptions, args)
    elif args.job == "rounds":
        opts = from_args(RoundsOptions, args)
        opts.training.trl = trl_fields(opts.objective, args)
    else:
        opts = from_args(EvalOptions, args)
    with without_writing(opts) as missing:
        plan = {"collect": plan_collect, "rounds": plan_rounds}.get(args.job, plan_eval)(opts)
        specs = {role: opts.strong_spec for role in ("strong_solo", "strong_refine", "self_refine")}
        if opts.judge != "exact":
            specs["judge"] = opts.judge_spec
        models = {role: str(spec) for role, spec in specs.items()}
        plan = free_local_models(with_token_estimates(plan, opts.store_url, models), specs)
    if missing is not None:
        plan.notes.append(f"no store at {missing} yet (the job creates it): every call is to send")
    print(plan_table(plan, opts.price_in, opts.price_out))
    return 0
