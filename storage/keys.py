"""The keys of stored calls: a hash of named fields, so that adding a field never re-keys a store.

Two keys per call:
- the *content key* says what determines the output: the model (provider, model, endpoint, the
  adapter's content hash), the exact messages, the decoding settings that change the output, and
  for a sampled call its sample identity (run, round, query, index). Equal content keys mean the
  same answer, so any run may reuse the other's output.
- the *row key* places the call in one run's trace: run, round (none for calls every round
  shares), query, role, sample index, and the content key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

KEY_VERSION = 2  # bump when the meaning of a field changes; adding a field needs no bump


def stable_key(**fields: Any) -> str:
    """sha256 of the sorted JSON of `fields` and the key version; None fields are left out, so a
    field that is new (and absent) or unset does not change the key."""
    named = {k: v for k, v in fields.items() if v is not None}
    text = json.dumps({"v": KEY_VERSION, **named}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def content_key(model: dict, messages: Any, decoding: dict, sample: dict | None = None) -> str:
    return stable_key(model=model, messages=messages, decoding=decoding or None, sample=sample)


def row_key(run: str, round: int | None, qid: str, role: str, index: int, content: str) -> str:
    return stable_key(run=run, round=round, query=qid, role=role, index=index, content=content)


_digests: dict[tuple[str, int, int], str] = {}


def adapter_digest(path: str) -> str:
    """A content hash of a LoRA adapter's weights and config: a retrained adapter in the same folder
    gets a new hash, a copy in another folder the same one, and so do the same weights saved by
    another process (the config is hashed as canonical JSON: PEFT writes `target_modules`, a set, in
    any order). Falls back to the path when the folder is gone (a migrated row whose adapter was
    deleted)."""
    folder = Path(path)
    files = sorted(p for p in folder.glob("adapter_*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return f"path:{path}"
    stamp = (str(folder.resolve()), max(p.stat().st_mtime_ns for p in files), sum(p.stat().st_size for p in files))
    if stamp not in _digests:
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode())
            if p.suffix == ".json":
                h.update(_canonical_config(p))
                continue
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _digests[stamp] = h.hexdigest()
    return _digests[stamp]


def _canonical_config(path: Path) -> bytes:
    """A PEFT config's JSON with sorted keys, and its set-valued lists sorted."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return path.read_bytes()  # not JSON after all: its bytes
    if isinstance(config, dict):
        for name in ("target_modules", "modules_to_save", "exclude_modules", "layers_to_transform"):
            if isinstance(config.get(name), list):
                config[name] = sorted(config[name], key=str)
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
