"""Model settings read from the environment: which OpenAI-compatible API to use, and its key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .bundled import BUNDLED_NAME

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class ModelSettings:
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)  # never printed, never stored
    openai_model: str = DEFAULT_OPENAI_MODEL

    @classmethod
    def from_env(cls) -> ModelSettings:
        return cls(
            openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
            openai_api_key=os.environ.get("OPENAI_API_KEY") or None,
            openai_model=os.environ.get("COWEST_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
        )

    @property
    def has_remote(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)

    def default_strong(self) -> str:
        """The strong model and judge default: the configured API when there is one, else the
        bundled small model."""
        return f"openai:{self.openai_model}" if self.has_remote else BUNDLED_NAME
