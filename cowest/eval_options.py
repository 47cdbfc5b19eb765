"""The options of `cowest eval`: the methods (each a mode of the graph) and their flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cowest.core import BadInput, did_you_mean, option
from cowest.nodes.context import CollabContext
from cowest.nodes.modes import MODES, ModeName
from cowest.tasks.prompts import DRAFT_FORMATS, DraftFormat

from .options import JobOptions


@dataclass(frozen=True)
class Method:
    """An evaluation method: a mode of the graph (nodes/modes.py) and the settings it runs with."""

    name: str
    mode: ModeName
    drafts: bool  # takes a draft format (`direct`, `knowledge`, `cot`)
    uses_adapter: bool = False  # runs the weak model with --adapter
    solo_format: DraftFormat = "cot"


METHODS = {
    m.name: m
    for m in [
        Method("weak", "weak", drafts=True),
        Method("weak-sft", "weak", drafts=True, uses_adapter=True),
        Method("weak-self-refine", "self_refine_weak", drafts=True),
        Method("strong", "strong", drafts=False, solo_format="direct"),
        Method("strong-cot", "strong", drafts=False),
        Method("strong-self-refine", "self_refine_strong", drafts=False),
        Method("supericl", "supericl", drafts=False, uses_adapter=True),
        Method("collab", "infer", drafts=True, uses_adapter=True),
        Method("skr", "skr", drafts=False),
        Method("flare", "flare", drafts=False),
    ]
}


def parse_methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        hint = did_you_mean(unknown[0], METHODS) if unknown else ""
        raise BadInput(f"unknown method(s) {', '.join(unknown) or '(none)'}{hint}; choose from: {', '.join(METHODS)}")
    return names


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in DRAFT_FORMATS]
    if bad or not formats:
        hint = did_you_mean(bad[0], DRAFT_FORMATS) if bad else ""
        shown = ", ".join(bad) or "(none)"
        raise BadInput(f"unknown draft format(s) {shown}{hint}; choose from {', '.join(DRAFT_FORMATS)}")
    return formats


@dataclass(kw_only=True)
class EvalOptions(JobOptions, CollabContext):
    """Methods and baselines over the same queries: the graph's settings plus the job's."""

    methods: list[str] = option(
        help=(
            "Comma list: weak, weak-sft, weak-self-refine, strong, strong-cot, strong-self-refine, supericl, collab, "
            "and the RAG baselines skr, flare (they need --corpus)."
        ),
        parse=parse_methods,
    )
    formats: list[str] = option(
        default_factory=lambda: ["cot"],
        parse=parse_formats,
        help="Draft formats for the methods that draft (one row each).",
    )
    adapter: str | None = option(
        None, help=("Weak adapter for weak-sft, supericl and collab (collab without it: no alignment).")
    )
    corpus: str = option(
        "",
        metavar="FILE.jsonl",
        help='Passages for skr and flare, one {"id": ..., "text": ...} per line, searched with BM25.',
    )
    top_k: int = option(3, help="Passages a retrieval gives (skr, flare).")
    against: str = option(
        "",
        metavar="METHOD",
        help=(
            "Compare every other method with this one, paired over the same queries: the difference with "
            "its 95% interval and, for accuracy / exact match, the exact McNemar p-value."
        ),
    )

    def check_eval(self) -> None:
        self.check_job()
        parse_methods(",".join(self.methods))
        parse_formats(",".join(self.formats))
        if self.against and self.against not in self.labels():
            raise BadInput(f"--against {self.against}: not one of the methods run ({', '.join(self.labels())})")
        rag = [m for m in self.methods if MODES[METHODS[m].mode].rag]
        if rag and not (self.corpus or self.retriever):
            raise BadInput(f"{', '.join(rag)} need --corpus FILE.jsonl (the passages to retrieve from)")
        if self.corpus:
            from cowest.nodes.retrievers import read_corpus  # LangChain's retrievers: not at CLI start

            read_corpus(self.corpus)  # a bad corpus is bad input before anything is sent or written
        if self.top_k < 1:
            raise BadInput(f"--top-k must be at least 1 (got {self.top_k})")
        if "weak-sft" in self.methods and not self.adapter:
            raise BadInput("weak-sft needs --adapter (the SFT adapter folder)")
        if self.adapter and not Path(self.adapter, "adapter_config.json").is_file():
            raise BadInput(f"{self.adapter}: not a PEFT adapter folder")

    def labels(self) -> list[str]:
        """The label of each (method, draft format) row this evaluation makes."""
        return [label for name in self.methods for label in method_labels(METHODS[name], self.formats)]


def method_labels(method: Method, formats: list[str]) -> list[str]:
    if method.drafts and len(formats) > 1:
        return [f"{method.name}[{fmt}]" for fmt in formats]
    return [method.name]
