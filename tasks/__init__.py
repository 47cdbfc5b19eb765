"""Task families: loaders, query framing, answer parsing."""

from __future__ import annotations

from cowest.core import BadInput

from .base import DataError, Example, LoadResult, Task, data_identity
from .ifqa import IfQA
from .medmcqa import MedMCQA
from .open_qa import OpenQA
from .prosocial import Prosocial

TASKS: dict[str, type[Task]] = {"ifqa": IfQA, "medmcqa": MedMCQA, "prosocial": Prosocial, "open": OpenQA}


def get_task(name: str) -> Task:
    """A fresh task object by name; ValueError naming the known tasks otherwise."""
    try:
        return TASKS[name]()
    except KeyError:
        raise BadInput(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None


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
]
