"""The served graphs' front gate (langgraph.json `http.app`): a request that would start a run is
checked before the LangGraph server creates it. A body past the size limit, a query past the
operator's limit or a context the caller may not choose is answered 413 / 422 with one line in
`detail`: no run is created (so none is resumed after a restart), nothing is logged as a server
error, and the server never holds more than the limit of a hostile body in memory.

The graphs check the same limits again (graph/builder.py, the context schemas): code that embeds
them, or a run this gate cannot read, meets the same refusals there.
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID, uuid5

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# langgraph.json loads this file by its path, not as part of the package: imports are absolute.
from cowest.core.limits import limits
from cowest.graph.serving import CallerContext, CollectCallerContext

# A run-creating POST: /runs, /runs/wait, /runs/stream, /runs/batch, and the same under /threads/ID.
_RUN_PATH = re.compile(r"^(/threads/[^/]+)?/runs(/wait|/stream|/batch)?/?$")
# LangGraph names a graph's default assistant uuid5(this namespace, graph id) (langgraph_api.graph).
_ASSISTANT_NAMESPACE = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
_SCHEMAS: dict[str, type[CallerContext]] = {"collaborate": CallerContext, "collect": CollectCallerContext}
_SCHEMAS.update({str(uuid5(_ASSISTANT_NAMESPACE, name)): schema for name, schema in list(_SCHEMAS.items())})
# Room for the JSON around a query at its limit (context, metadata, escapes of every character).
_ENVELOPE_CHARS = 64_000


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def max_body_bytes() -> int:
    """A query at its limit, each character escaped as \\uXXXX at worst, and its envelope."""
    return 6 * limits().max_query_chars + _ENVELOPE_CHARS


def check_run_request(body: Any) -> None:
    """Raise Refused when a run request's query or context is past what the caller may send."""
    requests = body if isinstance(body, list) else [body]  # /runs/batch takes a list
    for request in requests:
        if not isinstance(request, dict):
            continue  # the server answers a malformed request itself
        query = (request.get("input") or {}).get("query") if isinstance(request.get("input"), dict) else None
        cap = limits().max_query_chars
        if isinstance(query, str) and len(query) > cap:
            raise Refused(413, f"the query is {len(query):,} characters, over this server's limit of {cap:,}")
        schema = _SCHEMAS.get(str(request.get("assistant_id", "")))
        context = request.get("context")
        if schema is not None and isinstance(context, dict):
            known = {k: v for k, v in context.items() if k in schema.model_fields}  # the server drops the rest
            try:
                schema.model_validate(known)
            except ValidationError as exc:
                raise Refused(422, one_line(exc)) from None


def one_line(exc: ValidationError) -> str:
    """pydantic's errors as one line a caller can act on: `context.field: why`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "context"
        why = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"context.{where}: {why}" if where != "context" else f"context: {why}")
    return "; ".join(parts)


class RunGate:
    """ASGI middleware: reads a run request's body (at most max_body_bytes()), checks it, and
    replays it to the server; anything else passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _RUN_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, max_body_bytes())
            check_run_request(_parsed(body))
        except Refused as refusal:
            await JSONResponse({"detail": refusal.detail}, status_code=refusal.status)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # the server answers a malformed body itself


async def _read_body(receive: Receive, cap: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise Refused(413, f"the request is over this server's limit of {cap:,} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a disconnect, when the caller goes

    return replayed


app = Starlette(middleware=[Middleware(RunGate)])
