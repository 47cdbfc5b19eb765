"""A weak model served by vLLM: LoRA adapters are loaded into the running server between rounds
(vLLM's runtime LoRA loading; start the server with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and
--enable-lora), and each adapter is then asked for by its name."""

from __future__ import annotations

from pathlib import Path

from cowest.core import ServiceUnavailable


def load_lora_adapter(base_url: str, name: str, path: str, timeout: float = 120.0) -> None:
    """Load the adapter folder `path` into the server at `base_url` as the model `name` (an adapter
    the server already holds under that name is fine)."""
    import httpx

    url = base_url.rstrip("/") + "/load_lora_adapter"
    try:
        reply = httpx.post(url, json={"lora_name": name, "lora_path": str(Path(path).resolve())}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"cannot load LoRA adapter {name} at {url}: {exc}") from None
    if reply.status_code == 200 or "already" in reply.text.lower():
        return
    raise ServiceUnavailable(
        f"{url} refused LoRA adapter {name} ({reply.status_code}: {reply.text[:200]}); start vLLM with "
        "--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
    )
