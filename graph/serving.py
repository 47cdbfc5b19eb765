"""Who decides what in the served graphs (langgraph.json: LangGraph Studio, `langgraph dev`,
LangGraph Server). Anything a caller of the API sends is untrusted.

- The operator decides the models and their endpoints (keys stay bound to the endpoint they were
  configured for: ModelSettings), the store, the adapters a caller may pick by name, and the caps:
  `ServerSettings`, read from the YAML / JSON file that $COWEST_SERVER_SETTINGS names (langgraph.json's
  `env` can set it) and from the environment.
- A caller chooses only the fields of `CallerContext` (`CollectCallerContext` for the collect graph),
  each within the operator's cap. Any other field, or a value past its cap, is refused with one error
  in the run's result before any model is asked or anything is written.

Python code that embeds the graph is the operator: `build_graph()` with a `CollabContext` keeps full
control.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cowest.core import BadInput, ConfigError
from cowest.models import BUNDLED_NAME
from cowest.nodes.context import CollabContext

SETTINGS_ENV = "COWEST_SERVER_SETTINGS"
_RUN_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class ServerSettings:
    """The operator's side of a served graph."""

    task: str = "open"  # how queries are framed and answers parsed (a task name)
    weak: str = BUNDLED_NAME  # the weak model spec (its base; adapters are picked by name)
    strong: str = ""  # empty: openai:$COWEST_OPENAI_MODEL when an API is configured, else the bundled model
    judge: Literal["llm", "exact"] = "llm"
    judge_model: str = ""
    weak_base_url: str = ""  # a served weak model's own endpoint (vLLM); its key: $COWEST_WEAK_API_KEY
    weak_engine: str = "auto"  # a local weak model's engine (CollabContext.weak_engine)
    db: str = ""  # the operator's store; empty: the served graphs record nothing
    adapters: dict[str, str] = field(default_factory=dict)  # the names callers may pick -> adapter folders
    per_caller_runs: bool = False  # run names live under the authenticated caller's id (LangGraph auth)
    max_new_tokens: int = 1024
    max_samples: int = 16
    timeout: float = 60.0
    max_retries: int = 2

    @classmethod
    def load(cls, path: str | None = None) -> ServerSettings:
        """From the file `path` (default: $COWEST_SERVER_SETTINGS); the defaults without one."""
        path = path or os.environ.get(SETTINGS_ENV)
        if not path:
            return cls()
        import yaml

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{SETTINGS_ENV}={path}: cannot read it ({str(exc).splitlines()[0]})") from None
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names) if isinstance(raw, dict) else ["(not a mapping)"]
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**raw)


@lru_cache(maxsize=1)
def server_settings() -> ServerSettings:
    """The settings of this server process, read once."""
    return ServerSettings.load()


class CallerContext(BaseModel):
    """What a caller of the served `collaborate` graph may choose (its Studio form)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["direct", "knowledge", "cot"] = Field(
        "cot", description="The weak draft's format: direct, knowledge or cot."
    )
    max_new_tokens: int = Field(
        default_factory=lambda: min(256, server_settings().max_new_tokens),
        ge=1,
        description="Generation budget of every call (the server caps it).",
    )
    run: str = Field(
        "served",
        description="Run name the calls are recorded under (letters, digits, . _ -), when the server keeps a store.",
    )
    adapter: str = Field("", description="A weak adapter by the name the operator registered; empty: none.")

    _mode: Any = "infer"

    @model_validator(mode="after")
    def _within_caps(self) -> CallerContext:
        caps = server_settings()
        if self.max_new_tokens > caps.max_new_tokens:
            raise ValueError(f"max_new_tokens {self.max_new_tokens} is above this server's cap {caps.max_new_tokens}")
        if not _RUN_NAME.match(self.run):
            raise ValueError(f"run {self.run!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if self.adapter and self.adapter not in caps.adapters:
            known = ", ".join(sorted(caps.adapters)) or "none"
            raise ValueError(f"unknown adapter {self.adapter!r}; this server offers: {known}")
        samples = getattr(self, "samples", 1)
        if samples > caps.max_samples:
            raise ValueError(f"samples {samples} is above this server's cap {caps.max_samples}")
        return self

    def collab_context(self, user: str | None = None) -> CollabContext:
        """The graph's full context: the operator's settings and this caller's choices."""
        s = server_settings()
        weak = f"{s.weak}@{s.adapters[self.adapter]}" if self.adapter else s.weak
        return CollabContext(
            mode=self._mode,
            task=s.task,
            weak=weak,
            strong=s.strong,
            judge=s.judge,
            judge_model=s.judge_model,
            weak_base_url=s.weak_base_url,
            weak_engine=s.weak_engine,  # type: ignore[arg-type]  # checked when the model loads
            db=s.db,
            run=run_name(self.run, user, s.per_caller_runs),
            format=self.format,
            max_new_tokens=self.max_new_tokens,
            samples=getattr(self, "samples", 4),
            round=getattr(self, "round", 1),
            timeout=s.timeout,
            max_retries=s.max_retries,
        )


class CollectCallerContext(CallerContext):
    """What a caller of the served `collect` graph may choose (Algorithm 1 for one query)."""

    samples: int = Field(
        default_factory=lambda: min(4, server_settings().max_samples),
        ge=1,
        description="K weak drafts for the query (the server caps it).",
    )
    round: int = Field(1, ge=1, description="Round of the feedback loop the calls belong to.")

    _mode: Any = "collect"


def run_name(name: str, user: str | None, per_caller: bool) -> str:
    """A caller's run, under its own id when the operator keeps callers apart (LangGraph auth gives
    the id); without an authenticated caller that is refused rather than shared."""
    if not per_caller:
        return name
    if not user:
        raise BadInput("this server keeps each caller's runs apart: authenticate (langgraph.json `auth`)")
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', user)[:64]}/{name}"


def resolved(context: Any, config: Any) -> CollabContext:
    """A node's CollabContext: as given in Python (the embedding app is the operator), or built from
    a served caller's choices and the operator's settings."""
    if isinstance(context, CollabContext):
        return context
    if isinstance(context, CallerContext):
        user = ((config or {}).get("configurable") or {}).get("langgraph_auth_user_id")
        return context.collab_context(user or None)
    raise BadInput(f"unexpected run context {type(context).__name__}")


def collab_runtime() -> Any:
    """This node's or router's LangGraph runtime, its context resolved to a CollabContext."""
    from langgraph.config import get_config
    from langgraph.runtime import get_runtime

    runtime = get_runtime()
    if isinstance(runtime.context, CollabContext):
        return runtime
    return runtime.override(context=resolved(runtime.context, get_config()))  # type: ignore[arg-type]
