"""Pair construction is exactly Algorithm 1 (Δ > 0 positive, Δ ≤ 0 negative, min(|Y+|,|Y-|) pairs)."""

import random
from collections import defaultdict

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


def assert_stored_pairs_are_algorithm_1(store, run: str, samples: int) -> None:
    """A run's stored pairs are Algorithm 1 on the run's own stored scores (rows it sent or reused),
    and its stored examples are every draft that took a side, labelled by the same rule (Δ > 0).
    A draft with no refinement (the solo answer had the top score) scores as the solo answer."""
    run_id = store.run_id(run)
    calls = store.calls_of(run_id)
    by_id = {c.id: c for c in calls}
    judged = {c.parent_id: c.score for c in calls if c.role == "judge"}
    per_query = defaultdict(lambda: {"solo": None, "refined": {}})
    for c in calls:
        if c.role == "strong_solo":
            per_query[c.query_id]["solo"] = judged[c.id]
        elif c.role == "strong_refine":
            per_query[c.query_id]["refined"][c.sample_index] = judged.get(c.id)
    expected = {}
    for q, v in per_query.items():
        if pairs := algorithm_1(v["solo"], [v["refined"].get(i, v["solo"]) for i in range(samples)]):
            expected[q] = pairs
    got = defaultdict(list)
    for p in store.pairs_of(run_id):
        got[p.query_id].append((by_id[p.chosen_id].sample_index, by_id[p.rejected_id].sample_index))
    assert dict(got) == expected

    drafted = defaultdict(set)
    for c in calls:
        if c.role == "weak_draft" and c.error is None:
            drafted[c.query_id].add(c.sample_index)
    expected_examples = {
        (q, i, score > v["solo"], score - v["solo"])
        for q, v in per_query.items()
        if v["solo"] is not None
        for i in drafted[q]
        if (score := v["refined"].get(i, v["solo"])) is not None
    }
    stored = {(e.query_id, e.idx, e.desirable, e.delta) for e in store.examples_of(run_id)}
    assert stored == expected_examples
    assert all(by_id[e.draft_id].sample_index == e.idx for e in store.examples_of(run_id))


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


def test_every_draft_that_took_a_side_is_an_example_with_its_delta():
    split = split_drafts(6, [(0, 10), (1, 6), (2, None), (3, 3), (4, 7)])
    assert split.examples() == [(0, True, 4), (1, False, 0), (3, False, -3), (4, True, 1)]
    assert len(split.examples()) == len(split.positives) + len(split.negatives) >= 2 * len(split.pairs)


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


def individual_feedback(scores: list[float]) -> list[tuple[int, int]]:
    """The paper's individual-feedback baselines as it adapts RLWF / RLAIF, transcribed: a draft
    scoring above the mean of its query's K scores is positive, the others negative, paired as in
    Algorithm 1."""
    mean = sum(scores) / len(scores)
    return algorithm_1(mean, scores)


def test_individual_split_is_above_the_mean_paired_as_algorithm_1():
    from cowest.nodes.pair_collector import split_individual

    rng = random.Random(3)
    for _ in range(300):
        k = rng.randint(1, 8)
        scores = [float(rng.choice([1, 3, 6, 10])) for _ in range(k)]
        split = split_individual(list(enumerate(scores)))
        assert split.pairs == individual_feedback(scores)
        mean = sum(scores) / k
        assert split.deltas == {i: s - mean for i, s in enumerate(scores)}
    # all equal: nobody is above the mean, so no pair; an unscored draft takes no side
    assert split_individual([(0, 6.0), (1, 6.0)]).pairs == []
    split = split_individual([(0, 10.0), (1, None), (2, 1.0)])
    assert split.positives == [0] and split.negatives == [2] and split.pairs == [(0, 2)]
