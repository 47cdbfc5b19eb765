"""SQuAD-style answer normalisation, the answer-line parsing shared by all tasks, and finding an
option letter or a class named in an answer."""

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


def letter_in(text: str, options: tuple[str, ...], letters: tuple[str, ...]) -> str | None:
    """An option letter in any usual dress (`B`, `(b)`, `Option B`, `The answer is B`), or else an
    option's text: the whole answer, or the one option named inside it (whole words only: option
    "d" is not inside "idea")."""
    span = "".join(letters)
    m = re.search(
        rf"(?:^|\b(?:option|choice|answer(?:\s+is)?)\s*)\(?\s*([{span}])\s*(?:[).:,\]]|$|\s)", text.strip(), re.I
    )
    if m:
        return m.group(1).upper()
    said = normalize_answer(text)
    if not said:
        return None
    named = [(letter, normalize_answer(option)) for letter, option in zip(letters, options)]
    for letter, option in named:
        if said == option:
            return letter
    hits = [letter for letter, option in named if option and f" {option} " in f" {said} "]
    return hits[0] if len(hits) == 1 else None


def label_in(text: str, aliases: dict[str, tuple[str, ...]]) -> str | None:
    """The class named first in `text`, by its name or another word for it (case and `_` / `-` for
    spaces do not matter; the longer of two names found at one place wins)."""
    said = re.sub(r"[_\-]+", " ", text.lower())
    found = [
        (said.find(name.lower()), -len(name), label)
        for label, others in aliases.items()
        for name in (label, *others)
        if name and name.lower() in said
    ]
    return min(found)[2] if found else None
