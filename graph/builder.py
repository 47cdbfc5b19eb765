"""The collaboration graph: the only place edges are defined.

    infer:     START -> weak_draft -> strong_refine -> [judge, when a gold answer is given] -> END
    collect:   START -> strong_solo -> judge -> weak_draft -> strong_refine -> judge -> pair_collector -> END
    baselines: weak:               START -> weak_draft -> END
               strong:             START -> strong_solo -> [judge] -> END
               self_refine_weak:   START -> weak_draft -> self_refine -> END
               self_refine_strong: START -> strong_solo -> self_refine -> END
               supericl:           START -> weak_draft (+ confidence) -> strong_refine -> [judge] -> END

One graph serves every mode; `CollabContext.mode` picks the path. In collect mode the solo answer is
judged before any refinement, so that a query whose z already has the top score skips its refine and
judge calls.
"""
from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime

from cowest.nodes import judge, pair_collector, self_refine, strong_refine, strong_solo, weak_draft

from .context import CollabContext
from .state import CollabInput, CollabState


def _mode() -> str:
    return get_runtime(CollabContext).context.mode


def _has_gold(state: CollabState) -> bool:
    return bool(state.get("gold") or state.get("answers"))


def after_start(state: CollabState) -> str:
    return "strong_solo" if _mode() in ("collect", "strong", "self_refine_strong") else "weak_draft"


def after_solo(state: CollabState) -> str:
    mode = _mode()
    if mode == "self_refine_strong":
        return "self_refine"
    return "judge" if mode == "collect" or _has_gold(state) else END


def after_draft(state: CollabState) -> str:
    mode = _mode()
    if mode == "weak":
        return END
    return "self_refine" if mode == "self_refine_weak" else "strong_refine"


def after_refine(state: CollabState) -> str:
    unjudged = [r for r in state.get("refinements", []) if r.get("score") is None and not r.get("error")]
    if _mode() == "collect":
        return "judge" if unjudged and _has_gold(state) else "pair_collector"
    return "judge" if unjudged and _has_gold(state) else END


def after_judge(state: CollabState) -> str:
    if _mode() != "collect":
        return END
    return "weak_draft" if not state.get("drafts") else "pair_collector"


def build_graph(checkpointer=None, cache=None, context_schema: type[CollabContext] = CollabContext):
    """The compiled collaboration graph. Pass a checkpointer to persist thread state (the CLI and
    apps may; `langgraph dev` refuses one). `context_schema` may be a subclass of CollabContext with
    other defaults (Studio's `collect` assistant defaults to collect mode that way)."""
    g = StateGraph(CollabState, context_schema=context_schema, input_schema=CollabInput)
    g.add_node("weak_draft", weak_draft)
    g.add_node("strong_solo", strong_solo)
    g.add_node("strong_refine", strong_refine)
    g.add_node("judge", judge)
    g.add_node("pair_collector", pair_collector)
    g.add_node("self_refine", self_refine)

    g.add_conditional_edges(START, after_start, ["strong_solo", "weak_draft"])
    g.add_conditional_edges("strong_solo", after_solo, ["judge", "self_refine", END])
    g.add_conditional_edges("weak_draft", after_draft, ["strong_refine", "self_refine", END])
    g.add_edge("self_refine", END)
    g.add_conditional_edges("strong_refine", after_refine, ["judge", "pair_collector", END])
    g.add_conditional_edges("judge", after_judge, ["weak_draft", "pair_collector", END])
    g.add_edge("pair_collector", END)
    return g.compile(checkpointer=checkpointer, cache=cache, name="cowest")
