"""A lean async client for OpenAI-compatible chat completions: one POST per request over pooled
keep-alive HTTP/1.1 connections on the event loop, with h11 (the protocol library under httpx)
reading and writing the messages.

Why not the OpenAI SDK: LangChain -> openai -> httpx -> httpcore costs about 3 ms of CPU per
request (bench/RESULTS.md), more than the rest of cowest's orchestration together; this costs a
tenth of that. It sends the same body langchain-openai sends. What it leaves out: HTTP proxies
(behind one, `openai_client` picks LangChain's client) and HTTP/2.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import h11

from cowest import __version__

from .base import Reply


class APIStatusError(Exception):
    """The server answered with an error status; `headers` keeps its Retry-After."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str]):
        super().__init__(f"Error code: {status_code} - {message}")
        self.status_code = status_code
        self.headers = headers


class APIConnectionError(ConnectionError):
    """The server could not be reached, or dropped the connection before answering."""


class APITimeoutError(TimeoutError):
    """No complete answer within the request's timeout."""


class ChatCompletionsClient:
    """POST {base_url}/chat/completions; idle connections are kept for the next request."""

    def __init__(self, base_url: str, api_key: str, timeout: float, max_idle: int = 256):
        url = urlsplit(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = _tls_context() if url.scheme == "https" else None
        self.target = (url.path or "") + "/chat/completions"
        self.timeout = timeout
        self.max_idle = max_idle
        authority = url.netloc.rsplit("@", 1)[-1]
        self.headers = [
            ("Host", authority),
            ("Authorization", f"Bearer {api_key}"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("User-Agent", f"cowest/{__version__}"),
        ]
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env):
                self.headers.append((header, os.environ[env]))
        self._idle: list[_Connection] = []

    async def complete(self, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        """One chat completion request; raises APIStatusError, APIConnectionError or
        APITimeoutError."""
        body = json.dumps({"model": model, "stream": False, "messages": messages, **params}).encode()
        try:
            status, headers, data = await asyncio.wait_for(self._post(body), self.timeout)
        except asyncio.TimeoutError:
            raise APITimeoutError(f"Request timed out after {self.timeout:g} s") from None
        if status != 200:
            raise APIStatusError(status, _error_message(data), headers)
        return _reply(json.loads(data))

    async def _post(self, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        # A kept connection the server has closed meanwhile fails before any answer: once, the
        # request goes again on a new connection (the SDKs do the same).
        while self._idle:
            conn = self._idle.pop()
            if conn.loop is not asyncio.get_running_loop():
                continue  # made on another event loop (one since closed): not ours to use or close
            if conn.stale():
                conn.close()
                continue
            try:
                return await self._exchange(conn, payload)
            except _Dropped:
                break
        try:
            return await self._exchange(await self._connect(), payload)
        except _Dropped as exc:
            raise APIConnectionError(f"Connection error: {exc}") from None

    async def _exchange(self, conn: _Connection, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            answer = await conn.request(self.target, self.headers, payload)
        except BaseException:
            conn.close()  # cancelled or failed half-way: the connection's state is unknown
            raise
        if conn.reusable() and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
            )
        except OSError as exc:  # refused, unreachable, unknown host, TLS failure
            raise APIConnectionError(f"Connection error: {exc}") from None
        return _Connection(reader, writer)


class _Dropped(Exception):
    """The connection closed before an answer began."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.loop = asyncio.get_running_loop()
        self.h11 = h11.Connection(h11.CLIENT)

    async def request(
        self, target: str, headers: list[tuple[str, str]], payload: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        h = self.h11
        out = h.send(
            h11.Request(method="POST", target=target, headers=[*headers, ("Content-Length", str(len(payload)))])
        )
        out = (out or b"") + (h.send(h11.Data(data=payload)) or b"") + (h.send(h11.EndOfMessage()) or b"")
        status, answer_headers, body = 0, {}, bytearray()
        try:
            self.writer.write(out)
            await self.writer.drain()
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    h.receive_data(await self.reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    answer_headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return status, answer_headers, bytes(body)
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionResetError("the server closed the connection")
        except (ConnectionError, h11.RemoteProtocolError, ssl.SSLError) as exc:
            if status:  # an answer had begun: not safe to send again
                raise APIConnectionError(f"Connection error: {exc}") from None
            raise _Dropped(str(exc) or type(exc).__name__) from None

    def reusable(self) -> bool:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def stale(self) -> bool:
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _reply(payload: dict[str, Any]) -> Reply:
    choices = sorted(payload.get("choices") or [], key=lambda c: c.get("index", 0))
    usage = payload.get("usage") or {}
    return Reply(
        texts=[((c.get("message") or {}).get("content") or "") for c in choices],
        tokens_in=usage.get("prompt_tokens"),
        tokens_out=usage.get("completion_tokens"),
    )


def _error_message(data: bytes) -> str:
    try:
        error = json.loads(data).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or data[:300].decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return data[:300].decode("utf-8", "replace") or "(empty answer)"


def _tls_context() -> ssl.SSLContext:
    """Certificates from $SSL_CERT_FILE, else certifi's bundle (as httpx), else the system's."""
    cafile = os.environ.get("SSL_CERT_FILE")
    if not cafile:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def behind_proxy(base_url: str) -> bool:
    """Whether the environment routes requests to `base_url` through an HTTP proxy."""
    url = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.hostname or "")
