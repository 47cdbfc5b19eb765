"""Task-file templates rendered in bounded memory: Jinja2's sandbox, with `*` and `**` checked
before they run (its documented `intercepted_binops` hook) and the output streamed under the
operator's size limit (COWEST_MAX_RENDER_CHARS). Whatever a template does wrong is one ValueError."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cowest.core.limits import limits


@lru_cache(maxsize=256)
def compiled(source: str) -> Any:
    """`source` compiled once (nodes build the task at every step they parse an answer in), with
    missing fields an error; ValueError for a syntax error."""
    from jinja2 import StrictUndefined, TemplateSyntaxError

    try:
        return _sandbox()(undefined=StrictUndefined, autoescape=False).from_string(source)
    except TemplateSyntaxError as exc:
        raise ValueError(exc.message) from None


def render(key: str, template: Any, row: dict[str, Any]) -> str:
    """The template over the row, at most the operator's max_render_chars long; ValueError naming
    the template and what went wrong (the loader adds the file and line): a field the row lacks, an
    output past the limit, anything the sandbox refuses."""
    from jinja2 import TemplateError, UndefinedError

    cap = limits().max_render_chars
    pieces, size = [], 0
    try:
        for piece in template.generate(**row):  # streamed: a loop cannot build a huge string first
            size += len(piece)
            if size > cap:
                raise ValueError(f"`{key}` renders past {cap:,} characters (COWEST_MAX_RENDER_CHARS)")
            pieces.append(piece)
    except UndefinedError as exc:
        raise ValueError(f"`{key}` uses a missing field ({exc.message})") from None
    except (TemplateError, OverflowError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"`{key}` cannot be rendered: {type(exc).__name__}: {_first_line(exc)}") from None
    return "".join(pieces)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


@lru_cache(maxsize=1)
def _sandbox() -> type:
    from jinja2.sandbox import SandboxedEnvironment, SecurityError

    class BoundedSandbox(SandboxedEnvironment):
        """Jinja's sandbox, with `*` and `**` checked before they run (its documented hook): a
        template cannot multiply a string, or raise a number, into gigabytes."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            cap = limits().max_render_chars
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > cap:
                        raise SecurityError(f"a {type(seq).__name__} repeated {times:,} times is past the limit")
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 1000:
                raise SecurityError(f"an exponent of {right} is past the limit (1000)")
            return super().call_binop(context, operator, left, right)

    return BoundedSandbox
