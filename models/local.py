"""Local transformers models (optionally with a PEFT LoRA adapter), batched generation."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from .base import (
    Generation,
    Messages,
    Sampling,
    clean_text,
)
from .batching import BatchServer
from .bundled import BUNDLED_NAME, bundled_model_dir
from .engines import resolve_engine
from .spec import ModelSpecError


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

    def __init__(self, model: str, engine: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = resolve_model_path(model)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            loaded: Any = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype)
            self.model = loaded.to(self.device)
        except OSError as exc:
            raise ModelSpecError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        self.stop_ids = {self.tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        self.lock = threading.Lock()
        self._adapters: dict[str, str] = {}  # adapter dir -> PEFT adapter name
        self.engine = resolve_engine(engine, self.device)
        if self.engine == "vllm":
            raise ModelSpecError("the vllm engine is not a transformers model: load it with VllmBase")
        # On a GPU more rows decode in one step for the same time; on a CPU a step's cost grows with them.
        gpu = self.device == "cuda"
        self.batches = BatchServer(
            self,
            max_sequences=256 if gpu else 64,
            max_tokens=_BATCH_TOKENS_GPU if gpu else _BATCH_TOKENS_CPU,
            measure=self.prompt_lengths,
            context=getattr(self.model.config, "max_position_embeddings", None),
        )
        # A model this small gains nothing from splitting its products across CPU cores; the other
        # cores' spin-waits doubled the CPU a tiny model's batch cost (bench/RESULTS.md).
        small = sum(p.numel() for p in self.model.parameters()) < _SMALL_MODEL_PARAMETERS
        self.cpu_threads = 1 if self.device == "cpu" and small else None
        if self.engine == "compiled":
            self._compile()

    @property
    def whole_batches(self) -> bool:
        """Whether requests decode as whole batches (generate) rather than joining running rows."""
        return self.engine != "loop"

    @property
    def compiled(self) -> bool:
        return self.engine == "compiled"

    def _compile(self) -> None:
        """A static KV cache, with which transformers' generate compiles the decoding step itself
        (torch.compile, CUDA graphs) and leaves the prefill, whose length varies, uncompiled.
        (Compiling the whole forward here as well broke on a GPU: the prefill's CUDA graph output
        was overwritten by the decoding step's.)"""
        self.model.generation_config.cache_implementation = "static"

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

    def prompt_lengths(self, prompts: list[Messages]) -> list[int]:
        """Each prompt's length in tokens, in the chat template."""
        tok = self.tokenizer
        texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    def encode(self, prompts: list[Messages]) -> Any:
        """The prompts in the chat template, tokenized and left-padded into one batch (compiled: to a
        multiple of 64 tokens, so that prompt lengths make few shapes to compile)."""
        tok = self.tokenizer
        texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        multiple = 64 if self.compiled else None
        return tok(texts, return_tensors="pt", padding=True, pad_to_multiple_of=multiple, add_special_tokens=False).to(
            self.device
        )

    @contextmanager
    def generating(self, adapter: str | None) -> Iterator[None]:
        """What decoding runs in: `adapter` active, no autograd, the model's CPU threads."""
        import torch

        with self.activate(adapter), torch.inference_mode(), _cpu_threads(self.cpu_threads):
            yield

    def run_batch(
        self,
        adapter: str | None,
        prompts: list[Messages],
        n: int,
        sampling: Sampling,
        seeds: list[list[int]] | None = None,
    ) -> list[list[Generation]]:
        """All `prompts` in one batch, `n` sequences each, in the caller's thread."""
        with self.lock, self.generating(adapter):
            return self.run_batch_here(adapter, prompts, n, sampling, seeds)

    def run_batch_here(
        self,
        adapter: str | None,
        prompts: list[Messages],
        n: int,
        sampling: Sampling,
        seeds: list[list[int]] | None = None,
    ) -> list[list[Generation]]:
        """`run_batch` for a caller that holds the lock, inside `generating(adapter)`. `seeds` are
        honoured by the eager decoding loop; compiled `generate` draws from torch's global stream."""
        from .decoding import decoded  # torch and transformers: with the first local model, not at import

        enc = self.encode(prompts)
        per_prompt = 1 if sampling.greedy else n  # greedy: n equal sequences, decoded once
        start = time.perf_counter()
        logprobs = None
        if self.whole_batches:
            rows = self._generate(enc, per_prompt, sampling)
        else:
            row_seeds: list[int | None] | None = None
            if seeds is not None and not sampling.greedy:
                row_seeds = [x for row in seeds for x in row]
            batch = decoded(
                self.model, enc["input_ids"], enc["attention_mask"], per_prompt, sampling, self.stop_ids, row_seeds
            )
            rows, logprobs = batch.out, batch.logprobs if sampling.logprobs else None
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        return self.generations(rows, lengths, n, per_prompt, time.perf_counter() - start, logprobs)

    def generations(
        self,
        rows: list[list[int]],
        lengths: list[int],
        n: int,
        per_prompt: int,
        seconds: float,
        logprobs: list[list[float]] | None = None,
    ) -> list[list[Generation]]:
        """`n` Generations for each prompt (of `lengths` tokens) from the new tokens of its
        `per_prompt` rows, prompt by prompt; with `logprobs` (per row), each token's text and log probability."""
        tok = self.tokenizer
        share = seconds / max(1, len(lengths) * n)
        results: list[list[Generation]] = []
        for i, tokens_in in enumerate(lengths):
            gens = []
            for j in range(n):
                row = i * per_prompt + (j if per_prompt > 1 else 0)
                new = rows[row]
                scored = None
                if logprobs is not None:
                    pieces = [str(tok.decode([t], skip_special_tokens=True)) for t in new]
                    scored = [[piece, lp] for piece, lp in zip(pieces, logprobs[row]) if piece]
                gens.append(
                    Generation(
                        text=clean_text(str(tok.decode(new, skip_special_tokens=True))),
                        tokens_in=int(tokens_in),
                        tokens_out=len(new),
                        latency_s=share,
                        logprobs=scored,
                    )
                )
            results.append(gens)
        return results

    def _generate(self, enc: Any, per_prompt: int, sampling: Sampling) -> list[list[int]]:
        """transformers' `generate` (compiled: it sizes the static cache the compiled step needs)."""
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens,
            num_return_sequences=per_prompt,
            pad_token_id=self.tokenizer.pad_token_id,
            repetition_penalty=sampling.repetition_penalty,
        )
        if sampling.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
        out = self.model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1] :].tolist()
        return [_until_stop(row, self.stop_ids) for row in out]


_SMALL_MODEL_PARAMETERS = 10_000_000
# Tokens (prompt + new, per row) that rows decoding at once may hold. Typical batches sit well under
# (64 rows x ~450 tokens on a CPU, 256 x ~450 on a GPU); long queries batch fewer rows instead of
# growing memory without bound (bench/hostile.py).
_BATCH_TOKENS_CPU = 65_536
_BATCH_TOKENS_GPU = 262_144


@contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `threads` inside the block (None: left as they are)."""
    import torch

    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _until_stop(ids: list[int], stops: set[int]) -> list[int]:
    """The tokens up to and including the first stop token (generate pads the rest)."""
    for k, t in enumerate(ids):
        if t in stops:
            return ids[: k + 1]
    return ids
