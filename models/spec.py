"""Model specs: `provider:model[@adapter]` strings, as in LangChain's init_chat_model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cowest.core import BadInput

from .bundled import BUNDLED_NAME

PROVIDERS = ("huggingface", "openai")  # cowest's own; any other LangChain provider goes through init_chat_model
_FORMS = (
    "huggingface:<local dir or hub id>[@<adapter dir>], openai:<model>, smollm2[@<adapter dir>], "
    "or a LangChain provider's <provider>:<model> (anthropic:..., google_genai:..., ollama:...)"
)
_PROVIDER = re.compile(r"[a-z][a-z0-9_]*")


class ModelSpecError(BadInput):
    """A model spec that cannot be understood."""


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    adapter: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        return _parse(text)  # a run's nodes parse the same few specs for every call they make

    def with_adapter(self, adapter: str | None) -> ModelSpec:
        return ModelSpec(self.provider, self.model, adapter)

    @property
    def base(self) -> str:
        """The spec without its adapter."""
        return f"{self.provider}:{self.model}"

    def __str__(self) -> str:
        if self.provider == "huggingface" and self.model == BUNDLED_NAME:
            head = BUNDLED_NAME
        else:
            head = self.base
        return f"{head}@{self.adapter}" if self.adapter else head


@lru_cache(maxsize=256)
def _parse(text: str) -> ModelSpec:
    text = (text or "").strip()
    if not text:
        raise ModelSpecError(f"empty model spec; use {_FORMS}")
    if text == BUNDLED_NAME or text.startswith(BUNDLED_NAME + "@"):
        text = "huggingface:" + text
    provider, sep, rest = text.partition(":")
    if not sep or not _PROVIDER.fullmatch(provider):
        raise ModelSpecError(f"bad model spec {text!r}; use {_FORMS}")
    model, adapter = rest, None
    if provider == "huggingface" and "@" in rest:
        model, _, adapter = rest.rpartition("@")
        adapter = adapter or None
    if not model:
        raise ModelSpecError(f"bad model spec {text!r}: no model named; use {_FORMS}")
    return ModelSpec(provider, model, adapter)
