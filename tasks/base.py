"""What every task provides: loading rows, framing the query, parsing and matching answers."""

from __future__ import annotations

import json
import os
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cowest.core import BadInput
from cowest.core.limits import limits


class DataError(BadInput):
    """A data file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    """One query of a task, framed for the models, with everything needed to grade it."""

    id: str
    query: str  # the text the models see (question plus its context or options)
    gold: str  # the gold answer as the judge is shown it
    answers: tuple[str, ...]  # every acceptable answer (IfQA has several)
    explanation: str | None = None  # a gold explanation, when the data has one (MedMCQA `exp`)
    options: tuple[str, ...] = ()  # option texts of a multiple-choice query, in letter order
    line: int = 0  # 1-based line (or array index + 1) in the source file


@dataclass
class LoadResult:
    examples: list[Example]
    skipped: list[str] = field(default_factory=list)  # "file:line: why" for each skipped row


class Task(ABC):
    """A task family. Subclasses say how to read a row and how to judge an answer."""

    name: str
    labels: tuple[str, ...] | None = None  # the label set of a classification task
    rubric: str | None = None  # the judge's rubric, where the task has its own (default: the paper's)

    # -- loading -------------------------------------------------------------------------------
    hub_split = "validation"  # the split a bare hub name means

    def load(self, path: str | Path, limit: int | None = None, offset: int = 0) -> LoadResult:
        """Read `path`: a JSON array or JSON Lines file, or a Hugging Face hub dataset written
        `hf:OWNER/NAME[:SPLIT]` (needs network or the datasets cache). Malformed rows raise
        DataError; rows with an empty question are skipped with a warning and listed in `skipped`."""
        text = str(path)
        rows = _read_hub(text[3:], self.hub_split) if text.startswith("hf:") else list(read_json_rows(Path(path)))
        rows = [(line, row) for line, row in rows if self.keep(row)]
        self.prepare(rows)
        cap = limits().max_query_chars
        seen: dict[str, int] = {}  # id -> its line
        result = LoadResult(examples=[])
        for line, row in rows[offset:]:
            if limit is not None and len(result.examples) >= limit:
                break
            try:
                example = self.parse_row(row, line)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataError(f"{path}:{line}: malformed {self.name} row ({_why(exc)})") from None
            if example is not None and len(example.query) > cap:
                raise DataError(
                    f"{path}:{line}: the query is {len(example.query):,} characters, over the limit of {cap:,} "
                    "(COWEST_MAX_QUERY_CHARS)"
                )
            if example is not None and example.id in seen:
                raise DataError(
                    f"{path}:{line}: id {example.id!r} again (first on line {seen[example.id]}); ids must be unique"
                )
            if example is None:
                msg = f"{path}:{line}: empty question, skipped"
                warnings.warn(msg, stacklevel=2)
                result.skipped.append(msg)
                continue
            seen[example.id] = line
            result.examples.append(example)
        return result

    def keep(self, row: dict[str, Any]) -> bool:
        """Whether a row belongs to the task at all (hub dialogues keep their first turns only)."""
        return True

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Look at the whole file before parsing rows (e.g. to tell a file's conventions)."""

    @abstractmethod
    def parse_row(self, row: dict[str, Any], line: int) -> Example | None:
        """One raw row to an Example; None for a row with an empty question."""

    # -- answers -------------------------------------------------------------------------------
    @abstractmethod
    def parse_answer(self, text: str | None, example: Example | None = None) -> str | None:
        """The answer in a model output (already cut to its Answer: part), in the task's
        canonical form, or None when nothing usable is there. `example` gives the query's own
        options, where a task has them."""

    @abstractmethod
    def is_correct(self, answer: str | None, example: Example) -> bool:
        """Whether a parsed answer matches the gold under the task's normalisation."""


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def data_identity(path: str | Path) -> str:
    """What names a data source in the store: the absolute file path, or the hub name as given."""
    text = str(path)
    return text if text.startswith("hf:") else str(Path(text).resolve())


def _read_hub(name: str, default_split: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a hub dataset `OWNER/NAME[:SPLIT]`, numbered from 1 like file lines."""
    repo, _, split = name.partition(":")
    offline = _hub_offline()
    try:
        from datasets import load_dataset

        ds = load_dataset(repo, split=split or default_split)
    except Exception as exc:  # offline, unknown name, unknown split: one line says which
        if offline:
            raise DataError(
                f"hf:{name}: the hub is not reachable ({offline}) and the dataset is not in the datasets cache; "
                f"on a machine with network run `python -c \"import datasets; datasets.load_dataset('{repo}')\"` "
                "and copy ~/.cache/huggingface here, or pass --data with a local file"
            ) from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"hf:{name}: cannot load from the hub or its cache ({first[:200]})") from None
    return [(i, dict(row)) for i, row in enumerate(ds, start=1)]


def _hub_offline() -> str | None:
    """Why the hub cannot be reached (None when it can). Asked once, with a short timeout: without
    network, the hub client would otherwise retry for half a minute before the same answer. When
    it is unreachable the client is put in offline mode, so only its cache is read."""
    why = next((f"{n} is set" for n in _OFFLINE_VARS if os.environ.get(n, "").lower() in _TRUE), None)
    if why is None:
        import httpx

        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        try:
            httpx.head(endpoint, timeout=3.0)  # any answer at all means the hub is there
            return None
        except httpx.HTTPError as exc:
            why = f"{endpoint}: {type(exc).__name__}"
    os.environ["HF_HUB_OFFLINE"] = "1"
    # Both libraries read the variable when first imported, which may have been before it was set
    for module in ("huggingface_hub.constants", "datasets.config"):
        if module in sys.modules:
            loaded: Any = sys.modules[module]
            loaded.HF_HUB_OFFLINE = True
    return why


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = ("1", "true", "yes", "on")


def read_json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, row) from a JSON array or a JSON Lines file."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        for i, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise DataError(f"{path}:{i}: row {i} is not a JSON object")
            yield i, row
        return
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: not a JSON object")
        yield i, row
