"""KTO on labelled drafts with the tiny model: the first step sees the reference equal to the
policy, desirable completions gain on undesirable ones, the class-balance weights are TRL's advice,
lineage records the examples, and TRL's own `trl kto` trains on an exported folder as it is."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROMPTS
from test_trainer import completion_logprob, load, save_draft

from cowest.core import BadInput
from cowest.storage import example_rows, export_examples, get_store
from cowest.tasks.prompts import weak_draft_prompt
from cowest.trainer.kto import KTOOptions, train_kto

pytestmark = pytest.mark.slow  # trains

GOOD, BAD = ["Answer:\nyes"], ["Answer:\nnever", "Answer:\nmaybe"]  # one desirable, two undesirable per query


def seed_examples(db_url: str, run: str, round: int) -> list[int]:
    """Drafts and their labels stored the way the pair collector stores them; returns example ids."""
    store = get_store(db_url)
    run_id = store.ensure_run(run, "open")
    for n, prompt in enumerate(PROMPTS):
        q = store.ensure_query(run_id, f"q{n}", prompt, "gold")
        labelled = [(t, True) for t in GOOD] + [(t, False) for t in BAD]
        rows = []
        for i, (text, good) in enumerate(labelled):
            call = save_draft(store, run_id, f"{run}-{round}-{n}-{i}", round, q, i, prompt, text)
            rows.append((i, call.id, good, 1.0 if good else -2.0))
        store.save_examples(run_id, round, q, rows)
    return [e.id for e in store.examples_of(run_id, round)]


def gap(model, tok) -> float:
    """Mean log-prob of the desirable completions minus that of the undesirable ones."""
    good = [completion_logprob(model, tok, weak_draft_prompt(p), c) for p in PROMPTS for c in GOOD]
    bad = [completion_logprob(model, tok, weak_draft_prompt(p), c) for p in PROMPTS for c in BAD]
    return sum(good) / len(good) - sum(bad) / len(bad)


def test_export_is_trls_unpaired_format_with_every_labelled_draft(db_url, tmp_path):
    ids = seed_examples(db_url, "exp", 1)
    seed_examples(db_url, "exp", 2)
    rows = example_rows(get_store(db_url), "exp", 1)
    assert [r["example_id"] for r in rows] == ids and len(rows) == len(PROMPTS) * 3
    for r in rows:
        assert r["prompt"] == weak_draft_prompt(PROMPTS[int(r["query_id"][1:])])
        assert r["completion"][0]["role"] == "assistant"
        assert r["label"] == (r["completion"][0]["content"] in GOOD) == (r["delta"] > 0)
    path = export_examples(get_store(db_url), "exp", tmp_path / "ex")  # every round
    assert len(path.read_text().splitlines()) == 2 * len(rows)


@pytest.mark.parametrize("start", ["sft", "base"])
def test_first_kto_step_has_the_reference_equal_to_the_policy_and_desirable_gains(
    start, sft_adapter, tiny_model, db_url, tmp_path
):
    ids = seed_examples(db_url, "toy", 1)
    from_adapter = sft_adapter["path"] if start == "sft" else None
    before = gap(*load(tiny_model, from_adapter))
    row = train_kto(
        get_store(db_url),
        KTOOptions(
            run="toy",
            round=1,
            out=str(tmp_path / "kto"),
            weak=f"huggingface:{tiny_model}",
            from_adapter=from_adapter,
            trl={
                "learning_rate": 1e-2,
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 1,
                "max_steps": 12,
            },
        ),
    )
    m = row.metrics
    # 4 desirable, 8 undesirable: the desirable loss is weighted 2 so that both classes weigh the same
    assert (m["desirable"], m["undesirable"], m["desirable_weight"], m["undesirable_weight"]) == (4, 8, 2.0, 1.0)
    # Step 1: log-ratios and KL are 0, so each example's loss is half its weight.
    assert abs(m["first_kl"]) < 1e-4 and all(abs(v) < 1e-4 for v in m["first_rewards"].values())
    first_batch = row.example_ids[:4]
    weights = [2.0 if i in _desirable(db_url, "toy") else 1.0 for i in first_batch]
    assert abs(m["first_loss"] - 0.5 * sum(weights) / len(weights)) < 1e-3
    after = gap(*load(tiny_model, row.path))
    assert after > before
    assert row.kind == "kto" and sorted(row.example_ids) == ids and row.pair_ids == []
    assert row.reference == ("previous" if start == "sft" else "base")


def _desirable(db_url: str, run: str) -> set[int]:
    store = get_store(db_url)
    return {e.id for e in store.examples_of(store.run_id(run)) if e.desirable}


def test_weights_follow_the_class_balance_unless_given():
    from cowest.trainer.kto import balance_weights, kto_config

    assert balance_weights(10, 40) == (4.0, 1.0) and balance_weights(40, 10) == (1.0, 4.0)
    assert balance_weights(0, 9) == (1, 1)
    given = KTOOptions(run="r", round=1, trl={"desirable_weight": 1.2})
    config = kto_config(given, balance_weights(10, 40)).config
    assert (config.desirable_weight, config.undesirable_weight) == (1.2, 1.0)  # the flag wins over the balance
    with pytest.raises(BadInput, match="at least 2"):
        kto_config(KTOOptions(run="r", round=1, trl={"per_device_train_batch_size": 1}))


def test_trl_kto_cli_trains_on_an_exported_round(tiny_model, db_url, tmp_path):
    seed_examples(db_url, "cli", 1)
    folder = export_examples(get_store(db_url), "cli", tmp_path / "examples", round=1).parent
    trl = shutil.which("trl", path=str(Path(sys.executable).parent)) or "trl"
    out = tmp_path / "trained"
    proc = subprocess.run(
        [trl, "kto", "--model_name_or_path", tiny_model, "--dataset_name", str(folder), "--output_dir", str(out)]
        + ["--max_steps", "2", "--per_device_train_batch_size", "2", "--bf16", "False"]
        + ["--gradient_checkpointing", "False", "--use_peft", "--lora_r", "4", "--lora_alpha", "8"]
        + ["--report_to", "none", "--logging_steps", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any(out.rglob("adapter_model.safetensors"))


def test_cli_exports_examples_and_refuses_a_round_without_any(db_url, tmp_path, capsys):
    from cowest.cli import main

    seed_examples(db_url, "c", 1)
    assert main(["examples", "export", "--run", "c", "--round", "1", "--out", str(tmp_path / "x"), "--db", db_url]) == 0
    assert "wrote 12 examples (4 desirable, 8 undesirable)" in capsys.readouterr().out
    assert main(["train", "kto", "--run", "c", "--round", "2", "--weak", "smollm2", "--db", db_url]) == 2
    assert "has no judged examples" in capsys.readouterr().err
