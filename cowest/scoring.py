"""Scoring predictions made elsewhere with the same parsing and metrics as `cowest eval`."""

from __future__ import annotations

from pathlib import Path

from cowest.tasks import DataError, Example, Task
from cowest.tasks.base import read_json_rows
from cowest.tasks.metrics import score_task
from cowest.tasks.parsing import parse_answer
from cowest.tasks.stats import QueryScores, per_query_records


def read_predictions(path: str | Path) -> dict[str, dict]:
    """`{id: row}` from a JSON Lines file of `{"id": ..., "answer": ...}` or `{"id": ..., "output": ...}`."""
    rows: dict[str, dict] = {}
    for line_no, row in read_json_rows(Path(path)):
        if "id" not in row or not ({"answer", "output"} & set(row)):
            raise DataError(f'{path}:{line_no}: each line needs an "id" and an "answer" or "output"')
        qid = str(row["id"])
        if qid in rows:
            raise DataError(f"{path}:{line_no}: id {qid!r} appears twice")
        rows[qid] = row
    return rows


def prediction_answer(task: Task, row: dict | None, example: Example) -> str | None:
    """A prediction row's answer, parsed like the graph's outputs: `answer` as the answer itself,
    `output` as a whole Explanation/Answer text."""
    if row is None:
        return None
    if row.get("answer") is not None:
        return task.parse_answer(str(row["answer"]), example)
    return parse_answer(task, row.get("output"), example)


def score_predictions(task: Task, examples: list[Example], predictions: dict[str, dict]) -> dict:
    """The task's metrics over `examples`, with n, unparseable and missing counts, and each
    metric's 95% interval (`intervals`: metric -> tasks.stats.Interval)."""
    known = {ex.id for ex in examples}
    unknown = [qid for qid in predictions if qid not in known]
    if unknown:
        raise DataError(f"{len(unknown)} prediction id(s) are not in the data (first: {unknown[0]!r})")
    answers = [prediction_answer(task, predictions.get(ex.id), ex) for ex in examples]
    result = score_task(task, examples, answers)
    result["missing"] = sum(ex.id not in predictions for ex in examples)
    # Computed from per-query records, as eval's are, so both commands give the same intervals
    scores = QueryScores(per_query_records(task, examples, answers), labels=task.labels)
    result["intervals"] = scores.intervals()
    return result
