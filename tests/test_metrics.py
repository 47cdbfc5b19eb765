"""Metrics equal the standard definitions: SQuAD EM/F1 by hand, accuracy/macro-F1 against scikit-learn."""

import random

import pytest
from sklearn.metrics import accuracy_score, f1_score

from cowest.tasks.metrics import accuracy, exact_match, macro_f1, token_f1


@pytest.mark.parametrize(
    "pred,golds,em,f1",
    [
        ("Paris", ["paris"], 1.0, 1.0),
        ("The Paris.", ["paris"], 1.0, 1.0),  # articles and punctuation go
        ("4 hours", ["4 hours", "4"], 1.0, 1.0),
        ("about 4", ["4 hours", "4"], 0.0, 2 / 3),  # best gold: "4" (p=1/2, r=1)
        ("four hours long", ["4 hours"], 0.0, 0.4),  # common "hours": p=1/3, r=1/2 -> 0.4
        ("", ["x"], 0.0, 0.0),
        (None, ["x"], 0.0, 0.0),
        ("the a an", ["x"], 0.0, 0.0),  # normalises to empty
        ("New   York  City", ["new york"], 0.0, 0.8),
    ],
)
def test_squad_em_and_f1(pred, golds, em, f1):
    assert exact_match(pred, golds) == em
    assert token_f1(pred, golds) == pytest.approx(f1)


@pytest.mark.parametrize("labels", [("A", "B", "C", "D"), ("casual", "needs caution", "needs intervention")])
def test_accuracy_and_macro_f1_match_sklearn(labels):
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 30)
        y_true = [rng.choice(labels) for _ in range(n)]
        # predictions include unparseable ones (None), which count for no class
        y_pred = [rng.choice(labels + (None,)) for _ in range(n)]
        sk_pred = ["<unparseable>" if p is None else p for p in y_pred]
        assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, sk_pred))
        expected = f1_score(y_true, sk_pred, labels=list(labels), average="macro", zero_division=0)
        assert macro_f1(y_true, y_pred, labels) == pytest.approx(expected)


def test_unparseable_is_a_miss_for_its_true_class_only():
    # true A predicted None: a false negative for A, a false positive for nobody
    assert macro_f1(["A", "B"], [None, "B"], ("A", "B")) == pytest.approx((0.0 + 1.0) / 2)
    assert macro_f1(["A", "B"], ["B", "B"], ("A", "B")) == pytest.approx((0.0 + 2 / 3) / 2)
