"""SQuAD-style answer normalisation and the answer-line parsing shared by all tasks."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse white space (SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_ANSWER_LINE = re.compile(r"^\s*[*#>\s]*(?:final\s+)?answer\s*[*]*\s*[:：]\s*(.*)$", re.IGNORECASE)
_EXPLANATION_LINE = re.compile(r"^\s*[*#>\s]*explanation\s*[*]*\s*[:：]\s*(.*)$", re.IGNORECASE)


def split_output(text: str | None) -> tuple[str, str | None]:
    """Split a model output in the Explanation/Answer format into (explanation, answer).

    The answer is whatever follows the last `Answer:` line (the first non-empty line after it when
    the label stands alone); None when there is no such line. Models that restate the answer
    several times usually end on the one they mean, hence the last.
    """
    if not text:
        return "", None
    lines = text.strip().splitlines()
    answer_at = None
    for i, line in enumerate(lines):
        if _ANSWER_LINE.match(line):
            answer_at = i
    if answer_at is None:
        return _strip_label(text.strip()), None
    found = _ANSWER_LINE.match(lines[answer_at])
    answer = found.group(1).strip() if found else ""
    if not answer:
        rest = [ln.strip() for ln in lines[answer_at + 1 :] if ln.strip()]
        answer = rest[0] if rest else ""
    explanation = _strip_label("\n".join(lines[:answer_at]).strip())
    answer = answer.strip().strip("*").strip()
    return explanation, (answer or None)


def _strip_label(text: str) -> str:
    lines = text.splitlines()
    if lines:
        m = _EXPLANATION_LINE.match(lines[0])
        if m:
            lines[0] = m.group(1)
    return "\n".join(lines).strip()
