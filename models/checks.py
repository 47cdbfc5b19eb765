"""Checks a command runs before any work, so bad input fails in one line, not mid-run."""

from __future__ import annotations

import json
from pathlib import Path

from cowest.core import BadInput, ConfigError, ServiceUnavailable

from .base import DEFAULT_POLICY, Sampling
from .bundled import BUNDLED_DIR_NAME, BUNDLED_NAME, bundled_available
from .http import APIConnectionError, APITimeoutError, endpoint
from .local import resolve_model_path
from .messages import one_line
from .providers import init_provider_model
from .requests_loop import run_on_loop
from .settings import ModelSettings
from .spec import ModelSpec


def check_specs(
    specs: list[str], settings: ModelSettings | None = None, reach: bool = True, own_servers: dict | None = None
) -> None:
    """Parse every spec; local folders must exist; a remote server must answer (unless not
    `reach`: a dry run that sends nothing). `own_servers`: spec -> the URL of a model served apart
    from $OPENAI_BASE_URL (a weak model on vLLM)."""
    settings = settings or ModelSettings.from_env()
    for text in dict.fromkeys(specs):  # the strong model and the judge are often the same
        spec = ModelSpec.parse(text)
        if spec.provider == "huggingface":
            if spec.model == BUNDLED_NAME:
                bundled_available()
            else:
                resolve_model_path(spec.model)
            if spec.adapter:
                check_adapter(spec.adapter, spec.model)
        elif spec.provider != "openai":
            init_provider_model(spec, Sampling())  # its package is installed and it accepts its settings
        elif any(c in (settings.openai_api_key or "") for c in "\r\n"):
            raise ConfigError("OPENAI_API_KEY has a line break in it (read from a file?): remove it")
        elif not reach:
            continue
        elif (own_servers or {}).get(text):
            url = (own_servers or {})[text]
            check_reachable(url, settings.key_for(url))
        elif not settings.has_remote:
            raise ConfigError(f"{spec}: set OPENAI_API_KEY, or OPENAI_BASE_URL for a compatible server")
        elif settings.openai_base_url:
            check_reachable(settings.openai_base_url, settings.key_for(None))


def check_reachable(base_url: str, api_key: str | None, timeout: float = 5.0) -> None:
    """Fail fast, with one line, when an OpenAI-compatible server cannot be reached at all. The
    probe goes through the model's own HTTP stack (TLS, proxies, redirects), so it passes exactly
    when requests can; any HTTP answer, even an error status, means the server is there."""
    try:
        run_on_loop(endpoint(base_url, api_key, DEFAULT_POLICY.timeout).probe(timeout))
    except (APIConnectionError, APITimeoutError) as exc:
        raise ServiceUnavailable(f"cannot reach the OpenAI-compatible server at {base_url}: {one_line(exc)}") from None


def check_adapter(adapter: str, base: str) -> None:
    """The adapter folder exists, is a PEFT adapter, and was trained on `base` (read from its
    adapter_config.json; no model is loaded)."""
    config_file = Path(adapter).expanduser() / "adapter_config.json"
    if not config_file.is_file():
        raise BadInput(f"adapter folder not found or not a PEFT adapter (no adapter_config.json): {adapter}")
    try:
        trained_on = json.loads(config_file.read_text()).get("base_model_name_or_path") or ""
    except (OSError, ValueError) as exc:
        raise BadInput(f"{config_file}: unreadable adapter config ({exc})") from None
    expected = {Path(base).name, BUNDLED_DIR_NAME if base == BUNDLED_NAME else Path(base).name}
    if trained_on and Path(trained_on).name not in expected:
        raise BadInput(f"adapter {adapter} was trained on {trained_on}, not on the weak model {base}")
