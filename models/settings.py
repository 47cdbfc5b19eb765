"""Model settings read from the environment: which OpenAI-compatible API to use, and its key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from .bundled import BUNDLED_NAME
from .http import base_url_of

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


OPENAI_API = "https://api.openai.com/v1"


@lru_cache(maxsize=64)
def _normalized(url: str) -> str:
    return str(base_url_of(url))


@dataclass(frozen=True)
class ModelSettings:
    """Which OpenAI-compatible endpoint the `openai:` models use by default, and the key bound to each
    endpoint. A key is sent only to the endpoint it was configured for: $OPENAI_API_KEY to
    $OPENAI_BASE_URL (or the OpenAI API), $COWEST_WEAK_API_KEY to $COWEST_WEAK_BASE_URL; any other
    base URL (a served weak model's `--weak-base-url`, say) gets no key unless `extra_keys` binds one."""

    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)  # never printed, never stored
    openai_model: str = DEFAULT_OPENAI_MODEL
    extra_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (base URL, key) pairs

    @classmethod
    def from_env(cls) -> ModelSettings:
        extra: tuple[tuple[str, str], ...] = ()
        if os.environ.get("COWEST_WEAK_BASE_URL") and os.environ.get("COWEST_WEAK_API_KEY"):
            extra = ((os.environ["COWEST_WEAK_BASE_URL"], os.environ["COWEST_WEAK_API_KEY"]),)
        return cls(
            openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
            openai_api_key=os.environ.get("OPENAI_API_KEY") or None,
            openai_model=os.environ.get("COWEST_OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
            extra_keys=extra,
        )

    def key_for(self, base_url: str | None) -> str | None:
        """The key bound to `base_url` (None: the default endpoint), or None: no key is sent there."""
        target = _normalized(base_url or self.openai_base_url or OPENAI_API)
        bound = [(self.openai_base_url or OPENAI_API, self.openai_api_key), *self.extra_keys]
        for url, key in bound:
            if key and _normalized(url) == target:
                return key
        return None

    @property
    def has_remote(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)

    def default_strong(self) -> str:
        """The strong model and judge default: the configured API when there is one, else the
        bundled small model."""
        return f"openai:{self.openai_model}" if self.has_remote else BUNDLED_NAME
