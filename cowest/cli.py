"""The `cowest` command line."""
from __future__ import annotations

import argparse
import os
import sys

from cowest.commands import CliError

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    _quiet_libraries()
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("cowest: interrupted; finished calls are stored, run the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc) or os.environ.get("COWEST_DEBUG"):
            raise
        print(f"cowest: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _is_user_error(exc: Exception) -> bool:
    from cowest.nodes.models import ModelCallError, ModelSpecError
    from cowest.storage import StoreError
    from cowest.tasks import DataError

    return isinstance(exc, (CliError, DataError, ModelSpecError, ModelCallError, StoreError, FileNotFoundError,
                            ValueError, RuntimeError)) and not isinstance(exc, NotImplementedError)


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
