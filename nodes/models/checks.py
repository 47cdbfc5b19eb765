"""Checks a command runs before any work, so bad input fails in one line, not mid-run."""

from __future__ import annotations

from cowest.core import ConfigError

from .bundled import BUNDLED_NAME
from .local import resolve_model_path
from .remote import check_reachable
from .settings import ModelSettings
from .spec import ModelSpec


def check_specs(specs: list[str], settings: ModelSettings | None = None) -> None:
    """Parse every spec; local folders must exist; a remote server must answer."""
    settings = settings or ModelSettings.from_env()
    for text in specs:
        spec = ModelSpec.parse(text)
        if spec.provider == "huggingface":
            if spec.model != BUNDLED_NAME:
                resolve_model_path(spec.model)
        elif not settings.has_remote:
            raise ConfigError(f"{spec}: set OPENAI_API_KEY, or OPENAI_BASE_URL for a compatible server")
        else:
            check_reachable(settings.openai_base_url)
