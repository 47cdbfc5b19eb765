"""What determines a model's output, as the named fields of a content key (storage/keys.py)."""

from __future__ import annotations

import dataclasses

from cowest.storage.keys import adapter_digest

from .base import Sampling
from .settings import ModelSettings
from .spec import ModelSpec


def model_identity(spec: ModelSpec, settings: ModelSettings | None = None, endpoint: str | None = None) -> dict:
    """Provider and model; for a remote model the endpoint it is served from (one name on two
    servers may be two models; `endpoint` when the model has a server of its own), for a local one
    the adapter's content hash, not its path."""
    if spec.provider == "huggingface":
        return {
            "provider": spec.provider,
            "model": spec.model,
            "adapter": spec.adapter and adapter_digest(spec.adapter),
        }
    if spec.provider != "openai":  # a LangChain provider: its model name says which model
        return {"provider": spec.provider, "model": spec.model, "endpoint": endpoint}
    settings = settings or ModelSettings.from_env()
    return {"provider": spec.provider, "model": spec.model, "endpoint": endpoint or settings.openai_base_url}


def decoding(sampling: Sampling, spec: ModelSpec) -> dict:
    """The decoding settings that change the output, each only when it differs from its default:
    greedy decoding ignores top-p, and remote APIs take no repetition penalty."""
    fields = {f.name: getattr(sampling, f.name) for f in dataclasses.fields(sampling)}
    default = type(sampling)()
    if sampling.greedy:
        fields.pop("top_p")
    if spec.provider != "huggingface":
        fields.pop("repetition_penalty")
    return {k: v for k, v in fields.items() if v != getattr(default, k)}
