"""The graph's nodes, one module each (`cowest.nodes.judge.judge`, ...), with their prompts, output
parsing, call recording and models. The builder imports each node from its own module."""
