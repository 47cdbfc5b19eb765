"""Any LangChain chat model provider (anthropic, google_genai, bedrock_converse, ollama,
mistralai...) as a strong model or judge: a `PROVIDER:MODEL` spec goes through LangChain's
init_chat_model. Requests go through the same in-flight limit and retries as an OpenAI-compatible
server's; a provider without OpenAI's `n` is sent K requests for K samples."""

from __future__ import annotations

import threading
from typing import Any

from cowest.core import BadInput, ConfigError

from .base import DEFAULT_POLICY, Messages, Reply, RequestPolicy, Sampling
from .limits import limit_for
from .messages import one_line, reply_of, to_langchain
from .remote import RemoteChatModel
from .spec import ModelSpec


def init_provider_model(spec: ModelSpec, sampling: Sampling, policy: RequestPolicy = DEFAULT_POLICY) -> Any:
    """The provider's LangChain chat model for these decoding settings, built with LangChain's
    standard parameters. A missing integration package is bad input, said in one line."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise BadInput(
            f"{spec}: other providers go through LangChain's init_chat_model: pip install langchain"
        ) from None
    params: dict[str, Any] = dict(
        temperature=sampling.temperature, max_tokens=sampling.max_new_tokens, timeout=policy.timeout, max_retries=0
    )
    if not sampling.greedy and sampling.top_p < 1.0:
        params["top_p"] = sampling.top_p
    try:
        return init_chat_model(spec.model, model_provider=spec.provider, **params)
    except ImportError as exc:
        # LangChain's message names the package: "... requires the langchain-anthropic package ..."
        package = str(exc).split("requires the ", 1)[-1].split(" package", 1)[0] if "requires the " in str(exc) else ""
        package = package or f"langchain-{spec.provider.replace('_', '-')}"
        raise BadInput(f"{spec}: the {spec.provider} provider needs its package: pip install {package}") from None
    except ValueError as exc:
        if "Unsupported" in str(exc):
            known = str(exc).split("Supported model providers are:", 1)[-1].strip()
            raise BadInput(
                f"bad model spec {str(spec)!r}: no LangChain provider {spec.provider!r}; use huggingface:, openai: "
                f"or one of {known}"
            ) from None
        raise ConfigError(f"{spec}: {one_line(exc)}") from None
    except Exception as exc:  # a missing API key, say: the provider's own validation
        raise ConfigError(f"{spec}: {one_line(exc)}") from None


class ProviderChatModel(RemoteChatModel):
    """A LangChain provider's chat model, one client per decoding setting."""

    supports_n = False  # LangChain's standard parameters have no `n`: K samples are K requests

    def __init__(self, spec: ModelSpec, policy: RequestPolicy = DEFAULT_POLICY):
        self.spec = str(spec)
        self.parsed = spec
        self.base_url = None
        self.policy = policy
        self.limit = limit_for(spec.provider, spec.model, policy.max_in_flight)
        self._clients: dict[Sampling, Any] = {}
        self._lock = threading.Lock()
        self._client(Sampling())  # fail now, not at the first request, on a missing package or key

    def _client(self, sampling: Sampling) -> Any:
        with self._lock:
            if sampling not in self._clients:
                self._clients[sampling] = init_provider_model(self.parsed, sampling, self.policy)
            return self._clients[sampling]

    async def _request(
        self, prompt: Messages, n: int, sampling: Sampling, seed: int | None = None, key: str | None = None
    ) -> Reply:
        # LangChain's standard parameters have no seed (nor an idempotency key): a provider's samples
        # are not reproducible
        return reply_of(await self._client(sampling).agenerate([to_langchain(prompt)]))
