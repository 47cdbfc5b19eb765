"""Reading model outputs: the answer of an Explanation/Answer text, the integer of a judgment."""

from __future__ import annotations

import re

from . import get_task
from .base import Example, Task
from .normalize import split_output

_SCORE = re.compile(r"^\s*(?:score\s*[:：=]?\s*)?\**(\d{1,2})\**\s*(?:/\s*10)?\s*\.?\s*$", re.IGNORECASE)


def parse_answer(task: Task, text: str | None, example: Example | None = None) -> str | None:
    """The task-canonical answer of an output: from its last Answer: line, or from its last line
    when it has none (small models often drop the label)."""
    if not text:
        return None
    _, answer = split_output(text)
    if answer is None:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        answer = lines[-1] if lines else None
    return task.parse_answer(answer, example)


def parse_score(text: str | None) -> int | None:
    """The judge's integer 1-10, or None for anything else (prose, 0, 11, "7.5")."""
    if not text:
        return None
    m = _SCORE.match(text.strip())
    if not m:
        return None
    value = int(m.group(1))
    return value if 1 <= value <= 10 else None


def answer_fields(task_name: str, state):
    """A text -> {"answer": canonical answer} function for the query in `state`."""
    task = get_task(task_name)
    example = example_of(state)
    return lambda text: {"answer": parse_answer(task, text, example)}


def example_of(state) -> Example:
    """The state's query as a task Example (what answer parsing and the exact judge need)."""
    gold = state.get("gold") or ""
    answers = tuple(state.get("answers") or ([gold] if gold else []))
    return Example(
        id=state.get("query_id") or "",
        query=state["query"],
        gold=gold,
        answers=answers,
        options=tuple(state.get("options") or ()),
    )
