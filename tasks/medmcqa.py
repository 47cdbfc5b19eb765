"""MedMCQA: 4-way medical multiple choice (accuracy / macro-F1 over the options A-D)."""

from __future__ import annotations

import re
from typing import Any

from .base import Example, Task
from .normalize import normalize_answer

LETTERS = ("A", "B", "C", "D")
_FIELDS = ("opa", "opb", "opc", "opd")
# "B", "B.", "(B)", "B) text", "Option B", "option (b): text", "The answer is B"
_LETTER = re.compile(r"(?:^|\b(?:option|choice|answer(?:\s+is)?)\s*)\(?\s*([A-D])\s*(?:[).:,\]]|$|\s)", re.IGNORECASE)


class MedMCQA(Task):
    name = "medmcqa"
    labels = LETTERS

    def __init__(self, cop_base: int | None = None):
        # The offline copy numbers the correct option 1..4, the hub copy 0..3. None: tell from the file.
        self.cop_base = cop_base

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        if self.cop_base is not None:
            return
        cops = {row.get("cop") for _, row in rows}
        self.cop_base = 0 if 0 in cops else 1

    def parse_row(self, row: dict[str, Any], line: int) -> Example | None:
        question = str(row["question"]).strip()
        if not question:
            return None
        options = tuple(str(row[f]).strip() for f in _FIELDS)
        cop = int(row["cop"]) - (self.cop_base if self.cop_base is not None else 1)
        if not 0 <= cop < 4:
            raise ValueError(f"cop {row['cop']!r} is outside the options")
        letter = LETTERS[cop]
        listing = "\n".join(f"{L}. {text}" for L, text in zip(LETTERS, options))
        exp = row.get("exp")
        return Example(
            id=str(row.get("id", line - 1)),
            query=f"{question}\n{listing}",
            gold=f"{letter}. {options[cop]}",
            answers=(letter,),
            explanation=str(exp).strip() if exp else None,
            options=options,
            line=line,
        )

    def parse_answer(self, text: str | None, example: Example | None = None) -> str | None:
        """An option letter from `text`: a letter in any usual dress, or else an option's text."""
        if not text:
            return None
        m = _LETTER.search(text.strip())
        if m:
            return m.group(1).upper()
        options = example.options if example else ()
        if options:
            said = normalize_answer(text)
            for letter, option in zip(LETTERS, options):
                if said and said == normalize_answer(option):
                    return letter
            # whole words only: option "d" must not match inside "idea"
            hits = [
                L for L, o in zip(LETTERS, options) if normalize_answer(o) and f" {normalize_answer(o)} " in f" {said} "
            ]
            if len(hits) == 1:
                return hits[0]
        return None

    def is_correct(self, answer: str | None, example: Example) -> bool:
        return answer is not None and answer.upper() == example.answers[0]
