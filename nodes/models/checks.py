"""Checks a command runs before any work, so bad input fails in one line, not mid-run."""
from __future__ import annotations

from cowest.settings import Settings

from .local import resolve_model_path
from .remote import check_reachable
from .spec import ModelSpec, ModelSpecError


def check_specs(specs: list[str], settings: Settings) -> None:
    """Parse every spec; local folders must exist; a remote server must answer."""
    for text in specs:
        spec = ModelSpec.parse(text)
        if spec.provider == "huggingface":
            if spec.model != "smollm2":
                resolve_model_path(spec.model)
        elif not settings.has_remote:
            raise ModelSpecError(f"{spec}: set OPENAI_API_KEY, or OPENAI_BASE_URL for a compatible server")
        else:
            check_reachable(settings.openai_base_url)
