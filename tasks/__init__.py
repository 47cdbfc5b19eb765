"""Task families: loaders, query framing, answer parsing."""

from __future__ import annotations

from cowest.core import BadInput

from .base import DataError, Example, LoadResult, Task, data_identity
from .ifqa import IfQA
from .medmcqa import MedMCQA
from .open_qa import OpenQA
from .prosocial import Prosocial
from .template import TemplateTask, is_task_file, load_task_file, task_file_spec

TASKS: dict[str, type[Task]] = {"ifqa": IfQA, "medmcqa": MedMCQA, "prosocial": Prosocial, "open": OpenQA}


def get_task(name: str) -> Task:
    """A fresh task object by name, or the task a YAML file defines (tasks/template.py); BadInput
    naming the known tasks otherwise."""
    if is_task_file(name):
        return load_task_file(name)
    try:
        return TASKS[name]()
    except KeyError:
        raise BadInput(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}, or a task file PATH.yaml") from None


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
    "IfQA",
    "MedMCQA",
    "OpenQA",
    "Prosocial",
    "TemplateTask",
    "task_data",
    "task_rubric",
]
