"""The multi-round feedback loop: collect with adapter r-1, DPO, register adapter r; resumable."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from cowest.collect import CollectOptions, CollectSummary, collect
from cowest.settings import Settings
from cowest.storage import Adapter, get_store

from .dpo import DPOOptions, train_dpo


@dataclass
class RoundsOptions:
    collect: CollectOptions  # its weak spec is the base; round r drafts with adapter r-1
    rounds: int = 1
    sft_adapter: str | None = None  # adapter 0: where round 1 starts
    fresh_queries: bool = False  # round r collects rows [(r-1)*limit, r*limit) instead of the same ones
    out: str = "adapters"
    reference: Literal["sft", "previous"] = "previous"
    dpo: dict = field(default_factory=dict)  # overrides of DPOOptions fields (beta, max_steps, ...)


@dataclass
class RoundReport:
    round: int
    queries: int = 0
    drafts: int = 0
    positives: int = 0
    negatives: int = 0
    pairs: int = 0
    strong_calls: int = 0
    loss: float | None = None
    margin: float | None = None
    adapter: str | None = None
    note: str = ""


def run_rounds(opts: RoundsOptions, settings: Settings | None = None, progress: bool = True) -> list[RoundReport]:
    """Rounds 1..N. A round whose adapter row exists is finished and skipped; finished model calls
    of an interrupted round are read back from the store, never made again."""
    settings = settings or Settings.from_env()
    base = opts.collect
    if opts.fresh_queries and base.limit is None:
        raise ValueError("--fresh-queries needs --limit: the size of each round's slice")
    if "@" in base.weak:
        raise ValueError("give the weak model without an adapter; start from one with --sft-adapter")
    run = base.run_name(settings)
    store = get_store(base.db or settings.db)
    adapter = str(Path(opts.sft_adapter).resolve()) if opts.sft_adapter else None
    reports = []
    for r in range(1, opts.rounds + 1):
        run_id = _run_id_or_none(store, run)
        done = store.adapter(run_id, r) if run_id is not None else None
        if done is not None:
            reports.append(_report_from_row(done, "done earlier" if done.path else "done earlier (no pairs)"))
            adapter = done.path or adapter
            continue
        round_opts = replace(base, run=run, round=r, weak=f"{base.weak}@{adapter}" if adapter else base.weak,
                             offset=base.offset + ((r - 1) * base.limit if opts.fresh_queries else 0))
        summary = collect(round_opts, settings, progress=progress)
        counts = _counts(summary, store, run, r)
        if summary.pairs == 0:
            row = store.save_adapter(Adapter(
                run_id=store.run_id(run), round=r, kind="dpo", path=None, base_model=base.weak,
                parent_path=adapter, reference=None, pair_ids=[], metrics={**counts, "note": "no pairs"}))
            reports.append(_report_from_row(row, "no pairs: kept the previous adapter"))
            continue
        out = str(Path(opts.out) / run / f"round-{r}")
        dpo = DPOOptions(run=run, round=r, out=out, weak=base.weak, from_adapter=adapter, reference=opts.reference,
                         sft_adapter=opts.sft_adapter, **opts.dpo)
        row = train_dpo(store, dpo, extra_metrics=counts)
        adapter = row.path
        reports.append(_report_from_row(row, "trained"))
    return reports


def _run_id_or_none(store, run: str) -> int | None:
    from cowest.storage import StoreError

    try:
        return store.run_id(run)
    except StoreError:
        return None


def _counts(s: CollectSummary, store, run: str, round: int) -> dict:
    # From the store, not this process's counter: a resumed round made some calls last time.
    strong = sum(c.role in ("strong_solo", "strong_refine") for c in store.calls_of(store.run_id(run), round))
    return {"queries": s.queries, "drafts": s.drafts, "positives": s.positives, "negatives": s.negatives,
            "pairs": s.pairs, "strong_calls": strong}


def _report_from_row(row: Adapter, note: str) -> RoundReport:
    m = row.metrics or {}
    return RoundReport(round=row.round, queries=m.get("queries", 0), drafts=m.get("drafts", 0),
                       positives=m.get("positives", 0), negatives=m.get("negatives", 0), pairs=m.get("pairs", 0),
                       strong_calls=m.get("strong_calls", 0), loss=m.get("loss"), margin=m.get("rewards/margins"),
                       adapter=row.path, note=note)
