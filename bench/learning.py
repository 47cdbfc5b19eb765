"""Can the loop be seen to learn? A controlled benchmark of collaborative against individual feedback.

The weak model is the bundled SmolLM2-135M-Instruct; the strong model and the judge are a scripted
OpenAI-compatible server on loopback whose help depends on one stated, learnable property of the
draft that judging the draft alone does not reward:

    THE PROPERTY: the draft explains itself in at least --min-words words (default 25); or, with
    --max-words N, the draft is at most N words long (a property DPO's drift to longer outputs does
    not produce). The strong model, given a draft with the property, trusts it and answers the gold
    option; given another draft (or no draft: its solo answer z), it answers a wrong option. The judge (and the
    annotator of individual feedback) scores an output 10 when its answer is the gold option, else 1.

So under collaborative feedback a draft is positive exactly when it has the property (its refinement
scores 10 > E_z = 1), while under individual feedback (RLAIF: the scripted annotator scores each
draft on its own) a draft is positive when its own answer is right, whatever its length. The
held-out metric is the collaboration's accuracy on queries never trained on (the collab method with
each round's adapter; round 0 = the bare model), i.e. the share of greedy drafts with the property.

    python bench/learning.py                       # all arms, 3 rounds, 48 training / 48 held-out queries
    python bench/learning.py --arms collab-small --rounds 1   # a pilot

Arms: collab-small, individual-small (the --preset small DPO settings), collab-paper (the paper's DPO
defaults: lr 1.41e-5, grad-accum 16, 1 epoch). Results: OUT/learning.json and a table on stdout;
everything is stored in OUT/bench.db, so a rerun resumes (finished rounds and calls are reused).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scripted_server import ScriptedServer, kind_of, section  # noqa: E402

from cowest.core import copy_as  # noqa: E402
from cowest.models import BUNDLED_NAME  # noqa: E402
from cowest.rounds import RoundsOptions, run_rounds  # noqa: E402
from cowest.storage import get_store  # noqa: E402
from cowest.tasks import get_task  # noqa: E402
from cowest.trainer.configs import build_config  # noqa: E402
from cowest.trainer.options import TrainingChoice  # noqa: E402

LETTERS = "ABCD"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmcqa" / "dev_part.jsonl"
ARMS = {  # arm: (feedback, preset, objective)
    "collab-small": ("collaborative", "small", "dpo"),
    "individual-small": ("individual", "small", "dpo"),
    "collab-paper": ("collaborative", "paper", "dpo"),
    "grpo-collab-small": ("collaborative", "small", "grpo"),
    "grpo-individual-small": ("individual", "small", "grpo"),
}


class Oracle:
    """The scripted strong model and judge: it knows each query's gold option."""

    def __init__(self, examples, min_words: int, max_words: int | None = None):
        self.min_words, self.max_words = min_words, max_words
        self.task = get_task("medmcqa")
        self.by_query = {ex.query.strip(): ex for ex in examples}
        self.by_gold = {ex.gold.strip(): ex for ex in examples}

    def __call__(self, prompt: str) -> str:
        from cowest.tasks.parsing import parse_answer

        kind = kind_of(prompt)
        if kind == "judge":
            ex = self.by_gold[section(prompt, "Ground truth:").split("\n\nModel output:", 1)[0].strip()]
            right = self.task.is_correct(parse_answer(self.task, section(prompt, "Model output:"), ex), ex)
            return "10" if right else "1"
        if kind == "refine":
            ex, draft = self._example(section(prompt, "Question:")), section(prompt, "Expert model's answer:")
            if self.has_property(draft):
                return f"Explanation: the expert's reasoning holds up.\nAnswer: {ex.answers[0]}"
            return f"Explanation: the expert gives too little to go on.\nAnswer: {_wrong(ex)}"
        return f"Explanation: from memory.\nAnswer: {_wrong(self._example(prompt))}"

    def has_property(self, draft: str) -> bool:
        words = len(draft.split())
        return words <= self.max_words if self.max_words is not None else words >= self.min_words

    def _example(self, text: str):
        for query, ex in self.by_query.items():
            if text.strip().startswith(query):
                return ex
        raise KeyError(f"unknown query: {text[:80]!r}")


def _wrong(ex) -> str:
    return LETTERS[(LETTERS.index(ex.answers[0]) + 1) % 4]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--train", type=int, default=48)
    p.add_argument("--heldout", type=int, default=48)
    p.add_argument("--heldout-offset", type=int, default=1000, help="held-out rows start here (never trained on)")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-words", type=int, default=25)
    p.add_argument(
        "--max-words",
        type=int,
        default=None,
        help="the property is instead: the draft has at most this many words (against DPO's drift to length)",
    )
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", default="bench/out/learning")
    p.add_argument(
        "--real",
        action="store_true",
        help="the real-task version instead: SmolLM2 as the weak and the strong model, exact-match judge, no oracle",
    )
    args = p.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{(out / 'bench.db').resolve()}"
    task = get_task("medmcqa")
    train = task.load(args.data, limit=args.train).examples
    heldout_rows = [row for _, row in _rows(args.data)][args.heldout_offset : args.heldout_offset + args.heldout]
    heldout_file = out / "heldout.jsonl"
    heldout_file.write_text("".join(json.dumps(r) + "\n" for r in heldout_rows))
    heldout = task.load(heldout_file).examples
    oracle = Oracle(train + heldout, args.min_words, args.max_words)

    if args.real:
        return run_real(args, db, heldout_file, out)
    stated = f"at most {args.max_words}" if args.max_words is not None else f"at least {args.min_words}"
    results: dict = {"args": vars(args), "property": f"draft of {stated} words", "arms": {}}
    with ScriptedServer(oracle) as server:
        base = base_options(args, db, out, heldout_file, strong="openai:oracle", judge="llm")
        import os

        os.environ["OPENAI_BASE_URL"] = server.url
        os.environ.setdefault("OPENAI_API_KEY", "none")
        for arm in [a.strip() for a in args.arms.split(",") if a.strip()]:
            feedback, preset, objective = ARMS[arm]
            results["arms"][arm] = run_arm(base, arm, feedback, preset, args.rounds, db, objective)
            (out / "learning.json").write_text(json.dumps(results, indent=2))
    print(summary_table(results))


def base_options(args, db: str, out: Path, heldout_file: Path, strong: str, judge: str) -> RoundsOptions:
    """The rounds every arm runs: the same queries, K, budget and held-out file."""
    return RoundsOptions(
        task="medmcqa",
        data=args.data,
        limit=args.train,
        samples=args.samples,
        weak=BUNDLED_NAME,
        strong=strong,
        judge=judge,
        max_new_tokens=args.max_new_tokens,
        db=db,
        concurrency=args.concurrency,
        rounds=1,
        out=str(out / "adapters"),
        eval_data=str(heldout_file),
    )


def run_real(args, db: str, heldout_file: Path, out: Path) -> None:
    """MedMCQA with SmolLM2 as both models (exact-match judge), collaborative feedback, --preset small."""
    base = base_options(args, db, out, heldout_file, strong=BUNDLED_NAME, judge="exact")
    results = {
        "args": vars(args),
        "arms": {"real-collab-small": run_arm(base, "real", "collaborative", "small", args.rounds, db)},
    }
    (out / "learning_real.json").write_text(json.dumps(results, indent=2))
    print(summary_table(results))


def run_arm(
    base: RoundsOptions, arm: str, feedback: str, preset: str, rounds: int, db: str, objective: str = "dpo"
) -> dict:
    """Rounds 1..N one at a time (each call resumes the last), timing each; the held-out curve and
    the drafts' collapse figures per round."""
    timings = []
    reports = []
    for r in range(1, rounds + 1):
        opts = copy_as(
            RoundsOptions,
            base,
            run=arm,
            rounds=r,
            feedback=feedback,
            objective=objective,
            training=TrainingChoice(preset=preset),
        )
        start = time.perf_counter()
        reports = run_rounds(opts, progress=False)
        timings.append(round(time.perf_counter() - start, 1))
    store = get_store(db)
    points = []
    for rep in reports:
        h = rep.heldout
        point = {
            "round": rep.round,
            "pairs": rep.pairs,
            "positives": rep.positives,
            "drafts": rep.drafts,
            "strong_requests": rep.spending.sent + rep.spending.reused,
            "strong_sent": rep.spending.sent,
            "drafts_seen": rep.drafts_seen,
            "loss": rep.loss,
            "heldout": h.as_dict() if h else None,
            "collapse_heldout": collapse(store, h.result.run_id, h.result.adapter, base.max_new_tokens) if h else None,
            "collapse_training": (
                training_collapse(store, arm, rep.round, base.max_new_tokens)
                if rep.round and objective != "grpo"  # GRPO's drafts are TRL's: drafts_seen has them
                else None
            ),
        }
        points.append(point)
    return {
        "feedback": feedback,
        "preset": preset,
        "objective": objective,
        "training": build_config(objective, TrainingChoice(preset=preset), {}).record(),
        "seconds_per_round_call": timings,
        "rounds": points,
    }


def collapse(store, run_id: int, adapter: str, cap: int) -> dict:
    """Held-out greedy drafts of one adapter: median words, distinct share, drafts cut at the cap."""
    calls = [c for c in store.calls_of(run_id) if c.role == "weak_draft" and (c.adapter or "") == adapter]
    return _figures(calls, cap)


def training_collapse(store, run: str, round: int, cap: int) -> dict:
    """The round's K sampled drafts per query: the same figures, and distinct drafts per query (of K)."""
    calls = [c for c in store.calls_of(store.run_id(run), round) if c.role == "weak_draft"]
    per_query: dict[int, list[str]] = {}
    for c in calls:
        per_query.setdefault(c.query_id, []).append(c.output or "")
    figures = _figures(calls, cap)
    figures["distinct_per_query"] = statistics.mean(len(set(v)) / len(v) for v in per_query.values()) if calls else 0
    return figures


def _figures(calls, cap: int) -> dict:
    texts = [c.output or "" for c in calls]
    words = [len(t.split()) for t in texts]
    return {
        "n": len(texts),
        "median_words": statistics.median(words) if words else 0,
        "distinct_share": len(set(texts)) / len(texts) if texts else 0,
        "one_word_share": sum(w <= 1 for w in words) / len(words) if words else 0,
        "at_token_cap_share": sum((c.tokens_out or 0) >= cap for c in calls) / len(calls) if calls else 0,
    }


def summary_table(results: dict) -> str:
    """One line per arm and round; gain/100 req: the held-out gain over round 0 per 100 strong and
    judge requests sent so far (the rounds' own, the held-out evaluation's not counted)."""
    lines = ["arm | round | held-out acc [95% CI] | vs round 0 [95% CI] | McNemar p | pairs | median words | s"]
    lines[0] += " | sent | gain/100 req"
    for arm, res in results["arms"].items():
        sent = 0
        for point, seconds in zip(res["rounds"], [None, *res["seconds_per_round_call"]]):
            sent += point.get("strong_sent") or 0 if point["round"] else 0
            h = point["heldout"] or {}
            m, v = h.get("metric") or {}, h.get("vs_round_0") or {}
            line = f"{arm} | {point['round']} | {m.get('value', 0):.3f} [{m.get('low', 0):.3f}, {m.get('high', 0):.3f}]"
            line += f" | {v.get('diff', 0):+.3f} [{v.get('low', 0):+.3f}, {v.get('high', 0):+.3f}]" if v else " | -"
            line += f" | {v['p_value']:.3g}" if v.get("p_value") is not None else " | -"
            words = (point["collapse_heldout"] or {}).get("median_words")
            per_100 = f"{100 * v['diff'] / sent:+.4f}" if v and sent else "-"
            lines.append(line + f" | {point['pairs']} | {words} | {seconds or '-'} | {sent} | {per_100}")
    return "\n".join(lines)


def _rows(path: str):
    from cowest.tasks.base import read_json_rows

    return read_json_rows(Path(path))


if __name__ == "__main__":
    main()
