"""Free-form questions with no task attached (what `cowest ask` uses by default)."""

from __future__ import annotations

from typing import Any

from .base import Example, Task
from .normalize import normalize_answer


class OpenQA(Task):
    name = "open"

    def parse_row(self, row: dict[str, Any], line: int) -> Example | None:
        question = str(row["question"]).strip()
        if not question:
            return None
        answers = row.get("answers") or ([row["answer"]] if row.get("answer") else [])
        answers = tuple(str(a) for a in answers)
        return Example(
            id=str(row.get("id", line - 1)),
            query=question,
            gold=answers[0] if answers else "",
            answers=answers,
            line=line,
        )

    def parse_answer(self, text: str | None, example: Example | None = None) -> str | None:
        return text.strip() if text and text.strip() else None

    def is_correct(self, answer: str | None, example: Example) -> bool:
        return answer is not None and any(normalize_answer(answer) == normalize_answer(a) for a in example.answers)
