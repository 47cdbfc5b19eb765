"""The graph's nodes, one module each (`cowest.nodes.judge.judge`, ...), with their prompts, output
parsing and call recording; the models they call live in cowest.models. The builder imports each
node from its own module."""
