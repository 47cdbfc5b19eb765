"""Training under `accelerate launch` with several processes: the README's command (`--multi_gpu`,
which on a machine without GPUs runs its processes on the CPU over gloo, NCCL on GPUs) trains one
round as one job, and one process saves the adapter and writes its store row."""

import os
import shutil
import subprocess
import sys

import pytest
from test_trainer import TOY, seed_pairs

from cowest.storage import get_store

pytestmark = pytest.mark.slow  # starts processes and trains


def test_dpo_under_accelerate_launch_with_two_processes_records_one_adapter(tiny_model, db_url, tmp_path):
    if shutil.which("accelerate", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("accelerate's launcher is not installed beside this Python")
    pair_ids = seed_pairs(db_url, "mp", 1, TOY)
    out = tmp_path / "round-1"
    launch = [
        os.path.join(os.path.dirname(sys.executable), "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
    ]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd = launch + ["-m", "cowest.cli", "train", "dpo", "--db", db_url, "--run", "mp", "--round", "1"]
    cmd += ["--out", str(out), "--weak", f"huggingface:{tiny_model}", "--max_steps", "2", "--grad-accum", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    store = get_store(db_url)
    (row,) = [a for a in store.adapters_of(store.run_id("mp"))]
    assert row.path == str(out.resolve()) and sorted(row.pair_ids) == sorted(pair_ids)
    assert row.metrics["processes"] == 2  # one job over two processes, not two jobs
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
