"""The graph's nodes, one file each, with their prompts, output parsing and models."""
from .judge import judge
from .pair_collector import Split, pair_collector, split_drafts
from .self_refine import self_refine
from .strong_refine import strong_refine
from .strong_solo import strong_solo
from .weak_draft import weak_draft

__all__ = ["Split", "judge", "pair_collector", "self_refine", "split_drafts", "strong_refine", "strong_solo", "weak_draft"]
