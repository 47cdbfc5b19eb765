"""Sizes an operator bounds before anything is spent: a query, a template's output, the samples
and new tokens of a call. Each has a safe default and an environment variable to change it; the
CLI, the served graphs and embedding code read the same ones."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Limits:
    max_query_chars: int = 50_000  # a query as the models see it (~12k tokens): a long document's worth
    max_render_chars: int = 200_000  # any one task-file template's output, however it is reached
    max_samples: int = 256  # drafts per query (--samples)
    max_new_tokens: int = 32_768  # a call's generation budget (--max-new-tokens)

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, with COWEST_MAX_QUERY_CHARS, COWEST_MAX_RENDER_CHARS, COWEST_MAX_SAMPLES and
        COWEST_MAX_NEW_TOKENS where set."""
        values = {}
        for name in ("max_query_chars", "max_render_chars", "max_samples", "max_new_tokens"):
            raw = os.environ.get(f"COWEST_{name.upper()}")
            if raw is None:
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise ConfigError(f"COWEST_{name.upper()}={raw!r}: not a whole number") from None
            if values[name] < 1:
                raise ConfigError(f"COWEST_{name.upper()}={raw}: must be at least 1")
        return cls(**values)


def limits() -> Limits:
    return Limits.from_env()
