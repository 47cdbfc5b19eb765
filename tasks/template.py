"""A task defined by a YAML file, as lm-evaluation-harness defines one: Jinja2 templates over a data
row, the answer format (free text, options, or fixed classes) and the metrics. `--task PATH.yaml`
works wherever `--task NAME` does.

    name: capitals                  # shown in runs and reports
    data: caps.jsonl                # relative to the YAML file; or hf:ID[:split]; --data overrides
    id: key                         # the row field holding the query id (default: 0-based line number)
    query: "What is the capital of {{ country }}?"
    gold: "{{ capital }}"           # template or field; with `choices`: a 0-based index, a letter or the option text
    answers: aliases                # optional field with a list of accepted answers (metric: best over them)
    choices: opts                   # optional field with the options: lettered A, B, ... in the query
    labels: [casual, needs caution] # optional fixed classes
    metrics: [exact_match, f1]      # exact_match, f1 | accuracy, macro_f1
    rubric: null                    # optional judge rubric (default: the paper's 1/3/6/10)
    sft_target: "{{ explanation }}" # optional: the SFT target's explanation part

Beyond lm-eval's keys, for the built-in tasks (tasks/builtin/*.yaml are written in this schema):

    id: "{{ idx | default('') }}"   # a template too; empty: the 0-based line number
    choices: [opa, opb, opc, opd]   # or a list of fields, one option each
    index_base: auto                # a numeric gold counts options from 0 (default), 1, or auto (0 if any row has 0)
    labels: {needs caution: [caution, cautious]}   # or classes with other words that name them
    keep: "{{ turn == 0 }}"         # rows the task uses: those where this renders true
    split: test                     # the hub split a bare `hf:ID` means (default: validation)
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import DataError, Example, Task
from .normalize import label_in, letter_in, normalize_answer
from .rendering import compiled, render

QA_METRICS = ("exact_match", "f1")
LABEL_METRICS = ("accuracy", "macro_f1")
KEYS = (
    "name", "data", "id", "query", "gold", "answers", "choices", "labels", "metrics", "rubric", "sft_target",
    "index_base", "keep", "split",
)  # fmt: skip
_FALSE = ("", "false", "0", "none", "no")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_task_file(name: str) -> bool:
    return str(name).endswith((".yaml", ".yml"))


@lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the task file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{_where(path, exc)}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(spec, dict):
        raise DataError(f"{path}: a task file is a mapping of keys (name, query, gold, ...)")
    return spec


def _where(path: str, exc: Any) -> str:
    """`path:line:column` of a YAML error (as editors read it), or the bare path when unknown."""
    mark = getattr(exc, "problem_mark", None)
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path


def _yaml_problem(exc: Any) -> str:
    problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
    if problem:
        return f"{problem} {context}" if context else problem
    return str(exc).splitlines()[0]


def task_file_spec(path: str) -> dict[str, Any]:
    """The parsed mapping of a task file, read once per change of the file."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such task file")
    return _load(str(file.resolve()), file.stat().st_mtime)


def load_task_file(path: str) -> TemplateTask:
    """The task of a YAML file; DataError naming the file and the problem."""
    return TemplateTask(str(Path(path).resolve()), task_file_spec(path))


class TemplateTask(Task):
    """The task a YAML file describes."""

    def __init__(self, path: str, spec: dict[str, Any]):
        self.path = path
        unknown = sorted(set(spec) - set(KEYS))
        if unknown:
            raise DataError(f"{path}: unknown key(s) {', '.join(unknown)}; a task file has: {', '.join(KEYS)}")
        for key in ("query", "gold"):
            if not spec.get(key):
                raise DataError(f"{path}: missing `{key}` (a Jinja2 template over a data row)")
        if spec.get("choices") and spec.get("labels"):
            raise DataError(f"{path}: `choices` and `labels` are both set; a task has options or fixed classes")
        self.name = str(spec.get("name") or Path(path).stem)
        self.spec = spec
        self.answers_field = spec.get("answers")
        self.choices_field = spec.get("choices")
        self.aliases = _labels(path, spec.get("labels"))
        self.labels = tuple(self.aliases) if self.aliases else None
        if self.choices_field:  # the options' letters; the data's widest option list sets them (prepare)
            self.labels = ("A", "B", "C", "D")
            if isinstance(self.choices_field, list) and not all(_FIELD.match(str(f)) for f in self.choices_field):
                raise DataError(f"{path}: `choices` is a field holding the options, or a list of fields")
        self.index_base = spec.get("index_base", 0)
        if self.index_base not in (0, 1, "auto"):
            raise DataError(f"{path}: `index_base` is 0, 1 or auto")
        self.hub_split = str(spec.get("split") or Task.hub_split)
        self.rubric = spec.get("rubric")
        allowed = LABEL_METRICS if (self.labels or self.choices_field) else QA_METRICS
        metrics = spec.get("metrics") or list(allowed)
        bad = [m for m in metrics if m not in allowed]
        if bad:
            raise DataError(f"{path}: unknown metric(s) {', '.join(map(str, bad))} here; use {', '.join(allowed)}")
        self.metrics = tuple(metrics)
        self.default_data = _data_path(path, spec.get("data"))
        self._templates = {
            key: _template(path, key, spec[key])
            for key in ("query", "gold", "sft_target", "id", "keep")
            if spec.get(key) not in (None, "")
        }
        self._letters: tuple[str, ...] = ()
        self._base = 0 if self.index_base == "auto" else int(self.index_base)

    # -- loading -------------------------------------------------------------------------------
    def keep(self, row: dict[str, Any]) -> bool:
        if "keep" not in self._templates:
            return True
        return render("keep", self._templates["keep"], row).strip().lower() not in _FALSE

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Check the templates against the first row (a field it lacks is named now, before any
        call); with options, the letters of the widest option list are the label set, and an
        `index_base: auto` is told from the golds."""
        if rows:
            line, first = rows[0]
            for key, template in self._templates.items():
                try:
                    render(key, template, first)
                except ValueError as exc:
                    raise DataError(
                        f"{self.path}: {exc}".replace("a missing field", f"a field row {line} lacks")
                    ) from None
            fields = [self.answers_field, self.choices_field]
            fields = [f for group in fields for f in (group if isinstance(group, list) else [group]) if f]
            for field in fields:
                if field not in first:
                    key = "answers" if field == self.answers_field else "choices"
                    raise DataError(f"{self.path}: `{key}: {field}` names a field row {line} lacks")
        if self.choices_field:
            widest = max((self._width(row) for _, row in rows), default=0)
            self._letters = tuple(string.ascii_uppercase[:widest])
            self.labels = self._letters
            if self.index_base == "auto":  # one file counts from 1, the hub's copy from 0
                golds = {_gold_field(self._templates["gold"], row) for _, row in rows}
                self._base = 0 if "0" in golds else 1

    def _options_of(self, row: dict[str, Any]) -> tuple[str, ...]:
        if isinstance(self.choices_field, list):
            return tuple(str(row[f]).strip() for f in self.choices_field)
        return tuple(str(o).strip() for o in row[str(self.choices_field)])

    def _width(self, row: dict[str, Any]) -> int:
        if isinstance(self.choices_field, list):
            return len(self.choices_field)
        return len(row.get(str(self.choices_field)) or [])

    def parse_row(self, row: dict[str, Any], line: int) -> Example | None:
        query = render("query", self._templates["query"], row).strip()
        if not query:
            return None
        qid = render("id", self._templates["id"], row).strip() if "id" in self._templates else ""
        qid = qid or str(line - 1)
        explanation = None
        if "sft_target" in self._templates:
            explanation = render("sft_target", self._templates["sft_target"], row).strip() or None
        if self.choices_field:
            options = self._options_of(row)
            letter = self._gold_letter(render("gold", self._templates["gold"], row).strip(), options)
            listing = "\n".join(f"{L}. {text}" for L, text in zip(string.ascii_uppercase, options))
            return Example(
                qid,
                f"{query}\n{listing}",
                f"{letter}. {options[string.ascii_uppercase.index(letter)]}",
                (letter,),
                explanation,
                options,
                line,
            )
        gold = render("gold", self._templates["gold"], row).strip()
        if self.labels:
            label = next((x for x in self.labels if x.lower() == gold.lower()), None)
            if label is None:
                raise ValueError(f"gold {gold!r} is not one of the labels {', '.join(self.labels)}")
            return Example(
                qid, f"{query}\nChoose one class: {', '.join(self.labels)}.", label, (label,), explanation, line=line
            )
        listed = row.get(self.answers_field) if self.answers_field else None
        if isinstance(listed, str):
            listed = [listed]
        answers = tuple(str(a).strip() for a in (listed or []) if str(a).strip())
        answers = answers or ((gold,) if gold else ())
        if not answers:
            raise ValueError("no gold answer")
        # the gold as the judge sees it: the template's text (it may list the other answers)
        return Example(qid, query, gold or answers[0], answers, explanation, line=line)

    def _gold_letter(self, gold: str, options: tuple[str, ...]) -> str:
        letters = string.ascii_uppercase[: len(options)]
        if gold.isdigit():
            at = int(gold) - self._base
            if not 0 <= at < len(options):
                raise ValueError(f"gold {gold!r} is outside the {len(options)} options")
            return letters[at]
        if len(gold) == 1 and gold.upper() in letters:
            return gold.upper()
        for letter, option in zip(letters, options):
            if normalize_answer(option) == normalize_answer(gold):
                return letter
        raise ValueError(f"gold {gold!r} is neither an option index, a letter nor an option's text")

    # -- answers -------------------------------------------------------------------------------
    def parse_answer(self, text: str | None, example: Example | None = None) -> str | None:
        if not text or not text.strip():
            return None
        if self.choices_field:
            options = example.options if example else ()
            letters = tuple(string.ascii_uppercase[: len(options)]) if options else self._letters
            return letter_in(text, options, letters or ("A", "B", "C", "D"))
        if self.aliases:
            return label_in(text, self.aliases)
        return text.strip().rstrip(".").strip() or None

    def is_correct(self, answer: str | None, example: Example) -> bool:
        if answer is None:
            return False
        if self.choices_field or self.labels:
            return answer == example.answers[0]
        return any(normalize_answer(answer) == normalize_answer(a) for a in example.answers)


def _gold_field(template: Any, row: dict[str, Any]) -> str:
    try:
        return render("gold", template, row).strip()
    except ValueError:
        return ""  # that row is named as malformed when it is parsed


def _labels(path: str, labels: Any) -> dict[str, tuple[str, ...]] | None:
    """Each class and the other words that name it (`labels` as a list: none)."""
    if labels is None:
        return None
    if isinstance(labels, list):
        labels = {label: [] for label in labels}
    if not isinstance(labels, dict) or len(labels) < 2:
        raise DataError(f"{path}: `labels` is a list of at least two classes, or classes with their other names")
    return {str(k): tuple(str(a) for a in (v or [])) for k, v in labels.items()}


def _data_path(path: str, data: Any) -> str | None:
    if not data:
        return None
    data = str(data)
    return data if data.startswith("hf:") else str((Path(path).parent / data).resolve())


def _template(path: str, key: str, text: Any) -> Any:
    """A sandboxed Jinja2 template: a bare field name is that field; a missing field is an error."""
    source = str(text)
    if _FIELD.match(source):  # `gold: capital` names a field
        source = "{{ " + source + " }}"
    try:
        return compiled(source)
    except ValueError as exc:
        raise DataError(f"{path}: `{key}` is not a valid Jinja2 template ({exc})") from None
