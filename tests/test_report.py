"""`cowest report`: Table 1 from the stored evaluations, rows apart per adapter and round, plots per round."""

import pytest


def test_report_draws_rounds_and_metric_per_round(tmp_path, db_url):
    from cowest.report import write_report
    from cowest.storage import Adapter, EvalResult, get_store

    store = get_store(db_url)
    run_id = store.ensure_run("loop", "prosocial")
    store.save_adapter(Adapter(run_id=None, round=0, kind="sft", path="/ad/sft", base_model="m"))
    for r, (pairs, pos) in enumerate([(4, 5), (6, 9)], start=1):
        store.save_adapter(
            Adapter(
                run_id=run_id,
                round=r,
                kind="dpo",
                path=f"/ad/r{r}",
                base_model="m",
                metrics={"queries": 8, "drafts": 32, "positives": pos, "pairs": pairs, "loss": 0.69},
            )
        )
    for path, acc in [("/ad/sft", 0.4), ("/ad/r1", 0.45), ("/ad/r2", 0.5)]:
        store.save_eval(
            EvalResult(
                run_id=run_id,
                method="collab",
                task="prosocial",
                data_path="d",
                data_hash="h",
                adapter=path,
                n=10,
                metrics={"n": 10, "unparseable": 1, "accuracy": acc, "macro_f1": 0.3},
            )
        )
    written = write_report(store, tmp_path / "r", run="loop")
    md = written[0].read_text()
    assert [p.name for p in written] == ["report.md", "strong_cost.png", "metric_per_round.png", "rounds.png"]
    for png in ("metric_per_round.png", "rounds.png", "strong_cost.png"):
        assert f"({png})" in md and (tmp_path / "r" / png).stat().st_size > 1000
    assert "| loop | 2 | dpo | 8 | 32 | 9 | 6 |" in md
    # `collab` names the evaluation without an adapter (none here), `collab@DIR` the one with that adapter
    from cowest.core import BadInput
    from cowest.evidence import find_eval

    assert find_eval(store, "collab@/ad/r1").adapter == "/ad/r1"
    with pytest.raises(BadInput, match="no evaluation 'collab'"):
        find_eval(store, "collab")


def test_a_report_keeps_an_adapters_row_apart_however_its_path_was_spelled(tmp_path, monkeypatch):
    """eval records the adapter folder as given (relative), rounds as an absolute path: the row is
    the round's, never merged into the plain method's row (where the newest would hide the other)."""
    from types import SimpleNamespace as Row

    from cowest.report import _latest

    monkeypatch.chdir(tmp_path)
    (tmp_path / "adapters" / "r" / "round-1").mkdir(parents=True)
    trained = Row(path=str(tmp_path / "adapters" / "r" / "round-1"), kind="dpo", round=1, metrics={})
    plain = Row(method="collab", adapter="", task="medmcqa")
    tuned = Row(method="collab", adapter="adapters/r/round-1", task="medmcqa")
    elsewhere = Row(method="collab", adapter="/somewhere/else", task="medmcqa")
    rows = _latest([plain, tuned, elsewhere], [trained])
    assert rows == {
        ("collab", "medmcqa"): plain,
        ("collab, round 1 (collaborative feedback, dpo)", "medmcqa"): tuned,
        ("collab@/somewhere/else", "medmcqa"): elsewhere,
    }


def test_round_0_without_an_adapter_is_plotted_and_report_lists_its_files(tmp_path, db_url):
    """`rounds --eval-data` without --sft-adapter evaluates round 0 with no adapter at all, in the
    run RUN-heldout: that point belongs on the metric-per-round plot."""
    from cowest.report import write_report
    from cowest.storage import EvalResult, get_store

    store = get_store(db_url)
    store.ensure_run("loop", "prosocial")
    heldout = store.ensure_run("loop-heldout", "prosocial")
    metrics = {"n": 10, "unparseable": 0, "accuracy": 0.4, "macro_f1": 0.3}
    row = dict(method="collab", task="prosocial", data_path="d", data_hash="h", n=10, metrics=metrics)
    store.save_eval(EvalResult(run_id=heldout, **row))
    written = write_report(store, tmp_path / "r", run="loop")
    assert [p.name for p in written] == ["report.md", "strong_cost.png", "metric_per_round.png"]
    assert all(p.exists() for p in written)
