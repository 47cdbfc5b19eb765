"""Every prompt, in our words, following the structure of the CoWeSt paper (its Figure 7)."""

from __future__ import annotations

from typing import Literal, get_args

from cowest.core import BadInput
from cowest.core.messages import Messages

DraftFormat = Literal["direct", "knowledge", "cot"]
DRAFT_FORMATS: tuple[str, ...] = get_args(DraftFormat)

_FORMAT_RULES = {
    "cot": (
        "Explanation:\n<one paragraph that works through the question step by step>\n"
        "Answer:\n<the final answer in a few words, as short as possible>"
    ),
    "knowledge": (
        "Knowledge:\n<one paragraph of the domain facts that settle the question>\n"
        "Answer:\n<the final answer in a few words, as short as possible>"
    ),
    "direct": "Answer:\n<the final answer in a few words, as short as possible>",
}


def _format_rule(fmt: str) -> str:
    return "Reply in exactly this format and write nothing else:\n\n" + _FORMAT_RULES[fmt]


def weak_draft_prompt(query: str, fmt: str = "cot") -> Messages:
    """The weak model's draft: explain, then answer (or answer alone for `direct`)."""
    if fmt not in _FORMAT_RULES:
        raise BadInput(f"unknown draft format {fmt!r}; choose one of: {', '.join(DRAFT_FORMATS)}")
    ask = {
        "cot": "Explain your reasoning and then give the final result.",
        "knowledge": "State the domain knowledge that matters here and then give the final result.",
        "direct": "Give the final result.",
    }[fmt]
    return [{"role": "user", "content": f"{query}\n\n{ask} {_format_rule(fmt)}"}]


def strong_solo_prompt(query: str, fmt: str = "cot") -> Messages:
    """The strong model alone; chain of thought by default (z in Algorithm 1)."""
    return weak_draft_prompt(query, fmt)


def strong_refine_prompt(query: str, draft: str) -> Messages:
    """The strong model given the weak model's draft (y* in Algorithms 1 and 2)."""
    return [
        {
            "role": "user",
            "content": (
                "Below are a question and the answer a domain expert model wrote for it. Build on the "
                "expert's answer where you judge it helpful and correct; where it is not, answer from your "
                "own knowledge instead.\n\n"
                f"Question:\n{query}\n\n"
                f"Expert model's answer:\n{draft}\n\n"
                f"{_format_rule('cot')}"
            ),
        }
    ]


JUDGE_RUBRIC = (
    "1 = the answer and the explanation contain major errors\n"
    "3 = the answer is partly correct and the explanation has minor errors\n"
    "6 = the answer differs slightly from the ground truth but means the same, and the explanation is sound\n"
    "10 = the answer is exactly the ground truth and the explanation is sound"
)


def judge_prompt(gold: str, output: str, rubric: str | None = None) -> Messages:
    """The evaluator: score an output against the ground truth on the 1/3/6/10 rubric (or the task's own)."""
    return [
        {
            "role": "user",
            "content": (
                "Compare a model's output (its explanation and its answer) with the ground truth and score "
                "how correct it is, from 1 to 10, using this rubric:\n"
                f"{rubric or JUDGE_RUBRIC}\n\n"
                f"Ground truth:\n{gold}\n\n"
                f"Model output:\n{output}\n\n"
                "Reply with a single integer from 1 to 10 and nothing else."
            ),
        }
    ]


def self_refine_prompt(query: str, previous: str, fmt: str = "cot") -> Messages:
    """A model reviews its own previous answer and keeps or corrects it (Self-Refine baseline)."""
    return [
        {
            "role": "user",
            "content": (
                f"Question:\n{query}\n\n"
                f"Your previous answer:\n{previous}\n\n"
                "Check that answer carefully. If it is right, give it again; if anything is wrong, correct it. "
                f"{_format_rule(fmt)}"
            ),
        }
    ]


def supericl_prompt(query: str, answer: str | None, confidence: float | None) -> Messages:
    """SuperICL baseline: the small model's answer and its confidence go into the strong model's prompt."""
    conf = "unknown" if confidence is None else f"{confidence:.2f}"
    return [
        {
            "role": "user",
            "content": (
                "A small model trained for this task was asked the question below.\n"
                f"Its answer: {answer if answer else '(none)'} (its confidence: {conf})\n"
                "Take its answer into account as far as you find it reliable, and answer the question.\n\n"
                f"Question:\n{query}\n\n"
                f"{_format_rule('cot')}"
            ),
        }
    ]


def self_knowledge_prompt(query: str) -> Messages:
    """SKR: the strong model says whether it can answer from what it knows (self-knowledge elicitation)."""
    return [
        {
            "role": "user",
            "content": (
                f"Question:\n{query}\n\n"
                "Do you know enough to answer this question correctly on your own, or would you need to look "
                "up outside information first? Reply with one word: Known or Lookup."
            ),
        }
    ]


def _passages_block(passages: list[dict[str, str]]) -> str:
    listed = "\n\n".join(f"[{i}] {p['text']}" for i, p in enumerate(passages, start=1))
    return f"Passages that may help (they may also be irrelevant):\n{listed}\n\n" if passages else ""


def rag_answer_prompt(query: str, passages: list[dict[str, str]], fmt: str = "cot") -> Messages:
    """The strong model answers with retrieved passages beside the question (SKR's retrieval branch)."""
    return [
        {
            "role": "user",
            "content": (
                f"{_passages_block(passages)}Question:\n{query}\n\n"
                f"Use the passages where they help and your own knowledge otherwise. {_format_rule(fmt)}"
            ),
        }
    ]


def flare_prompt(query: str, so_far: str, passages: list[dict[str, str]]) -> Messages:
    """FLARE: the strong model continues its answer (with passages when a sentence was unsure)."""
    start = (
        f"Your answer so far (continue it from where it stops; do not repeat it):\n{so_far}\n\n"
        if so_far
        else "Write your answer from its beginning.\n\n"
    )
    return [
        {
            "role": "user",
            "content": f"{_passages_block(passages)}Question:\n{query}\n\n{_format_rule('cot')}\n\n{start}".rstrip(),
        }
    ]
