"""The `cowest` command line."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from cowest.commands import COMMANDS, command
from cowest.core import EXIT_BAD_INPUT, EXIT_INTERRUPTED, CowestError, StoreFailed, store_failure
from cowest.core.versions import check_versions


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _Parser.typed = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(_Parser.typed)
    # Training commands take TRL's config fields by their TRL names: argparse leaves those to them
    # (commands/training.py); for any other command an unknown flag stays argparse's error.
    args, trainer_flags = parser.parse_known_args(argv)
    if trainer_flags and not hasattr(args, "cowest_flags"):
        own = getattr(args, "command_parser", parser)
        flag = next((f.split("=")[0] for f in trainer_flags if f.startswith("-")), "")
        own.error(f"unrecognized arguments: {' '.join(trainer_flags)}{_flag_hint(flag, own)}")  # exit 2
    args.trainer_flags = trainer_flags
    if not getattr(args, "func", None):  # `cowest`, or a command of sub-commands given alone: its help
        getattr(args, "command_parser", parser).print_help()
        return EXIT_BAD_INPUT
    _quiet_libraries()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        check_versions()
        return _handler(args.func)(args) or 0
    except KeyboardInterrupt:
        print("cowest: interrupted; finished calls are stored, run the same command to resume", file=sys.stderr)
        _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED  # reached only when embedded (see _exit_now)
    except CowestError as exc:  # anything else is a bug: it keeps its traceback
        if os.environ.get("COWEST_DEBUG"):
            raise
        print(f"cowest: error: {_one_line(exc)}", file=sys.stderr)
        if isinstance(exc, StoreFailed):
            _exit_now(exc.exit_code)  # queries in flight are abandoned, as on Ctrl-C
        return exc.exit_code
    except Exception as exc:
        failure = store_failure(exc)
        if failure is None or os.environ.get("COWEST_DEBUG"):
            raise
        print(f"cowest: error: {failure}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _flag_hint(flag: str, command: argparse.ArgumentParser) -> str:
    """` (did you mean --X?)` for the closest of the command's flags, compared without their dashes
    (with them, any two flags share two characters: --json came out as --strong) and more strictly
    than words are."""
    names = [f[2:] for f in command._option_string_actions if f.startswith("--")]
    close = difflib.get_close_matches(flag.lstrip("-"), names, n=1, cutoff=0.7) if flag else []
    return f" (did you mean --{close[0]}?)" if close else ""


def _handler(name: str) -> Callable[[argparse.Namespace], int | None]:
    """The function a command's parser named, "MODULE:FUNCTION" in cowest/handlers/: its module (and
    torch, LangGraph or SQLAlchemy with it) is imported only now, when the command runs."""
    module, function = name.split(":")
    return getattr(importlib.import_module(f"cowest.handlers.{module}"), function)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a job the way Ctrl-C does


def _exit_now(code: int) -> None:
    """Leave at once: calls in flight are abandoned, not waited for (they are asked again on the
    rerun). Every stored row was written in its own transaction, so nothing is half-written. Only
    the `cowest` process itself exits this way; main() called from Python returns instead."""
    if _IS_COMMAND:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


_IS_COMMAND = False


def _one_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _quiet_libraries() -> None:
    """Our own progress bars and summaries are the output; silence the libraries' chatter."""
    import logging
    import warnings

    # Read by transformers when (and only if) a command imports it: `cowest runs` never pays for it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # TRL's map/tokenize bars, per round
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")
    # What is left is cowest's own: one line each, without the source line Python would print
    warnings.formatwarning = lambda message, *args, **kwargs: f"cowest: warning: {message}\n"


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser. Given the command line, only its command's parser is built (the
    others are names with their help, enough for `cowest --help`); without it, every one."""
    p = _Parser(prog="cowest", description="Weak-strong model collaboration (CoWeSt).")
    p.add_argument("--version", action="version", version=f"cowest {_version()}")
    sub = p.add_subparsers(metavar="COMMAND")  # every sub-parser is a _Parser too (argparse's default)
    chosen = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    if argv is None:
        modules = {c.module for c in COMMANDS.values()}
    else:
        modules = {COMMANDS[chosen].module} if chosen in COMMANDS else set()
    for name, spec in COMMANDS.items():
        if spec.module not in modules:
            command(sub, name)  # a name and its help: its flags are parsed only when it is the command
    for module in dict.fromkeys(c.module for c in COMMANDS.values() if c.module in modules):
        importlib.import_module(f"cowest.commands.{module}").register(sub)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cowest")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """No abbreviated flags: an unknown flag is named as unknown, never read as the prefix of
    another (`eval --judge llm` would otherwise be `--judge-concurrency llm`). A usage error is one
    line, like every other bad input (the exit-code contract), pointing at --help for the rest."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    typed: list[str] = []  # the command line being parsed (main sets it)

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            # a required flag mistyped reads as missing: name the typo too (`collect --tsk medmcqa`)
            unknown = [a.split("=")[0] for a in self.typed if a.startswith("--")]
            unknown = [a for a in unknown if a not in self._option_string_actions]
            hint = _flag_hint(unknown[0], self) if unknown else ""
            if hint or unknown and self.get_default("cowest_flags") is None:  # training commands take TRL's too
                message += f"; {unknown[0]} is not a flag of {self.prog}{hint}"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run() -> None:
    """The `cowest` console script."""
    global _IS_COMMAND
    _IS_COMMAND = True
    code = main()
    # Leave without the interpreter's teardown: the decoding thread (a daemon) holds torch's native
    # thread pool, and tearing that down under it aborted `cowest ask` at exit about one run in
    # three ("terminate called without an active exception", exit 134) after its answer was out.
    # Every row is committed by then, and nothing else waits for exit.
    _exit_now(code)
    sys.exit(code)  # not reached: _exit_now leaves at once for the command


if __name__ == "__main__":
    run()
