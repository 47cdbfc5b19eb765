"""A corpus for the RAG rows from IfQA's context passages: one {"id", "text"} line per passage.

    python examples/ifqa_corpus.py examples/ifqa-sample.json ifqa-contexts.jsonl
    cowest eval --task ifqa --data examples/ifqa-sample.json --limit 10 --methods strong-cot,skr,flare \
        --corpus ifqa-contexts.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def ifqa_corpus(rows: list[dict]) -> list[dict]:
    """Each context passage of each row, its id the row's `idx` and the passage's place."""
    return [
        {"id": f"{row['idx']}-{j}", "text": text.strip()}
        for row in rows
        for j, text in enumerate(row.get("context") or [])
        if text and text.strip()
    ]


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    passages = ifqa_corpus(json.loads(Path(source).read_text(encoding="utf-8")))
    Path(target).write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages), encoding="utf-8")
    print(f"{target}: {len(passages)} passages")
