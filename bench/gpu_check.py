"""The weak model on a GPU, as a user with one would run it: a check anyone with a CUDA machine can run.

On a model of a real shape built from a config and a tokenizer (random weights: no weights travel,
and speed does not depend on them), in bf16:

  (a) drafting tokens/s of each of cowest's engines (through its batch server, 32 queries submitted
      at once, K samples each) against transformers' own paths on the same batch: `generate`,
      `generate` with a static cache (compiled), and continuous batching (`generate_batch`);
  (b) `cowest rounds --rounds 2` with held-out evaluation end to end, against a scripted strong model
      and judge on loopback: wall time per round, peak GPU memory, and whether it ended (0 hangs);
  (c) DPO steps/s: cowest's round trainer against plain TRL (`DPOTrainer`, the same pairs, LoRA and
      settings).

Each part writes its figures to OUT/gpu_check.json as soon as it has them, so a run cut short keeps
what it measured.

    python bench/gpu_check.py --tokenizer DIR [--shape smollm2-1.7b] [--out DIR] [--parts drafting,rounds,dpo]

DIR holds a tokenizer with a chat template (SmolLM2's: the bundled model's folder, 3.5 MB of it).
On a CPU, `--shape tiny --queries 4 --new-tokens 8` runs every part in about two minutes (a dry run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SHAPES: dict[str, dict[str, Any]] = {
    # SmolLM2-1.7B: 1.71B parameters
    "smollm2-1.7b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=24,
        num_attention_heads=32,
        num_key_value_heads=32,
        tie_word_embeddings=True,
        rope_theta=130000,
        max_position_embeddings=8192,
    ),
    "smollm2-135m": dict(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        tie_word_embeddings=True,
        max_position_embeddings=8192,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=4096,
    ),
}


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_model(shape: str, tokenizer_dir: str) -> str:
    """A random model of `shape` with the tokenizer of `tokenizer_dir`, saved to a temporary folder."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        **SHAPES[shape],
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    out = Path(tempfile.mkdtemp(prefix=f"{shape}-"))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return str(out)


def mcq_rows(n: int, offset: int = 0) -> list[dict]:
    """MedMCQA-shaped queries of varied length (the prompts' lengths vary as real ones do)."""
    words = "which organ gland enzyme nerve vessel bone muscle cell tissue hormone produces controls".split()
    rows = []
    for i in range(offset, offset + n):
        stem = " ".join(words[(i * 7 + j) % len(words)] for j in range(5 + (i * 13) % 40))
        rows.append(
            {
                "id": f"q{i}",
                "question": f"Question {i}: {stem}?",
                "opa": "alpha",
                "opb": "beta",
                "opc": "gamma",
                "opd": "delta",
                "cop": 1 + i % 4,
                "exp": "",
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# -- (a) drafting -------------------------------------------------------------------------------------


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
    from cowest.nodes.models import Sampling
    from cowest.nodes.models.local import LocalBase
    from cowest.nodes.prompts import weak_draft_prompt
    from cowest.tasks import get_task

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

    from cowest.nodes.models.batching import DECODING

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


def timed(job: Any, repeats: int) -> dict:
    """Tokens/s of the last of `repeats` runs of `job` (the first ones warm up or compile)."""
    seconds = []
    tokens = 0
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        tokens = job()
        sync()
        seconds.append(round(time.perf_counter() - start, 3))
    return {"tokens": tokens, "seconds": seconds, "tokens/s": round(tokens / seconds[-1], 1)}


def guarded(job: Any) -> Any:
    try:
        return job()
    except Exception as exc:  # a path this transformers lacks or that fails here: recorded, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}


def free() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- (b) rounds end to end ----------------------------------------------------------------------------


def strong_script(prompt: str) -> str:
    """The scripted strong model and judge: the refinement's answer follows the draft, so drafts differ
    in how well they are refined, and some rounds find pairs."""
    from scripted_server import kind_of, section

    kind = kind_of(prompt)
    if kind == "judge":
        out = section(prompt, "Model output:")
        return "10" if "Answer: A" in out else "6" if "Answer: B" in out else "1"
    if kind == "refine":
        draft = section(prompt, "Expert model's answer:")
        return f"Explanation: built on the draft.\nAnswer: {'ABC'[sum(draft.encode()) % 3]}"
    return "Explanation: a guess.\nAnswer: B"


def rounds(
    path: str, work: Path, queries: int, k: int, new_tokens: int, budget_s: float, engine: str, results: dict
) -> None:
    from scripted_server import ScriptedServer

    from cowest.rounds import RoundsOptions, run_rounds
    from cowest.trainer.options import DPOHyperparams

    work.mkdir(parents=True, exist_ok=True)
    train = write_jsonl(work / "train.jsonl", mcq_rows(queries))
    heldout = write_jsonl(work / "heldout.jsonl", mcq_rows(queries, offset=1000))
    results["setting"] = f"{queries} queries x K={k}, {new_tokens} new tokens, held-out {queries}, engine {engine}"
    results["note"] = "round 1's seconds include round 0's held-out evaluation; DPO trains 8 steps a round"
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with ScriptedServer(strong_script) as server:
        os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = server.url, "none"
        for r in (1, 2):
            opts = RoundsOptions(
                task="medmcqa",
                data=train,
                limit=queries,
                samples=k,
                weak=f"huggingface:{path}",
                strong="openai:scripted",
                judge="llm",
                max_new_tokens=new_tokens,
                db=f"sqlite:///{work / 'rounds.db'}",
                concurrency=queries,
                rounds=r,
                run="gpu",
                out=str(work / "adapters"),
                eval_data=heldout,
                weak_engine=engine,
                dpo=DPOHyperparams(preset="small", max_steps=8, batch_size=4, grad_accum=1),
            )
            start = time.perf_counter()
            ended, reports = within(budget_s, lambda o=opts: run_rounds(o, progress=False))
            seconds = round(time.perf_counter() - start, 1)
            if not ended:
                results[f"rounds 1..{r}"] = f"still running after {budget_s} s: a hang"
                return
            last = reports[-1]
            results[f"round {r}"] = {
                "seconds": seconds,  # round 1's include round 0's held-out evaluation
                "pairs": last.pairs,
                "drafts": last.drafts,
                "note": last.note,
                "heldout": last.heldout.as_dict() if last.heldout else None,
            }
            save_partial()
    if torch.cuda.is_available():
        results["peak GPU memory (GiB)"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    results["hangs"] = 0


def within(seconds: float, job: Any) -> tuple[bool, Any]:
    """(finished, result) of `job` run in a thread given `seconds`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = job()
        except BaseException as exc:  # noqa: BLE001 - handed back
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box["value"]


# -- (c) DPO steps/s ----------------------------------------------------------------------------------


def dpo(path: str, works: list[Path], steps: int) -> dict:
    """cowest's DPO round trainer against plain TRL on the same pairs (round 1 of a store of part b)."""
    from cowest.storage import get_store
    from cowest.trainer.dpo import DPOOptions, dpo_dataset, train_dpo
    from cowest.trainer.options import DPOHyperparams

    for work in works:
        if (work / "rounds.db").exists():
            store = get_store(f"sqlite:///{work / 'rounds.db'}")
            dataset, _ = dpo_dataset(store, "gpu", 1)
            if dataset is not None:
                break
    else:
        return {"error": "part (b) stored no pairs in round 1"}
    results: dict[str, Any] = {"pairs": len(dataset), "steps": steps}
    # The first trainer of a process pays for CUDA's start (kernels, allocator): a plain one warms up
    results["warm-up (plain TRL, 2 steps)"] = plain_trl_dpo(path, dataset, 2, work)
    free()
    hyper = DPOHyperparams(preset="small", max_steps=steps, batch_size=4, grad_accum=1)
    opts = DPOOptions(run="gpu", round=1, out=str(work / "dpo-cowest"), weak=f"huggingface:{path}", **vars(hyper))
    start = time.perf_counter()
    row = train_dpo(store, opts)
    results["cowest train_dpo seconds (load + train + save)"] = round(time.perf_counter() - start, 1)
    results["cowest steps/s"] = (row.metrics or {}).get("train_steps_per_second") if row else None
    free()
    results["plain TRL"] = plain_trl_dpo(path, dataset, steps, work)
    free()
    if results["cowest steps/s"] and results["plain TRL"].get("steps/s"):
        results["cowest / plain TRL"] = round(results["cowest steps/s"] / results["plain TRL"]["steps/s"], 3)
    return results


def plain_trl_dpo(path: str, dataset: Any, steps: int, work: Path) -> dict:
    """TRL's DPOTrainer as its docs write it: bf16 and gradient checkpointing on a GPU, LoRA r=16."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    gpu = torch.cuda.is_available()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if gpu else torch.float32)
    config = DPOConfig(
        output_dir=str(work / "dpo-trl"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        max_steps=steps,
        learning_rate=1e-4,
        optim="rmsprop",
        bf16=gpu,
        gradient_checkpointing=gpu,
        use_cpu=not gpu,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        max_length=1024,
    )
    lora = LoraConfig(r=16, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tok, peft_config=lora)
    out = trainer.train()
    return {"steps/s": out.metrics.get("train_steps_per_second"), "seconds": out.metrics.get("train_runtime")}


# -- the run --------------------------------------------------------------------------------------------

RESULTS: dict[str, Any] = {}
OUT_FILE: Path | None = None


def save_partial() -> None:
    if OUT_FILE is not None:
        OUT_FILE.write_text(json.dumps(RESULTS, indent=2, default=str))


def main() -> None:
    global OUT_FILE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokenizer", required=True, help="a folder with a tokenizer and its chat template")
    p.add_argument("--shape", default="smollm2-1.7b", choices=sorted(SHAPES))
    p.add_argument("--out", default=os.environ.get("OUT", "bench/out/gpu"))
    p.add_argument("--parts", default="drafting,rounds,dpo")
    p.add_argument("--queries", type=int, default=32)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--engines", default="auto,loop,generate", help="cowest engines to time in part (a)")
    p.add_argument(
        "--library",
        default="generate,static,static-no-cudagraphs,generate_batch",
        help="transformers' paths to time in part (a)",
    )
    p.add_argument("--rounds-budget-s", type=float, default=240.0, help="a round still running after this is a hang")
    p.add_argument("--rounds-engines", default="auto", help="the weak engines of part (b), each a run of its own")
    p.add_argument("--dpo-steps", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the built model and the run's store and adapters")
    args = p.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("cowest.nodes.models.batching").setLevel(logging.DEBUG)  # a model failure's traceback
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    OUT_FILE = out / "gpu_check.json"
    import transformers

    from cowest.nodes.models.registry import release_local_models

    RESULTS.update(
        device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (a dry run)",
        torch=torch.__version__,
        transformers=transformers.__version__,
        shape=args.shape,
    )
    start = time.perf_counter()
    path = build_model(args.shape, args.tokenizer)
    RESULTS["seconds to build the model"] = round(time.perf_counter() - start, 1)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    parts = args.parts.split(",")
    engines = [e for e in args.engines.split(",") if e]
    for name in parts:  # in the order given: what matters most first, in case the run is cut short
        if name == "rounds":
            for engine in args.rounds_engines.split(","):
                t = time.perf_counter()
                RESULTS[f"rounds ({engine})"] = part = {}
                part.update(
                    guarded(
                        lambda e=engine, into=part: rounds(
                            path,
                            work / e,
                            args.queries // 2,
                            args.samples,
                            args.new_tokens // 2,
                            args.rounds_budget_s,
                            e,
                            into,
                        )
                    )
                    or {}
                )
                part["seconds in all"] = round(time.perf_counter() - t, 1)
                save_partial()
                release_local_models()
        elif name == "drafting":
            RESULTS["drafting"] = part = {}
            part.update(
                guarded(
                    lambda into=part: drafting(
                        path, work, args.queries, args.samples, args.new_tokens, engines, args.library.split(","), into
                    )
                )
                or {}
            )
        elif name == "dpo":
            stores = [work / e for e in args.rounds_engines.split(",")]
            RESULTS["dpo"] = guarded(lambda s=stores: dpo(path, s, args.dpo_steps))
        else:
            raise SystemExit(f"unknown part {name!r}: drafting, rounds or dpo")
        save_partial()
    RESULTS["seconds in all"] = round(time.perf_counter() - start, 1)
    save_partial()
    if not args.keep:
        import shutil

        for folder in (path, work):
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(RESULTS, indent=2, default=str), flush=True)


if __name__ == "__main__":
    main()
