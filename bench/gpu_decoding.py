"""The local weak model's sampling on a CUDA GPU: cowest's decoding loop (one prefill for K samples,
finished rows leave the batch) against `--weak-compile` (static KV cache + torch.compile, through
transformers' generate), on a SmolLM2-135M-shaped model in bf16. Also checks, on the GPU, that the
loop's greedy tokens are generate's.

Random weights from the model's config unless --model names a folder: speed does not depend on the
weights, and with random weights no row stops early, so both paths decode the same tokens.

    python bench/gpu_decoding.py --config DIR_WITH_CONFIG_AND_TOKENIZER [--out DIR] [--budget-s 300]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from cowest.nodes.models import Sampling
from cowest.nodes.models.decoding import Decoding, decode
from cowest.nodes.models.local import LocalBase
from cowest.nodes.prompts import weak_draft_prompt
from cowest.tasks import get_task

SAMPLED = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=64)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def random_model(config_dir: str) -> str:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = Path(tempfile.mkdtemp(prefix="smollm2-shaped-"))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir), dtype=torch.bfloat16)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(config_dir).save_pretrained(out)
    for name in ("generation_config.json", "chat_template.jinja"):
        if (Path(config_dir) / name).exists():
            (out / name).write_bytes((Path(config_dir) / name).read_bytes())
    return str(out)


def timed_batches(base: LocalBase, batches: list[list], sampling: Sampling) -> dict:
    """Wall time and tokens of each batch, then tokens/s over all."""
    seconds, tokens = [], 0
    for batch in batches:
        start = time.perf_counter()
        out = base.run_batch(None, batch, 4, sampling)
        if torch.cuda.is_available():
            _sync()
        seconds.append(round(time.perf_counter() - start, 3))
        tokens += sum(g.tokens_out or 0 for gens in out for g in gens)
    return {"tokens": tokens, "seconds": seconds, "tokens/s": round(tokens / sum(seconds), 1)}


def greedy_agreement(base: LocalBase, prompts: list) -> float:
    """Share of tokens where the loop's greedy output equals generate's (bf16 on a GPU may tie)."""
    tok = base.tokenizer
    texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(base.device)
    greedy = Sampling(max_new_tokens=32)
    with torch.inference_mode():
        ours = decode(base.model, enc["input_ids"], enc["attention_mask"], 1, greedy, {-1})
        theirs = base.model.generate(**enc, max_new_tokens=32, do_sample=False, pad_token_id=tok.pad_token_id)
    theirs = theirs[:, enc["input_ids"].shape[1] :].tolist()
    same = sum(a == b for row_a, row_b in zip(ours, theirs) for a, b in zip(row_a, row_b))
    return round(same / sum(len(r) for r in theirs), 3)


def greedy_joined_agreement(base: LocalBase, prompts: list) -> float:
    """Share of tokens where rows that joined a running batch (continuous batching) equal the same
    prompts decoded alone, greedy."""
    first, later = (base.encode(prompts[:2]), base.encode(prompts[2:4]))
    greedy = Sampling(max_new_tokens=32)
    with torch.inference_mode():
        alone = [decode(base.model, e["input_ids"], e["attention_mask"], 2, greedy, {-1}) for e in (first, later)]
        batch = Decoding(base.model, greedy, {-1})
        slots = [batch.add(first["input_ids"], first["attention_mask"], 2)]
        for _ in range(5):
            batch.step()
        slots.append(batch.add(later["input_ids"], later["attention_mask"], 2))
        while batch.rows:
            batch.step()
    pairs = [(batch.out[i], row) for s, rows in zip(slots, alone) for i, row in zip(s, rows)]
    same = sum(a == b for row_a, row_b in pairs for a, b in zip(row_a, row_b))
    return round(same / sum(len(b) for _, b in pairs), 3)


def generate_eager(base: LocalBase, prompts: list, sampling: Sampling) -> dict:
    """transformers' generate on the same batch (dynamic cache, K prefills per prompt), for scale."""
    tok = base.tokenizer
    texts = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(base.device)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        with torch.inference_mode():
            out = base.model.generate(
                **enc,
                num_return_sequences=4,
                do_sample=True,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_new_tokens=sampling.max_new_tokens,
                pad_token_id=tok.pad_token_id,
            )
        _sync()
        seconds.append(round(time.perf_counter() - start, 3))
    tokens = (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
    return {"tokens per call": tokens, "seconds": seconds, "tokens/s (second call)": round(tokens / seconds[-1], 1)}


def step_profile(base: LocalBase, prompts: list, sampling: Sampling) -> dict:
    """Where a batch's decoding time goes: the model's forward passes, choosing tokens, the rest."""
    from cowest.nodes.models import decoding

    spent = {"forward s": 0.0, "choose s": 0.0, "forward calls": 0}
    forward, choose = base.model.forward, decoding.choose

    def timed_forward(*a, **k):
        _sync()
        start = time.perf_counter()
        out = forward(*a, **k)
        _sync()
        spent["forward s"] += time.perf_counter() - start
        spent["forward calls"] += 1
        return out

    def timed_choose(*a):
        _sync()
        start = time.perf_counter()
        out = choose(*a)
        _sync()
        spent["choose s"] += time.perf_counter() - start
        return out

    base.model.forward, decoding.choose = timed_forward, timed_choose
    try:
        start = time.perf_counter()
        base.run_batch(None, prompts, 4, sampling)
        spent["batch s"] = time.perf_counter() - start
    finally:
        base.model.forward, decoding.choose = forward, choose
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in spent.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="a folder with config.json and the tokenizer (random weights)")
    p.add_argument("--model", help="a model folder with weights instead")
    p.add_argument("--data", default="examples/medmcqa-sample.jsonl")
    p.add_argument("--out", default=os.environ.get("OUT", "bench/out/gpu"))
    p.add_argument("--budget-s", type=float, default=300.0, help="skip what is left after this long")
    p.add_argument("--no-compile", action="store_true", help="leave out --weak-compile (minutes of compiling)")
    args = p.parse_args()
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (a dry run: nothing compiles)"
    results: dict = {"device": device, "torch": torch.__version__}

    def save() -> None:
        (out / "gpu_decoding.json").write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2), flush=True)

    path = args.model or random_model(args.config)
    examples = get_task("medmcqa").load(args.data, limit=8).examples
    prompts = [weak_draft_prompt(ex.query, "cot") for ex in examples]

    base = LocalBase(path)
    results["greedy tokens equal to generate's"] = greedy_agreement(base, prompts[:4])
    results["greedy tokens of rows that joined a running batch equal to alone"] = greedy_joined_agreement(base, prompts)
    base.run_batch(None, prompts[:1], 4, SAMPLED)  # warm-up
    results["loop, 8 x K=4 in one batch"] = timed_batches(base, [prompts, prompts], SAMPLED)
    results["generate (eager, dynamic cache), 8 x K=4"] = generate_eager(base, prompts, SAMPLED)
    results["loop, where a batch's time goes (8 x K=4)"] = step_profile(base, prompts, SAMPLED)
    results["loop, where a batch's time goes (1 x K=4)"] = step_profile(base, prompts[:1], SAMPLED)
    results["loop, one query at a time"] = timed_batches(base, [[q] for q in prompts[:4]], SAMPLED)
    save()
    del base
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if args.no_compile:
        return

    compiled = LocalBase(path, compiled=True)
    results["compiled, 8 x K=4 in one batch (first call compiles)"] = timed_batches(
        compiled, [prompts, prompts, prompts], SAMPLED
    )
    save()
    if time.perf_counter() - start < args.budget_s:
        results["compiled, one query at a time (new prompt lengths)"] = timed_batches(
            compiled, [[q] for q in prompts[:3]], SAMPLED
        )
    results["seconds in all"] = round(time.perf_counter() - start, 1)
    save()


if __name__ == "__main__":
    main()
