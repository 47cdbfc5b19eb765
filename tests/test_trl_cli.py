"""TRL's own `trl dpo` CLI trains on a `cowest pairs export` folder as it is."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_trainer import TOY, seed_pairs

from cowest.storage import export_pairs, get_store

pytestmark = pytest.mark.slow


def test_trl_dpo_cli_trains_on_an_exported_round(tiny_model, db_url, tmp_path):
    seed_pairs(db_url, "exp", 1, TOY)
    seed_pairs(db_url, "exp", 2, TOY[:1])
    folder = export_pairs(get_store(db_url), "exp", tmp_path / "pairs", round=1).parent
    assert len((folder / "train.jsonl").read_text().splitlines()) == len(TOY)
    trl = shutil.which("trl", path=str(Path(sys.executable).parent)) or "trl"
    out = tmp_path / "trained"
    proc = subprocess.run(
        [
            trl,
            "dpo",
            "--model_name_or_path",
            tiny_model,
            "--dataset_name",
            str(folder),
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
            "--bf16",
            "False",
            "--gradient_checkpointing",
            "False",
            "--use_peft",
            "--lora_r",
            "4",
            "--lora_alpha",
            "8",
            "--report_to",
            "none",
            "--logging_steps",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "adapter_model.safetensors").is_file() or any(out.rglob("adapter_model.safetensors"))
