"""The weak model (a base and, usually, a trained adapter) as a LangChain chat model, for use in any
other LangChain or LangGraph app: `cowest.chat_model("smollm2@adapters/RUN/round-2")`."""

from __future__ import annotations

from typing import Any

from cowest.core import BadInput

from .checks import check_adapter
from .local import resolve_model_path
from .spec import ModelSpec


def chat_model(spec: str, *, max_new_tokens: int = 256, temperature: float = 0.0, **generation: Any) -> Any:
    """A langchain-huggingface `ChatHuggingFace` over the spec's base model with its adapter merged in
    (any `huggingface:` spec, or `smollm2[@ADAPTER]`), generating locally: greedy by default,
    sampling when `temperature` > 0; `generation` goes to transformers' generate (top_p=0.9, ...).
    Loads offline from a local folder or the hub cache."""
    import torch
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    parsed = ModelSpec.parse(spec)
    if parsed.provider != "huggingface":
        raise BadInput(f"chat_model wraps a local weak model (huggingface:DIR[@ADAPTER] or smollm2), got {spec!r}")
    path = resolve_model_path(parsed.model)
    if parsed.adapter:
        check_adapter(parsed.adapter, parsed.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if torch.cuda.is_available() else None)
    if parsed.adapter:
        from peft import PeftModel

        # merged: a plain transformers model, which the text-generation pipeline knows how to run
        model = PeftModel.from_pretrained(model, parsed.adapter).merge_and_unload()
    if torch.cuda.is_available():
        model = model.to("cuda")
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    pipe = pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        max_new_tokens=max_new_tokens,
        return_full_text=False,
        **sampling,
        **generation,
    )
    llm = HuggingFacePipeline(pipeline=pipe, model_id=path)
    return ChatHuggingFace(llm=llm, tokenizer=tokenizer, model_id=path)
