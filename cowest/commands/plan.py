"""`cowest plan collect|rounds|eval`: the calls a job would send, before anything is sent."""

from __future__ import annotations

import argparse
from typing import Any

from . import check_data, from_args
from .collab import add_collect_flags
from .evaluate import add_eval_flags
from .training import add_rounds_flags, takes_trainer_flags, trl_fields


def register(sub: Any) -> None:
    plan = sub.add_parser(
        "plan", help="before a job: the most strong/judge calls it can send, what the store covers, tokens, cost"
    ).add_subparsers(metavar="JOB")
    for name, add_flags in (("collect", lambda p: add_collect_flags(p, ("round",))), ("rounds", add_rounds_flags)):
        p = plan.add_parser(name, help=f"plan `cowest {name}` with the same options")
        add_flags(p)
        p.set_defaults(func=cmd_plan, job=name)
    takes_trainer_flags(p, cmd_plan)  # plan rounds: the same command line as rounds
    p = plan.add_parser("eval", help="plan `cowest eval` with the same options")
    add_eval_flags(p)
    p.set_defaults(func=cmd_plan, job="eval")


def cmd_plan(args: argparse.Namespace) -> int:
    from cowest.console import plan_table
    from cowest.eval_options import EvalOptions
    from cowest.options import CollectOptions, RoundsOptions
    from cowest.planning import free_local_models, plan_collect, plan_eval, plan_rounds, with_token_estimates

    check_data(args)
    opts: Any
    if args.job == "collect":
        opts = from_args(CollectOptions, args)
        plan = plan_collect(opts)
    elif args.job == "rounds":
        opts = from_args(RoundsOptions, args)
        opts.training.trl = trl_fields(opts.objective, args)
        plan = plan_rounds(opts)
    else:
        opts = from_args(EvalOptions, args)
        plan = plan_eval(opts)
    specs = {role: opts.strong_spec for role in ("strong_solo", "strong_refine", "self_refine")}
    if opts.judge != "exact":
        specs["judge"] = opts.judge_spec
    models = {role: str(spec) for role, spec in specs.items()}
    plan = free_local_models(with_token_estimates(plan, opts.store_url, models), specs)
    print(plan_table(plan, opts.price_in, opts.price_out))
    return 0
