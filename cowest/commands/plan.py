"""`cowest plan collect|rounds|eval`: the calls a job would send, before anything is sent."""

from __future__ import annotations

from typing import Any

from . import group, handled_by
from .collab import add_collect_flags
from .evaluate import add_eval_flags
from .training import add_rounds_flags, takes_trainer_flags


def register(sub: Any) -> None:
    plan = group(sub, "plan", "JOB")
    collect_flags = lambda p: add_collect_flags(p, ("round", "seed"))  # noqa: E731
    for name, add_flags in (("collect", collect_flags), ("rounds", add_rounds_flags)):
        p = plan.add_parser(name, help=f"plan `cowest {name}` with the same options")
        add_flags(p)
        handled_by(p, "plan:cmd_plan", job=name)
    takes_trainer_flags(p, "plan:cmd_plan")  # plan rounds: the same command line as rounds
    p = plan.add_parser("eval", help="plan `cowest eval` with the same options")
    add_eval_flags(p)
    handled_by(p, "plan:cmd_plan", job="eval")
