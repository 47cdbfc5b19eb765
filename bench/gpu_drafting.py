"""Part (a) of bench/gpu_check.py: drafting tokens/s of cowest's engines against transformers' own
paths on one batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from gpu_common import free, guarded, mcq_rows, save_partial, sync, timed, write_jsonl


def drafting(
    path: str,
    work: Path,
    queries: int,
    k: int,
    new_tokens: int,
    engines: list[str],
    library_paths: list[str],
    results: dict,
) -> None:
    from cowest.models import Sampling
    from cowest.models.local import LocalBase
    from cowest.tasks import get_task
    from cowest.tasks.prompts import weak_draft_prompt

    examples = get_task("medmcqa").load(write_jsonl(work / "drafting.jsonl", mcq_rows(queries))).examples
    prompts = [weak_draft_prompt(ex.query, "cot") for ex in examples]
    sampled = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=new_tokens)
    results["batch"] = f"{queries} queries x K={k} x {new_tokens} sampled tokens"

    def library(base: LocalBase) -> None:
        enc = base.encode(prompts)
        tok = base.tokenizer
        common = dict(
            do_sample=True,
            temperature=1.0,
            top_p=0.9,
            top_k=None,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # every path decodes the same number of tokens
            pad_token_id=tok.pad_token_id,
        )

        def generate(**extra: Any) -> int:
            with torch.inference_mode():
                out = base.model.generate(**enc, num_return_sequences=k, **common, **extra)
            return int((out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0])

        from transformers import CompileConfig

        paths = {
            "generate": lambda: timed(lambda: generate(), repeats=2),
            "static": lambda: timed(lambda: generate(cache_implementation="static"), repeats=3),
            "static-no-cudagraphs": lambda: timed(
                lambda: generate(cache_implementation="static", compile_config=CompileConfig(mode="default")),
                repeats=3,
            ),
            "generate_batch": lambda: generate_batch(base, enc, k, common),
        }
        for name in library_paths:
            if name.startswith("static") and not torch.cuda.is_available():
                results[f"library: {name}"] = "skipped: compiles for CUDA only"
                continue
            # on the decoding thread, where cowest's engines run: CUDA graphs belong to the thread that captured them
            results[f"library: {name}"] = guarded(lambda f=paths[name]: on_decoding_thread(f))
            save_partial()

    def generate_batch(base: LocalBase, enc: Any, k: int, common: dict) -> dict:
        from transformers import GenerationConfig

        ids = [row[mask.bool()].tolist() for row, mask in zip(enc["input_ids"], enc["attention_mask"])]
        inputs = [r for r in ids for _ in range(k)]
        config = GenerationConfig(
            **{key: v for key, v in common.items() if key != "min_new_tokens"},
            eos_token_id=-1,  # no stop: the same number of tokens as the other paths
        )

        def once() -> int:  # not under inference_mode: its own thread updates the cache in place
            out = base.model.generate_batch(inputs=inputs, generation_config=config, progress_bar=False)
            return sum(len(o.generated_tokens) for o in out.values())

        return timed(once, repeats=2)

    for engine in engines:
        sync()
        base = LocalBase(path, engine=engine)
        results[f"cowest: {engine} engine ({base.engine})"] = guarded(
            lambda b=base: timed(lambda: cowest_batch(b, prompts, k, sampled), repeats=3 if b.compiled else 2)
        )
        save_partial()
        del base
        free()
    plain = LocalBase(path, engine="generate")  # its generation config asks for no static cache
    library(plain)
    save_partial()
    del plain
    free()
    best = max(
        (
            v["tokens/s"]
            for key, v in results.items()
            if key.startswith("library") and isinstance(v, dict) and "tokens/s" in v
        ),
        default=None,
    )
    ours = results.get("cowest: auto engine (compiled)") or results.get("cowest: auto engine (loop)")
    if best and isinstance(ours, dict) and "tokens/s" in ours:
        results["cowest auto / best library path"] = round(ours["tokens/s"] / best, 3)


def on_decoding_thread(job: Any) -> Any:
    """`job()` run on cowest's decoding thread; its result."""
    from concurrent.futures import Future

    from cowest.models.decoding_thread import DECODING

    done: Future = Future()

    def work() -> None:
        try:
            done.set_result(job())
        except BaseException as exc:  # noqa: BLE001 - handed back
            done.set_exception(exc)

    DECODING.run(work)
    return done.result()


def cowest_batch(base: Any, prompts: list, k: int, sampling: Any) -> int:
    """Every query submitted at once to the engine's batch server, as the graph's queries are; the
    tokens it decoded."""
    futures = [base.batches.submit(None, [p], k, sampling) for p in prompts]
    return sum(g.tokens_out or 0 for f in futures for gens in f.result(timeout=900) for g in gens)
