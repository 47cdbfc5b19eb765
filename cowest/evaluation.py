"""`cowest eval`: the paper's methods and baselines on the same queries, with the same metrics.

Every method is a mode of the one graph plus a choice of which output is final; none copies a node.
Calls already in the store are reused (a weak draft that `weak` made is the draft `collab` refines).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from cowest.graph import CollabContext
from cowest.nodes.models import check_specs
from cowest.settings import Settings
from cowest.storage import EvalResult, get_store
from cowest.tasks import data_identity, get_task
from cowest.tasks.metrics import score_task

from .runner import run_over

WEAK_ONLY = ("weak", "self_refine_weak")  # modes that never call the strong model
STRONG_ONLY = ("strong", "self_refine_strong")  # modes that never call the weak model


@dataclass(frozen=True)
class Method:
    name: str
    mode: str
    drafts: bool  # takes a draft format (`direct`, `knowledge`, `cot`)
    uses_adapter: bool = False  # runs the weak model with --adapter
    solo_format: str = "cot"
    strong_model: bool = False  # its self-refinements are strong-model calls


METHODS = {m.name: m for m in [
    Method("weak", "weak", drafts=True),
    Method("weak-sft", "weak", drafts=True, uses_adapter=True),
    Method("weak-self-refine", "self_refine_weak", drafts=True),
    Method("strong", "strong", drafts=False, solo_format="direct"),
    Method("strong-cot", "strong", drafts=False),
    Method("strong-self-refine", "self_refine_strong", drafts=False, strong_model=True),
    Method("supericl", "supericl", drafts=False, uses_adapter=True),
    Method("collab", "infer", drafts=True, uses_adapter=True),
]}


@dataclass
class EvalOptions:
    task: str
    data: str
    methods: list[str]
    limit: int | None = None
    offset: int = 0  # skip the first rows (those a training run used)
    formats: list[str] = field(default_factory=lambda: ["cot"])
    weak: str = "smollm2"
    strong: str | None = None
    adapter: str | None = None  # the weak model's adapter for weak-sft / supericl / collab
    run: str | None = None
    db: str | None = None
    max_new_tokens: int = 256
    concurrency: int = 4


def parse_methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from: {', '.join(METHODS)}")
    return names


def evaluate(opts: EvalOptions, settings: Settings | None = None, progress: bool = True) -> list[EvalResult]:
    settings = settings or Settings.from_env()
    task = get_task(opts.task)
    examples = task.load(opts.data, limit=opts.limit, offset=opts.offset).examples
    if not examples:
        raise ValueError(f"{opts.data}: no usable rows")
    if "weak-sft" in opts.methods and not opts.adapter:
        raise ValueError("weak-sft needs --adapter (the SFT adapter folder)")
    strong = opts.strong or settings.default_strong()
    check_specs([opts.weak, strong], settings)
    data_hash = _file_hash(opts.data)
    run = opts.run or f"eval-{opts.task}-{data_hash[:8]}"
    db = opts.db or settings.db
    store = get_store(db)
    run_id = store.ensure_run(run, opts.task, data_path=data_identity(opts.data), config={"kind": "eval"})
    for ex in examples:
        store.ensure_query(run_id, ex.id, ex.query, ex.gold, ex.line)

    results = []
    for name in opts.methods:
        method = METHODS[name]
        for fmt in (opts.formats if method.drafts else ["cot"]):
            label = f"{name}[{fmt}]" if method.drafts and len(opts.formats) > 1 else name
            adapter = opts.adapter if method.uses_adapter else None
            weak = f"{opts.weak}@{adapter}" if adapter else opts.weak
            ctx = CollabContext(mode=method.mode, task=opts.task, weak=weak, strong=strong, format=fmt,
                                solo_format=method.solo_format, max_new_tokens=opts.max_new_tokens, db=db, run=run)
            start = time.perf_counter()
            answers, strong_ids = {}, []
            for ex, state, error in run_over(examples, ctx, opts.concurrency, f"eval {label}", progress,
                                             with_gold=False):
                answers[ex.id] = None if error else state.get("answer")
                if state:
                    strong_ids += _strong_call_ids(state, method)
            metrics = score_task(task, examples, [answers.get(ex.id) for ex in examples])
            calls = store.calls_by_id(strong_ids)
            results.append(store.save_eval(EvalResult(
                run_id=run_id, method=label, task=opts.task, data_path=data_identity(opts.data), data_hash=data_hash,
                weak=weak if method.mode not in STRONG_ONLY else None,
                strong=strong if method.mode not in WEAK_ONLY else None, adapter=adapter or "",
                n=len(examples), metrics=metrics, strong_calls=len(strong_ids),
                strong_tokens=sum((c.tokens_in or 0) + (c.tokens_out or 0) for c in calls.values()),
                seconds=time.perf_counter() - start)))
    return results


def _strong_call_ids(state: dict, method: Method) -> list[int | None]:
    ids = []
    if state.get("solo"):
        ids.append(state["solo"].get("call_id"))
    ids += [r.get("call_id") for r in state.get("refinements", [])]
    if method.strong_model:
        ids += [r.get("call_id") for r in state.get("revisions", [])]
    return ids


def _file_hash(path: str) -> str:
    if path.startswith("hf:"):
        return hashlib.sha256(path.encode()).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metric_names(task: str) -> tuple[str, str]:
    return ("exact_match", "f1") if get_task(task).labels is None else ("accuracy", "macro_f1")
