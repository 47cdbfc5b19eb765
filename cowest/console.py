"""Plain-text tables and summaries for the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path


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
        f"model requests sent this time: {calls}",
        s.spending.line(s.pairs, s.price_in, s.price_out),
        *(
            ["requests in flight at the end: " + ", ".join(f"{m} {n}" for m, n in sorted(s.in_flight_limits.items()))]
            if s.in_flight_limits
            else []
        ),
        f"took {s.seconds:.1f} s",
    ]
    if s.failed_by_role:
        lines.append("failed calls: " + ", ".join(f"{role} {n}" for role, n in sorted(s.failed_by_role.items())))
        lines += [f"  first {kind}: {message[:200]}" for kind, message in list(s.first_errors.items())[:6]]
    if s.errors:
        lines.append("failed queries:\n  " + "\n  ".join(s.errors[:5]))
    if s.stopped:
        lines.append(s.stopped)
    if s.unfinished:
        lines.append(f"{s.unfinished} queries not finished (their finished calls are stored)")
    if s.failed_calls or s.failed_queries or (s.stopped and not s.budget_stopped):
        lines.append("to retry what failed: the same command with --retry-failed (finished calls are reused)")
    else:
        lines += [textwrap.fill(line, width=120, subsequent_indent="  ") for line in _what_next(s)]
    return "\n".join(lines)


def _what_next(s) -> list[str]:
    """What the numbers mean for the method, and the command that takes the run a step further."""
    if s.pairs:
        return [
            f"{s.pairs} preference pair(s): drafts whose refinement beat the strong model's own answer (chosen) "
            f"against drafts whose refinement did not (rejected), stored in run {s.run} of {s.db}.",
            f"next: cowest pairs export --run {s.run} --round {s.round} --out pairs/   (or train on them: "
            f"cowest train dpo --run {s.run} --round {s.round})",
        ]
    if not s.drafts:
        return []
    return [
        f"no pairs: a pair needs, for one query, a draft whose refinement scored above the strong model's own "
        f"answer and one whose refinement did not; {s.positives} of {s.drafts} drafts did.",
        "next: more queries (--limit) or drafts per query (--samples), or a stronger model as --strong",
    ]


def rounds_table(reports) -> str:
    """One row per round; with --eval-data, a second table: the held-out metric with its 95% interval
    and the paired difference to the previous round and to round 0 (round 0 is the starting adapter).
    Adapters and notes follow as lines, so the tables fit 120 columns whatever the paths."""
    headers = ["round", "objective", "queries", "drafts", "positives", "negatives", "pairs", "strong sent"]
    headers += ["reused", "loss", "margin/reward"]
    rows = [
        [r.round, r.objective, r.queries, r.drafts, r.positives, r.negatives, r.pairs_shown, r.spending.sent]
        + [r.spending.reused, r.loss, r.margin_or_reward]
        for r in reports
    ]
    parts = [table(headers, rows)]
    if any(r.objective == "grpo" for r in reports):
        note = (
            "grpo rows: drafts are the completions rewarded; positives those whose refinement scored above the "
            "strong model's own answer (reward > 0); margin/reward is the mean reward over every rewarded "
            "completion (refined score - E_z)"
        )
        parts.append(textwrap.fill(note, width=120, subsequent_indent="  "))
    if any(r.heldout for r in reports):
        held = [
            [r.round, f"{r.heldout.interval} n={r.heldout.interval.n}"]
            + [_difference(r.heldout.vs_previous), _difference(r.heldout.vs_start)]
            for r in reports
            if r.heldout
        ]
        parts.append(table(["round", "held-out [95% CI]", "vs previous [95% CI]", "vs round 0 [95% CI]"], held))
    for r in reports:
        line = f"round {r.round}: adapter {_shown(r.adapter)}" + (f"; {r.note}" if r.note else "")
        parts.append(textwrap.fill(line, width=120, subsequent_indent="  "))
    return "\n".join(parts)


def _shown(path: str | None) -> str:
    """A folder relative to here when it lies below (rounds records absolute paths)."""
    if not path or path == "-":
        return path or "-"
    resolved = Path(path).resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else path


def _difference(d) -> str:
    return "-" if d is None else f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def eval_table(task: str, results) -> str:
    """Each method's metrics with their n and 95% interval (Wilson for a proportion, a bootstrap
    over queries otherwise)."""
    # evaluation loads the graph, and evidence scipy: only for the tables of `eval`
    from cowest.evaluation import metric_names
    from cowest.evidence import interval_cells

    first, second = metric_names(task)
    return table(
        ["method", "n", f"{first} [95% CI]", f"{second} [95% CI]", "unparseable", "strong calls", "sent", "reused"]
        + ["strong tokens", "seconds"],
        [
            [
                r.method,
                r.n,
                interval_cells(r, first),
                interval_cells(r, second),
                r.metrics.get("unparseable"),
                r.strong_calls,
                r.metrics.get("strong_sent"),
                r.metrics.get("strong_reused"),
                r.strong_tokens,
                r.seconds,
            ]
            for r in results
        ],
    )


def comparison_table(a, b, diffs) -> str:
    """`b - a` per metric on the same queries: each side, the difference with its paired 95%
    interval and, for a proportion, the exact McNemar test."""
    rows = [
        [
            name,
            d.n,
            d.a,
            d.b,
            f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
            "-" if d.p_value is None else f"{d.p_value:.3g}",
            "-" if d.b_only is None else f"{d.b_only} / {d.a_only}",
        ]
        for name, d in diffs.items()
    ]
    head = f"{b.method} (eval {b.id}) - {a.method} (eval {a.id}), paired over the same {a.n} queries"
    headers = ["metric", "n", "a", "b", "b - a [95% CI]", "McNemar p", "b only / a only right"]
    return head + "\n" + table(headers, rows)


def plan_table(plan, price_in: float | None = None, price_out: float | None = None) -> str:
    """`cowest plan`: calls by job and role, what the store covers, what would be sent."""
    rows = [
        [
            r.job,
            r.role + ("" if r.billed else " (local)"),
            r.needed,
            r.covered,
            r.to_send,
            round(r.tokens_in) if r.to_send else 0,
            round(r.tokens_out) if r.to_send else 0,
            "store averages" if r.from_store_averages else ("prompt length, max tokens" if r.to_send else "-"),
        ]
        for r in plan.rows
    ]
    headers = ["job", "role", "at most", "in store", "to send", "tokens in", "tokens out", "tokens from"]
    billed = plan.billed()
    lines = [table(headers, rows)]
    # "(local)" rows run on this machine: free, so they stay out of what is paid for
    paid = "paid strong/judge requests" if any(not r.billed for r in plan.rows) else "strong/judge requests"
    total = f"{paid} to send: at most {billed.sent} ({billed.reused} already in the store)"
    total += f"; about {billed.tokens_in} tokens in, {billed.tokens_out} out"
    cost = billed.cost(price_in, price_out)
    if cost is not None:
        total += f"; about ${cost:.4f}"
    lines.append(total)
    lines += plan.notes
    return "\n".join(lines)
