"""The multi-round feedback loop: collect with adapter r-1, DPO or KTO (or GRPO online), register adapter r;
resumable. Also one GRPO round on its own (`cowest train grpo`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from cowest.core import EXIT_OK, BadInput, copy_as
from cowest.models import ModelSettings
from cowest.models.registry import release_local_models
from cowest.models.served import load_lora_adapter
from cowest.storage import Adapter, StoreError, TraceStore, get_store
from cowest.trainer.dpo import DPOOptions, train_dpo
from cowest.trainer.grpo import GRPOOptions
from cowest.trainer.kto import KTOOptions, train_kto

from .collect import CollectSummary, check_models, collect, exit_code
from .diagnostics import round_drafts
from .grpo_round import check_a_step_fits, grpo_round
from .heldout import HeldOutCurve, check_heldout
from .options import GRPOJobOptions, RoundsOptions
from .round_log import round_log
from .round_report import RoundReport, report_from_row
from .spending import Spending


def run_rounds(opts: RoundsOptions, settings: ModelSettings | None = None, progress: bool = True) -> list[RoundReport]:
    """Rounds 1..N. A round whose adapter row exists is finished and skipped; finished model calls
    of an interrupted round are read back from the store, never made again. With --eval-data,
    round 0 (the starting adapter) and every round's adapter are evaluated on the held-out queries."""
    opts.check_rounds()
    config = opts.trainer_config().config  # bad training settings stop here, before anything is spent
    seed = config.seed
    if opts.objective == "grpo":
        check_a_step_fits(opts, config, range(1, opts.rounds + 1))
    if opts.eval_data:
        check_heldout(opts)
    check_models(opts.context(), settings)  # before the store is opened: bad input writes nothing
    run = opts.run_name()
    store = get_store(opts.store_url)
    adapter = str(Path(opts.sft_adapter).resolve()) if opts.sft_adapter else None
    budget = opts.budget(store.spent(_run_id_or_none(store, run)))  # one budget for every round
    curve = HeldOutCurve(opts, run, settings, progress) if opts.eval_data else None
    reports = [RoundReport(0, opts.objective, note="starting adapter", heldout=curve.add(adapter))] if curve else []
    for report in _rounds(opts, store, run, adapter, budget, settings, progress, seed):
        reports.append(report)
        if report.failed or curve is None:
            continue
        report.heldout = curve.add(report.adapter or curve.last_adapter)
        if opts.stop_when_no_gain and report.heldout.no_gain:
            report.note += f"; stopped: held-out gain over round {report.round - 1} does not lie above 0"
            break
    return reports


def _rounds(opts, store, run, adapter, budget, settings, progress, seed):
    """Each round's report as it finishes (see run_rounds); stops after a round that failed."""
    for r in range(1, opts.rounds + 1):
        run_id = _run_id_or_none(store, run)
        done = store.adapter(run_id, r, opts.objective) if run_id is not None else None
        if done is not None:
            note = "done earlier" if done.path else f"done earlier ({_NOTHING[opts.objective]})"
            yield report_from_row(done, note, spent_now=False)
            adapter = done.path or adapter
            continue
        report: RoundReport | None
        if opts.objective == "grpo":
            report = _grpo(opts, store, run, r, adapter, budget, settings, _round_folder(opts, run, r))
        else:
            report = _collect_and_train(opts, store, run, r, adapter, budget, settings, progress, seed)
        if report is None:  # a non-main process of `accelerate launch`: the main one records the round
            return
        yield report
        if report.failed:
            return
        adapter = report.adapter or adapter  # a round with nothing to learn keeps the previous adapter


def _collect_and_train(opts, store, run, r, adapter, budget, settings, progress, seed) -> RoundReport | None:
    """Round r the paper's way: collect with adapter r-1, then DPO (or KTO) on what was collected."""
    slice_start = (r - 1) * opts.limit if opts.fresh_queries and opts.limit else 0
    round_opts = opts.collect_options(r, _drafting_model(opts, run, r, adapter), opts.offset + slice_start, seed)
    _new_sampling_seed(seed, r)
    summary = collect(round_opts, settings, progress=progress, budget=budget)
    if exit_code(summary) != EXIT_OK:  # training on a partial round would mark it done: stop here
        return RoundReport(
            round=r,
            objective=opts.objective,
            queries=summary.queries,
            drafts=summary.drafts,
            pairs=summary.pairs,
            spending=summary.spending,
            failed=True,
            budget_stopped=summary.budget_stopped,
            note=summary.stopped or "collected with failures: rerun with --retry-failed",
        )
    counts = {**_counts(summary), "feedback": opts.feedback}
    counts["drafts_seen"] = round_drafts(store, store.run_id(run), r, opts.max_new_tokens)
    if opts.feedback == "individual":
        counts["annotator"] = opts.annotator
    if _nothing_to_learn(opts, summary):
        row = store.save_adapter(
            Adapter(
                run_id=store.run_id(run),
                round=r,
                kind=opts.objective,
                path=None,
                base_model=opts.train_base or opts.weak,
                parent_path=adapter,
                reference=None,
                pair_ids=[],
                metrics={**counts, "note": _NOTHING[opts.objective]},
            )
        )
        return report_from_row(row, f"{_NOTHING[opts.objective]}: kept the previous adapter")
    release_local_models()  # the sampling copy of the weak model: training needs its memory
    with training_lock(_round_folder(opts, run, r)):
        # Another `rounds` on this run may have trained the round while this one waited: use it
        done = store.adapter(store.run_id(run), r, opts.objective)
        if done is None:
            with round_log(_round_folder(opts, run, r)):
                done = _train(opts, store, run, r, adapter, counts)
    return None if done is None else report_from_row(done, "trained")


_NOTHING = {"dpo": "no pairs", "kto": "no judged examples", "grpo": "no rewards"}


def _round_folder(opts: RoundsOptions, run: str, r: int) -> str:
    kind = {"kto": KTOOptions, "grpo": GRPOOptions}.get(opts.objective, DPOOptions)
    return kind.folder(opts.out, run, r)


def train_grpo_alone(opts: GRPOJobOptions, settings: ModelSettings | None = None) -> RoundReport:
    """`cowest train grpo`: round --round of a GRPO run on its own, from --from-adapter, into --out
    (empty: adapters/RUN/round-R-grpo). A round already recorded is not trained again; one stopped
    by the budget is trained again on a rerun, its stored rewards read back."""
    rounds = opts.as_round()
    rounds.check_rounds()
    config = rounds.trainer_config().config  # bad training settings stop here, before anything is spent
    check_a_step_fits(rounds, config, range(opts.round, opts.round + 1))
    check_models(rounds.context(), settings)
    run, r = rounds.run_name(), opts.round
    store = get_store(rounds.store_url)
    run_id = _run_id_or_none(store, run)
    done = store.adapter(run_id, r, "grpo") if run_id is not None else None
    if done is not None:
        return report_from_row(done, "done earlier", spent_now=False)
    adapter = str(Path(opts.from_adapter).resolve()) if opts.from_adapter else None
    folder = opts.out or GRPOOptions.folder("adapters", run, r)
    return _grpo(rounds, store, run, r, adapter, rounds.budget(store.spent(run_id)), settings, folder)


def _grpo(opts, store, run, r, adapter, budget, settings, folder: str) -> RoundReport:
    """Round r by GRPO into `folder`: rewards and training in one step (cowest/grpo_round.py)."""
    release_local_models()  # TRL samples with the model it trains: no second copy for drafting
    with training_lock(folder):
        done = store.adapter(store.run_id(run), r, opts.objective) if _run_id_or_none(store, run) else None
        if done is not None:
            return report_from_row(done, "trained by another process", spent_now=False)
        with round_log(folder):
            trained, metrics = grpo_round(opts, store, run, r, adapter, budget, settings, folder)
    if trained is not None:
        return report_from_row(trained, "trained")
    return RoundReport(
        round=r,
        objective="grpo",
        queries=metrics["queries"],
        spending=Spending(**metrics["spending"]),
        failed=True,
        budget_stopped=metrics.get("budget_stopped", False),
        note=metrics.get("stopped") or "stopped before the end of training",
    )


@contextmanager
def training_lock(folder: str) -> Iterator[None]:
    """One trainer per round folder on this machine: a second `rounds` on the same run waits here
    (saying so) until the first has written the round, instead of training it again into the same
    folder. The `filelock` library's lock on FOLDER.lock, let go by the system if its holder dies."""
    import os
    import sys

    from filelock import FileLock, Timeout

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # `accelerate launch`: its processes train together
        yield
        return
    lock_path = Path(folder).with_name(Path(folder).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"cowest: another process is training {folder}; waiting for it", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _nothing_to_learn(opts: RoundsOptions, summary: CollectSummary) -> bool:
    if opts.objective == "kto":
        return summary.positives + summary.negatives == 0
    return summary.pairs == 0


def _train(
    opts: RoundsOptions, store: TraceStore, run: str, r: int, adapter: str | None, counts: dict
) -> Adapter | None:
    """Round r's adapter, trained from `adapter` (r-1's) with the run's objective."""
    weak = opts.train_base or opts.weak
    common = dict(run=run, round=r, out=_round_folder(opts, run, r), weak=weak, from_adapter=adapter)
    if opts.objective == "kto":
        return train_kto(store, copy_as(KTOOptions, opts.training, **common), extra_metrics=counts)
    dpo = copy_as(DPOOptions, opts.training, reference=opts.reference, sft_adapter=opts.sft_adapter, **common)
    return train_dpo(store, dpo, extra_metrics=counts)


def _drafting_model(opts: RoundsOptions, run: str, round: int, adapter: str | None) -> str:
    """The weak spec round `round` drafts with: the base with adapter r-1 for a local model; for
    a served one, adapter r-1 loaded into the server and asked for by its name."""
    if not adapter:
        return opts.weak
    if not opts.train_base:
        return f"{opts.weak}@{adapter}"
    name = f"{run}-round-{round - 1}" if round > 1 or not opts.sft_adapter else f"{run}-sft"
    base_url = opts.weak_base_url or ModelSettings.from_env().openai_base_url
    if not base_url:
        raise BadInput("a served weak model needs --weak-base-url or $OPENAI_BASE_URL")
    load_lora_adapter(base_url, name, adapter, api_key=ModelSettings.from_env().key_for(base_url))
    return f"openai:{name}"


def _new_sampling_seed(seed: int, round: int) -> None:
    """TRL seeds the global RNG with the same seed each time it trains: without this, every round
    would draw its K drafts from the same random state as the one before."""
    import torch

    torch.manual_seed(seed * 1000 + round)


def _run_id_or_none(store: TraceStore, run: str) -> int | None:
    try:
        return store.run_id(run)
    except StoreError:
        return None


def _counts(s: CollectSummary) -> dict:
    return {
        "queries": s.queries,
        "drafts": s.drafts,
        "positives": s.positives,
        "negatives": s.negatives,
        "pairs": s.pairs,
        # this round's last collection: a resumed round counts what it found stored as reused
        "spending": asdict(s.spending),
    }
