"""Intervals and paired tests (tasks/stats.py) against their textbook definitions and scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from cowest.tasks.stats import IncomparableEvaluations, QueryScores, paired, paired_all

LABELS = ("A", "B", "C", "D")


def label_records(gold, pred, ids=None):
    ids = ids or [str(i) for i in range(len(gold))]
    return [{"id": i, "gold": g, "answer": p} for i, g, p in zip(ids, gold, pred)]


def random_labels(seed, n=60, right=0.5):
    rng = np.random.default_rng(seed)
    gold = list(rng.choice(LABELS, n))
    pred = [g if rng.random() < right else (str(rng.choice(LABELS)) if rng.random() < 0.8 else None) for g in gold]
    return gold, pred


def test_macro_f1_on_every_resample_equals_scikit_learn():
    gold, pred = random_labels(1)
    scores = QueryScores(label_records(gold, pred), LABELS)
    idx = np.random.default_rng(0).integers(0, len(gold), size=(25, len(gold)))
    ours = scores.value("macro_f1", idx)
    for row, value in zip(idx, ours):
        # an unparseable answer is outside the label set: a miss for its class, counted for none
        expected = f1_score(
            [gold[i] for i in row], [pred[i] or "none" for i in row], labels=list(LABELS), average="macro"
        )
        assert value == pytest.approx(expected)


def test_accuracy_interval_is_wilsons_score_interval():
    gold, pred = random_labels(2, n=40)
    scores = QueryScores(label_records(gold, pred), LABELS)
    ci = scores.interval("accuracy")
    k, n, z = sum(g == p for g, p in zip(gold, pred)), 40, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (ci.value, ci.n, ci.method) == (p, 40, "wilson")
    assert ci.low == pytest.approx(centre - half) and ci.high == pytest.approx(centre + half)


def test_bootstrap_interval_is_seeded_and_brackets_the_value():
    records = [{"id": str(i), "answer": "x", "exact_match": float(i % 3 == 0), "f1": (i % 5) / 4} for i in range(50)]
    scores = QueryScores(records)
    first, again = scores.interval("f1", seed=3), scores.interval("f1", seed=3)
    assert first == again and first.method == "bootstrap"
    assert first.low < first.value < first.high


def test_mcnemar_is_the_exact_binomial_test_on_discordant_queries():
    # b right where a is wrong on 12 queries, a right where b is wrong on 3, both the same on 25
    gold = ["A"] * 40
    a = ["A"] * 3 + ["B"] * 12 + ["A"] * 15 + ["B"] * 10
    b = ["B"] * 3 + ["A"] * 12 + ["A"] * 15 + ["B"] * 10
    d = paired(QueryScores(label_records(gold, a), LABELS), QueryScores(label_records(gold, b), LABELS), "accuracy")
    assert (d.b_only, d.a_only, d.n) == (12, 3, 40)
    assert d.diff == pytest.approx((27 - 18) / 40)
    expected = min(1.0, 2 * sum(math.comb(15, k) for k in range(0, 4)) / 2**15)
    assert d.p_value == pytest.approx(expected)
    assert d.low > 0 and d.excludes_zero


def test_an_evaluation_against_itself_differs_by_exactly_zero():
    gold, pred = random_labels(4)
    scores = QueryScores(label_records(gold, pred), LABELS)
    for d in paired_all(scores, scores).values():
        assert (d.diff, d.low, d.high) == (0.0, 0.0, 0.0)
        assert not d.excludes_zero
    assert paired(scores, scores, "accuracy").p_value == 1.0


def test_queries_are_paired_by_id_not_by_position():
    gold, pred = random_labels(5, n=30)
    a = QueryScores(label_records(gold, pred), LABELS)
    ids = [str(i) for i in range(30)]
    shuffled = list(reversed(range(30)))
    qa = QueryScores([{"id": i, "answer": "x", "exact_match": 1.0, "f1": 1.0} for i in ids])
    with pytest.raises(IncomparableEvaluations, match="different tasks"):
        paired(a, qa, "accuracy")
    b = QueryScores(
        label_records([gold[i] for i in shuffled], [pred[i] for i in shuffled], [ids[i] for i in shuffled]), LABELS
    )
    assert paired(a, b, "accuracy").diff == 0.0 and paired(a, b, "macro_f1").high == 0.0


def test_different_query_sets_are_refused_naming_the_difference():
    gold, pred = random_labels(6, n=10)
    a = QueryScores(label_records(gold, pred), LABELS)
    b = QueryScores(label_records(gold[:8], pred[:8]), LABELS)
    with pytest.raises(IncomparableEvaluations, match=r"2 queries only in the first, 0 only in the second \(n 10 vs 8"):
        paired(a, b, "accuracy")
