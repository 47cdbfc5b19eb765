"""The reward of an online trainer's completions (GRPO, cowest/grpo_round.py), computed by the reward
graph through the same call layer as `collect`: every strong and judge call is stored as a call of
the round, reused from the store when the same draft comes again (a resumed run pays nothing twice)
and counted by the job's budget.

collaborative: Algorithm 1's comparison made continuous, the judge's score of the strong model's
refinement of the draft minus E_z, the score of the strong model's own answer (asked once per query,
stored). individual (RLWF / RLAIF): the judge's score of the draft itself.

A completion whose reward could not be had (a failed strong or judge call) is missing, never a 0: it
gets its group's mean reward, so its advantage is exactly 0 and it teaches nothing; a group with no
reward at all teaches nothing either. The tally counts both."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cowest.core import store_failure
from cowest.graph.builder import reward_graph
from cowest.models.requests_loop import submit_on_loop
from cowest.nodes.context import CollabContext
from cowest.nodes.ledger import Ledger, using_ledger
from cowest.tasks import Example
from cowest.tasks.parsing import answer_fields

from .diagnostics import draft_figures
from .runner import StoredQueries, graph_input


@dataclass
class RewardTally:
    """What the round's rewards came to (the round's metrics keep it)."""

    groups: int = 0
    completions: int = 0
    missing: int = 0  # completions without a reward (given their group's mean)
    empty_groups: int = 0  # groups without any reward
    solo_top: int = 0  # groups whose E_z was the top score: no draft can beat it, all get 0
    failed_queries: int = 0  # groups whose graph run failed outright
    first_error: str | None = None
    reward_sum: float = 0.0
    words: list[int] = field(default_factory=list)  # each completion's length in words (diagnostics)
    at_cap: int = 0  # completions cut at the token cap
    distinct: int = 0  # distinct completions, summed over groups
    beat_solo: int = 0  # completions whose refinement scored above E_z: Algorithm 1's positives

    def diagnostics(self) -> dict:
        """What the drafts looked like (cowest/diagnostics.py reads the same figures of any round)."""
        return draft_figures(self.words, self.at_cap, self.distinct, self.completions)

    @property
    def mean_reward(self) -> float | None:
        scored = self.completions - self.missing
        return self.reward_sum / scored if scored else None


def collaborative_reward(
    ctx: CollabContext,
    examples: dict[str, Example],
    group_size: int,
    ledger: Ledger,
    tally: RewardTally,
    stored: StoredQueries | None = None,
) -> Callable[..., Any]:
    """TRL's reward function (async: TRL awaits it on its own loop) for completions in groups of
    `group_size` consecutive ones per prompt, as GRPOTrainer hands them over. `stored`: the rows the
    round stored its queries under."""
    lock = threading.Lock()
    cap = ctx.max_new_tokens

    async def reward(
        prompts: list, completions: list, query_id: list[str], completion_ids: list | None = None, **_: Any
    ) -> list[float | None]:
        texts = [_text(c) for c in completions]
        starts = range(0, len(texts), group_size)
        groups = await asyncio.gather(
            *(
                _group(ctx, graph_input(examples[query_id[i]], stored=stored), texts[i : i + group_size], ledger)
                for i in starts
            )
        )
        out: list[float | None] = []
        with lock:
            for rewards, note in groups:
                out += _filled(rewards, note, tally)
                if ctx.mode == "reward":  # a reward above 0 is a refined score above E_z
                    tally.beat_solo += sum(r is not None and r > 0 for r in rewards)
            tally.words += [len(t.split()) for t in texts]
            tally.at_cap += sum(len(ids) >= cap for ids in completion_ids or [])
            tally.distinct += sum(len(set(texts[i : i + group_size])) for i in starts)
        return out

    reward.__name__ = "collaborative" if ctx.mode == "reward" else "individual"
    return reward


async def _group(ctx: CollabContext, state_in: dict, texts: list[str], ledger: Ledger) -> tuple[list, str | None]:
    """The rewards of one prompt's completions (None where missing), and what went wrong if anything."""
    parse = answer_fields(ctx.task, state_in)
    state_in["drafts"] = [{"index": j, "text": t, "call_id": None, **parse(t)} for j, t in enumerate(texts)]
    with using_ledger(ledger):  # submit_on_loop carries this context to the requests' loop
        future = submit_on_loop(reward_graph().ainvoke(state_in, context=ctx))
    try:
        state = await asyncio.wrap_future(future)
    except Exception as exc:
        if store_failure(exc) is not None:
            raise  # the store itself failed: the round stops (rounds reports it)
        return [None] * len(texts), f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return _rewards_of(ctx, state, len(texts))


def _rewards_of(ctx: CollabContext, state: dict, n: int) -> tuple[list, str | None]:
    if ctx.spec.individual:
        scores = {d["index"]: d.get("score") for d in state.get("drafts", [])}
        return [scores.get(j) for j in range(n)], None
    solo = state.get("solo") or {}
    if state.get("solo_top"):
        return [0.0] * n, "solo_top"  # Algorithm 1: no draft can beat a top-scored z
    e_z = solo.get("score")
    if e_z is None:
        return [None] * n, solo.get("error") or solo.get("judge_error") or "z was not scored"
    scores = {r["index"]: r.get("score") for r in state.get("refinements", [])}
    return [None if scores.get(j) is None else scores[j] - e_z for j in range(n)], None


def _filled(rewards: list[float | None], note: str | None, tally: RewardTally) -> list[float | None]:
    """`rewards` with each missing one replaced by the group's mean (advantage 0), tallied."""
    present = [r for r in rewards if r is not None]
    tally.groups += 1
    tally.completions += len(rewards)
    tally.missing += len(rewards) - len(present)
    tally.reward_sum += sum(present)
    if note == "solo_top":
        tally.solo_top += 1
    elif note is not None:
        tally.failed_queries += note.startswith("failed: ")
        tally.first_error = tally.first_error or note
    if not present:
        tally.empty_groups += 1
        return [0.0] * len(rewards)  # one value for the whole group: no advantage, nothing learnt
    mean = sum(present) / len(present)
    return [mean if r is None else r for r in rewards]


def _text(completion: Any) -> str:
    """A completion's text: conversational (a list of messages) or plain."""
    if isinstance(completion, list):
        return str(completion[-1].get("content") or "") if completion else ""
    return str(completion)
