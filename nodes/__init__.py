"""The graph's nodes, one module each (`cowest.nodes.judge.judge`, ...), with their call recording.
Their prompts and answer parsing live in cowest.tasks, the models they call in cowest.models. The
builder imports each node from its own module."""
