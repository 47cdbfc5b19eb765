"""A lean async client for OpenAI-compatible chat completions: one POST per request over pooled
keep-alive HTTP/1.1 connections on the event loop.

Why not the OpenAI SDK: LangChain -> openai -> httpx -> httpcore costs about 3 ms of CPU per
request (bench/RESULTS.md), more than the rest of cowest's orchestration together; this costs a
twentieth of that. It sends the same body langchain-openai sends. It writes its one kind of request
itself and reads the answer as RFC 9112 frames it (a Content-Length, chunks, or up to the close; 1xx
interim answers skipped): h11, the protocol library under httpx, cost as much again as the rest of
a request (0.4 -> 0.2 ms of CPU).
What it leaves out: HTTP proxies (behind one, `openai_client` picks LangChain's client), HTTP/2 and
compressed answers (it asks for none).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import urllib.request
from typing import Any
from urllib.parse import urlsplit

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
        headers = [
            ("Host", authority),
            ("Authorization", f"Bearer {api_key}"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("User-Agent", f"cowest/{__version__}"),
        ]
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env):
                headers.append((header, os.environ[env]))
        self.head = _request_head(self.target, headers)
        self._idle: list[_Connection] = []

    async def complete(self, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> Reply:
        """One chat completion request; raises APIStatusError, APIConnectionError or
        APITimeoutError."""
        body = json.dumps({"model": model, "stream": False, "messages": messages, **params}).encode()
        try:
            status, headers, data = await _within(self.timeout, self._post(body))
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
            answer = await conn.request(self.head + b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        except BaseException:
            conn.close()  # cancelled or failed half-way: the connection's state is unknown
            raise
        if conn.keep and len(self._idle) < self.max_idle:
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
        self.keep = False  # whether the last answer left the connection open for the next request

    async def request(self, message: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one request; its answer's status, headers (names in lower case) and body."""
        self.keep = False
        status = 0
        try:
            self.writer.write(message)
            await self.writer.drain()
            while status < 200:  # interim answers (100 Continue, 103 Early Hints) come before the final one
                status, keep_alive, headers = await self._head()
            body, framed = await self._body(status, headers)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError) as exc:
            if status or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                # an answer had begun: not safe to send again
                raise APIConnectionError(f"Connection error: {exc}") from None
            raise _Dropped(str(exc) or type(exc).__name__) from None
        except ValueError as exc:
            raise APIConnectionError(f"Connection error: not an HTTP/1.1 answer ({exc})") from None
        self.keep = keep_alive and framed
        return status, headers, body

    async def _head(self) -> tuple[int, bool, dict[str, str]]:
        """The status line and headers of an answer: its status, whether it keeps the connection open
        (HTTP/1.1 unless it says close; HTTP/1.0 only if it says keep-alive), its headers."""
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, code = lines[0].split(" ", 2)[:2]
        if not version.startswith("HTTP/1.") or len(code) != 3:
            raise ValueError(f"status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:-2]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"header line {line[:80]!r}")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        return int(code), keep_alive, headers

    async def _body(self, status: int, headers: dict[str, str]) -> tuple[bytes, bool]:
        """The body and whether its end was framed (a length or chunks) rather than the close."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):  # extensions ignored
                chunks.append((await self.reader.readexactly(size + 2))[:-2])
            while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, ignored
                pass
            return b"".join(chunks), True
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"])), True
        if status in (204, 304):
            return b"", True
        return await self.reader.read(), False  # up to the close

    def stale(self) -> bool:
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _request_head(target: str, headers: list[tuple[str, str]]) -> bytes:
    """The request line and headers of every request, up to its Content-Length."""
    for name, value in headers:
        if any(c in value for c in "\r\n\0"):  # e.g. a key read from a file with its line break
            raise ValueError(f"the {name} header has a line break in it; check the API key and base URL")
    lines = [f"POST {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _within(seconds: float, answer: Any) -> Any:
    """`await answer`, cancelled after `seconds`: asyncio.timeout where there is one (Python 3.11),
    which costs less than wait_for's task of its own."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await answer
    return await asyncio.wait_for(answer, seconds)


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
