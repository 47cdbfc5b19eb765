"""One owner per option: a dataclass field carries its default and its help text.

The same metadata serves three readers: the CLI builds its flags from it, LangGraph's context JSON
schema (Studio's settings form) shows `description`, and the README points here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING


def copy_as(cls: type[T], obj: Any, **changes: Any) -> T:
    """A `cls` built from the values `obj` has for `cls`'s fields (nested options stay objects), with
    `changes`: the graph's context out of a job's options, say, or one round's DPO out of its
    hyper-parameters."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {name: getattr(obj, name) for name in names if hasattr(obj, name)}
    return cls(**{**values, **changes})


def option(
    default: Any = _MISSING,
    *,
    help: str,
    default_factory: Any = _MISSING,
    flag: str | None = None,
    metavar: str | None = None,
    parse: Any = None,
    cli: bool = True,
) -> Any:
    """A dataclass field for a user-facing option.

    `flag` overrides the CLI flag (default: `--field-name`); `parse` turns the flag's text into the
    field's value where the type alone cannot (a comma list, say); `cli=False` keeps the field off
    the command line (the command fills it itself)."""
    metadata: dict[str, Any] = {"description": help, "help": help}
    if flag:
        metadata["flag"] = flag
    if metavar:
        metadata["metavar"] = metavar
    if parse is not None:
        metadata["parse"] = parse
    if not cli:
        metadata["cli"] = False
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
