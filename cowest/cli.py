"""The `cowest` command line."""

from __future__ import annotations

import argparse
import os
import sys

from cowest.core import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CowestError


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    _quiet_libraries()
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("cowest: interrupted; finished calls are stored, run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CowestError as exc:  # anything else is a bug: it keeps its traceback
        if os.environ.get("COWEST_DEBUG"):
            raise
        print(f"cowest: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code


def _one_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _quiet_libraries() -> None:
    """Our own progress bars and summaries are the output; silence the libraries' chatter."""
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")


def _parser() -> argparse.ArgumentParser:
    from cowest.commands import collab, evaluate, exports, training

    p = argparse.ArgumentParser(prog="cowest", description="Weak-strong model collaboration (CoWeSt).")
    sub = p.add_subparsers(metavar="COMMAND")
    for module in (collab, exports, training, evaluate):
        module.register(sub)
    return p


if __name__ == "__main__":
    sys.exit(main())
