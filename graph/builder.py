"""The collaboration graph: the only place edges are defined.

    infer:     START -> weak_draft -> strong_refine -> [judge, when a gold answer is given] -> END
    collect:   START -> strong_solo -> judge  -> strong_refine -> judge -> pair_collector -> END
                     -> weak_draft  ----^   (the K drafts are sampled while z is asked)
    collect_individual (individual feedback, RLWF / RLAIF):
               START -> weak_draft -> judge (each draft on its own) -> pair_collector -> END
    baselines: weak:               START -> weak_draft -> END
               strong:             START -> strong_solo -> [judge] -> END
               self_refine_weak:   START -> weak_draft -> self_refine -> END
               self_refine_strong: START -> strong_solo -> self_refine -> END
               supericl:           START -> weak_draft (+ confidence) -> strong_refine -> [judge] -> END
               skr, flare:         START -> strong_rag (retrievals and strong calls, nodes/rag.py) -> END
    reward (GRPO's, the drafts given): START -> strong_solo -> judge -> strong_refine -> judge -> END
    reward_individual:                 START -> judge (each given draft on its own) -> END

One graph serves every mode; `CollabContext.mode` picks the path, as the table in modes.py says. In
collect mode the solo answer is judged before any refinement, so that a query whose z already has the
top score skips its refine and judge calls; the weak drafts, which do not depend on z, are sampled
in the same step as z (LangGraph runs both nodes at once, and the refinements wait for both).
Every node is an `async def node(state, runtime)` run on cowest's requests loop, whether the graph
is invoked (`graph.invoke`) or awaited (`graph.ainvoke`: the CLI's jobs, LangGraph Studio, an app).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from cowest.core import BadInput
from cowest.core.limits import limits
from cowest.nodes.context import CollabContext
from cowest.nodes.judge import judge
from cowest.nodes.pair_collector import pair_collector
from cowest.nodes.rag import strong_rag
from cowest.nodes.self_refine import self_refine
from cowest.nodes.state import CollabInput, CollabState, JobInput, RewardInput, RouteState, StartState
from cowest.nodes.strong_refine import strong_refine
from cowest.nodes.strong_solo import strong_solo
from cowest.nodes.weak_draft import weak_draft

from .on_loop import OnRequestsLoop
from .serving import resolved


def _has_gold(state: RouteState) -> bool:
    return bool(state.get("gold") or state.get("answers"))


def _unjudged(state: RouteState) -> bool:
    return _has_gold(state) and any(
        r.get("score") is None and not r.get("error") and not r.get("judge_error") for r in state.get("refinements", [])
    )


def after_start(
    state: StartState, runtime: Runtime[CollabContext]
) -> list[Literal["strong_solo", "weak_draft", "strong_rag", "judge"]]:
    """Where a query starts; a query past the operator's limit is refused here, before any model
    is asked (a served graph's caller sends any text it likes)."""
    query, cap = state.get("query") or "", limits().max_query_chars
    if len(query) > cap:
        raise BadInput(f"the query is {len(query):,} characters, over this server's limit of {cap:,}")
    spec = runtime.context.spec
    if spec.then == "weak_draft":  # collect: the drafts do not depend on z; sampled while it is asked
        return ["strong_solo", "weak_draft"]
    return [spec.starts_with]


def after_solo(state: RouteState, runtime: Runtime[CollabContext]) -> Literal["judge", "self_refine", "__end__"]:
    spec = runtime.context.spec
    if spec.then == "self_refine":
        return "self_refine"
    return "judge" if spec.judge_solo_first or _has_gold(state) else "__end__"


def after_draft(
    state: RouteState, runtime: Runtime[CollabContext]
) -> Literal["strong_refine", "self_refine", "judge", "__end__"]:
    then = runtime.context.spec.then
    if then in ("self_refine", "judge"):
        return then
    # collect: the drafts wait for z's judgment, which leads on to strong_refine
    return "__end__" if then in ("end", "weak_draft") else "strong_refine"


def after_refine(state: RouteState, runtime: Runtime[CollabContext]) -> Literal["judge", "pair_collector", "__end__"]:
    if _unjudged(state):
        return "judge"
    return "pair_collector" if runtime.context.spec.pairs else "__end__"


def after_judge(
    state: RouteState, runtime: Runtime[CollabContext]
) -> Literal["strong_refine", "pair_collector", "__end__"]:
    spec = runtime.context.spec
    if spec.given_drafts and spec.then == "strong_refine":  # reward: z judged, then the given drafts refined
        return "strong_refine" if not state.get("refinements") else "__end__"
    if not spec.pairs:
        return "__end__"
    # After z's judgment nothing is refined yet (after the refinements' judgment something is)
    return "strong_refine" if spec.then == "weak_draft" and not state.get("refinements") else "pair_collector"


def _router(route: Any) -> tuple[Any, list[str]]:
    """A router and its path map (its Literal return type). LangGraph hands it the run's runtime
    and config; a served caller's context is resolved against the operator's settings. It reads only
    the state and the context."""

    def router(state: RouteState, runtime: Runtime, config: RunnableConfig) -> Any:
        if not isinstance(runtime.context, CollabContext):
            runtime = runtime.override(context=resolved(runtime.context, config))  # type: ignore[arg-type]
        return route(state, runtime)

    router.__name__ = route.__name__
    hints = get_type_hints(route)
    router.__annotations__ = {**router.__annotations__, "state": hints["state"]}  # the channels it reads
    returns = hints["return"]
    if get_origin(returns) is list:  # START's router may name several nodes
        returns = get_args(returns)[0]
    return router, list(get_args(returns))


def build_graph(
    checkpointer: Any = None, cache: Any = None, context_schema: type = CollabContext, input_schema: type = CollabInput
) -> Any:
    """The compiled collaboration graph. Pass a checkpointer to persist thread state (the CLI and
    apps may; `langgraph dev` refuses one). `context_schema`: CollabContext (or a subclass with other
    defaults) for Python callers, who decide everything; the served graphs take a CallerContext
    (graph/serving.py), the few fields an API caller may choose. `input_schema`: JobInput for a job
    that has stored its queries, RewardInput for an online trainer, which hands in its completions as
    drafts."""
    g = StateGraph(CollabState, context_schema=context_schema, input_schema=input_schema)
    # Each node is an async function run on cowest's requests loop, whoever invokes (graph/on_loop.py).
    for node in (weak_draft, strong_solo, strong_refine, judge, pair_collector, self_refine, strong_rag):
        g.add_node(node.__name__, OnRequestsLoop(node))

    # Each router's Literal return type is its path map (_router); START's may name two nodes.
    g.add_conditional_edges(START, *_router(after_start))
    g.add_conditional_edges("strong_solo", *_router(after_solo))
    g.add_conditional_edges("weak_draft", *_router(after_draft))
    g.add_edge("self_refine", END)
    g.add_edge("strong_rag", END)
    g.add_conditional_edges("strong_refine", *_router(after_refine))
    g.add_conditional_edges("judge", *_router(after_judge))
    g.add_edge("pair_collector", END)
    return g.compile(checkpointer=checkpointer, cache=cache, name="cowest")


@cache
def shared_graph() -> Any:
    """The graph of the CLI's jobs, compiled once per process: compiling reads every node's bytecode
    (about 25 ms), and a compiled graph without a checkpointer serves any number of runs at once. It
    takes the ids the job stored each query under (JobInput)."""
    return build_graph(input_schema=JobInput)


@cache
def reward_graph() -> Any:
    """The graph an online trainer's reward runs (modes reward and reward_individual): the same nodes,
    taking the trainer's completions as the drafts."""
    return build_graph(input_schema=RewardInput)
