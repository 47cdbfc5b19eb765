"""A scripted OpenAI-compatible HTTP server on 127.0.0.1: real HTTP for the `openai:` path, replies
decided by a Python function of the prompt, every request logged."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[str], str]  # last user message -> reply text


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog (5) would hold back a client with hundreds of requests
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up on a request (a job that stopped) closes its connection before the
        # answer is written: normal for an API server, not a traceback on the test's stderr.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class ScriptedServer:
    def __init__(
        self, script: Script, fail_rate: float = 0.0, seed: int = 0, slots: int | None = None, tls: Any = None
    ):
        self.script = script
        self.requests: list[dict] = []
        self.paths: list[str] = []  # the request target of every POST, its query string included
        self.headers: list[Message] = []  # the headers of every POST (names case-insensitive, as in HTTP)
        self.gzip = False  # compress answers for a client that accepts gzip
        self.redirects: dict[str, str] = {}  # path prefix -> where a 307 sends it
        self.close_after_read = 0  # read this many requests, then close the connection without answering
        self.fail_next = 0  # answer this many requests with HTTP `fail_status` (fault injection)
        self.fail_status = 500
        self.retry_after: str | None = None  # a Retry-After header on failures
        self.connections = 0  # TCP connections accepted
        self.drop_idle = False  # close each connection after its answer without saying so (a stale keep-alive)
        self.fail_rate = fail_rate  # answer this share of requests with 500 or 429, at random
        self.hang = False  # never answer a completion (a dead API)
        self.max_choices: int | None = None  # return at most this many choices (servers that ignore n)
        self.latency = 0.0  # seconds before each answer
        # One-slot servers (llama.cpp, Ollama): `slots` answers at a time, the rest wait their turn,
        # and a request whose client gave up still takes its turn.
        self._slots = threading.Semaphore(slots) if slots else None
        self.max_busy = 0  # the most requests the server held at once
        self.loras: dict[str, str] = {}  # LoRA adapters loaded at run time: name -> path
        self.scripts_by_model: dict[str, Script] = {}  # a model with a script of its own
        # Token log probabilities when a request asks for them (None: the server ignores `logprobs`):
        # each word of the answer is a token, these words have probability 0.1, the others 0.99.
        self.logprobs_for: set[str] | None = None
        self._busy = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as vLLM, llama.cpp and the OpenAI API do
            # Headers and body go out as two writes: with Nagle's algorithm the body would wait for
            # the client's delayed ACK of the headers (40 ms on Linux). Servers set TCP_NODELAY.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                with server._lock:
                    server.connections += 1

            def do_GET(self):
                if self.path.rstrip("/").endswith("/stats"):  # for a server run in another process
                    self._send(200, {"requests": len(server.requests), "max_busy": server.max_busy})
                elif self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.paths.append(self.path)
                    server.headers.append(self.headers)
                    drop = server.close_after_read > 0
                    server.close_after_read -= drop
                if drop:  # the request was read: closing now leaves the client not knowing its fate
                    with server._lock:
                        server.requests.append(body)
                    self.close_connection = True
                    return
                for prefix, target in server.redirects.items():
                    if self.path.startswith(prefix):
                        self.send_response(307)
                        self.send_header("Location", target + self.path[len(prefix) :])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                if self.path.rstrip("/").endswith("/load_lora_adapter"):  # vLLM's runtime LoRA loading
                    with server._lock:
                        server.loras[body["lora_name"]] = body["lora_path"]
                    return self._send(200, {"status": "ok"})
                with server._lock:
                    server.requests.append(body)
                    fail = server.fail_next > 0
                    server.fail_next -= fail
                    status = server.fail_status if fail else 0
                    if not status and server._random.random() < server.fail_rate:
                        status = server._random.choice([500, 429])
                while server.hang and not server.stopping:
                    time.sleep(0.05)
                with server._slot():
                    time.sleep(server.latency)
                if status:
                    return self._send(status, {"error": {"message": "scripted failure", "type": "server_error"}})
                prompt = body["messages"][-1]["content"]
                n = int(body.get("n") or 1)
                n = min(n, server.max_choices or n)
                script = server.scripts_by_model.get(body.get("model"), server.script)
                texts = [script(prompt) for _ in range(n)]
                self._send(
                    200,
                    {
                        "id": "chatcmpl-scripted",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "scripted"),
                        "choices": [
                            {
                                "index": i,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": t},
                                **server._logprobs(t, body),
                            }
                            for i, t in enumerate(texts)
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt.split()),
                            "completion_tokens": sum(len(t.split()) for t in texts),
                            "total_tokens": len(prompt.split()) + sum(len(t.split()) for t in texts),
                        },
                    },
                )

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if server.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                    data = gzip.compress(data)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                if status >= 400 and server.retry_after is not None:
                    self.send_header("Retry-After", server.retry_after)
                self.end_headers()
                self.close_connection = self.close_connection or server.drop_idle
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): a real server drops the answer too

        self.stopping = False
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        if tls is not None:  # an ssl.SSLContext with the server's certificate (for "localhost")
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self.url = f"https://localhost:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()

    @contextmanager
    def _slot(self):
        with self._lock:
            self._busy += 1
            self.max_busy = max(self.max_busy, self._busy)
        try:
            if self._slots is None:
                yield
            else:
                with self._slots:
                    yield
        finally:
            with self._lock:
                self._busy -= 1

    def _logprobs(self, text: str, body: dict) -> dict:
        if not body.get("logprobs") or self.logprobs_for is None:
            return {}
        tokens = re.findall(r"\s*\S+", text)
        unsure = self.logprobs_for
        return {
            "logprobs": {
                "content": [
                    {"token": t, "logprob": math.log(0.1 if t.strip().strip(".,") in unsure else 0.99)} for t in tokens
                ]
            }
        }

    def kinds(self) -> list[str]:
        """What each logged request was: solo, refine or judge."""
        return [kind_of(r["messages"][-1]["content"]) for r in self.requests]


def kind_of(prompt: str) -> str:
    if "Ground truth:" in prompt:
        return "judge"
    if "Expert model's answer:" in prompt:
        return "refine"
    return "solo"


def section(prompt: str, label: str) -> str:
    """The text under `label` in one of our prompts, up to the closing instruction."""
    rest = prompt.split(label, 1)[1]
    return rest.split("\n\nReply ", 1)[0].strip()
