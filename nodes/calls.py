"""Making a node's model calls: reuse what the store has, send the rest in one batch, record all.

A call is looked up twice before anything is sent: in this run's trace (a resumed run), then by
its content in any run (storage/keys.py): a call another run or command already made is copied
into this run as a row that points to its original. Only what neither holds is sent, after the
budget has room for it.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from cowest.core import BudgetExceeded, store_failure
from cowest.models import Generation, ModelCallError, ModelSpec, RequestPolicy, Sampling

from . import in_flight
from .awaits import generate, store_work, wait_for
from .call_rows import InvalidOutput, Parse, Result, copy_of, fields_of
from .ledger import current_ledger, current_plan, reserve_tokens
from .recording import CallLog, Job, step_from_call
from .state import Step

PLACEHOLDER = "(planned)"  # the output a dry run stands in for a call it would send


@dataclass
class NodeCall:
    """One node step's calls as they are worked through: the jobs, their steps so far (None: not
    yet answered), and how they are asked and recorded."""

    log: CallLog
    role: str
    spec: ModelSpec
    jobs: list[Job]
    sampling: Sampling
    parse: Parse
    retry_sampling: Sampling | None
    billed: bool  # strong or LLM-judge requests, which the budget caps
    steps: list[Step | None] = field(default_factory=list)

    @property
    def todo(self) -> list[int]:
        return [i for i, step in enumerate(self.steps) if step is None]

    def finished(self) -> list[Step]:
        return [s for s in self.steps if s is not None]


async def run_jobs(
    log: CallLog,
    role: str,
    spec: ModelSpec,
    jobs: list[Job],
    sampling: Sampling,
    parse: Parse,
    retry_sampling: Sampling | None = None,
    billed: bool = False,
) -> list[Step]:
    """One step per job, in order. Stored calls are reused; the others go to the model in one
    batched call (jobs sharing one prompt become one request) and each is recorded. An output
    that `parse` rejects is asked for once more with `retry_sampling`, then recorded as an error.
    `billed`: strong or LLM-judge requests, which the budget caps."""
    call = NodeCall(log, role, spec, jobs, sampling, parse, retry_sampling, billed, [None] * len(jobs))
    await _reuse_stored(call)
    if current_plan() is not None:
        return _plan_the_rest(call)
    waiting, mine = _share_flights(call)
    landed: dict[str, Any] = {}
    try:
        landed = await _send(call, call.todo)
    finally:  # whatever happened, no one waits for a request this query will not make
        if mine:
            in_flight.land(log.db, {content: landed.get(content) for content in mine})
    await _copy_flights(call, waiting)
    return call.finished()


async def _reuse_stored(call: NodeCall) -> None:
    """Steps for the jobs the store holds: this run's own rows (a resumed run), then a copy of any
    run's call with the same content."""
    log, jobs = call.log, call.jobs
    own, cached = await store_work(log.db, log.find, jobs)
    for i, job in enumerate(jobs):
        if job.key in own:
            call.steps[i] = step_from_call(job.index, own[job.key])
    hits = [i for i in call.todo if jobs[i].content in cached]
    copies = [copy_of(cached[jobs[i].content], call.role, jobs[i], call.parse, call.billed) for i in hits]
    await _record_all(log, jobs, call.steps, hits, copies)
    ledger = current_ledger()
    if ledger is not None:
        ledger.add_reused(call.role, len(jobs) - len(call.todo), call.billed)


def _plan_the_rest(call: NodeCall) -> list[Step]:
    """A dry run (`cowest plan`): count what would be sent, and go on with placeholders."""
    todo, jobs = call.todo, call.jobs
    plan = current_plan()
    assert plan is not None
    searched = call.spec.provider == "retriever"  # a retrieval reads and writes no tokens
    plan.add(
        call.role,
        call.billed,
        needed=len(jobs),
        covered=len(jobs) - len(todo),
        tokens_in=0 if searched else sum(len(json.dumps(jobs[i].messages)) // 4 for i in todo),
        tokens_out=0 if searched else len(todo) * call.sampling.max_new_tokens,
    )
    # A placeholder judgment has the lowest score: the dry run goes on as if no answer were top.
    score = 1.0 if call.role == "judge" else None
    for i in todo:
        call.steps[i] = Step(index=jobs[i].index, call_id=None, text=PLACEHOLDER, answer=None, error=None, score=score)
    return call.finished()


def _share_flights(call: NodeCall) -> tuple[dict[int, Future], set[str]]:
    """Identical requests other queries of this process are sending (nodes/in_flight.py): the jobs
    that wait for theirs, and the contents this query now sends for the others."""
    todo = call.todo
    if not todo or not call.log.shares_flights:
        return {}, set()
    mine, theirs = in_flight.claim(call.log.db, [call.jobs[i].content for i in todo])
    waiting = {i: theirs[call.jobs[i].content] for i in todo if call.jobs[i].content in theirs}
    for i in waiting:  # not to be sent: a placeholder until the other query's answer is copied
        call.steps[i] = _WAITING
    return waiting, mine


async def _copy_flights(call: NodeCall, waiting: dict[int, Future]) -> None:
    """Copy the answers the other queries received; send those whose request failed ourselves."""
    if not waiting:
        return
    rows = await wait_for(list(waiting.values()))
    served = {i: row for i, row in zip(waiting, rows) if row is not None}
    copies = [copy_of(row, call.role, call.jobs[i], call.parse, call.billed) for i, row in served.items()]
    await _record_all(call.log, call.jobs, call.steps, list(served), copies)
    ledger = current_ledger()
    if ledger is not None:
        ledger.add_reused(call.role, len(served), call.billed)
    failed = [i for i in waiting if i not in served]
    for i in failed:
        call.steps[i] = None
    await _send(call, failed)


_WAITING = Step(index=-1)  # a job waiting for an identical request another query sent


async def _send(call: NodeCall, todo: list[int]) -> dict[str, Any]:
    """Send jobs `todo` in one batch and record them (and fill their steps); the stored row of each
    content that was answered."""
    if not todo:
        return {}
    # A billed job is in flight from its request until its answer is stored: a job that stops
    # meanwhile (a full disk) counts it as abandoned, and so every paid answer as stored or counted.
    billed_ledger = current_ledger() if call.billed else None
    if billed_ledger is not None:
        billed_ledger.asking(len(todo))
    try:
        results = await _ask(call, todo)
        return await _record_answers(call, todo, results)
    finally:
        if billed_ledger is not None:
            billed_ledger.asking(-len(todo))


async def _ask(call: NodeCall, todo: list[int]) -> list[Result]:
    """The results of jobs `todo`, an unparseable output asked once more where the call says so."""
    log, spec, jobs, parse = call.log, call.spec, call.jobs, call.parse
    pending = [jobs[i] for i in todo]
    results = await _generate(spec, call.role, pending, call.sampling, parse, log.policy_for(spec), call.billed)
    again = [k for k, result in enumerate(results) if isinstance(result[2], InvalidOutput)]
    if call.retry_sampling is not None and again:
        retried = await _generate(
            spec, call.role, [pending[k] for k in again], call.retry_sampling, parse, log.policy_for(spec), call.billed
        )
        for k, result in zip(again, retried):
            results[k] = result
    return results


async def _record_answers(call: NodeCall, todo: list[int], results: list[Result]) -> dict[str, Any]:
    """Record the results of jobs `todo` (an identical answer once, the others as copies of it)."""
    log, role, spec, jobs, steps, billed = call.log, call.role, call.spec, call.jobs, call.steps, call.billed
    ledger = current_ledger()
    sent: dict[str, int] = {}  # content key -> the job whose successful request answered it
    firsts, copies = [], []
    for i, (_gen, _fields, error) in zip(todo, results):
        if ledger is not None:
            ledger.outcome(str(spec), None if error is None else str(error))
        if error is None and jobs[i].content in sent:
            copies.append(i)  # an identical call earlier in this batch: one request answered both
            continue
        if error is None:
            sent[jobs[i].content] = i
        firsts.append(i)
    by_job = dict(zip(todo, results))
    try:
        rows = await _record_all(
            log, jobs, steps, firsts, [fields_of(role, spec, jobs[i], by_job[i], billed) for i in firsts]
        )
    except Exception as exc:
        if ledger is not None and billed and store_failure(exc) is not None:
            ledger.add_lost(sum(1 for i in firsts if by_job[i][0] is not None))  # answered: paid, not kept
        raise
    stored = dict(zip(firsts, rows))
    copied = []
    for i in copies:
        fields = fields_of(role, spec, jobs[i], by_job[i], billed)
        fields["reused_from"] = steps[sent[jobs[i].content]]["call_id"]  # type: ignore[index]
        copied.append(fields)
    if copies and ledger is not None:
        ledger.add_reused(role, len(copies), billed)
    await _record_all(log, jobs, steps, copies, copied)
    answered = {jobs[i].content: stored[i] for i in sent.values()}
    return {content: row for content, row in answered.items() if row is not None and row.error is None}


async def _record_all(
    log: CallLog, jobs: list[Job], steps: list[Step | None], which: list[int], rows: list[dict[str, Any]]
) -> list[Any]:
    """Store the rows of jobs `which` in one transaction; each job goes on with the row that now
    stands under its key (another writer's, if it stored first). The stored rows (None without a
    store)."""
    if not rows:
        return []
    stored = await store_work(log.db, log.record_many, rows)
    for i, fields, row in zip(which, rows, stored):
        if row is not None:
            steps[i] = step_from_call(jobs[i].index, row)
        else:  # no store: the step carries what was asked
            steps[i] = Step(
                index=jobs[i].index,
                call_id=fields.get("reused_from"),
                text=fields.get("output"),
                error=fields.get("error"),
                answer=fields.get("answer"),
                score=fields.get("score"),
            )
            if fields.get("logprobs"):
                steps[i]["logprobs"] = fields["logprobs"]  # type: ignore[index]
    return stored


async def _generate(
    spec: ModelSpec,
    role: str,
    jobs: list[Job],
    sampling: Sampling,
    parse: Parse,
    policy: RequestPolicy,
    billed: bool,
) -> list[Result]:
    """Each job's generation or error, on its own: one failed request fails only its own jobs.
    Jobs sharing one prompt go out as one request: `n` samples, or a single greedy answer copied
    (greedy decoding gives the same text every time). A billed batch is reserved in the budget
    first; BudgetExceeded means nothing of it was sent."""
    groups: dict[str, list[int]] = {}  # prompt -> positions of its jobs
    for k, job in enumerate(jobs):
        groups.setdefault(json.dumps(job.messages, sort_keys=True), []).append(k)
    prompts = [jobs[group[0]].messages for group in groups.values()]
    counts = [1 if sampling.greedy else len(group) for group in groups.values()]
    seeded = not sampling.greedy and all(job.seed is not None for job in jobs)
    seeds = [[jobs[k].seed or 0 for k in group] for group in groups.values()] if seeded else None
    ledger = current_ledger()
    reserved = sum(reserve_tokens(p, n, sampling.max_new_tokens) for p, n in zip(prompts, counts))
    if ledger is not None and billed:
        try:
            ledger.budget.reserve(sum(counts), reserved)
        except BudgetExceeded:
            ledger.budget_hit = True
            raise
    try:
        outcomes = await generate(spec, policy, prompts, counts, sampling, seeds)
    except ModelCallError as exc:
        outcomes = [[exc] * n for n in counts]
    if ledger is not None:
        ledger.add_sent(role, sum(counts), billed)  # outputs asked for: a greedy duplicate is not one
        if billed:
            used_in, used_out, sends = _usage(outcomes)
            ledger.add_tokens(used_in, used_out, sends)
            ledger.budget.settle(reserved, used_in + used_out)
    out: list[Result] = [(None, {}, None)] * len(jobs)
    for group, results in zip(groups.values(), outcomes):
        for j, k in enumerate(group):
            result = results[0] if sampling.greedy else results[j]
            if isinstance(result, Exception):
                out[k] = (None, {}, result)
                continue
            try:
                out[k] = (result, parse(result.text), None)
            except InvalidOutput as exc:
                out[k] = (result, {}, exc)
    return out


def _usage(outcomes: list) -> tuple[int, int, int]:
    """Tokens the requests used (each prompt's input once, every sample's output) and the HTTP
    requests they took, retries and failed ones included."""
    tokens_in = tokens_out = sends = 0
    for results in outcomes:
        gens = [g for g in results if isinstance(g, Generation)]
        tokens_in += gens[0].tokens_in or 0 if gens else 0
        tokens_out += sum(g.tokens_out or 0 for g in gens)
        failures = {id(r): r for r in results if isinstance(r, ModelCallError)}  # one error stands for n outputs
        sends += sum(g.sends for g in gens) + sum(e.sends for e in failures.values())
    return tokens_in, tokens_out, sends
