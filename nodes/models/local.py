"""Local transformers models (optionally with a PEFT LoRA adapter), batched generation."""
from __future__ import annotations

import hashlib
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from .base import Generation, Messages, ModelCallError, Sampling
from .bundled import BUNDLED_NAME, bundled_model_dir
from .spec import ModelSpec, ModelSpecError


def resolve_model_path(model: str) -> str:
    """A local folder for `model`: the bundled name, an existing folder, or a hub id (left to
    transformers, which uses its cache offline)."""
    if model == BUNDLED_NAME:
        return str(bundled_model_dir())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelSpecError(f"{path} has no config.json: not a transformers model folder")
        return str(path)
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ModelSpecError(f"model folder not found: {model}")
    return model


class LocalBase:
    """One loaded base model and tokenizer, shared by every adapter view of it. Generation is
    serialised by a lock: one model, one device."""

    def __init__(self, model: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = resolve_model_path(model)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(self.device)
        except OSError as exc:
            raise ModelSpecError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lock = threading.Lock()
        self._adapters: dict[str, str] = {}  # adapter dir -> PEFT adapter name

    def activate(self, adapter: str | None):
        """Make `adapter` (or the bare base) the active weights; returns a context to generate in.
        Adapters load once and are swapped by name, never by reloading the base."""
        from peft import PeftModel

        if adapter is None:
            return self.model.disable_adapter() if isinstance(self.model, PeftModel) else nullcontext()
        key = str(Path(adapter).resolve())
        if key not in self._adapters:
            if not Path(key, "adapter_config.json").is_file():
                raise ModelSpecError(f"adapter folder not found or not a PEFT adapter: {adapter}")
            name = "a" + hashlib.sha1(key.encode()).hexdigest()[:12]
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(key, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, key, adapter_name=name)
            self.model.eval()
            self._adapters[key] = name
        self.model.set_adapter(self._adapters[key])
        return nullcontext()


class LocalChatModel:
    """A view of a LocalBase with one adapter (or none)."""

    def __init__(self, base: LocalBase, spec: ModelSpec):
        self.base = base
        self.adapter = spec.adapter
        self.spec = str(spec)

    def generate(self, prompts: list[Messages], n: int = 1, sampling: Sampling = Sampling()) -> list[list[Generation]]:
        import torch

        tok = self.base.tokenizer
        texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.base.device)
        kwargs = dict(max_new_tokens=sampling.max_new_tokens, num_return_sequences=n, pad_token_id=tok.pad_token_id)
        if sampling.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
        with self.base.lock:
            start = time.perf_counter()
            try:
                with self.base.activate(self.adapter), torch.inference_mode():
                    out = self.base.model.generate(**enc, **kwargs)
            except ModelSpecError:
                raise
            except (RuntimeError, ValueError) as exc:
                raise ModelCallError(f"{self.spec}: generation failed: {exc}") from exc
            elapsed = time.perf_counter() - start
        prompt_len = enc["input_ids"].shape[1]
        in_counts = enc["attention_mask"].sum(dim=1).tolist()
        share = elapsed / max(1, len(prompts) * n)
        results: list[list[Generation]] = []
        for i in range(len(prompts)):
            gens = []
            for j in range(n):
                new = out[i * n + j, prompt_len:].tolist()
                gens.append(Generation(
                    text=tok.decode(new, skip_special_tokens=True).strip(),
                    tokens_in=int(in_counts[i]),
                    tokens_out=_count_until_eos(new, tok),
                    latency_s=share,
                ))
            results.append(gens)
        return results


def _count_until_eos(ids: list[int], tok) -> int:
    stops = {tok.eos_token_id, tok.pad_token_id} - {None}
    for k, t in enumerate(ids):
        if t in stops:
            return k + 1
    return len(ids)
