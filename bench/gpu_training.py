"""Parts (b) and (c) of bench/gpu_check.py: `rounds --rounds 2` end to end with held-out
evaluation, and DPO steps/s against plain TRL on the same pairs."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import torch
from gpu_common import free, mcq_rows, save_partial, write_jsonl

# cowest's DPO in these checks: the small preset at the device batch plain TRL uses here.
DPO_STEPS = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 1}


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
    from cowest.trainer.options import TrainingChoice

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
                training=TrainingChoice(preset="small", trl=DPO_STEPS | {"max_steps": 8}),
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


def dpo(path: str, works: list[Path], steps: int, passes: int = 2) -> dict:
    """cowest's DPO round trainer against plain TRL on the same pairs (round 1 of a store of part b),
    alternated `passes` times after a warm-up, so that neither pays alone for CUDA's start or for what
    part (b) left behind; the ratio of each pass, and their median."""
    from cowest.storage import get_store
    from cowest.trainer.dpo import DPOOptions, dpo_dataset, train_dpo

    for work in works:
        if (work / "rounds.db").exists():
            store = get_store(f"sqlite:///{work / 'rounds.db'}")
            dataset, _ = dpo_dataset(store, "gpu", 1)
            if dataset is not None:
                break
    else:
        return {"error": "part (b) stored no pairs in round 1"}
    results: dict[str, Any] = {"pairs": len(dataset), "steps": steps, "passes": []}
    # The first trainer of a process pays for CUDA's start (kernels, allocator): a plain one warms up
    results["warm-up (plain TRL, 2 steps)"] = plain_trl_dpo(path, dataset, 2, work)
    free()
    trl = DPO_STEPS | {"max_steps": steps}
    for i in range(passes):
        opts = DPOOptions(
            run="gpu", round=1, out=str(work / f"dpo-cowest-{i}"), weak=f"huggingface:{path}", preset="small", trl=trl
        )
        row = train_dpo(store, opts)
        ours = (row.metrics or {}).get("train_steps_per_second") if row else None
        free()
        plain = plain_trl_dpo(path, dataset, steps, work).get("steps/s")
        free()
        ratio = round(ours / plain, 3) if ours and plain else None
        results["passes"].append({"cowest steps/s": ours, "plain TRL steps/s": plain, "cowest / plain TRL": ratio})
        save_partial()
    ratios = [p["cowest / plain TRL"] for p in results["passes"] if p["cowest / plain TRL"]]
    if ratios:
        results["cowest / plain TRL (median of passes)"] = round(statistics.median(ratios), 3)
    return results


def plain_trl_dpo(path: str, dataset: Any, steps: int, work: Path) -> dict:
    """TRL's DPOTrainer as its docs write it: bf16 and gradient checkpointing on a GPU, and the LoRA and
    training settings cowest's small preset gives (the same work, so the ratio is the trainer's own cost)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from cowest.trainer.options import LoraSettings

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
    # cowest's LoRA (r=16, alpha=16, dropout 0.05 as TRL's scripts default it, all-linear): the same settings
    lora = LoraSettings().config()
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tok, peft_config=lora)
    out = trainer.train()
    return {"steps/s": out.metrics.get("train_steps_per_second"), "seconds": out.metrics.get("train_runtime")}
