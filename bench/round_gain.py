"""Does a DPO (or KTO) round make the weak model a better collaborator? (the paper's claim)

SFT the weak model on the first TRAIN rows, run ROUNDS collect->train rounds on them with each
objective of --objective (one collection: the second objective reads every call back from the
store), and after each stage measure on HELDOUT later rows: the share of weak drafts whose
collaborative score beats the strong model alone, and the accuracy of the collaboration (weak draft
-> strong refinement). Also: training examples per 100 strong requests (pairs for DPO, labelled
drafts for KTO).

    python bench/round_gain.py --task prosocial --data ../shared/data/prosocial/valid_first_turn.jsonl \\
        --train 100 --heldout 40 --rounds 1 --objective dpo,kto
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from cowest.collect import CollectOptions, collect
from cowest.graph import CollabContext
from cowest.models import BUNDLED_NAME, ModelSettings
from cowest.rounds import RoundsOptions, run_rounds
from cowest.runner import run_over
from cowest.tasks import get_task
from cowest.trainer.options import TrainingChoice
from cowest.trainer.sft import SFTOptions, train_sft


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="prosocial")
    p.add_argument("--data", required=True)
    p.add_argument("--train", type=int, default=100)
    p.add_argument("--heldout", type=int, default=40)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--weak", default=BUNDLED_NAME)
    p.add_argument("--strong", default=None)
    p.add_argument("--format", default="cot")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--sft-epochs", type=float, default=1.0)
    p.add_argument("--sft-lr", type=float, default=None, help="default: SFTOptions' (the paper's)")
    p.add_argument("--dpo-lr", type=float, default=None, help="default: the paper's")
    p.add_argument("--objective", default="dpo", help="comma list of dpo, kto: each trains on the same collection")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", default="bench/out/round_gain")
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{(out / 'bench.db').resolve()}"
    strong = args.strong or ModelSettings.from_env().default_strong()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    sft_dir = out / "sft"
    if not (sft_dir / "adapter_config.json").is_file():
        lr = {} if args.sft_lr is None else {"learning_rate": args.sft_lr}
        train_sft(
            SFTOptions(
                task=args.task,
                data=args.data,
                out=str(sft_dir),
                limit=args.train,
                weak=args.weak,
                format=args.format,
                epochs=args.sft_epochs,
                **lr,
            )
        )
    timings["sft"] = time.perf_counter() - t

    common = dict(
        task=args.task,
        data=args.data,
        samples=args.samples,
        strong=strong,
        judge="exact",
        format=args.format,
        max_new_tokens=args.max_new_tokens,
        db=db,
        concurrency=args.concurrency,
    )
    stages = [("sft", str(sft_dir.resolve()))]

    dpo_lr = {} if args.dpo_lr is None else {"learning_rate": args.dpo_lr}
    reports = {}
    learned_from = {}
    for objective in [o.strip() for o in args.objective.split(",") if o.strip()]:
        t = time.perf_counter()
        reports[objective] = run_rounds(
            RoundsOptions(
                limit=args.train,
                run="train",
                weak=args.weak,
                **common,
                rounds=args.rounds,
                objective=objective,
                sft_adapter=str(sft_dir),
                out=str(out / "adapters"),
                training=TrainingChoice(trl=dpo_lr if objective == "dpo" else {}),
            )
        )
        timings[f"rounds (collect + {objective})"] = time.perf_counter() - t
        for r in reports[objective]:
            if r.adapter:
                stages.append((f"{objective} round {r.round}", r.adapter))
        learned_from[objective] = examples_per_request(reports[objective], objective)

    rows = []
    for i, (name, adapter) in enumerate(stages):
        t = time.perf_counter()
        weak = f"{args.weak}@{adapter}"
        s = collect(CollectOptions(limit=args.heldout, offset=args.train, run="heldout", round=i, weak=weak, **common))
        accuracy, unparsed = collaborative_accuracy(args, weak, strong, db, i)
        rows.append(
            {
                "stage": name,
                "adapter": adapter,
                "drafts": s.drafts,
                "beats_solo": s.positives,
                "share_beats_solo": s.positives / s.drafts if s.drafts else 0.0,
                "collab_accuracy": accuracy,
                "unparsed": unparsed,
                "seconds": time.perf_counter() - t,
            }
        )
        timings[f"held-out eval, {name}"] = rows[-1]["seconds"]

    result = {
        "args": vars(args),
        "strong": strong,
        "stages": rows,
        "timings_s": timings,
        "examples_per_100_strong_requests": learned_from,
        "rounds": {o: [asdict(r) for r in rs] for o, rs in reports.items()},
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def examples_per_request(reports, objective: str) -> dict:
    """Training examples per 100 strong requests, by round: the requests a round's collection is made
    of, whether this objective sent them or read them back (a later objective on the same collection)."""
    out = {}
    for r in reports:
        requests = r.spending.sent + r.spending.reused
        examples = r.pairs if objective == "dpo" else r.positives + r.negatives
        out[r.round] = {
            "examples": examples,
            "strong_requests": requests,
            "per_100": round(100 * examples / requests, 2) if requests else None,
        }
    return out


def collaborative_accuracy(args, weak: str, strong: str, db: str, stage: int) -> tuple[float, int]:
    task = get_task(args.task)
    examples = task.load(args.data, limit=args.heldout, offset=args.train).examples
    ctx = CollabContext(
        mode="infer",
        task=args.task,
        weak=weak,
        strong=strong,
        judge="exact",
        format=args.format,
        max_new_tokens=args.max_new_tokens,
        db=db,
        run="heldout-infer",
        round=stage,
    )
    correct = unparsed = 0
    for ex, state, error in run_over(examples, ctx, args.concurrency, f"collab accuracy, stage {stage}"):
        answer = None if error else state.get("answer")
        unparsed += answer is None
        correct += task.is_correct(answer, ex)
    return correct / len(examples), unparsed


if __name__ == "__main__":
    main()
