"""A weak model served by vLLM: LoRA adapters are loaded into the running server between rounds
(vLLM's runtime LoRA loading; start the server with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and
--enable-lora), and each adapter is then asked for by its name."""

from __future__ import annotations

from pathlib import Path

from cowest.core import ServiceUnavailable

from .http import APIConnectionError, APITimeoutError, endpoint
from .requests_loop import run_on_loop


def load_lora_adapter(base_url: str, name: str, path: str, api_key: str | None = None, timeout: float = 120.0) -> None:
    """Load the adapter folder `path` into the server at `base_url` as the model `name` (an adapter
    the server already holds under that name is fine), through the endpoint's own HTTP stack."""
    server = endpoint(base_url, api_key, timeout)
    body = {"lora_name": name, "lora_path": str(Path(path).resolve())}
    try:
        reply = run_on_loop(server.send("POST", "load_lora_adapter", json=body))
    except (APIConnectionError, APITimeoutError) as exc:
        raise ServiceUnavailable(f"cannot load LoRA adapter {name} at {server.url}: {exc}") from None
    if reply.status_code == 200 or "already" in reply.text.lower():
        return
    raise ServiceUnavailable(
        f"{server.url_for('load_lora_adapter')} refused LoRA adapter {name} ({reply.status_code}: "
        f"{reply.text[:200]}); start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
    )
