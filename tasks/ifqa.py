"""IfQA: counterfactual open-ended QA over a context passage (EM / F1 against several answers)."""

from __future__ import annotations

from typing import Any

from .base import Example, Task
from .normalize import normalize_answer


class IfQA(Task):
    name = "ifqa"

    def parse_row(self, row: dict[str, Any], line: int) -> Example | None:
        question = str(row["question"]).strip()
        if not question:
            return None
        answers = row["answers"]
        if isinstance(answers, str):
            answers = [answers]
        answers = tuple(str(a).strip() for a in answers if str(a).strip())
        if not answers:
            raise ValueError("no gold answer")
        context = row.get("context") or []
        if isinstance(context, str):
            context = [context]
        passage = "\n".join(str(c).strip() for c in context if str(c).strip())
        query = f"Context:\n{passage}\n\nQuestion: {question}" if passage else question
        gold = answers[0] if len(answers) == 1 else f"{answers[0]} (also accepted: {'; '.join(answers[1:])})"
        return Example(id=str(row.get("idx", line - 1)), query=query, gold=gold, answers=answers, line=line)

    def parse_answer(self, text: str | None, example: Example | None = None) -> str | None:
        if text is None:
            return None
        text = text.strip().rstrip(".").strip()
        return text or None

    def is_correct(self, answer: str | None, example: Example) -> bool:
        if answer is None:
            return False
        pred = normalize_answer(answer)
        return any(pred == normalize_answer(gold) for gold in example.answers)
