"""Batched decoding of a local model, written out instead of calling `generate`, for three savings:
the K samples of a prompt continue from one prefill (its KV cache repeated K times), a row that has
finished leaves the batch, so one long draft does not keep the finished rows computing to the end,
and new prompts join the rows already decoding at the next step instead of waiting for them.
Choosing a token follows transformers: repetition penalty, then temperature, then top-p.

Only public transformers API: the model's forward, `DynamicCache` and its documented methods
(`update`, `batch_repeat_interleave`, `batch_select_indices`, `layers[i].keys/values`); the cache's
argument name is read off the forward's signature (`past_key_values`, renamed `cache` in 5.2x)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from .base import Sampling


def decoded(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    k: int,
    sampling: Sampling,
    stop_ids: set[int],
    seeds: list[int | None] | None = None,
) -> Decoding:
    """New token ids for each of `k` continuations of each (left-padded) prompt, rows ordered prompt
    by prompt, as the batch's `out` once every row has finished (and its `logprobs` where asked
    for); a row ends with its stop token, or at `sampling.max_new_tokens` tokens. `seeds`: one per
    row, which makes its sampled tokens the same whatever else decodes beside it."""
    batch = Decoding(model, sampling, stop_ids)
    batch.add(input_ids, attention_mask, k, seeds)
    while batch.rows:
        batch.step()
    return batch


def decode(*args: Any, **kwargs: Any) -> list:
    """`decoded(...).out`: the new token ids of each row."""
    return decoded(*args, **kwargs).out


class Decoding:
    """Rows decoding together, one token each per `step`. Prompts may be added between steps (they
    join the rows already decoding, continuous batching) and a row leaves when it has finished.
    `out[slot]` holds the new tokens of each row ever added, `done[slot]` whether it has finished, and
    with `sampling.logprobs` `logprobs[slot]` each token's log probability under the model (before
    the repetition penalty and temperature: what the model believes, FLARE's confidence)."""

    def __init__(self, model: Any, sampling: Sampling, stop_ids: set[int]):
        self.model, self.sampling = model, sampling
        self.cache_name = cache_argument(model)  # what the forward calls its KV cache
        self.stops = torch.tensor(sorted(stop_ids))
        self.out: list[list[int]] = []
        self.logprobs: list[list[float]] = []
        self.done: list[bool] = []
        self.cache: Any = None  # the rows' keys and values, on one time axis (left-padded)
        self.state: dict[str, Any] = {}  # per row: slot, last token, position, mask, seen tokens, tokens left
        self.generators: dict[int, Any] = {}  # slot -> the random stream of a row given a seed

    @property
    def rows(self) -> int:
        return 0 if self.cache is None else int(self.state["slot"].shape[0])

    def add(
        self,
        input_ids: Any,
        attention_mask: Any,
        k: int,
        seeds: list[int | None] | None = None,
        max_new_tokens: int | None = None,
    ) -> range:
        """Prefill the (left-padded) prompts once and add `k` rows for each; their slots in `out`.
        A row given a seed draws its tokens from a random stream of its own; `max_new_tokens` (the
        sampling's by default) is these rows' own budget, so short requests join long ones."""
        ids, mask = input_ids, attention_mask
        budget = self.sampling.max_new_tokens if max_new_tokens is None else max_new_tokens
        self.stops = self.stops.to(ids.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: a row's positions start at its first token
        cache = DynamicCache()
        # The prefill only fills the cache: its last position is fed again as the first step.
        prefill = dict(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1])
        self.model(**prefill, **{self.cache_name: cache}, use_cache=True, logits_to_keep=1)
        if k > 1:
            cache.batch_repeat_interleave(k)
            ids, mask, positions = (t.repeat_interleave(k, 0) for t in (ids, mask, positions))
        slots = range(len(self.out), len(self.out) + ids.shape[0])
        self.out += [[] for _ in slots]
        self.logprobs += [[] for _ in slots]
        self.done += [False for _ in slots]
        if seeds is not None and not self.sampling.greedy:
            if len(seeds) != len(slots):
                raise ValueError(f"{len(seeds)} seeds for {len(slots)} rows")
            self.generators.update(
                {slot: torch.Generator().manual_seed(seed) for slot, seed in zip(slots, seeds) if seed is not None}
            )
        state = dict(
            slot=torch.tensor(slots, device=ids.device),
            last=ids[:, -1:],
            position=positions[:, -1:],
            mask=mask,
            seen=ids,  # what the repetition penalty looks at: the prompt (padding too, as transformers) and new tokens
            left=torch.full((ids.shape[0],), budget, device=ids.device),
        )
        if self.cache is None:
            self.cache, self.state = cache, state
        else:
            self._join(cache, state)
        return slots

    def _join(self, cache: Any, state: dict[str, Any]) -> None:
        """Put new rows beside the running ones, aligned on the right: the shorter side's cache and
        mask are padded on the left (masked out); its seen tokens with a token already seen, which
        leaves the repetition penalty as it was."""
        length = max(self.cache.get_seq_length(), cache.get_seq_length())
        joined_cache = DynamicCache()
        for i, (a, b) in enumerate(zip(self.cache.layers, cache.layers)):
            keys, values = (
                torch.cat([_pad_left(x, length, 0.0), _pad_left(y, length, 0.0)])
                for x, y in ((a.keys, b.keys), (a.values, b.values))
            )
            joined_cache.update(keys, values, i)
        self.cache = joined_cache
        ours, theirs = self.state, state
        width = max(ours["seen"].shape[1], theirs["seen"].shape[1])
        joined = {name: torch.cat([ours[name], theirs[name]]) for name in ("slot", "last", "position", "left")}
        joined["mask"] = torch.cat([_pad_left(t["mask"], length + 1, 0) for t in (ours, theirs)])
        joined["seen"] = torch.cat([_pad_left(t["seen"], width, None) for t in (ours, theirs)])
        self.state = joined

    def step(self) -> None:
        """One token for every row; the rows that finish leave."""
        s = self.state
        logits = self.model(
            input_ids=s["last"],
            attention_mask=s["mask"],
            position_ids=s["position"],
            use_cache=True,
            **{self.cache_name: self.cache},
        ).logits
        slots = s["slot"].tolist()
        chosen = choose(logits[:, -1, :].float(), s["seen"], self.sampling, self._uniforms(slots, logits.device))
        left = s["left"] - 1
        finished = torch.isin(chosen, self.stops) | (left == 0)
        ended = finished.tolist()  # one read back from the device per step
        if self.sampling.logprobs:
            scores = torch.log_softmax(logits[:, -1, :].float(), dim=-1).gather(1, chosen[:, None]).squeeze(1)
            for slot, score in zip(slots, scores.tolist()):
                self.logprobs[slot].append(score)
        for slot, token, end in zip(slots, chosen.tolist(), ended):
            self.out[slot].append(token)
            self.done[slot] = end
            if end:
                self.generators.pop(slot, None)
        if all(ended):
            self.cache, self.state = None, {}
            return
        last = chosen[:, None]
        s = dict(
            slot=s["slot"],
            last=last,
            position=s["position"] + 1,
            mask=torch.cat([s["mask"], s["mask"].new_ones(s["mask"].shape[0], 1)], dim=1),
            seen=torch.cat([s["seen"], last], dim=1) if self.sampling.repetition_penalty != 1.0 else s["seen"],
            left=left,
        )
        if any(ended):
            keep = (~finished).nonzero().squeeze(1)
            self.cache.batch_select_indices(keep)
            s = {name: t[keep] for name, t in s.items()}
        self.state = s

    def _uniforms(self, slots: list[int], device: Any) -> Any:
        """One uniform number per row for this step's draw: from the row's own stream when it has
        one (so its tokens do not depend on the rows beside it), else from torch's global one."""
        if self.sampling.greedy or not self.generators:
            return None
        fresh = torch.rand(len(slots))
        for i, slot in enumerate(slots):
            stream = self.generators.get(slot)
            if stream is not None:
                fresh[i] = torch.rand(1, generator=stream)[0]
        return fresh.to(device)


def cache_argument(model: Any) -> str:
    """The name under which `model`'s forward takes its KV cache."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT model passes it on
    return "cache" if "cache" in inspect.signature(type(inner).forward).parameters else "past_key_values"


def _pad_left(t: Any, width: int, value: float | None) -> Any:
    """`t` padded on the left of its time axis (the second to last for a KV cache, 4 dimensions;
    the last for rows x columns) to `width`, with `value` or, when it is None, each row's first
    column. A cache's padding is zeros: masked out, but never NaN, which a mask would not cancel."""
    axis = -2 if t.dim() == 4 else -1
    missing = width - t.shape[axis]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[axis] = missing
    if value is None:
        pad = t[:, :1].expand(-1, missing)
    else:
        pad = t.new_full(shape, value)
    return torch.cat([pad, t], dim=axis)


def choose(logits: Any, seen: Any, sampling: Sampling, uniforms: Any = None) -> Any:
    """The next token of each row from its logits (float, rows x vocabulary); `uniforms`: the
    row's number in [0, 1) for the draw (default: fresh from torch's global stream)."""
    if sampling.repetition_penalty != 1.0:
        logits = penalize_repeats(logits, seen, sampling.repetition_penalty)
    if sampling.greedy:
        return logits.argmax(dim=-1)
    mass = torch.softmax(logits / sampling.temperature, dim=-1)
    if uniforms is None:
        uniforms = torch.rand(mass.shape[0], device=mass.device)
    if sampling.top_p >= 1.0:
        return draw(mass, uniforms)
    chosen = torch.empty(mass.shape[0], dtype=torch.long, device=mass.device)
    for rows, ids, kept_mass in top_p_candidates(mass, sampling.top_p):
        chosen[rows] = ids.gather(1, draw(kept_mass, uniforms[rows])[:, None]).squeeze(1)
    return chosen


def draw(weights: Any, uniforms: Any = None) -> Any:
    """One column of each row, drawn with probability proportional to its weight (as
    `torch.multinomial(weights, 1)`, which on a CPU costs 15x more: 64 rows of a 49k vocabulary,
    74 ms against 5): a uniform number (`uniforms`, one a row; fresh ones by default) into the
    running sum of the row's weights."""
    total = weights.cumsum(dim=-1)
    if uniforms is None:
        uniforms = torch.rand(total.shape[0], device=total.device)
    at = uniforms.to(total.dtype)[:, None] * total[:, -1:]
    # right=True: the first column whose running sum passes `at`, which skips columns of weight 0
    return torch.searchsorted(total, at, right=True).squeeze(1).clamp_(max=weights.shape[-1] - 1)


def penalize_repeats(logits: Any, seen: Any, penalty: float) -> Any:
    """transformers' repetition penalty: the logit of every token already in the row is divided by
    `penalty` when positive, multiplied when negative."""
    scores = logits.gather(1, seen)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.scatter(1, seen, scores)


def top_p_candidates(mass: Any, top_p: float) -> Iterator[tuple[Any, Any, Any]]:
    """What top-p keeps of each row's probabilities, as (rows, candidate ids, their probability or 0
    where dropped) for groups of rows. A token is kept while the probability ranked above it is
    below `top_p` (transformers' TopPLogitsWarper; the most probable token is always kept).
    Sorting a large vocabulary costs more than the model's step, so each row looks among its top 256
    tokens, then its top 4096, and only a row they do not cover is sorted in full (a small
    vocabulary is sorted at once)."""
    rows = torch.arange(mass.shape[0], device=mass.device)
    vocabulary = mass.shape[-1]
    for width in [w for w in (256, 4096) if w < vocabulary // 4] + [vocabulary]:
        top_mass, top_ids = mass[rows].topk(width, dim=-1)
        covered = top_mass.sum(dim=-1) >= top_p
        if width == vocabulary:
            covered[:] = True
        if bool(covered.any()):
            top_mass, top_ids = top_mass[covered], top_ids[covered]
            above = top_mass.cumsum(dim=-1) - top_mass
            kept = above < top_p
            kept[:, 0] = True
            yield rows[covered], top_ids, top_mass * kept
        rows = rows[~covered]
        if not len(rows):
            return
