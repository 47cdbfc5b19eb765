"""vLLM in-process as a local weak model's engine: `vllm.LLM` holds the base model, a round's
adapter is a `LoRARequest`, and the K samples of a prompt are one request with `n=K`. It has the
face the batch server and the chat view use of a LocalBase (lock, generating, run_batch_here,
whole_batches), so it runs behind the same queue, failure handling and store."""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .base import Generation, Messages, Sampling, clean_text
from .batching import BatchServer
from .engines import VLLM_MISSING
from .local import resolve_model_path
from .spec import ModelSpecError


def vllm_available() -> bool:
    """Whether vLLM is installed and has a CUDA device to run on."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


class VllmBase:
    """One `vllm.LLM` over the base model; adapters by path, loaded by vLLM on first use."""

    engine = "vllm"
    whole_batches = True
    compiled = False
    device = "cuda"

    def __init__(self, model: str, max_lora_rank: int = 64):
        if not vllm_available():
            raise ModelSpecError(VLLM_MISSING)
        from vllm import LLM

        self.path = resolve_model_path(model)
        self.llm = LLM(model=self.path, enable_lora=True, max_lora_rank=max_lora_rank, seed=0)
        self.tokenizer = self.llm.get_tokenizer()
        self.lock = threading.Lock()
        self._lora_ids: dict[str, int] = {}
        self.batches = BatchServer(self, max_sequences=1024)  # vLLM schedules its own batches

    def generating(self, adapter: str | None) -> Any:
        return nullcontext()  # the adapter travels with each request

    def _lora(self, adapter: str | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        key = str(Path(adapter).resolve())
        if not Path(key, "adapter_config.json").is_file():
            raise ModelSpecError(f"adapter folder not found or not a PEFT adapter: {adapter}")
        number = self._lora_ids.setdefault(key, len(self._lora_ids) + 1)
        return LoRARequest("a" + hashlib.sha1(key.encode()).hexdigest()[:12], number, key)

    def run_batch_here(
        self,
        adapter: str | None,
        prompts: list[Messages],
        n: int,
        sampling: Sampling,
        seeds: list[list[int]] | None = None,
    ) -> list[list[Generation]]:
        from vllm import SamplingParams

        per_prompt = 1 if sampling.greedy else n
        params = SamplingParams(
            n=per_prompt,
            temperature=0.0 if sampling.greedy else sampling.temperature,
            top_p=1.0 if sampling.greedy else sampling.top_p,
            repetition_penalty=sampling.repetition_penalty,
            max_tokens=sampling.max_new_tokens,
            logprobs=0 if sampling.logprobs else None,
        )
        start = time.perf_counter()
        outputs = self.llm.chat(prompts, params, lora_request=self._lora(adapter), use_tqdm=False)
        share = (time.perf_counter() - start) / max(1, len(prompts) * n)
        results = []
        for out in outputs:
            tokens_in = len(out.prompt_token_ids or [])
            choices = [
                Generation(
                    text=clean_text(c.text),
                    tokens_in=tokens_in,
                    tokens_out=len(c.token_ids),
                    latency_s=share,
                    logprobs=_logprobs(c) if sampling.logprobs else None,
                )
                for c in out.outputs
            ]
            results.append([choices[j if per_prompt > 1 else 0] for j in range(n)])
        return results


def _logprobs(choice: Any) -> list | None:
    """[[token, log probability], ...] of a vLLM completion, where it returned them."""
    if not choice.logprobs:
        return None
    return [[lp[t].decoded_token or "", lp[t].logprob] for t, lp in zip(choice.token_ids, choice.logprobs) if t in lp]
