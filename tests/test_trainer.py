"""SFT and DPO on the tiny model: the weights move, the losses and margins go the right way, the
reference is right, and the adapter's lineage is recorded."""

import math

import pytest
import torch
from conftest import PROMPTS

from cowest.storage import get_store
from cowest.tasks.prompts import weak_draft_prompt
from cowest.trainer.dpo import DPOOptions, train_dpo
from cowest.trainer.sft import sft_rows

pytestmark = pytest.mark.slow  # starts servers or trains


def completion_logprob(model, tok, prompt_msgs, completion: str) -> float:
    """Sum of log p(completion tokens | prompt) under `model`, through the chat template."""
    prompt = tok.apply_chat_template(prompt_msgs, add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template(prompt_msgs + [{"role": "assistant", "content": completion}], tokenize=False)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([tok(full, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    logp = torch.log_softmax(logits.float(), -1).gather(1, ids[0, 1:, None])[:, 0]
    return logp[len(p_ids) - 1 :].sum().item()


def load(base: str, adapter: str | None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    if adapter:
        model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), AutoTokenizer.from_pretrained(base)


def test_sft_moves_lora_weights_and_lowers_its_own_loss(sft_adapter, tiny_model):
    from safetensors.torch import load_file

    weights = load_file(f"{sft_adapter['path']}/adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())  # B starts at zero
    from cowest.tasks import get_task

    rows = sft_rows(get_task("medmcqa").load(sft_adapter["data"]).examples, "cot")
    base, tok = load(tiny_model, None)
    tuned, _ = load(tiny_model, sft_adapter["path"])
    before = sum(completion_logprob(base, tok, r["prompt"], r["completion"][0]["content"]) for r in rows)
    after = sum(completion_logprob(tuned, tok, r["prompt"], r["completion"][0]["content"]) for r in rows)
    assert after > before + 1.0  # the loss (negative log-likelihood) on its own batch went down
    log = [h["loss"] for h in sft_adapter["result"]["log"] if "loss" in h]
    assert log[-1] < log[0]


def save_draft(store, run_id: int, key: str, round: int, query_pk: int, index: int, prompt: str, text: str):
    """A weak draft of `prompt` stored the way the graph stores one."""
    [row] = store.save_calls(
        [
            dict(
                key=key,
                run_id=run_id,
                round=round,
                query_id=query_pk,
                role="weak_draft",
                sample_index=index,
                model="tiny",
                prompt=weak_draft_prompt(prompt),
                output=text,
            )
        ]
    )
    return row


def seed_pairs(db_url: str, run: str, round: int, pairs: list[tuple[str, str, str]]) -> list[int]:
    """Write (prompt, chosen, rejected) pairs into the store the way the graph does."""
    store = get_store(db_url)
    run_id = store.ensure_run(run, "open")
    ids = []
    for n, (prompt, chosen, rejected) in enumerate(pairs):
        q = store.ensure_query(run_id, f"q{n}", prompt, "gold")
        rows = [
            save_draft(store, run_id, f"{run}-{round}-{n}-{i}", round, q, i, prompt, t)
            for i, t in enumerate((chosen, rejected))
        ]
        ids += store.save_pairs(run_id, round, q, [(rows[0].id, rows[1].id)])
    return ids


TOY = [(p, "Answer:\nyes", "Answer:\nnever") for p in PROMPTS]


def margin(model, tok) -> float:
    return sum(
        completion_logprob(model, tok, weak_draft_prompt(p), c)
        - completion_logprob(model, tok, weak_draft_prompt(p), r)
        for p, c, r in TOY
    )


@pytest.mark.parametrize("start", ["sft", "base"])
def test_first_dpo_loss_is_ln2_and_the_margin_grows(start, sft_adapter, tiny_model, db_url, tmp_path):
    pair_ids = seed_pairs(db_url, "toy", 1, TOY)
    from_adapter = sft_adapter["path"] if start == "sft" else None
    before = margin(*load(tiny_model, from_adapter))
    row = train_dpo(
        get_store(db_url),
        DPOOptions(
            run="toy",
            round=1,
            out=str(tmp_path / "dpo"),
            weak=f"huggingface:{tiny_model}",
            from_adapter=from_adapter,
            trl={
                "learning_rate": 5e-3,
                "gradient_accumulation_steps": 1,
                "per_device_train_batch_size": 2,
                "max_steps": 6,
                "beta": 0.1,
            },
        ),
    )
    assert abs(row.metrics["first_loss"] - math.log(2)) < 0.01  # policy == reference at step 1
    after = margin(*load(tiny_model, row.path))
    assert after > before
    assert row.pair_ids == pair_ids and row.reference == ("previous" if start == "sft" else "base")
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert key in row.metrics


def test_adapter_lineage_points_to_parent_and_pairs(sft_adapter, tiny_model, db_url, tmp_path):
    from cowest.storage import Adapter

    store = get_store(db_url)
    sft_row = store.save_adapter(
        Adapter(
            run_id=None,
            round=0,
            kind="sft",
            path=str(__import__("pathlib").Path(sft_adapter["path"]).resolve()),
            base_model="tiny",
        )
    )
    pair_ids = seed_pairs(db_url, "lin", 1, TOY[:2])
    r1 = train_dpo(
        store,
        DPOOptions(
            run="lin",
            round=1,
            out=str(tmp_path / "r1"),
            weak=f"huggingface:{tiny_model}",
            from_adapter=sft_adapter["path"],
            trl={"gradient_accumulation_steps": 1, "max_steps": 1},
        ),
    )
    assert r1.parent_id == sft_row.id and r1.pair_ids == pair_ids and r1.run_id == store.run_id("lin")
    pair_ids_2 = seed_pairs(db_url, "lin", 2, TOY[2:])
    r2 = train_dpo(
        store,
        DPOOptions(
            run="lin",
            round=2,
            out=str(tmp_path / "r2"),
            weak=f"huggingface:{tiny_model}",
            from_adapter=r1.path,
            trl={"gradient_accumulation_steps": 1, "max_steps": 1},
        ),
    )
    assert r2.parent_id == r1.id and r2.pair_ids == pair_ids_2 and r2.parent_path == r1.path


def test_reference_sft_replaces_the_frozen_copy(sft_adapter, tiny_model, db_url, tmp_path):
    store = get_store(db_url)
    seed_pairs(db_url, "ref", 1, TOY)
    r1 = train_dpo(
        store,
        DPOOptions(
            run="ref",
            round=1,
            out=str(tmp_path / "r1"),
            weak=f"huggingface:{tiny_model}",
            from_adapter=sft_adapter["path"],
            trl={"learning_rate": 5e-3, "gradient_accumulation_steps": 1, "max_steps": 4},
        ),
    )
    seed_pairs(db_url, "ref", 2, TOY)
    common = dict(
        run="ref",
        round=2,
        weak=f"huggingface:{tiny_model}",
        from_adapter=r1.path,
        trl={"gradient_accumulation_steps": 1, "max_steps": 1, "beta": 0.1},
        sft_adapter=sft_adapter["path"],
    )
    previous = train_dpo(store, DPOOptions(out=str(tmp_path / "prev"), reference="previous", **common))
    against_sft = train_dpo(store, DPOOptions(out=str(tmp_path / "sft"), reference="sft", **common))
    assert abs(previous.metrics["first_loss"] - math.log(2)) < 0.01
    assert against_sft.reference == "sft"
    # Against the SFT policy the first loss is -log sigmoid(beta * (margin_r1 - margin_sft)).
    shift = (margin(*load(tiny_model, r1.path)) - margin(*load(tiny_model, sft_adapter["path"]))) / len(TOY)
    expected = -torch.nn.functional.logsigmoid(torch.tensor(0.1 * shift)).item()
    assert abs(expected - math.log(2)) > 0.002  # r1 and SFT differ enough for this to tell
    assert abs(against_sft.metrics["first_loss"] - expected) < 0.2 * abs(expected - math.log(2))


def test_dpo_preset_sits_over_the_papers_settings_and_a_recipe_and_flags_win_over_it(tmp_path):
    from cowest.trainer.arguments import parse_flags
    from cowest.trainer.configs import build_config, config_class
    from cowest.trainer.options import PAPER

    def given(**choice) -> dict:
        return build_config("dpo", DPOOptions(run="p", round=1, **choice), {}).given

    paper = given()
    assert {k: paper[k] for k in PAPER["dpo"]} == PAPER["dpo"]  # paper: the paper's own
    small = given(preset="small")
    assert (small["learning_rate"], small["gradient_accumulation_steps"], small["num_train_epochs"]) == (1e-4, 4, 1.0)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("learning_rate: 3.0e-5\nbeta: 0.25\nlabel_smoothing: 0.1\n")
    flags = parse_flags(config_class("dpo"), ["--lr", "2e-5", "--max-steps", "3"])
    layered = given(preset="small", trainer_config=str(recipe), trl=flags)
    # preset < recipe < flag; what neither names keeps the preset's or the paper's value
    assert (layered["learning_rate"], layered["beta"], layered["label_smoothing"]) == (2e-5, 0.25, 0.1)
    assert (layered["gradient_accumulation_steps"], layered["max_steps"], layered["optim"]) == (4, 3, "rmsprop")


def test_pairs_and_examples_train_in_the_datas_order_not_the_order_they_were_written(db_url):
    """A resumed run writes its pairs in another order (queries finish when they finish); DPO and
    KTO must read them in the data's order, so both runs train on the same sequence."""
    from cowest.storage import example_rows, preference_rows

    store = get_store(db_url)
    run_id = store.ensure_run("order", "open")
    lines = {"q0": 0, "q1": 1, "q2": 2}
    for qid in ["q2", "q0", "q1"]:  # written as a resumed run might
        q = store.ensure_query(run_id, qid, f"Question {qid}?", "gold", line=lines[qid])
        rows = [save_draft(store, run_id, f"order-{qid}-{i}", 1, q, i, qid, f"draft {i}") for i in (1, 0, 3, 2)]
        store.save_pairs(run_id, 1, q, [(rows[0].id, rows[1].id), (rows[3].id, rows[2].id)])  # chosen 1, then 2
        store.save_examples(run_id, 1, q, [(r.sample_index, r.id, r.sample_index % 2 == 1, 1.0) for r in rows])
    pairs = preference_rows(store, "order", 1)
    assert [(p["query_id"], p["chosen"][0]["content"]) for p in pairs] == [
        (qid, f"draft {i}") for qid in ("q0", "q1", "q2") for i in (1, 2)
    ]
    examples = example_rows(store, "order", 1)
    assert [(e["query_id"], e["completion"][0]["content"]) for e in examples] == [
        (qid, f"draft {i}") for qid in ("q0", "q1", "q2") for i in range(4)
    ]
