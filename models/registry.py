"""Model specs to loaded models, cached per process so a base model loads once."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .base import DEFAULT_POLICY, ChatModel, RequestPolicy
from .http import clear_endpoints
from .local import LocalBase
from .local_chat import LocalChatModel
from .providers import ProviderChatModel
from .remote import RemoteChatModel
from .retrievers import RetrieverModel
from .settings import ModelSettings
from .spec import ModelSpec
from .vllm_engine import VllmBase  # vllm itself loads with the first vLLM model

_lock = threading.Lock()
_bases: OrderedDict[tuple[str, str], LocalBase] = OrderedDict()  # least recently used first
# Loaded local bases at most: a long-lived process (a server) that is asked for many models keeps
# the most recently used; a dropped one is freed once no request holds it.
MAX_LOADED_BASES = int(os.environ.get("COWEST_MAX_LOADED_MODELS", "4"))
_remotes: dict[tuple, RemoteChatModel] = {}  # ProviderChatModel is one


def get_model(
    spec: str | ModelSpec, settings: ModelSettings | None = None, policy: RequestPolicy = DEFAULT_POLICY
) -> ChatModel:
    """The model for `spec`. Local bases are loaded once and shared by all their adapters."""
    model = _model(spec, settings, policy, load=True)
    assert model is not None  # loading never gives None
    return model


def loaded_model(spec: str | ModelSpec, policy: RequestPolicy = DEFAULT_POLICY) -> ChatModel | None:
    """The model for `spec` if nothing is left to load (an async caller then needs no thread)."""
    return _model(spec, None, policy, load=False)


def _model(
    spec: str | ModelSpec, settings: ModelSettings | None, policy: RequestPolicy, load: bool
) -> ChatModel | None:
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    settings = settings or ModelSettings.from_env()
    with _lock:
        if spec.provider == "huggingface":
            which = (spec.model, policy.engine)
            base = _bases.get(which)
            if base is None:
                if not load:
                    return None
                base = _bases[which] = load_base(spec.model, policy.engine)
                while len(_bases) > max(1, MAX_LOADED_BASES):
                    _bases.popitem(last=False)
            _bases.move_to_end(which)
            return LocalChatModel(base, spec)
        if spec.provider == "retriever":  # a registered retriever, stored and reused as a call
            return RetrieverModel(spec.model)
        if spec.provider != "openai":
            by_spec = (str(spec), None, None, policy)
            if by_spec not in _remotes and load:
                _remotes[by_spec] = ProviderChatModel(spec, policy)
            return _remotes.get(by_spec)
        base_url = policy.base_url or settings.openai_base_url
        api_key = settings.key_for(base_url)  # the key bound to that endpoint, never another's
        key = (spec.model, base_url, api_key, policy)
        if key not in _remotes and load:
            _remotes[key] = RemoteChatModel(spec, base_url, api_key, policy)
        return _remotes.get(key)


def load_base(model: str, engine: str) -> LocalBase:
    """A local model on `engine`: vLLM in-process, or transformers."""
    if engine == "vllm":
        return VllmBase(model)  # type: ignore[return-value]  # the same face as LocalBase
    return LocalBase(model, engine)


def release_local_models() -> None:
    """Drop every loaded local model and give its memory back, so that training the weak model
    finds the GPU free (an 8B model's sampling copy and its training copy do not fit one 80 GB GPU)."""
    with _lock:
        _bases.clear()
    free_accelerator_memory()


def clear_models() -> None:
    """Forget every loaded model (tests, or to free memory between jobs)."""
    with _lock:
        _bases.clear()
        _remotes.clear()
    clear_endpoints()
    free_accelerator_memory()


def free_accelerator_memory() -> None:
    """Give the memory of dropped models back to the GPU (training needs it), where torch is loaded."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
