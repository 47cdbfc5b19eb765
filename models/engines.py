"""The engines a local weak model can decode with, and which one a name means on this machine."""

from __future__ import annotations

import warnings
from typing import Literal, get_args

from .spec import ModelSpec, ModelSpecError

WeakEngine = Literal["auto", "loop", "generate", "compiled", "vllm"]
ENGINES: tuple[str, ...] = get_args(WeakEngine)
ENGINE_HELP = (
    "How a local weak model decodes. auto: `generate` on CUDA, `loop` on a CPU (each the fastest that "
    "ran rounds end to end there, bench/RESULTS.md). loop: cowest's decoding loop (K samples from one "
    "prefill, requests join the running batch). generate: transformers' generate over whole batches. "
    "compiled: generate with a static KV cache and torch.compile (CUDA; each new batch shape compiles "
    "once, so it pays off on long runs of few shapes). vllm: vLLM in-process (pip install vllm, CUDA), "
    "round adapters as LoRA requests."
)


def resolve_engine(engine: str, device: str) -> str:
    """The engine that `engine` means on `device` (auto: the fastest measured there)."""
    _known(engine)
    if engine == "auto":
        return "generate" if device == "cuda" else "loop"
    if engine == "compiled" and device != "cuda":
        warnings.warn("the compiled engine is for CUDA: the weak model runs cowest's loop on this CPU", stacklevel=3)
        return "loop"
    return engine


def check_engine(engine: str, weak: str | ModelSpec) -> None:
    """BadInput unless the weak model `weak`, if local, can run on `engine` here (vLLM installed with
    CUDA, for `vllm`): found before anything is spent, not as failed calls."""
    if (weak if isinstance(weak, ModelSpec) else ModelSpec.parse(weak)).provider != "huggingface":
        return  # served: the engine is its server's
    _known(engine)
    if engine == "vllm":
        from .vllm_engine import vllm_available  # vllm_engine imports local, which imports this module

        if not vllm_available():
            raise ModelSpecError(VLLM_MISSING)


def _known(engine: str) -> None:
    if engine not in ENGINES:
        raise ModelSpecError(f"unknown weak engine {engine!r}; choose one of: {', '.join(ENGINES)}")


VLLM_MISSING = (
    "--weak-engine vllm needs vLLM on a CUDA machine (pip install vllm); use --weak-engine auto, "
    "or serve the model (`vllm serve`) as --weak openai:NAME --weak-base-url URL"
)
