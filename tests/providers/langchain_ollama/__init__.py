"""A stand-in for the langchain-ollama package, found by LangChain's init_chat_model exactly as the
real one is (it imports `langchain_ollama` and takes its `ChatOllama`), answering from a script
instead of a server. Tests put this folder first on sys.path and set SCRIPT."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

SCRIPT: Callable[[str], str] = lambda prompt: "Explanation: none.\nAnswer: A"  # noqa: E731
CALLS: list[dict] = []  # every request: the model's settings and the last message
_lock = threading.Lock()


class ChatOllama(BaseChatModel):
    model: str
    temperature: float = 0.8
    max_tokens: int | None = None
    top_p: float | None = None
    timeout: float | None = None
    max_retries: int = 2

    @property
    def _llm_type(self) -> str:
        return "scripted-ollama"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        prompt = str(messages[-1].content)
        with _lock:
            CALLS.append(
                {"model": self.model, "temperature": self.temperature, "top_p": self.top_p, "prompt": prompt, **kwargs}
            )
        text = SCRIPT(prompt)
        usage = {"input_tokens": len(prompt.split()), "output_tokens": len(text.split())}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])
