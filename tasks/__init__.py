"""Tasks: loaders, query framing, answer parsing. A task is a YAML file (tasks/template.py); the
built-in ones are the files in tasks/builtin/, named by their stem."""

from __future__ import annotations

from pathlib import Path

from cowest.core import BadInput, did_you_mean

from .base import DataError, Example, LoadResult, Task, data_identity
from .open_qa import OpenQA
from .template import TemplateTask, is_task_file, load_task_file, task_file_spec

BUILTIN = Path(__file__).parent / "builtin"
# The paper's three task families, then `open`: free-form questions (what `cowest ask` frames by default).
TASKS: dict[str, str] = {name: str(BUILTIN / f"{name}.yaml") for name in ("ifqa", "medmcqa", "prosocial")}
TASKS["open"] = "open"


def get_task(name: str) -> Task:
    """A fresh task object: a built-in task by name, or the task a YAML file defines
    (tasks/template.py); BadInput naming the known tasks otherwise."""
    if is_task_file(name):
        return load_task_file(name)
    if name == "open":
        return OpenQA()
    if name not in TASKS:
        hint, known = did_you_mean(name, TASKS), ", ".join(TASKS)
        raise BadInput(f"unknown task {name!r}{hint}; choose one of: {known}, or a task file PATH.yaml")
    return load_task_file(TASKS[name])


def task_rubric(task: str) -> str | None:
    """The judge's rubric a task file gives (None: the paper's), without building the task (the
    judge asks for it at every step)."""
    return task_file_spec(task).get("rubric") if is_task_file(task) else None


def task_data(task: str, data: str) -> str:
    """The data a job reads: --data, or else the file its task file names."""
    if data:
        return data
    default = getattr(get_task(task), "default_data", None) if is_task_file(task) else None
    if not default:
        raise BadInput("--data is required (the task names no data file of its own)")
    return default


__all__ = [
    "data_identity",
    "DataError",
    "Example",
    "LoadResult",
    "Task",
    "TASKS",
    "get_task",
    "OpenQA",
    "TemplateTask",
    "task_data",
    "task_rubric",
]
