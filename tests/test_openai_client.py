"""The `openai:` path's one HTTP stack (models/http.py, httpx) against real HTTP servers on
127.0.0.1: TLS from a private CA, gzip, redirects, Azure-style query strings, kept connections, and
requests that are never sent again without being counted."""

import json
import subprocess

import pytest

from cowest.core import BadInput, ServiceUnavailable
from cowest.models import ModelCallError, RequestPolicy, Sampling
from cowest.models.checks import check_reachable
from cowest.models.http import APIStatusError, clear_endpoints, endpoint, tls_context
from cowest.models.remote import RemoteChatModel
from cowest.models.requests_loop import run_on_loop
from cowest.models.retry_policy import backoff, failure_kind
from cowest.models.spec import ModelSpec

pytestmark = pytest.mark.slow  # starts servers

SAMPLED = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=12)


@pytest.fixture(autouse=True)
def _fresh_endpoints():
    clear_endpoints()  # each test's servers and TLS settings are its own
    yield
    clear_endpoints()


def reply(prompt: str) -> str:
    return f"Explanation: about {prompt}.\nAnswer: A"


def remote(url: str, policy: RequestPolicy | None = None) -> RemoteChatModel:
    policy = policy or RequestPolicy(max_in_flight=4, timeout=10)
    return RemoteChatModel(ModelSpec.parse("openai:scripted"), url, "sk-test", policy)


def ask(model: RemoteChatModel, count: int, n: int = 1, sampling: Sampling = SAMPLED):
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q{i}?"}] for i in range(count)
    ]
    return model.generate(prompts, n=n, sampling=sampling)


def test_the_request_is_the_chat_completions_api_and_the_answer_is_read(serve):
    srv = serve(reply)
    [[first, second]] = ask(remote(srv.url), 1, n=2)
    [body] = srv.requests
    assert body["model"] == "scripted" and body["n"] == 2 and body["stream"] is False
    assert body["max_completion_tokens"] == 12 and body["top_p"] == 0.9 and body["temperature"] == 1.0
    assert body["messages"][1] == {"role": "user", "content": "Q0?"}
    assert srv.paths == ["/v1/chat/completions"]
    assert srv.headers[0]["Authorization"] == "Bearer sk-test" and srv.headers[0]["Idempotency-Key"]
    assert first.text == "Explanation: about Q0?.\nAnswer: A" and first.tokens_in == 1


def test_an_azure_style_query_string_is_kept_and_trailing_slashes_are_folded(serve):
    srv = serve(reply)
    ask(remote(srv.url + "/deployments/gpt4o?api-version=2024-10-21"), 1)
    ask(remote(srv.url + "//?x=y"), 1)
    assert srv.paths == ["/v1/deployments/gpt4o/chat/completions?api-version=2024-10-21", "/v1/chat/completions?x=y"]
    with pytest.raises(BadInput, match="not an http"):
        endpoint("ftp://example.org/v1", None, 5)


def test_a_gzip_answer_is_decoded(serve):
    srv = serve(reply)
    srv.gzip = True
    assert ask(remote(srv.url), 1)[0][0].text.endswith("Answer: A")
    assert "gzip" in srv.headers[0]["Accept-Encoding"]


def test_a_307_redirect_is_followed_with_its_body(serve):
    srv = serve(reply)
    srv.redirects["/old/v1"] = "/v1"
    base = srv.url.replace("/v1", "/old/v1")
    assert ask(remote(base), 1)[0][0].text.endswith("Answer: A")
    assert srv.paths == ["/old/v1/chat/completions", "/v1/chat/completions"]
    [body] = srv.requests  # the POST body went on where the server said
    assert body["messages"][1]["content"] == "Q0?"


def test_https_with_a_private_ca_in_ssl_cert_dir_for_calls_and_the_probe_alike(tmp_path, monkeypatch):
    trustme = pytest.importorskip("trustme")
    from scripted_server import ScriptedServer

    ca = trustme.CA()
    server_tls = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    with ScriptedServer(reply, tls=server_tls) as srv:
        assert srv.url.startswith("https://localhost:")
        # not trusted yet: the probe and the calls fail alike
        with pytest.raises(ServiceUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            check_reachable(srv.url, "sk-test")
        with pytest.raises(ModelCallError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            ask(remote(srv.url, RequestPolicy(max_retries=0, timeout=10)), 1)
        certs = tmp_path / "certs"
        certs.mkdir()
        ca.cert_pem.write_to_path(str(certs / "private-ca.pem"))
        subprocess.run(["openssl", "rehash", str(certs)], check=True)  # what c_rehash / update-ca-certificates do
        monkeypatch.setenv("SSL_CERT_DIR", str(certs))
        tls_context.cache_clear()
        clear_endpoints()
        check_reachable(srv.url, "sk-test")
        assert ask(remote(srv.url), 1)[0][0].text.endswith("Answer: A")


def test_a_connection_closed_after_the_request_was_read_is_a_counted_retry(serve):
    srv = serve(reply)
    srv.close_after_read = 1
    with pytest.raises(ModelCallError, match="APIConnectionError"):
        ask(remote(srv.url, RequestPolicy(max_in_flight=1, timeout=10, max_retries=0)), 1)
    assert len(srv.requests) == 1  # --max-retries 0: the POST went out once, not twice
    srv.close_after_read = 1
    assert ask(remote(srv.url, RequestPolicy(max_in_flight=1, timeout=10, max_retries=1)), 1)[0][0].text
    assert len(srv.requests) == 3  # the retry, counted: the dropped one and its resend


def test_a_server_that_ignores_n_gets_the_missing_samples_one_request_each(serve):
    srv = serve(reply)
    srv.max_choices = 1  # llama.cpp, Ollama
    model = remote(srv.url)
    results = ask(model, 3, n=3)
    assert [len(gens) for gens in results] == [3, 3, 3]  # 9 of 9
    assert not model.supports_n  # remembered: later samples go one request each from the start
    ns = [r.get("n", 1) for r in srv.requests]
    assert sum(ns[:3]) <= 9 and ns.count(3) <= 3 and len(srv.requests) >= 9
    before = len(srv.requests)
    ask(model, 1, n=3)
    assert [r.get("n", 1) for r in srv.requests[before:]] == [1, 1, 1]


def test_connections_are_kept_alive(serve):
    srv = serve(reply)
    model = remote(srv.url, RequestPolicy(max_in_flight=1, timeout=10, max_retries=0))
    for _ in range(5):
        ask(model, 2)
    assert len(srv.requests) == 10 and srv.connections == 1


def test_status_errors_drive_retries(serve):
    srv = serve(reply)
    model = remote(srv.url, RequestPolicy(max_in_flight=1, timeout=10, max_retries=2))
    srv.fail_next, srv.fail_status, srv.retry_after = 1, 429, "0"
    assert ask(model, 1)[0][0].text  # a 429 is pushed back and sent again
    assert len(srv.requests) == 2
    srv.fail_next, srv.fail_status = 5, 400
    with pytest.raises(ModelCallError, match="Error code: 400 - scripted failure"):
        ask(model, 1)
    assert len(srv.requests) == 3  # a bad request is final: not retried

    throttled = APIStatusError(429, "slow down", {"retry-after": "3"})
    assert failure_kind(throttled) == "push-back" and backoff(1, throttled) == 3.0
    assert failure_kind(APIStatusError(502, "bad gateway", {})) == "retry"

    class ParserTimeoutSetting(ValueError):  # a name is no reason to retry: only types and status codes
        pass

    assert failure_kind(ParserTimeoutSetting("bad value")) == "final"


def test_an_unreachable_server_and_a_silent_one_are_a_connection_error_and_a_timeout(serve):
    srv = serve(reply)
    srv.hang = True
    silent = endpoint(srv.url, "sk-test", 0.3)
    with pytest.raises(TimeoutError) as timeout:
        run_on_loop(silent.complete("scripted", [{"role": "user", "content": "hi"}], {}))
    assert failure_kind(timeout.value) == "push-back"
    closed = endpoint("http://127.0.0.1:9/v1", "sk-test", 5)  # the discard port: refused
    with pytest.raises(ConnectionError) as refused:
        run_on_loop(closed.complete("scripted", [{"role": "user", "content": "hi"}], {}))
    assert failure_kind(refused.value) == "retry"
    with pytest.raises(ServiceUnavailable, match="cannot reach the OpenAI-compatible server"):
        check_reachable("http://127.0.0.1:9/v1", None)


def test_an_api_key_with_a_line_break_is_refused_before_any_request():
    with pytest.raises(BadInput, match="line break"):
        endpoint("http://127.0.0.1:8000/v1", "sk-from-a-file\n", 5)


def test_the_key_is_never_in_the_endpoints_repr():
    assert "sk-secret" not in repr(endpoint("http://127.0.0.1:8000/v1", "sk-secret", 5))
    assert json.dumps(str(endpoint("http://127.0.0.1:8000/v1", "sk-secret", 5).url)).find("sk-secret") < 0


def test_a_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(serve, monkeypatch):
    proxy = serve(reply)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.rsplit("/v1", 1)[0])
    assert ask(remote("http://model.internal:8000/v1"), 1)[0][0].text.endswith("Answer: A")
    assert proxy.paths == ["http://model.internal:8000/v1/chat/completions"]  # sent to the proxy, absolute

    direct = serve(reply)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: a proxy that is not there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    clear_endpoints()
    assert ask(remote(direct.url), 1)[0][0].text.endswith("Answer: A")
    assert len(direct.requests) == 1


def test_a_request_and_its_retries_carry_one_idempotency_key(serve):
    """A server that honours Idempotency-Key can drop a retried repeat only if the retry carries the
    first try's key; two requests have two keys."""
    srv = serve(reply)
    srv.fail_next, srv.fail_status, srv.retry_after = 2, 503, "0"
    ask(remote(srv.url), 2)
    keys = [h["Idempotency-Key"] for h in srv.headers]
    prompts = [r["messages"][-1]["content"] for r in srv.requests]
    assert len(keys) == 4  # two failed tries, then one success for each prompt
    by_prompt = {p: {k for k, q in zip(keys, prompts) if q == p} for p in set(prompts)}
    assert sorted(len(ks) for ks in by_prompt.values()) == [1, 1]  # each prompt: one key on every try
    assert len(set(keys)) == 2
