"""The chat messages a prompt is: what tasks/ frames and models/ sends."""

Messages = list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": ...}]
