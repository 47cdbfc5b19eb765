"""A short request while a long one decodes: seconds until an 8-token request is answered while a
request capped at 1024 new tokens runs on the same local model (the bundled SmolLM2), against the
8-token request alone. Prints one JSON object.

    python bench/fairness.py [--long 1024] [--short 8]
"""

from __future__ import annotations

import argparse
import json
import time

from cowest.models import BUNDLED_NAME, Sampling, get_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", type=int, default=1024)
    p.add_argument("--short", type=int, default=8)
    args = p.parse_args()
    model = get_model(BUNDLED_NAME)
    base = model.base  # type: ignore[attr-defined]
    base.stop_ids = {-1}  # the long request really runs to its cap
    short_prompt = [[{"role": "user", "content": "What is two plus two?"}]]
    short = Sampling(max_new_tokens=args.short, repetition_penalty=1.1)
    model.generate(short_prompt, sampling=short)  # warm up
    t = time.perf_counter()
    model.generate(short_prompt, sampling=short)
    alone = time.perf_counter() - t
    long_request = base.batches.submit(
        None,
        [[{"role": "user", "content": "Tell a long story."}]],
        1,
        Sampling(max_new_tokens=args.long, repetition_penalty=1.1),
    )
    time.sleep(1.0)  # the long request is decoding
    t = time.perf_counter()
    model.generate(short_prompt, sampling=short)
    beside = time.perf_counter() - t
    long_still_running = not long_request.done()
    long_request.result()
    print(
        json.dumps(
            {
                "short tokens": args.short,
                "long tokens": args.long,
                "short request alone s": round(alone, 2),
                "short request beside the long one s": round(beside, 2),
                "long request still running when the short one was answered": long_still_running,
            }
        )
    )


if __name__ == "__main__":
    main()
