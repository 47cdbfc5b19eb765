"""The papers' metrics, each the standard definition.

- IfQA: exact match and token F1 after SQuAD normalisation, the maximum over the gold answers.
- MedMCQA, ProsocialDialog: accuracy, and macro-F1 averaged over the task's whole label set. An
  answer that cannot be parsed is a miss for its true class and counts for no class (it is left
  outside the label set, as scikit-learn's `f1_score(..., labels=LABELS, average="macro")` does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .normalize import normalize_answer


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction or "")
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str | None, golds: Sequence[str]) -> float:
    return max((_f1(prediction or "", g) for g in golds), default=0.0)


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:  # SQuAD: F1 is 1 when both are empty, else 0
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def accuracy(y_true: Sequence[str], y_pred: Sequence[str | None]) -> float:
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true) if y_true else 0.0


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]) -> float:
    """Mean over `labels` of 2TP / (2TP + FP + FN); a label with no support and no prediction scores 0."""
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred))
        fp = sum(t != label and p == label for t, p in zip(y_true, y_pred))
        fn = sum(t == label and p != label for t, p in zip(y_true, y_pred))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores)


def score_task(task, examples, predictions: Sequence[str | None]) -> dict:
    """The task's metrics for parsed predictions aligned with `examples`, as fractions in [0, 1],
    with n and the count of unparseable predictions (None)."""
    n = len(examples)
    out: dict[str, float] = {"n": n, "unparseable": sum(p is None for p in predictions)}
    if task.labels:
        gold = [ex.answers[0] for ex in examples]
        out.update(accuracy=accuracy(gold, predictions), macro_f1=macro_f1(gold, predictions, task.labels))
    else:
        out.update(
            exact_match=sum(exact_match(p, ex.answers) for p, ex in zip(predictions, examples)) / n if n else 0.0,
            f1=sum(token_f1(p, ex.answers) for p, ex in zip(predictions, examples)) / n if n else 0.0,
        )
    return out
