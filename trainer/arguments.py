"""TRL config fields by their TRL names, from the command line and from a YAML recipe: parsed with
transformers' HfArgumentParser over the config dataclass (as TRL's own scripts do), so every field,
its type and its choices come from TRL, and a bad one is one line (BadInput) before any model loads."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cowest.core import BadInput

# Short flags kept from cowest's earlier options, for the settings changed most often.
ALIASES = {
    "--lr": "--learning_rate",
    "--epochs": "--num_train_epochs",
    "--batch-size": "--per_device_train_batch_size",
    "--grad-accum": "--gradient_accumulation_steps",
}


@functools.cache
def field_parser(cls: type) -> Any:
    """HfArgumentParser over `cls` whose errors are BadInput (argparse would print usage and exit)."""
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        def error(self, message: str) -> Any:
            raise BadInput(f"{cls.__name__}: {message}")

    dataclass: Any = cls  # any TRL config dataclass
    return Parser(dataclass, allow_abbrev=False)


def field_actions(cls: type) -> dict[str, Any]:
    """Each field's argparse action, by field name."""
    return {a.dest: a for a in field_parser(cls)._actions if a.option_strings and a.dest != "help"}


def parse_flags(cls: type, argv: Iterable[str], cowest_flags: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of `cls` that `argv` sets (TRL names, also with dashes; ALIASES), and only those:
    the config's other fields stay at what the layers below give them."""
    argv = [_normalized(token, cls) for token in argv]
    actions = field_actions(cls)
    by_flag = {s: a.dest for a in actions.values() for s in a.option_strings}
    given = {by_flag[t.split("=", 1)[0]] for t in argv if t.split("=", 1)[0] in by_flag}
    parsed, rest = field_parser(cls).parse_known_args(argv)
    if rest:
        names = [*by_flag, *ALIASES, *cowest_flags]
        raise BadInput(f"unknown option {rest[0]!r}{did_you_mean(rest[0].split('=', 1)[0], names)}")
    values = {name: getattr(parsed, name) for name in given}
    check_values(cls, values, "the command line")
    return values


def read_recipe(path: str, cls: type) -> dict[str, Any]:
    """A YAML recipe's fields (TRL names), each checked and typed as its flag would be."""
    import yaml

    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"{path}: no such recipe file")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise BadInput(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or 'unreadable'})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a recipe is a mapping of TRL field names to values")
    actions = field_actions(cls)
    for key in data:
        if key not in actions:
            raise BadInput(f"{path}: {cls.__name__} has no field {key!r}{did_you_mean(str(key), list(actions))}")
    values = {key: _typed(actions[key], value, f"{path}: {key}") for key, value in data.items()}
    check_values(cls, values, path)
    return values


def check_values(cls: type, values: dict[str, Any], where: str) -> None:
    """Values outside a field's allowed set: the set argparse knows (`choices`), or the one TRL's help
    text lists for a free-text field such as DPOConfig.loss_type (which TRL checks only once training
    has started)."""
    for name, value in values.items():
        allowed = _allowed(cls, name)
        for item in value if isinstance(value, list) else [value]:
            if allowed and item is not None and str(item) not in allowed:
                raise BadInput(f"{where}: {name} {item!r} is not one of {', '.join(allowed)}")


def did_you_mean(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _normalized(token: str, cls: type) -> str:
    """`--max-steps` as `--max_steps` (older HfArgumentParsers know only the TRL spelling) and the
    short aliases as their fields."""
    if not token.startswith("--"):
        return token
    flag, eq, value = token.partition("=")
    flag = ALIASES.get(flag, flag)
    if flag[2:].replace("-", "_") in field_actions(cls):
        flag = "--" + flag[2:].replace("-", "_")
    return flag + eq + value


def _allowed(cls: type, name: str) -> list[str]:
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(cls)}
    meta = fields[name].metadata if name in fields else {}
    if meta.get("choices"):
        return [str(c) for c in meta["choices"]]
    text = str(meta.get("help", ""))
    listed = re.search(r"Possible values are:(.*?)(\.\s|$)", text, re.S)
    if listed:  # DPOConfig's style: Possible values are: `'sigmoid'`, `'hinge'`...
        return re.findall(r"`'([\w-]+)'`", listed.group(1))
    listed = re.search(r"Supported values are (.*?)\.(\s|$)", text, re.S)  # GRPOConfig's: 'grpo', 'dapo'...
    return re.findall(r"'([\w-]+)'", listed.group(1)) if listed else []


def _typed(action: Any, value: Any, where: str) -> Any:
    """A recipe's value as its flag's parser types it (YAML reads 1e-4 as text, say)."""
    if value is None or isinstance(value, dict):
        return value
    if action.nargs in ("+", "*"):
        return [_typed_one(action, v, where) for v in (value if isinstance(value, list) else [value])]
    if isinstance(value, list):
        raise BadInput(f"{where}: one value expected, got a list")
    return _typed_one(action, value, where)


def _typed_one(action: Any, value: Any, where: str) -> Any:
    convert = action.type or str
    if isinstance(value, bool) and convert not in (int, float, str):
        return value  # a bool field (string_to_bool): YAML already gave a bool
    try:
        out = convert(str(value))
    except (TypeError, ValueError, BadInput):
        raise BadInput(f"{where}: {value!r} is not a valid value") from None
    if action.choices and out not in action.choices:
        raise BadInput(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return out
