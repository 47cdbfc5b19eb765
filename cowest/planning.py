"""`cowest plan`: what a collect, rounds or eval job would send, before anything is sent.

The job's own graph runs as a dry run (nodes/ledger.py `planning`): every call is looked up in the
store exactly as the job would look it up, and each one missing is counted instead of sent, its
output replaced by a placeholder. Nothing is loaded, sent or written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cowest.core import BadInput
from cowest.models import ModelSpec, check_specs
from cowest.nodes.context import CollabContext
from cowest.nodes.ledger import PlannedRole, planning
from cowest.storage import StoreError, get_store
from cowest.storage.database import missing_store
from cowest.tasks import Example, get_task

from .eval_options import EvalOptions
from .evaluation import eval_run_name, method_contexts
from .options import CollectOptions, JobOptions, RoundsOptions
from .runner import run_over
from .spending import Spending


@dataclass
class PlanRow:
    job: str  # "collect r1", "rounds 2-3 (at most)", "eval strong-cot"
    role: str
    billed: bool
    needed: int  # calls the job needs at most
    covered: int  # already in the store
    tokens_in: float = 0.0  # expected for the calls to send
    tokens_out: float = 0.0
    from_store_averages: bool = False

    @property
    def to_send(self) -> int:
        return self.needed - self.covered


@dataclass
class JobPlan:
    rows: list[PlanRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def billed(self) -> Spending:
        """The strong and judge requests the job would send at most, and their expected tokens."""
        rows = [r for r in self.rows if r.billed]
        return Spending(
            sent=sum(r.to_send for r in rows),
            reused=sum(r.covered for r in rows),
            tokens_in=round(sum(r.tokens_in for r in rows)),
            tokens_out=round(sum(r.tokens_out for r in rows)),
        )


def plan_collect(opts: CollectOptions, job: str = "") -> JobPlan:
    opts.check_job()
    examples = _examples(opts)
    ctx = opts.context()
    check_specs([ctx.weak, ctx.strong, ctx.judge_model], reach=False)
    plan = JobPlan()
    _dry_run(plan, job or f"collect r{ctx.round}", examples, ctx, opts.concurrency)
    return plan


@contextmanager
def without_writing(opts: JobOptions) -> Iterator[str | None]:
    """A plan writes nothing: where `opts.db` names a SQLite file that is not there, the plan runs
    against an empty store in a temporary folder (deleted after), so a mistyped --db is not created.
    Yields that missing path (None when the store exists)."""
    missing = missing_store(opts.store_url)
    if missing is None:
        yield None
        return
    db = opts.db
    with tempfile.TemporaryDirectory(prefix="cowest-plan-") as tmp:
        opts.db = f"sqlite:///{Path(tmp) / 'empty.db'}"
        try:
            yield missing
        finally:
            opts.db = db


def plan_rounds(opts: RoundsOptions) -> JobPlan:
    """Round 1 exactly as `plan collect` counts it. A later round's drafts come from an adapter not
    trained yet, so its refinements and their judgments are all counted as to send (at most K of
    each per query); its solo answers are round 1's, unless each round takes fresh queries."""
    opts.check_rounds()
    seed = opts.trainer_config().config.seed
    store = get_store(opts.store_url)
    run = opts.run_name()
    done = _finished_rounds(store, run)
    first = next((r for r in range(1, opts.rounds + 1) if r not in done), None)
    plan = JobPlan()
    if first is None:
        plan.notes.append(f"all {opts.rounds} rounds of run {run} are finished: nothing to send")
        return plan
    if done:
        plan.notes.append(f"rounds {', '.join(map(str, sorted(done)))} are finished and skipped")
    adapter = _adapter_before(store, run, first) or opts.sft_adapter
    weak = f"{opts.weak}@{adapter}" if adapter else opts.weak
    slice_start = (first - 1) * opts.limit if opts.fresh_queries and opts.limit else 0
    round_opts = opts.collect_options(first, weak, opts.offset + slice_start, seed)
    plan.rows += plan_collect(round_opts, f"round {first}").rows
    later = opts.rounds - first
    if later:
        n = len(_examples(round_opts))
        k = opts.samples
        judged = 1 if opts.judge == "llm" else 0
        job = f"round {opts.rounds}" if later == 1 else f"rounds {first + 1}-{opts.rounds}"
        per_round = {"strong_refine": k, "judge": k * judged}
        if opts.fresh_queries:
            per_round = {"strong_solo": 1, "strong_refine": k, "judge": (k + 1) * judged}
        for role, count in per_round.items():
            if count:
                plan.rows.append(PlanRow(job, role, True, needed=later * n * count, covered=0))
        plan.notes.append(f"{job}: at most; their drafts come from adapters trained on the way")
    return plan


def plan_eval(opts: EvalOptions) -> JobPlan:
    opts.check_eval()
    examples = _examples(opts)
    check_specs([opts.weak, opts.strong], reach=False)
    plan = JobPlan()
    for label, _method, ctx in method_contexts(opts, eval_run_name(opts), opts.store_url):
        _dry_run(plan, f"eval {label}", examples, ctx, opts.concurrency, with_gold=False)
    return plan


def with_token_estimates(plan: JobPlan, db: str, models: dict[str, str]) -> JobPlan:
    """Expected tokens of the calls to send: the store's averages for that role and model (`models`:
    role -> model spec) when it has any; else the prompt's length at 4 characters a token, and the
    full generation budget."""
    averages = get_store(db).token_averages()
    for row in plan.rows:
        avg = averages.get((row.role, models.get(row.role, "")))
        if avg is not None and row.to_send:
            row.tokens_in, row.tokens_out = avg[0] * row.to_send, avg[1] * row.to_send
            row.from_store_averages = True
    return plan


def free_local_models(plan: JobPlan, specs: dict[str, ModelSpec]) -> JobPlan:
    """A call to a model that runs on this machine (`smollm2`, `huggingface:...`) costs no money:
    its rows show as local and stay out of the requests and cost to pay for (`specs`: role -> model)."""
    freed = set()
    for row in plan.rows:
        spec = specs.get(row.role)
        if spec is not None and spec.provider == "huggingface" and row.billed:
            row.billed = False
            freed.add(str(spec))
    if freed:
        plan.notes.append(f"{', '.join(sorted(freed))}: runs on this machine, priced at 0")
    return plan


def _dry_run(
    plan: JobPlan, job: str, examples: list[Example], ctx: CollabContext, concurrency: int, with_gold: bool = True
) -> None:
    with planning() as counted:
        for ex, _state, error in run_over(examples, ctx, concurrency, progress=False, with_gold=with_gold):
            if error is not None:
                raise RuntimeError(f"plan of {job} failed on {ex.id}") from error
    for role, r in counted.roles.items():
        plan.rows.append(_row(job, role, role in counted.billed, r))


def _row(job: str, role: str, billed: bool, r: PlannedRole) -> PlanRow:
    return PlanRow(job, role, billed, r.needed, r.covered, float(r.tokens_in), float(r.tokens_out))


def _examples(opts: JobOptions) -> list[Example]:
    task = get_task(opts.task)  # type: ignore[attr-defined]
    examples = task.load(opts.data, limit=opts.limit, offset=opts.offset).examples
    if not examples:
        raise BadInput(f"{opts.data}: no usable rows after --offset {opts.offset}")
    return examples


def _finished_rounds(store, run: str) -> set[int]:
    try:
        run_id = store.run_id(run)
    except StoreError:
        return set()
    return {a.round for a in store.adapters_of(run_id) if a.kind == "dpo"}


def _adapter_before(store, run: str, round: int) -> str | None:
    try:
        run_id = store.run_id(run)
    except StoreError:
        return None
    paths = [a.path for a in store.adapters_of(run_id) if a.kind == "dpo" and a.round < round and a.path]
    return paths[-1] if paths else None
