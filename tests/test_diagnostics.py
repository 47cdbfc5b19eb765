"""Every round says what its drafts looked like, and warns in one line when they look collapsed."""

from __future__ import annotations

import statistics

import pytest
from test_collect_graph import scripted_collect, stored

from cowest.collect import collect
from cowest.diagnostics import collapse_warning, draft_figures, round_drafts
from cowest.storage import get_store


@pytest.mark.parametrize(
    "words, at_cap, distinct, warned",
    [
        ([12, 9, 15, 20], 0, 4, None),  # round 0's look: no warning
        ([1, 1, 2, 1], 0, 4, "median draft 1 words"),
        ([64, 64, 64, 60], 4, 4, "100% at the token cap"),
        ([12, 12, 12, 12], 0, 2, "50% of samples differ"),
    ],
)
def test_collapse_is_named_by_what_collapsed(words, at_cap, distinct, warned):
    warning = collapse_warning(draft_figures(words, at_cap, distinct, len(words)))
    assert (warning is None) if warned is None else (warned in warning)


@pytest.mark.slow
def test_a_collected_rounds_figures_are_its_drafts(serve, tiny_model, data, db_url):
    from test_collect_graph import script

    serve(script)
    collect(scripted_collect(data, tiny_model, db_url, max_new_tokens=6), progress=False)
    calls, pairs = stored(db_url)
    drafts = [c for c in calls if c.role == "weak_draft"]
    store = get_store(db_url)
    figures = round_drafts(store, store.run_id("t"), 1, cap=6)
    assert figures["drafts"] == len(drafts) == 16
    assert figures["median_words"] == statistics.median(len((c.output or "").split()) for c in drafts)
    assert figures["at_cap_share"] == round(sum(c.tokens_out >= 6 for c in drafts) / 16, 3)
    assert ("chosen_median_words" in figures) == bool(pairs)
