"""The `openai:` path's HTTP client (nodes/models/openai_http.py) against a real HTTP server: it
sends what langchain-openai sends, keeps connections alive, replaces a dropped one, and its errors
drive cowest's retries as the SDK's did."""

import asyncio
import json

import pytest

from cowest.nodes.models import ModelCallError, RequestPolicy, Sampling
from cowest.nodes.models.openai_client import LangChainOpenAI, openai_client
from cowest.nodes.models.openai_http import APIStatusError, ChatCompletionsClient
from cowest.nodes.models.remote import RemoteChatModel, _backoff, _failure_kind, run_on_loop
from cowest.nodes.models.spec import ModelSpec

pytestmark = pytest.mark.slow  # starts servers

SAMPLED = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=12)


def reply(prompt: str) -> str:
    return f"Explanation: about {prompt}.\nAnswer: A"


def remote(srv, policy: RequestPolicy | None = None) -> RemoteChatModel:
    policy = policy or RequestPolicy(max_in_flight=4, timeout=10)
    return RemoteChatModel(ModelSpec.parse("openai:scripted"), srv.url, "sk-test", policy)


def ask(model: RemoteChatModel, count: int, n: int = 1, sampling: Sampling = SAMPLED):
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q{i}?"}] for i in range(count)
    ]
    return model.generate(prompts, n=n, sampling=sampling)


@pytest.mark.parametrize("n, sampling", [(1, Sampling(max_new_tokens=7)), (3, SAMPLED)])
def test_the_lean_client_sends_and_reads_what_langchain_openai_does(serve, monkeypatch, n, sampling):
    srv = serve(reply)
    lean = ask(remote(srv), 2, n, sampling)
    monkeypatch.setenv("COWEST_OPENAI_CLIENT", "langchain")
    langchain_model = remote(srv)
    assert isinstance(langchain_model.client, LangChainOpenAI)
    via_langchain = ask(langchain_model, 2, n, sampling)
    first, second = (
        sorted(json.dumps(r, sort_keys=True) for r in half) for half in (srv.requests[:2], srv.requests[2:])
    )
    assert first == second and len(first) == 2
    first = [json.loads(r) for r in first]
    assert first[0]["max_completion_tokens"] == sampling.max_new_tokens and first[0]["stream"] is False
    assert [[(g.text, g.tokens_in, g.tokens_out) for g in gens] for gens in lean] == [
        [(g.text, g.tokens_in, g.tokens_out) for g in gens] for gens in via_langchain
    ]
    assert all(len(gens) == n and gens[0].text == "Explanation: about Q0?." + "\nAnswer: A" for gens in lean[:1])


def test_connections_are_kept_and_a_dropped_one_is_replaced_without_a_failure(serve):
    srv = serve(reply)
    model = remote(srv, RequestPolicy(max_in_flight=1, timeout=10, max_retries=0))
    for _ in range(5):
        ask(model, 2)
    assert len(srv.requests) == 10 and srv.connections == 1  # one kept-alive connection
    srv.drop_idle = True  # each connection now closes after its answer, unannounced
    for _ in range(5):
        assert ask(model, 1)[0][0].text.endswith("Answer: A")  # no retries allowed: none was needed
    assert len(srv.requests) == 15 and srv.connections == 5  # the kept one, then one per request


def test_status_errors_drive_retries_as_the_sdk_errors_did(serve):
    srv = serve(reply)
    model = remote(srv, RequestPolicy(max_in_flight=1, timeout=10, max_retries=2))
    srv.fail_next, srv.fail_status, srv.retry_after = 1, 429, "0"
    assert ask(model, 1)[0][0].text  # a 429 is pushed back and sent again
    assert len(srv.requests) == 2
    srv.fail_next, srv.fail_status = 5, 400
    with pytest.raises(ModelCallError, match="Error code: 400 - scripted failure"):
        ask(model, 1)
    assert len(srv.requests) == 3  # a bad request is final: not retried

    throttled = APIStatusError(429, "slow down", {"retry-after": "3"})
    assert _failure_kind(throttled) == "push-back" and _backoff(1, throttled) == 3.0
    assert _failure_kind(APIStatusError(502, "bad gateway", {})) == "retry"


def test_an_unreachable_server_and_a_silent_one_are_a_connection_error_and_a_timeout(serve):
    srv = serve(reply)
    srv.hang = True
    silent = ChatCompletionsClient(srv.url, "sk-test", timeout=0.3)
    with pytest.raises(TimeoutError) as timeout:
        run_on_loop(silent.complete("scripted", [{"role": "user", "content": "hi"}], {}))
    assert _failure_kind(timeout.value) == "push-back"
    closed = ChatCompletionsClient("http://127.0.0.1:9/v1", "sk-test", timeout=5)  # the discard port: refused
    with pytest.raises(ConnectionError) as refused:
        asyncio.run(closed.complete("scripted", [{"role": "user", "content": "hi"}], {}))
    assert _failure_kind(refused.value) == "retry"


def test_behind_a_proxy_langchains_client_is_used(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert isinstance(openai_client("https://api.openai.com/v1", "sk", 5, "gpt-4o"), LangChainOpenAI)
    assert isinstance(openai_client("http://127.0.0.1:8000/v1", "sk", 5, "m"), ChatCompletionsClient)
    monkeypatch.delenv("HTTPS_PROXY")
    assert isinstance(openai_client("https://api.openai.com/v1", "sk", 5, "gpt-4o"), ChatCompletionsClient)


COMPLETION = json.dumps({"choices": [{"index": 0, "message": {"content": "Answer: B"}}], "usage": {}}).encode()
FRAMINGS = {  # the ways an HTTP/1.1 server may frame its answer (RFC 9112), and whether it stays open
    "length": (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(COMPLETION) + COMPLETION, True),
    "chunks": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x;ext=1\r\n%s\r\n" % (10, COMPLETION[:10])
        + b"%x\r\n%s\r\n" % (len(COMPLETION) - 10, COMPLETION[10:])
        + b"0\r\nX-Trailer: t\r\n\r\n",
        True,
    ),
    "interim answer first": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(COMPLETION) + COMPLETION,
        True,
    ),
    "connection close": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(COMPLETION) + COMPLETION,
        False,
    ),
    "up to the close": (b"HTTP/1.0 200 OK\r\n\r\n" + COMPLETION, False),
}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_every_framing_of_an_answer_is_read_and_only_a_framed_one_keeps_the_connection(framing):
    answer, kept = FRAMINGS[framing]
    seen: list[bytes] = []
    connections = 0

    async def handle(reader, writer):
        nonlocal connections
        connections += 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length:")).split(b":")[1])
            seen.append(head + await reader.readexactly(length))
            writer.write(answer)
            await writer.drain()
            if not kept:
                break
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ChatCompletionsClient(f"http://127.0.0.1:{port}/v1", "sk-test", timeout=5)
        replies = [await client.complete("m", [{"role": "user", "content": "hi"}], {}) for _ in range(3)]
        server.close()
        return replies

    replies = asyncio.run(main())
    assert [r.texts for r in replies] == [["Answer: B"]] * 3
    assert connections == (1 if kept else 3)
    assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert json.loads(seen[0].split(b"\r\n\r\n", 1)[1])["messages"] == [{"role": "user", "content": "hi"}]


def test_an_api_key_with_a_line_break_is_refused_before_any_request():
    with pytest.raises(ValueError, match="line break"):
        ChatCompletionsClient("http://127.0.0.1:8000/v1", "sk-from-a-file\n", timeout=5)
