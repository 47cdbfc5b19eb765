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
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the scripted strong model
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_common  # noqa: E402
from gpu_common import RESULTS, guarded, save_partial  # noqa: E402
from gpu_drafting import drafting  # noqa: E402
from gpu_training import dpo, rounds  # noqa: E402

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


# -- the run --------------------------------------------------------------------------------------------


def main() -> None:
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
    p.add_argument("--dpo-passes", type=int, default=2, help="cowest and plain TRL alternated this many times")
    p.add_argument("--keep", action="store_true", help="keep the built model and the run's store and adapters")
    args = p.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("cowest.models.batching").setLevel(logging.DEBUG)  # a model failure's traceback
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gpu_common.OUT_FILE = out / "gpu_check.json"
    import transformers

    from cowest.models.registry import release_local_models

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
            RESULTS["dpo"] = guarded(lambda s=stores: dpo(path, s, args.dpo_steps, args.dpo_passes))
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
