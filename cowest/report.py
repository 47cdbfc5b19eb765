"""`cowest report`: a Table-1-style markdown table of every evaluation, and PNG plots."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from cowest.evaluation import metric_names
from cowest.evidence import intervals_of
from cowest.options import task_label
from cowest.round_report import report_from_row
from cowest.storage import TraceStore
from cowest.tasks import get_task
from cowest.tasks.stats import proportion

_TASK_TITLES = {
    "ifqa": ("IfQA", "EM", "F1"),
    "medmcqa": ("MedMCQA", "Acc", "F1"),
    "prosocial": ("ProsocialDialog", "Acc", "F1"),
}


def write_report(store: TraceStore, out_dir: str | Path, run: str | None = None) -> list[Path]:
    """Write report.md and its plots into `out_dir`; the files written, report.md first."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_id = store.run_id(run) if run else None
    runs = [r for r in store.runs() if run_id is None or r.id == run_id]
    evals = store.evals(run_id)
    if run:  # the run's held-out curve (`rounds --eval-data`) is a run of its own
        evals += [e for r in store.runs() if r.name == f"{run}-heldout" for e in store.evals(r.id)]
    adapters = [a for r in runs for a in store.adapters_of(r.id)] + store.adapters_of(None)
    # The held-out curve's round 0 may have no adapter at all (rounds without --sft-adapter)
    heldout = {r.id for r in store.runs() if r.name.endswith("-heldout")}
    plots: list[Path] = []

    lines = ["# cowest report", ""]
    if evals:
        lines += [
            "## Methods x tasks",
            "",
            *_method_table(evals, adapters),
            "",
            "Scores are percentages with their 95% interval (Wilson for accuracy / EM, a bootstrap over "
            "queries for F1); n = queries, u = outputs that could not be parsed (a miss for their true class).",
            "",
        ]
        if _plot_cost(evals, adapters, out / "strong_cost.png"):
            plots.append(out / "strong_cost.png")
            lines += ["## Strong-model cost per method", "", "![strong-model calls and tokens](strong_cost.png)", ""]
        if _plot_metric_per_round(evals, adapters, heldout, out / "metric_per_round.png"):
            plots.append(out / "metric_per_round.png")
            lines += ["## Metric per round", "", "![metric per round](metric_per_round.png)", ""]
    else:
        lines += ["No evaluation results yet: run `cowest eval`.", ""]
    trained = [a for a in adapters if a.kind in ("dpo", "kto", "grpo")]
    if trained:
        _plot_rounds(trained, runs, out / "rounds.png")
        plots.append(out / "rounds.png")
        lines += [
            "## Preference collection per round",
            "",
            "![pair yield and positive share](rounds.png)",
            "",
            *_rounds_table(trained, runs),
            "",
        ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return [path, *plots]


def _latest(evals, adapters=()):
    """The newest result of each (row label, task)."""
    lineage = {_same_path(a.path): a for a in adapters if a.path}
    best = {}
    for e in evals:
        best[(_row_label(e, lineage), e.task)] = e
    return best


def _row_label(e, lineage) -> str:
    """A Table-1 row: the method, and for a trained adapter its round and feedback arm."""
    if not e.adapter:
        return e.method
    a = lineage.get(_same_path(e.adapter))
    if a is None:  # an adapter trained elsewhere: its own row, never merged with the method's plain one
        return f"{e.method}@{_shown_path(e.adapter)}"
    if a.kind == "sft":
        return f"{e.method} + SFT"
    m = a.metrics or {}
    arm = m.get("feedback", "collaborative")
    if arm == "individual":
        arm += f", annotator {m.get('annotator', 'strong')}"
    return f"{e.method}, round {a.round} ({arm} feedback, {a.kind})"


def _same_path(path: str) -> str:
    """One spelling of an adapter folder (eval records it as given, rounds as an absolute path)."""
    return str(Path(path).resolve())


def _shown_path(path: str) -> str:
    """An adapter folder as a label, the same however it was spelled: relative to here when it lies
    below, else absolute."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(resolved)


def _titles(task: str) -> tuple[str, str, str]:
    """A task's column titles: the built-in ones, or a task file's name and its metrics."""
    if task in _TASK_TITLES:
        return _TASK_TITLES[task]
    try:
        first, second = ("Acc", "F1") if get_task(task).labels else ("EM", "F1")
    except Exception:  # a task file that has gone since: its stored name is all there is
        first, second = "metric", "F1"
    return task_label(task) if Path(task).is_file() else Path(task).stem, first, second


def _method_table(evals, adapters=()) -> list[str]:
    latest = _latest(evals, adapters)
    known = [t for t in _TASK_TITLES if any(task == t for _, task in latest)]
    tasks = known + sorted({task for _, task in latest} - set(known))
    methods = list(dict.fromkeys(m for m, _ in latest))
    head = ["Method"] + [f"{_titles(t)[0]} {name}" for t in tasks for name in _titles(t)[1:]]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ordered = sorted(methods, key=lambda m: list(_SECTIONS).index(_section(m)))  # stable: a section keeps its order
    for i, m in enumerate(ordered):
        if i == 0 or _section(m) != _section(ordered[i - 1]):
            rows.append(f"| **{_section(m)}** |" + " |" * (len(head) - 1))
        cells = [m]
        for t in tasks:
            e = latest.get((m, t))
            if e is None:
                cells += ["", ""]
                continue
            first, second = metric_names(t)
            u = e.metrics.get("unparseable", 0)
            cells += [f"{_percent(e, first)} (n={e.n}, u={u})", _percent(e, second)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


# Table 1's sections, and the methods of each (a row label starts with its method's name)
_SECTIONS = {
    "Weak only": ("weak", "weak-sft", "weak-self-refine"),
    "Strong only": ("strong", "strong-cot", "strong-self-refine"),
    "RAG": ("skr", "flare"),
    "Collaboration": ("supericl", "collab"),
    "Other": (),
}


def _section(label: str) -> str:
    method = re.split(r"[\[ ,+]", label, maxsplit=1)[0]
    return next((name for name, methods in _SECTIONS.items() if method in methods), "Other")


def _percent(e, metric: str) -> str:
    """`45.0 [31.0, 59.0]`: the metric and its 95% interval, in percent."""
    interval = intervals_of(e).get(metric)
    if interval is None:
        return f"{100 * e.metrics[metric]:.1f}"
    return f"{100 * interval.value:.1f} [{100 * interval.low:.1f}, {100 * interval.high:.1f}]"


def _plot_cost(evals, adapters, path: Path) -> bool:
    import matplotlib.pyplot as plt

    rows = _latest(evals, adapters)  # one bar per adapter, by its round where the store knows it
    if not rows:
        return False
    latest = list(rows.values())
    labels = [f"{label}\n{task}" for label, task in rows]
    fig, (a, b) = plt.subplots(2, 1, figsize=(min(14, max(6, 0.8 * len(labels))), 7), sharex=True)
    a.bar(labels, [e.strong_calls / max(1, e.n) for e in latest], color="#4C72B0")
    a.set_title("strong-model calls per query")
    b.bar(labels, [e.strong_tokens / max(1, e.n) for e in latest], color="#DD8452")
    b.set_title("strong-model tokens per query")
    b.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_metric_per_round(evals, adapters, heldout: set[int], path: Path) -> bool:
    """Evaluations made with a round's adapter (or the SFT adapter, round 0; or no adapter in a
    held-out run, round 0 too), by round, each with its 95% interval."""
    import matplotlib.pyplot as plt

    round_of = {_same_path(a.path): a.round for a in adapters if a.path}
    series = defaultdict(list)
    for e in evals:
        round = round_of.get(_same_path(e.adapter)) if e.adapter else (0 if e.run_id in heldout else None)
        if round is not None:
            key = metric_names(e.task)[0]
            interval = intervals_of(e).get(key)
            low, high = (interval.low, interval.high) if interval else (e.metrics[key], e.metrics[key])
            series[f"{e.method} ({e.task}, n={e.n})"].append((round, e.metrics[key], low, high))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in series.items():
        points.sort()
        x, y = [p[0] for p in points], [p[1] for p in points]
        below, above = [p[1] - p[2] for p in points], [p[3] - p[1] for p in points]
        ax.errorbar(x, y, yerr=[below, above], marker="o", capsize=3, label=label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round (0 = SFT)")
    ax.set_ylabel("EM / accuracy (95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_rounds(adapters, runs, path: Path) -> None:
    import matplotlib.pyplot as plt

    names = {r.id: r.name for r in runs}
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    by_run = defaultdict(list)
    for ad in adapters:  # one line per run and objective
        by_run[f"{names.get(ad.run_id, '?')} ({ad.kind})"].append(ad)
    for run, rows in by_run.items():
        rows.sort(key=lambda r: r.round)
        rounds = [r.round for r in rows]
        if rows[0].kind != "grpo":  # GRPO learns from rewards: no pairs to count
            a.plot(
                rounds,
                [r.metrics.get("pairs", 0) / max(1, r.metrics.get("queries", 0)) for r in rows],
                marker="o",
                label=run,
            )
        shares = [proportion(r.metrics.get("positives", 0), r.metrics.get("drafts", 0)) for r in rows]
        b.errorbar(
            rounds,
            [s.value for s in shares],
            yerr=[[s.value - s.low for s in shares], [s.high - s.value for s in shares]],
            marker="o",
            capsize=3,
            label=run,
        )
    a.set_title("pairs per query")
    b.set_title("share of drafts that are positives (95% CI)")
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("round")
        if ax.get_legend_handles_labels()[0]:  # a GRPO-only report has no pairs panel to label
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rounds_table(adapters, runs) -> list[str]:
    names = {r.id: r.name for r in runs}
    rows = [
        "| run | round | objective | queries | drafts | positives | pairs | loss | reward margin (grpo: mean reward) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in sorted(adapters, key=lambda a: (a.run_id or 0, a.round)):
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        r = report_from_row(a, "")  # the row `cowest rounds` printed
        rows.append(
            f"| {names.get(a.run_id, '?')} | {r.round} | {r.objective} | {r.queries} | {r.drafts} | "
            f"{r.positives} | {r.pairs_shown} | {fmt(r.loss)} | {fmt(r.margin_or_reward)} |"
        )
    return rows
