"""Pair construction is exactly Algorithm 1 (Δ > 0 positive, Δ ≤ 0 negative, min(|Y+|,|Y-|) pairs)."""

import random

from cowest.nodes.pair_collector import split_drafts, split_of_state


def algorithm_1(solo: float, scores: list[float]) -> list[tuple[int, int]]:
    """Lines 11-24 of Algorithm 1, transcribed literally."""
    y_pos, y_neg = [], []
    for i, e in enumerate(scores):
        if e > solo:
            y_pos.append(i)
        else:
            y_neg.append(i)
    n = min(len(y_pos), len(y_neg))
    return [(y_pos[j], y_neg[j]) for j in range(n)]


def test_crafted_scores_with_ties():
    split = split_drafts(6, list(enumerate([10, 6, 3, 10, 7])))
    assert split.positives == [0, 3, 4]
    assert split.negatives == [1, 2]  # a tie (Δ = 0) is a negative
    assert split.pairs == [(0, 1), (3, 2)]


def test_all_ties_make_no_pairs():
    split = split_drafts(6, list(enumerate([6, 6, 6, 6])))
    assert split.positives == [] and split.negatives == [0, 1, 2, 3] and split.pairs == []


def test_all_better_make_no_pairs():
    assert split_drafts(1, list(enumerate([3, 6, 10]))).pairs == []


def test_unscored_drafts_take_no_side():
    split = split_drafts(3, [(0, None), (1, 6), (2, None), (3, 1)])
    assert split.positives == [1] and split.negatives == [3] and split.pairs == [(1, 3)]


def test_no_solo_score_no_pairs():
    assert split_drafts(None, list(enumerate([10, 1]))).pairs == []


def test_matches_algorithm_1_on_random_scores():
    rng = random.Random(7)
    for _ in range(500):
        k = rng.randint(1, 8)
        solo = rng.choice([1, 3, 6, 10])
        scores = [rng.choice([1, 3, 6, 10]) for _ in range(k)]
        assert split_drafts(solo, list(enumerate(scores))).pairs == algorithm_1(solo, scores)


def test_solo_top_state_makes_every_draft_negative():
    state = {
        "solo": {"index": 0, "score": 10.0},
        "solo_top": True,
        "drafts": [{"index": i, "text": "d"} for i in range(3)],
        "refinements": [],
    }
    split = split_of_state(state)
    assert split.positives == [] and split.negatives == [0, 1, 2] and split.pairs == []
