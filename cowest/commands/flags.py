"""CLI flags built from the option dataclasses: each flag's default, type, choices and help come
from its field (cowest.core.option), so no default is typed twice."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    names: Iterable[str] | None = None,
    *,
    required: Iterable[str] = (),
    choices: dict[str, list[str]] | None = None,
    prefix: str = "",
) -> None:
    """Add a flag for each field of `cls` named in `names` (all when None), in field order. A field
    that is itself an options dataclass adds all of its fields."""
    wanted = None if names is None else set(names)
    required, choices = set(required), choices or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if wanted is not None and f.name not in wanted or f.metadata.get("cli") is False:
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            add_options(parser, kind, prefix=f"{prefix}{f.name}.")  # type: ignore[arg-type]
            continue
        if "help" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name} is not an option (use cowest.core.option)")
        parser.add_argument(
            f.metadata.get("flag") or "--" + f.name.replace("_", "-"),
            dest=prefix + f.name,
            **_argument(f, kind, f.name in required, choices.get(f.name)),
        )
    unknown = (wanted or set()) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no option(s) {', '.join(sorted(unknown))}")


def from_args(cls: type[T], args: argparse.Namespace, prefix: str = "", **fixed: Any) -> T:
    """An instance of `cls` from the parsed flags of its fields (the others keep their defaults);
    `fixed` sets fields the command decides itself."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.name in fixed:
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            nested = f"{prefix}{f.name}."
            if any(k.startswith(nested) for k in vars(args)):
                values[f.name] = from_args(kind, args, nested)  # type: ignore[arg-type]
        elif hasattr(args, prefix + f.name):
            values[f.name] = getattr(args, prefix + f.name)
    return cls(**values, **fixed)


def _argument(f: dataclasses.Field, kind: Any, required: bool, choices: list[str] | None) -> dict[str, Any]:
    default = _default(f)
    help_text = f.metadata["help"].replace("%", "%%")  # argparse %-formats help; ours is plain text
    arg: dict[str, Any] = {}
    base, optional = _unwrap_optional(kind)
    if base is bool:
        arg["action"] = argparse.BooleanOptionalAction if default else "store_true"
        arg["default"] = bool(default)
        arg["help"] = help_text
        return arg
    if typing.get_origin(base) is Literal:
        choices = choices or [str(c) for c in typing.get_args(base)]
        base = str
    parse = f.metadata.get("parse")
    arg["type"] = _as_flag_type(parse) if parse else (base if base in (int, float, str) else str)
    if choices:
        arg["choices"] = choices
    if f.metadata.get("metavar"):
        arg["metavar"] = f.metadata["metavar"]
    elif not choices and base is not bool:  # argparse would show the nested dest: TRAINING.LORA.R
        arg["metavar"] = f.name.upper()
    if required or default is dataclasses.MISSING:
        arg["required"] = True
        arg["help"] = help_text
    else:
        arg["default"] = default
        shown = _shown(default)
        arg["help"] = help_text if shown is None else f"{help_text} (default: {shown})"
    return arg


def _as_flag_type(parse: Any) -> Any:
    """`parse` as an argparse type whose error argparse prints as it is: a plain ValueError would
    read `invalid parse_methods value`, naming our function instead of the problem."""

    def flag_type(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return flag_type


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _shown(default: Any) -> str | None:
    if default is None or default == "":
        return None  # the help text says what an empty value means
    if isinstance(default, (list, tuple)):
        return ",".join(map(str, default))
    return str(default)


def _unwrap_optional(kind: Any) -> tuple[Any, bool]:
    if typing.get_origin(kind) in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return kind, False


def comma_list(text: str) -> list[str]:
    """A flag value `a,b,c` as a list."""
    return [part.strip() for part in text.split(",") if part.strip()]
