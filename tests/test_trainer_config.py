"""Training settings are TRL's own config fields, by their TRL names, from the command line and a
YAML recipe: they reach the trainer, the adapter records them, --report_to writes its logs, and a
bad one is one line and exit 2 before anything is loaded or written."""

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
from test_trainer import TOY, seed_pairs

from cowest.cli import main
from cowest.storage import get_store

pytestmark = pytest.mark.slow  # trains
TENSORBOARD = any(find_spec(module) for module in ("tensorboard", "tensorboardX"))


def test_trl_fields_by_their_names_reach_the_trainer_recipe_under_flags_and_tensorboard_logs(
    tiny_model, db_url, tmp_path, capsys
):
    seed_pairs(db_url, "cfg", 1, TOY)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("loss_type: ipo\nbeta: 0.3\nlearning_rate: 1e-3\nlogging_steps: 1\n")
    out = tmp_path / "adapter"
    argv = ["train", "dpo", "--run", "cfg", "--round", "1", "--weak", f"huggingface:{tiny_model}", "--db", db_url]
    argv += ["--out", str(out), "--trainer-config", str(recipe), "--preset", "small"]
    argv += ["--beta", "0.2", "--label_smoothing", "0.05", "--max-steps", "2", "--grad-accum", "1"]
    argv += ["--report_to", "tensorboard" if TENSORBOARD else "none"]
    assert main(argv) == 0, capsys.readouterr().err
    row = get_store(db_url).adapter(get_store(db_url).run_id("cfg"), 1)
    given = row.metrics["trainer_config"]
    assert row.metrics["preset"] == "small"
    assert given["loss_type"] == ["ipo"] and given["label_smoothing"] == 0.05  # only reachable by TRL's names
    assert given["beta"] == 0.2  # the flag over the recipe's 0.3
    assert given["learning_rate"] == 1e-3  # the recipe over the preset's 1e-4
    assert given["gradient_accumulation_steps"] == 1 and given["max_steps"] == 2  # short and dashed spellings
    assert given["optim"] == "rmsprop"
    assert given["report_to"] == ["tensorboard"] if TENSORBOARD else given["report_to"] in ([], ["none"])
    written = json.loads((out / "trainer_config.json").read_text())
    assert written["loss_type"] == ["ipo"] and written["beta"] == 0.2 and written["seed"] == 42
    if TENSORBOARD:  # the dev extra has it; the oldest versions' environment does not
        assert list((out / "runs").rglob("events.out.tfevents.*")), "no TensorBoard event file under <adapter>/runs"
    assert row.metrics["steps"] == 2


@pytest.mark.skipif(TENSORBOARD, reason="tensorboard is installed here (the oldest versions' environment has none)")
def test_report_to_a_missing_integration_is_one_line_before_anything_loads(tmp_path, capsys):
    argv = ["train", "dpo", "--run", "cfg", "--round", "1", "--db", f"sqlite:///{tmp_path / 'none.db'}"]
    assert main([*argv, "--report_to", "tensorboard"]) == 2
    assert "--report_to tensorboard needs tensorboard or tensorboardX" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    "extra,recipe,message",
    [
        (["--loss_typ", "ipo"], None, "unknown option '--loss_typ' (did you mean --loss_type?)"),
        (["--lora-rr", "4"], None, "did you mean --lora-r?"),
        (["--beta", "strong"], None, "invalid float value: 'strong'"),
        (["--loss_type", "ipox"], None, "loss_type 'ipox' is not one of sigmoid"),
        ([], "betta: 0.2\n", "DPOConfig has no field 'betta' (did you mean beta?)"),
        ([], "beta: [0.1\n", "not valid YAML"),
        ([], "max_steps: 1.5\n", "max_steps: 1.5 is not a valid value"),
        (["--preset", "large"], None, "unknown --preset 'large'"),
    ],
)
def test_a_bad_trainer_setting_is_one_line_and_exit_2_with_nothing_written(extra, recipe, message, tmp_path, capsys):
    db = tmp_path / "fresh.db"
    argv = ["train", "dpo", "--run", "r", "--round", "1", "--db", f"sqlite:///{db}", "--out", str(tmp_path / "a")]
    if recipe is not None:
        (tmp_path / "recipe.yaml").write_text(recipe)
        argv += ["--trainer-config", str(tmp_path / "recipe.yaml")]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists() and not (tmp_path / "a").exists()


def test_rounds_take_trl_fields_and_other_commands_still_refuse_unknown_flags(tmp_path, capsys, data):
    db = tmp_path / "fresh.db"
    argv = ["rounds", "--task", "medmcqa", "--data", str(data), "--rounds", "1", "--db", f"sqlite:///{db}"]
    assert main(argv + ["--objective", "kto", "--batch-size", "1"]) == 2
    assert "per_device_train_batch_size of at least 2" in capsys.readouterr().err
    assert main(argv + ["--objective", "kto", "--loss_type", "sigmoid"]) == 2  # KTOConfig's own choices
    assert "invalid choice" in capsys.readouterr().err
    assert not db.exists()
    with pytest.raises(SystemExit) as stop:
        main(["collect", "--task", "medmcqa", "--data", str(data), "--beta", "0.2"])
    assert stop.value.code == 2 and "unrecognized arguments: --beta" in capsys.readouterr().err


def test_the_example_recipe_is_a_valid_dpo_config():
    from cowest.trainer.configs import build_config
    from cowest.trainer.options import TrainingChoice

    recipe = Path(__file__).parents[1] / "examples" / "recipes" / "dpo-ipo.yaml"
    logs = {} if TENSORBOARD else {"report_to": "none"}  # it logs to TensorBoard, which needs a package
    given = build_config("dpo", TrainingChoice(trainer_config=str(recipe), trl=logs), {}).given
    assert given["loss_type"] == ["ipo"] and given["lr_scheduler_type"] == "cosine"
