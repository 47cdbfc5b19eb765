"""`cowest.chat_model`: the trained weak model as a LangChain chat model, inside a LangGraph agent."""

import pytest
import torch
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from test_trainer import load

import cowest
from cowest.core import BadInput
from cowest.models import Sampling, get_model
from cowest.tasks.prompts import weak_draft_prompt

pytestmark = pytest.mark.slow  # loads models


@tool
def lookup(term: str) -> str:
    """Look a medical term up."""
    return f"{term}: a term."


def test_the_chat_model_is_the_weak_model_with_its_adapter(tiny_model, sft_adapter):
    spec = f"huggingface:{tiny_model}@{sft_adapter['path']}"
    messages = weak_draft_prompt("Is fire hot?")
    llm = cowest.chat_model(spec, max_new_tokens=12)
    reply = llm.invoke([HumanMessage(m["content"]) for m in messages])
    [[weak]] = get_model(spec).generate([messages], sampling=Sampling(max_new_tokens=12))
    assert isinstance(reply, AIMessage) and reply.content.strip() == weak.text
    # the same function as the base with the adapter (merged), not the bare base
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    served = llm.llm.pipeline.model
    with torch.no_grad():
        got = served(ids).logits
        adapted, _ = load(tiny_model, sft_adapter["path"])
        bare, _ = load(tiny_model, None)
        assert torch.allclose(got, adapted(ids).logits, atol=1e-4)
        assert not torch.allclose(got, bare(ids).logits, atol=1e-4)


@pytest.mark.parametrize("builder", ["langchain.agents.create_agent", "langgraph.prebuilt.create_react_agent"])
def test_it_runs_inside_a_langgraph_agent(builder, tiny_model, sft_adapter):
    import importlib

    module, _, name = builder.rpartition(".")
    make_agent = getattr(importlib.import_module(module), name)
    llm = cowest.chat_model(f"huggingface:{tiny_model}@{sft_adapter['path']}", max_new_tokens=8)
    agent = make_agent(llm, tools=[lookup])
    out = agent.invoke({"messages": [HumanMessage("What is a myocyte?")]})
    assert isinstance(out["messages"][-1], AIMessage) and out["messages"][0].content == "What is a myocyte?"


def test_only_a_local_model_can_be_wrapped():
    with pytest.raises(BadInput, match="local weak model"):
        cowest.chat_model("openai:gpt-4o-mini")
