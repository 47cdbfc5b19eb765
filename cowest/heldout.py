"""The held-out curve of `cowest rounds --eval-data`: the collab method evaluated with each round's
adapter (round 0: the starting one) on queries the rounds never train on, each point with its 95%
interval and its paired difference to the previous round and to round 0."""

from __future__ import annotations

from dataclasses import dataclass

from cowest.core import BadInput, copy_as
from cowest.models import ModelSettings
from cowest.storage import EvalResult
from cowest.tasks import get_task
from cowest.tasks.stats import Interval, PairedDifference

from .eval_options import EvalOptions
from .evaluation import evaluate, metric_names
from .evidence import compare, intervals_of
from .options import RoundsOptions


@dataclass
class HeldOut:
    """One round's point: the task's first metric (accuracy / exact match) with its interval."""

    round: int
    result: EvalResult
    interval: Interval
    vs_previous: PairedDifference | None = None
    vs_start: PairedDifference | None = None

    @property
    def no_gain(self) -> bool:
        """Whether the paired gain over the previous round is not shown to be above 0."""
        return self.vs_previous is not None and not self.vs_previous.low > 0

    def as_dict(self) -> dict:
        return {
            "round": self.round,
            "eval_id": self.result.id,
            "adapter": self.result.adapter,
            "metric": self.interval.as_dict(),
            "vs_previous": self.vs_previous.as_dict() if self.vs_previous else None,
            "vs_round_0": self.vs_start.as_dict() if self.vs_start else None,
        }


def check_heldout(opts: RoundsOptions) -> None:
    """Bad held-out data, found before anything is spent: no rows, or queries the rounds train on."""
    task = get_task(opts.task)
    heldout = task.load(opts.eval_data, limit=opts.eval_limit).examples
    if not heldout:
        raise BadInput(f"{opts.eval_data}: no usable rows for --eval-data")
    if opts.allow_overlap:
        return
    offset, limit = opts.training_rows()
    training = {ex.id for ex in task.load(opts.data, limit=limit, offset=offset).examples}
    shared = sorted(ex.id for ex in heldout if ex.id in training)
    if shared:
        raise BadInput(
            f"--eval-data shares {len(shared)} of its {len(heldout)} queries with the training queries "
            f"(ids {', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''}): held-out numbers need unseen "
            "queries; use --offset / another file, or --allow-overlap"
        )


class HeldOutCurve:
    """Evaluates adapters one after another on the held-out queries (a run of its own,
    RUN-heldout), comparing each with the one before and the first."""

    def __init__(self, opts: RoundsOptions, run: str, settings: ModelSettings | None, progress: bool):
        self.settings, self.progress = settings, progress
        self.metric = metric_names(opts.task)[0]
        self.base = copy_as(
            EvalOptions,
            opts,
            data=opts.eval_data,
            limit=opts.eval_limit,
            offset=0,
            methods=["collab"],
            formats=[opts.format],
            adapter=None,
            against="",
            run=f"{run}-heldout",
        )
        self.points: list[HeldOut] = []
        self.last_adapter: str | None = None

    def add(self, adapter: str | None) -> HeldOut:
        """The next round's point, for the weak model with `adapter` (None: the bare base)."""
        self.last_adapter = adapter
        desc = f"held-out r{len(self.points)} collab"  # round 0 is the starting adapter, before any training
        [result] = evaluate(copy_as(EvalOptions, self.base, adapter=adapter), self.settings, self.progress, desc)
        point = HeldOut(len(self.points), result, intervals_of(result)[self.metric])
        if self.points:
            point.vs_previous = compare(self.points[-1].result, result)[self.metric]
            point.vs_start = compare(self.points[0].result, result)[self.metric]
        self.points.append(point)
        return point
