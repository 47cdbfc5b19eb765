"""The one HTTP stack of every OpenAI-compatible endpoint (strong model, judge, a served weak model,
the reachability probe, vLLM's LoRA loading): one `httpx.AsyncClient` per endpoint and event loop.

httpx owns the requests: headers, timeouts, proxies from the environment (HTTPS_PROXY / NO_PROXY),
decompression (gzip, deflate) and redirects (a 307 / 308 is followed with its method and body; the key
is not sent on to another origin). Under it, the connection pool depends on the base URL:

- https: httpcore's pool, with HTTP/2 where the server offers it (the h2 package, by ALPN);
- plain http (vLLM, llama.cpp, Ollama, a local gateway: HTTP/1.1 servers, often sent many requests
  at once) with no proxy in the environment: aiohttp's pool, through httpx-aiohttp (the transport
  the openai SDK offers for concurrency). httpcore scans every pooled connection at each request's
  start and end, which at 64 connections cost more CPU than the requests (bench/RESULTS.md).

TLS verifies against OpenSSL's default paths, which read SSL_CERT_FILE and SSL_CERT_DIR (and the
system store), plus certifi's roots. No POST is ever sent again by the stack: every retry is the
caller's, counted against --max-retries (aiohttp may resend the GET probe once on a kept connection
the server had closed).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import ssl
import sys
import threading
from functools import cache
from typing import Any

import httpx

from cowest.core import BadInput
from cowest.core.versions import VERSION

from .base import Reply


class APIStatusError(Exception):
    """The server answered with an error status; `headers` keeps its Retry-After."""

    def __init__(self, status_code: int, message: str, headers: Any):
        super().__init__(f"Error code: {status_code} - {message}")
        self.status_code = status_code
        self.headers = headers


class APIConnectionError(ConnectionError):
    """The server could not be reached, or dropped the connection before answering."""


class APITimeoutError(TimeoutError):
    """No complete answer within the request's timeout."""


def base_url_of(text: str) -> httpx.URL:
    """An endpoint's base URL: http(s), trailing slashes dropped; its query string (Azure's
    `api-version`) is kept for every request made under it."""
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL as exc:
        raise BadInput(f"not a base URL: {text!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BadInput(f"not an http(s) base URL: {text!r}")
    return url.copy_with(path=url.path.rstrip("/") or "/")


@cache
def tls_context() -> ssl.SSLContext:
    """OpenSSL's default verify paths (SSL_CERT_FILE, SSL_CERT_DIR, the system store), and
    certifi's roots for systems without a store. Made once: building one costs milliseconds."""
    import certifi

    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=certifi.where())
    return ctx


def _http2() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


# Idle connections kept per endpoint. httpcore checks every pooled connection at each request's start
# and end; with hundreds kept that cost more CPU than the requests themselves (bench/RESULTS.md: the
# c16/c1 throughput went from 6.8x with 256 kept to 10.6x with 16). Requests beyond it still get a
# connection of their own; HTTP/2 servers multiplex them over one.
KEEPALIVE = 16


class Endpoint:
    """An OpenAI-compatible server at one base URL, with the one key configured for it."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float):
        self.url = base_url_of(base_url)
        self.timeout = timeout
        self.ignores_n = False  # learnt from a short answer: samples are then asked one request each
        headers = {"User-Agent": f"cowest/{VERSION}", "Accept": "application/json"}
        if api_key:
            if any(c in api_key for c in "\r\n"):
                raise BadInput("the API key has a line break in it (read from a file?): remove it")
            headers["Authorization"] = f"Bearer {api_key}"
        for env, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(env):
                headers[header] = os.environ[env]
        self._headers = headers
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:  # never the key
        return f"Endpoint({str(self.url)!r})"

    def url_for(self, path: str) -> httpx.URL:
        """`path` under the base URL, the base's query string kept (made once per path: httpx
        parses a URL again at each copy)."""
        if path not in self._urls:
            self._urls[path] = self.url.copy_with(path=self.url.path.rstrip("/") + "/" + path.lstrip("/"))
        return self._urls[path]

    def client(self) -> httpx.AsyncClient:
        """This loop's client (a pool belongs to the loop it was made on)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._clients:
                self._clients[loop] = httpx.AsyncClient(
                    transport=_plain_http_pool() if self.url.scheme == "http" else None,
                    headers=self._headers,
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=True,
                    http2=_http2(),
                    verify=tls_context(),
                    trust_env=True,  # HTTPS_PROXY / NO_PROXY
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE),
                )
            return self._clients[loop]

    async def send(
        self, method: str, path: str, json: Any = None, headers: dict | None = None, timeout: float | None = None
    ) -> httpx.Response:
        """One request, within the endpoint's timeout (or `timeout`) in all; any answer is returned.
        Raises APITimeoutError or APIConnectionError (`_failure`)."""
        seconds = timeout or self.timeout
        client = self.client()
        request = client.build_request(method, self.url_for(path), json=json, headers=headers)
        try:
            return await _within(seconds, client.send(request))
        except (asyncio.TimeoutError, httpx.TransportError) as exc:
            raise _failure(exc, seconds) from None

    async def post_json(self, path: str, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        """POST `body`; the answer's JSON, or APIStatusError for an error status."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        reply = await self.send("POST", path, json=body, headers=headers)
        if reply.status_code >= 400:
            raise APIStatusError(reply.status_code, _error_message(reply), reply.headers)
        try:
            return reply.json()
        except ValueError:
            raise APIStatusError(reply.status_code, f"not JSON: {reply.text[:200]!r}", reply.headers) from None

    async def complete(
        self, model: str, messages: list[dict[str, str]], params: dict[str, Any], idempotency_key: str | None = None
    ) -> Reply:
        """One chat completion. Its Idempotency-Key (the caller's, the same for every retry of one
        request) lets a server that honours one drop a repeat."""
        body = {"model": model, "stream": False, "messages": messages, **params}
        data = await self.post_json("chat/completions", body, idempotency_key=idempotency_key)
        return _reply(data)

    async def probe(self, timeout: float = 5.0) -> None:
        """GET /models: any HTTP answer, even an error status, means the server is there."""
        await self.send("GET", "models", timeout=timeout)

    async def aclose(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.aclose()

    def close_pools(self, wait: float = 0.0) -> None:
        """Close each loop's client on its own loop (from any thread but those loops'), waiting up to
        `wait` seconds for each; a loop that no longer runs has nothing left to close."""
        with self._lock:
            clients, self._clients = list(self._clients.items()), {}
        for loop, client in clients:
            if loop.is_running() and not loop.is_closed():
                done = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
                if wait:
                    try:
                        done.result(wait)
                    except Exception:  # closing is best effort: the process is leaving or forgetting it
                        pass


_endpoints: dict[tuple[str, str | None, float], Endpoint] = {}
_endpoints_lock = threading.Lock()


def endpoint(base_url: str, api_key: str | None, timeout: float) -> Endpoint:
    """The one Endpoint of (base URL, key, timeout) in this process: its pool is shared by every
    model served there."""
    key = (str(base_url_of(base_url)), api_key, timeout)
    with _endpoints_lock:
        if key not in _endpoints:
            _endpoints[key] = Endpoint(base_url, api_key, timeout)
        return _endpoints[key]


def clear_endpoints(wait: float = 0.0) -> None:
    """Forget every endpoint, closing its pools (tests; a changed TLS or proxy setting takes effect on
    the next one)."""
    with _endpoints_lock:
        gone = list(_endpoints.values())
        _endpoints.clear()
    for ep in gone:
        ep.close_pools(wait)


# aiohttp reports a pool still open at exit on stderr: close them while the requests' loop still runs.
atexit.register(clear_endpoints, 1.0)


def _plain_http_pool() -> httpx.AsyncBaseTransport | None:
    """aiohttp's pool under httpx for a plain-HTTP origin: no connection limit (the model's in-flight
    limit is the one), no cookie jar of its own (httpx keeps cookies), httpx's keep-alive expiry.
    None (httpcore's pool) where the environment names a proxy: httpx applies HTTP(S)_PROXY and
    NO_PROXY only to the transports it makes itself."""
    import urllib.request

    if any(urllib.request.getproxies().get(scheme) for scheme in ("http", "https", "all")):
        return None
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:  # made on first request, on the loop that sends it
        connector = aiohttp.TCPConnector(limit=0, ssl=tls_context(), keepalive_timeout=5.0)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(client=session)


def _failure(exc: BaseException, seconds: float) -> Exception:
    """A transport error as APITimeoutError or APIConnectionError (a connection that closed after the
    request was written too: the caller decides whether to send it again)."""
    import aiohttp

    # httpx-aiohttp maps aiohttp's errors onto httpx's, a dropped connection onto ConnectTimeout: the
    # aiohttp error it came from says which it was.
    cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    if isinstance(cause, (asyncio.TimeoutError, httpx.TimeoutException)):
        return APITimeoutError(f"Request timed out after {seconds:g} s")
    return APIConnectionError(f"{type(cause).__name__}: {cause or 'connection failed'}")


def _reply(data: Any) -> Reply:
    try:
        texts = [(c.get("message") or {}).get("content") or "" for c in data["choices"]]
    except (KeyError, TypeError, AttributeError):
        raise APIStatusError(200, f"not a chat completion: {str(data)[:200]}", {}) from None
    usage = data.get("usage") or {}
    return Reply(texts, usage.get("prompt_tokens"), usage.get("completion_tokens"), _logprobs(data["choices"]))


def _logprobs(choices: list) -> list | None:
    """Each choice's [[token, log probability], ...], where the server returned them."""
    out = []
    for c in choices:
        content = (c.get("logprobs") or {}).get("content") if isinstance(c.get("logprobs"), dict) else None
        out.append([[t.get("token", ""), float(t.get("logprob", 0.0))] for t in content] if content else None)
    return out if any(x is not None for x in out) else None


def _error_message(reply: httpx.Response) -> str:
    try:
        error = reply.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    except (ValueError, AttributeError):
        pass
    return reply.text[:300] or reply.reason_phrase


if sys.version_info >= (3, 11):

    async def _within(seconds: float, coro: Any) -> Any:
        async with asyncio.timeout(seconds):
            return await coro

else:  # pragma: no cover

    async def _within(seconds: float, coro: Any) -> Any:
        return await asyncio.wait_for(coro, seconds)
