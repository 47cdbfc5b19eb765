"""How a failed remote request is treated: pushed back (an overloaded server: the model's in-flight
limit halves), retried after a backoff, or final; and how long to wait before a retry."""

from __future__ import annotations

import random

MAX_CROWDED = 16  # free resends of one request that met a push-back in a crowd


def failure_kind(exc: Exception) -> str:
    """push-back: the server is overloaded (a timeout, 429, 503); retry: a transient failure (a
    connection that failed or closed, other 5xx, 409); final: anything a retry cannot fix (a bad
    request, a wrong key, a reply that is not a chat completion). Read from the exception's type
    (models/http.py's APITimeoutError is a TimeoutError, APIConnectionError a ConnectionError) and an
    API error's status code, never from its name."""
    if isinstance(exc, TimeoutError):
        return "push-back"
    status = getattr(exc, "status_code", None)
    if status in (429, 503):
        return "push-back"
    if isinstance(exc, ConnectionError):
        return "retry"
    if isinstance(status, int) and (status >= 500 or status == 409):
        return "retry"
    return "final"


def backoff(retry: int, exc: Exception) -> float:
    """Seconds before retry number `retry`: Retry-After when the server says, else 0.5 s doubling
    up to 8 s, with jitter (as the OpenAI SDK waits)."""
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None) or {}
    after = headers.get("retry-after")
    try:
        if after is not None:
            return min(60.0, max(0.0, float(after)))
    except ValueError:
        pass
    return min(8.0, 0.5 * 2 ** (retry - 1)) * (1 - 0.25 * random.random())
