"""What a job's model calls did and may still do: requests sent and reused, the run of failures
that stops a job against a dead API, the spending budget, and the dry run of `cowest plan`.

One ledger per job, carried by a contextvar: the runner's worker threads start with a copy of the
job's context, so the nodes of every query write to the same ledger.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from cowest.core import BudgetExceeded, StoreFailed
from cowest.models import Messages


@dataclass
class Budget:
    """Caps on the strong and LLM-judge requests of a run, and on their tokens (None: no cap).
    `spent_*` start at what the run already spent, so a rerun with a larger cap continues. A
    request is reserved before it is sent, at the most it can cost, and settled at what it cost:
    a cap is never passed, whatever the concurrency."""

    max_calls: int | None = None
    max_tokens: int | None = None
    spent_calls: int = 0
    spent_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, calls: int, tokens: int) -> None:
        with self._lock:
            over_calls = self.max_calls is not None and self.spent_calls + calls > self.max_calls
            over_tokens = self.max_tokens is not None and self.spent_tokens + tokens > self.max_tokens
            if over_calls or over_tokens:
                raise BudgetExceeded(self.describe())
            self.spent_calls += calls
            self.spent_tokens += tokens

    def settle(self, reserved_tokens: int, used_tokens: int) -> None:
        with self._lock:
            self.spent_tokens += used_tokens - reserved_tokens

    def describe(self) -> str:
        caps = []
        if self.max_calls is not None:
            caps.append(f"--max-strong-calls {self.max_calls}")
        if self.max_tokens is not None:
            caps.append(f"--max-strong-tokens {self.max_tokens}")
        return (
            f"budget reached: this run has sent {self.spent_calls} strong/judge requests "
            f"({self.spent_tokens} tokens) under {' and '.join(caps)}; "
            "rerun the same command with a larger budget to continue where it stopped"
        )


def reserve_tokens(messages: Messages, n: int, max_new_tokens: int) -> int:
    """The most tokens one request can cost: a token is at least one byte of text (byte-level BPE),
    a chat template adds a few per message, and the answer stops at max_new_tokens each."""
    prompt = sum(len(m.get("content", "").encode()) + 8 for m in messages)
    return prompt + n * max_new_tokens


class Ledger:
    """Requests sent and reused by role, their tokens, the failures in a row per model, and the
    budget. Updated from many worker threads."""

    def __init__(self, max_failures: int = 0, budget: Budget | None = None) -> None:
        self.max_failures = max_failures  # 0: never stop
        self.budget = budget or Budget()
        self.sent: Counter[str] = Counter()  # outputs asked of a model, by role (n samples: n)
        self.reused: Counter[str] = Counter()  # calls served from the store, by role
        self.billed_sent = 0
        self.billed_reused = 0
        self.tokens_in = 0  # of billed requests
        self.tokens_out = 0
        self.http_requests = 0  # billed HTTP requests sent, retries and failed ones included
        self.budget_hit = False
        self.in_flight = 0  # billed jobs asked for and not yet stored
        self.lost = 0  # billed outputs answered (paid) that the store failed to keep
        self.halted = False  # the store failed: no billed request may start
        self._in_a_row: Counter[str] = Counter()  # by model: a dead API fails every call to it
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def add_sent(self, role: str, requests: int, billed: bool) -> None:
        with self._lock:
            self.sent[role] += requests
            self.billed_sent += requests if billed else 0

    def add_reused(self, role: str, calls: int, billed: bool) -> None:
        with self._lock:
            self.reused[role] += calls
            self.billed_reused += calls if billed else 0

    def asking(self, outputs: int) -> None:
        """`outputs` billed jobs are on their way (negative: stored, or given up). Once the job is
        halted none may start: the count the stop reported would miss what they are paid for."""
        with self._lock:
            if outputs > 0 and self.halted:
                raise StoreFailed("the job stopped: the store failed")
            self.in_flight += outputs

    def halt(self) -> tuple[int, int]:
        """The store failed: no billed request starts from now on. The billed outputs paid for and
        lost, and those in flight, read together: a job moving from one count to the other
        meanwhile is counted in one of them at least."""
        with self._lock:
            self.halted = True
            return self.lost, self.in_flight

    def add_lost(self, outputs: int) -> None:
        with self._lock:
            self.lost += outputs

    def add_tokens(self, tokens_in: int, tokens_out: int, sends: int = 0) -> None:
        with self._lock:
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
            self.http_requests += sends

    def outcome(self, model: str, error: str | None) -> None:
        with self._lock:
            if error is None:
                self._in_a_row[model] = 0
                return
            self._in_a_row[model] += 1
            self.last_error = error

    @property
    def consecutive_failures(self) -> int:
        """The longest current run of failed calls to one model."""
        with self._lock:
            return max(self._in_a_row.values(), default=0)

    @property
    def tripped(self) -> bool:
        """Too many failures in a row: the job should stop asking."""
        return bool(self.max_failures) and self.consecutive_failures >= self.max_failures

    @property
    def should_stop(self) -> bool:
        """Queued queries should not start: the API is dead, the budget is spent or the store failed."""
        return self.tripped or self.budget_hit or self.halted

    def snapshot(self) -> dict[str, int]:
        """Requests sent, by role."""
        with self._lock:
            return {role: n for role, n in self.sent.items() if n}


_ledger: ContextVar[Ledger | None] = ContextVar("cowest_ledger", default=None)


@contextmanager
def keeping_ledger(max_failures: int = 0, budget: Budget | None = None) -> Iterator[Ledger]:
    """Account for the model requests made inside this block (threads started with a copy of this
    context, as the runner's are, count too)."""
    ledger = Ledger(max_failures, budget)
    token = _ledger.set(ledger)
    try:
        yield ledger
    finally:
        _ledger.reset(token)


@contextmanager
def using_ledger(ledger: Ledger) -> Iterator[Ledger]:
    """Count inside this block into an existing ledger: for work started from a thread of someone
    else's (an online trainer's reward, called on TRL's own event loop), which has no copy of the
    job's context."""
    token = _ledger.set(ledger)
    try:
        yield ledger
    finally:
        _ledger.reset(token)


def current_ledger() -> Ledger | None:
    return _ledger.get()


@dataclass
class PlannedRole:
    needed: int = 0  # calls the job needs at most
    covered: int = 0  # of them, already in the store
    tokens_in: int = 0  # expected for the calls still to send
    tokens_out: int = 0


@dataclass
class Plan:
    """A dry run's count: the graph runs, every call the store has is looked up, and every other
    one is counted instead of sent (its output stands in as a placeholder)."""

    roles: dict[str, PlannedRole] = field(default_factory=dict)
    billed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, role: str, billed: bool, needed: int, covered: int, tokens_in: int = 0, tokens_out: int = 0) -> None:
        with self._lock:
            row = self.roles.setdefault(role, PlannedRole())
            row.needed += needed
            row.covered += covered
            row.tokens_in += tokens_in
            row.tokens_out += tokens_out
            if billed:
                self.billed.add(role)


_plan: ContextVar[Plan | None] = ContextVar("cowest_plan", default=None)


@contextmanager
def planning() -> Iterator[Plan]:
    """Inside this block nodes send nothing and write nothing: they count (see Plan)."""
    plan = Plan()
    token = _plan.set(plan)
    try:
        yield plan
    finally:
        _plan.reset(token)


def current_plan() -> Plan | None:
    return _plan.get()


def error_kind(error: str) -> str:
    """The kind of an error message `spec: Kind: text` (or its start when it has no kind)."""
    parts = error.split(": ")
    return parts[1][:60] if len(parts) > 2 else error[:60]
