"""graph/serving.py: what a served graph's caller may choose, and what stays the operator's."""

import pytest
from pydantic import ValidationError

from cowest.core import BadInput, ConfigError
from cowest.graph import serving
from cowest.graph.serving import CallerContext, CollectCallerContext, ServerSettings, resolved


@pytest.fixture
def settings(tmp_path, monkeypatch):
    def use(text: str) -> None:
        path = tmp_path / "server.yaml"
        path.write_text(text)
        monkeypatch.setenv(serving.SETTINGS_ENV, str(path))
        serving.server_settings.cache_clear()

    yield use
    serving.server_settings.cache_clear()


def test_a_caller_field_outside_the_list_or_past_its_cap_is_refused(settings):
    settings("max_new_tokens: 64\nmax_samples: 4\n")
    with pytest.raises(ValidationError, match="weak_base_url\\n  Extra inputs are not permitted"):
        CollectCallerContext(weak_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValidationError, match="max_new_tokens 65 is above this server's cap 64"):
        CallerContext(max_new_tokens=65)
    with pytest.raises(ValidationError, match="samples 5 is above this server's cap 4"):
        CollectCallerContext(samples=5)
    assert CollectCallerContext().max_new_tokens == 64 and CollectCallerContext().samples == 4  # defaults fit


def test_the_operator_decides_models_store_and_adapters(settings, tmp_path):
    adapter = tmp_path / "ad"
    settings(f"weak: huggingface:/models/w\nstrong: openai:big\ndb: sqlite:///op.db\nadapters:\n  r1: {adapter}\n")
    ctx = resolved(CollectCallerContext(adapter="r1", samples=2, run="mine"), None)
    assert (ctx.mode, ctx.weak, ctx.strong, ctx.db, ctx.run, ctx.samples) == (
        "collect",
        f"huggingface:/models/w@{adapter}",
        "openai:big",
        "sqlite:///op.db",
        "mine",
        2,
    )
    with pytest.raises(ValidationError, match="unknown adapter 'r2'; this server offers: r1"):
        CallerContext(adapter="r2")
    assert resolved(CallerContext(), None).mode == "infer"


def test_per_caller_runs_live_under_the_authenticated_callers_id(settings):
    settings("per_caller_runs: true\n")
    config = {"configurable": {"langgraph_auth_user_id": "alice@example.org"}}
    assert resolved(CallerContext(run="r"), config).run == "alice_example.org/r"
    with pytest.raises(BadInput, match="authenticate"):
        resolved(CallerContext(run="r"), {"configurable": {}})


def test_a_bad_settings_file_stops_the_server_with_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("weak: smollm2\nopenai_api_key: sk-x\n")
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) openai_api_key"):
        ServerSettings.load(str(path))
