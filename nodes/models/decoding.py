"""Batched decoding of a local model, written out instead of calling `generate`, for two savings:
the K samples of a prompt continue from one prefill (its KV cache repeated K times), and a row that
has finished leaves the batch, so one long draft does not keep the finished rows computing to the
end. Choosing a token follows transformers: repetition penalty, then temperature, then top-p."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from .base import Sampling


def decode(model: Any, input_ids: Any, attention_mask: Any, k: int, sampling: Sampling, stop_ids: set[int]) -> list:
    """New token ids for each of `k` continuations of each (left-padded) prompt, rows ordered prompt
    by prompt; a row ends with its stop token, or at `sampling.max_new_tokens` tokens."""
    ids, mask = input_ids, attention_mask
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: a row's positions start at its first token
    room = ids.shape[1] + sampling.max_new_tokens
    cache = DynamicCache()
    cache.layers = [RoomyLayer(room) for _ in range(model.config.get_text_config(decoder=True).num_hidden_layers)]
    # The prefill only fills the cache: its last position is fed again as the first step.
    prefill = dict(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1])
    model(**prefill, cache=cache, logits_to_keep=1)
    if k > 1:
        cache.batch_repeat_interleave(k)
        ids, mask, positions = (t.repeat_interleave(k, 0) for t in (ids, mask, positions))
    rows = torch.arange(ids.shape[0], device=ids.device)  # the output row of each row still in the batch
    seen = ids  # what the repetition penalty looks at: the prompt (padding too, as transformers) and the new tokens
    last, position = ids[:, -1:], positions[:, -1:]
    stops = torch.tensor(sorted(stop_ids), device=ids.device)
    out: list[list[int]] = [[] for _ in range(ids.shape[0])]
    for step in range(sampling.max_new_tokens):
        logits = model(input_ids=last, attention_mask=mask, position_ids=position, cache=cache, use_cache=True).logits
        chosen = choose(logits[:, -1, :].float(), seen, sampling)
        for row, token in zip(rows.tolist(), chosen.tolist()):
            out[row].append(token)
        finished = torch.isin(chosen, stops)
        if step + 1 == sampling.max_new_tokens or bool(finished.all()):
            break
        last, position = chosen[:, None], position + 1
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        seen = torch.cat([seen, last], dim=1) if sampling.repetition_penalty != 1.0 else seen
        if bool(finished.any()):
            keep = (~finished).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, last, position, mask, seen = (t[keep] for t in (rows, last, position, mask, seen))
    return out


def choose(logits: Any, seen: Any, sampling: Sampling) -> Any:
    """The next token of each row from its logits (float, rows x vocabulary)."""
    if sampling.repetition_penalty != 1.0:
        logits = penalize_repeats(logits, seen, sampling.repetition_penalty)
    if sampling.greedy:
        return logits.argmax(dim=-1)
    mass = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p >= 1.0:
        return torch.multinomial(mass, 1).squeeze(1)
    chosen = torch.empty(mass.shape[0], dtype=torch.long, device=mass.device)
    for rows, ids, kept_mass in top_p_candidates(mass, sampling.top_p):
        chosen[rows] = ids.gather(1, torch.multinomial(kept_mass, 1)).squeeze(1)
    return chosen


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


class RoomyLayer(DynamicLayer):
    """A KV cache layer that writes each new token into room reserved up front. transformers'
    DynamicLayer concatenates, copying the whole cache at every step (a quarter of a decoding step
    on CPU at 32 rows)."""

    def __init__(self, room: int):
        super().__init__()
        self.room, self.length = room, 0
        self._keys: Any = None
        self._values: Any = None

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if self._keys is None:
            self.lazy_initialization(key_states, value_states)
            rows, heads, _, dim = key_states.shape
            self._keys = key_states.new_empty(rows, heads, max(self.room, key_states.shape[-2]), dim)
            self._values = value_states.new_empty(rows, heads, self._keys.shape[2], value_states.shape[-1])
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[2]:  # past the room reserved: grow it (double)
            self._keys, self._values = (self._grown(t, 2 * end) for t in (self._keys, self._values))
        self._keys[:, :, self.length : end] = key_states
        self._values[:, :, self.length : end] = value_states
        self.length = end
        return self._view()

    def _grown(self, t: Any, size: int) -> Any:
        bigger = t.new_empty(t.shape[0], t.shape[1], size, t.shape[3])
        bigger[:, :, : self.length] = t[:, :, : self.length]
        return bigger

    def _view(self) -> tuple[Any, Any]:
        self.keys, self.values = self._keys[:, :, : self.length], self._values[:, :, : self.length]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length:
            self._keys, self._values = (t.repeat_interleave(repeats, dim=0) for t in (self._keys, self._values))
            self._view()

    def batch_select_indices(self, indices: Any) -> None:
        if self.length:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._view()
