"""The client an `openai:` model sends its requests with: cowest's lean HTTP client
(openai_http.py), or langchain-openai's ChatOpenAI where the lean one cannot go: behind an HTTP
proxy, or when COWEST_OPENAI_CLIENT=langchain asks for it. Both send the same body."""

from __future__ import annotations

import os
from typing import Any, Protocol

from .base import Messages, Reply
from .openai_http import ChatCompletionsClient, behind_proxy

OPENAI_API = "https://api.openai.com/v1"


class OpenAIClient(Protocol):
    async def complete(self, model: str, messages: Messages, params: dict[str, Any]) -> Reply:
        """One chat completion request; `params` in the API's names (temperature, top_p, n,
        max_completion_tokens)."""
        ...


def openai_client(base_url: str, api_key: str, timeout: float, model: str) -> OpenAIClient:
    choice = os.environ.get("COWEST_OPENAI_CLIENT", "").lower()
    if choice == "langchain" or behind_proxy(base_url):
        return LangChainOpenAI(base_url, api_key, timeout, model)
    return ChatCompletionsClient(base_url, api_key, timeout)


class LangChainOpenAI:
    """langchain-openai's ChatOpenAI (the OpenAI SDK over httpx), without its own retries: cowest
    retries through the model's in-flight limit."""

    def __init__(self, base_url: str, api_key: str, timeout: float, model: str):
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        self.chat = ChatOpenAI(
            model=model, base_url=base_url, api_key=SecretStr(api_key), max_retries=0, timeout=timeout
        )

    async def complete(self, model: str, messages: Messages, params: dict[str, Any]) -> Reply:
        from .remote import reply_of, to_langchain

        return reply_of(await self.chat.agenerate([to_langchain(messages)], **params))
