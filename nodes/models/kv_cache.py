"""The KV cache layer of cowest's decoding loop (decoding.py): room reserved up front, rows that
leave and rows that join."""

from __future__ import annotations

from typing import Any

from transformers.cache_utils import DynamicLayer


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

    @classmethod
    def joined(cls, a: RoomyLayer, b: RoomyLayer, length: int, room: int) -> RoomyLayer:
        """The rows of `a`, then those of `b`, each right-aligned at `length`; the padding on the
        left is zeros (masked out, but never NaN, which a mask would not cancel)."""
        layer = cls(room)
        layer.lazy_initialization(a._keys, a._values)
        layer._keys, layer._values = (
            x.new_zeros(x.shape[0] + y.shape[0], x.shape[1], room, x.shape[3])
            for x, y in ((a._keys, b._keys), (a._values, b._values))
        )
        for at, part in ((0, a), (a._keys.shape[0], b)):
            rows = slice(at, at + part._keys.shape[0])
            layer._keys[rows, :, length - part.length : length] = part._keys[:, :, : part.length]
            layer._values[rows, :, length - part.length : length] = part._values[:, :, : part.length]
        layer.length = length
        layer._view()
        return layer
