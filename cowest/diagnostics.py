"""What a round's drafts looked like, for every objective: a policy that collapses (to one-word
drafts, to drafts cut at the token cap, to one draft whatever the query) can still raise the metric
it is paid for, so the rounds summary says so in a line of its own.

Thresholds, from the learning benchmark (bench/RESULTS.md): at round 0 SmolLM2's drafts had a median
of 12 words and 2-21% at the 64-token cap, and its samples at temperature 1.0 hardly ever repeat; the
collapsed brevity arm went to a median of 1 word (75% one-word drafts), the collapsed length arm to
100% at the cap. A round is flagged when its drafts' median is at most 2 words, more than 90% hit the
cap, or fewer than 60% of a query's samples differ (most of them repeating): each far from round 0,
the first two met by the collapsed rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

COLLAPSE_MEDIAN_WORDS = 2
COLLAPSE_DISTINCT_SHARE = 0.6
COLLAPSE_AT_CAP_SHARE = 0.9


def draft_figures(words: Sequence[int], at_cap: int, distinct: int, n: int) -> dict:
    """Median words, share at the token cap, and share of distinct drafts among a query's samples."""
    if not n:
        return {"drafts": 0}
    return {
        "drafts": n,
        "median_words": statistics.median(words) if words else 0,
        "at_cap_share": round(at_cap / n, 3),
        "distinct_share": round(distinct / n, 3),
    }


def collapse_warning(figures: dict | None) -> str | None:
    """One line when the drafts look collapsed, else None."""
    if not figures or not figures.get("drafts"):
        return None
    signs = []
    if figures["median_words"] <= COLLAPSE_MEDIAN_WORDS:
        signs.append(f"median draft {figures['median_words']:g} words")
    if figures["distinct_share"] < COLLAPSE_DISTINCT_SHARE:
        signs.append(f"{figures['distinct_share']:.0%} of samples differ")
    if figures["at_cap_share"] > COLLAPSE_AT_CAP_SHARE:
        signs.append(f"{figures['at_cap_share']:.0%} at the token cap")
    return "drafts may have collapsed: " + ", ".join(signs) if signs else None


def round_drafts(store, run_id: int, round: int, cap: int) -> dict:
    """The figures of a collected round's sampled drafts (DPO and KTO rounds), and the median words
    of its pairs' chosen and rejected drafts (a length drift shows there first)."""
    drafts = [c for c in store.calls_of(run_id, round) if c.role == "weak_draft" and c.error is None]
    by_query: dict[int, set[str]] = {}
    for c in drafts:
        by_query.setdefault(c.query_id, set()).add(c.output or "")
    words = [len((c.output or "").split()) for c in drafts]
    at_cap = sum((c.tokens_out or 0) >= cap for c in drafts)
    figures = draft_figures(words, at_cap, sum(len(v) for v in by_query.values()), len(drafts))
    by_id = {c.id: c for c in drafts}
    pairs = [p for p in store.pairs_of(run_id, round) if p.chosen_id in by_id and p.rejected_id in by_id]
    if pairs:
        for side in ("chosen", "rejected"):
            lengths = [len((by_id[getattr(p, f"{side}_id")].output or "").split()) for p in pairs]
            figures[f"{side}_median_words"] = statistics.median(lengths)
    return figures
