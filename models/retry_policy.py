"""How a failed remote request is treated: pushed back (an overloaded server: the model's in-flight
limit halves), retried after a backoff, or final; and how long to wait before a retry."""

from __future__ import annotations

import random

MAX_CROWDED = 16  # free resends of one request that met a push-back in a crowd


def failure_kind(exc: Exception) -> str:
    """push-back: the server is overloaded (timeout, 429, 503); retry: a transient failure (a
    connection that failed or closed, other 5xx); final: anything a retry cannot fix (a bad
    request, a wrong key). Other providers' SDKs are read by their exceptions' status codes and names."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    name = type(exc).__name__
    if status in (429, 503) or "Timeout" in name or "RateLimit" in name or "ResourceExhausted" in name:
        return "push-back"
    if isinstance(exc, ConnectionError) or "Connection" in name:
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
