"""What the GPU check's parts share: synthetic queries, timing, results written as they come."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

RESULTS: dict[str, Any] = {}  # every part's figures, written to OUT_FILE as soon as each is known
OUT_FILE: Path | None = None


def save_partial() -> None:
    if OUT_FILE is not None:
        OUT_FILE.write_text(json.dumps(RESULTS, indent=2, default=str))


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


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
    from cowest.models.registry import free_accelerator_memory

    free_accelerator_memory()
