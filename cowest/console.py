"""Plain-text tables and summaries for the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def collect_summary(s) -> str:
    calls = ", ".join(f"{role} {n}" for role, n in sorted(s.calls_made.items())) or "none (all reused from the store)"
    lines = [
        f"run {s.run}  round {s.round}  store {s.db}",
        table(
            [
                "queries",
                "skipped rows",
                "drafts",
                "positives",
                "negatives",
                "pairs",
                "solo top (skipped)",
                "failed queries",
                "failed calls",
            ],
            [
                [
                    s.queries,
                    s.skipped_rows,
                    s.drafts,
                    s.positives,
                    s.negatives,
                    s.pairs,
                    s.solo_top,
                    s.failed_queries,
                    s.failed_calls,
                ]
            ],
        ),
        f"model calls made this time: {calls}",
        f"took {s.seconds:.1f} s",
    ]
    if s.failed_by_role:
        lines.append("failed calls: " + ", ".join(f"{role} {n}" for role, n in sorted(s.failed_by_role.items())))
        lines += [f"  first {kind}: {message[:200]}" for kind, message in list(s.first_errors.items())[:6]]
    if s.errors:
        lines.append("failed queries:\n  " + "\n  ".join(s.errors[:5]))
    if s.stopped:
        lines.append(s.stopped)
    if s.failed_calls or s.failed_queries or s.stopped:
        lines.append("to retry what failed: the same command with --retry-failed (finished calls are reused)")
    return "\n".join(lines)


def rounds_table(reports) -> str:
    return table(
        [
            "round",
            "queries",
            "drafts",
            "positives",
            "negatives",
            "pairs",
            "strong calls",
            "DPO loss",
            "reward margin",
            "adapter",
            "note",
        ],
        [
            [
                r.round,
                r.queries,
                r.drafts,
                r.positives,
                r.negatives,
                r.pairs,
                r.strong_calls,
                r.loss,
                r.margin,
                r.adapter,
                r.note,
            ]
            for r in reports
        ],
    )


def eval_table(task: str, results) -> str:
    from cowest.evaluation import metric_names

    first, second = metric_names(task)
    return table(
        ["method", "n", first, second, "unparseable", "strong calls", "strong tokens", "seconds"],
        [
            [
                r.method,
                r.n,
                r.metrics.get(first),
                r.metrics.get(second),
                r.metrics.get("unparseable"),
                r.strong_calls,
                r.strong_tokens,
                r.seconds,
            ]
            for r in results
        ],
    )
