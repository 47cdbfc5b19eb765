"""What a round's training says goes to a log beside its adapter folder (`round-1.log` next to
`round-1/`), not to the terminal: TRL's step logs, which it prints as raw dicts, and the libraries'
warnings. The terminal keeps cowest's own lines and one progress bar per phase."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def log_path(folder: str) -> Path:
    """Beside the adapter folder, not in it: the folder holds exactly what PEFT saved."""
    return Path(folder).with_name(Path(folder).name + ".log")


@contextlib.contextmanager
def round_log(folder: str) -> Iterator[Path]:
    path = log_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log, warnings.catch_warnings(), contextlib.redirect_stdout(log):
        log.write(f"--- training {Path(folder).name}, {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
        warnings.showwarning = _to(log)
        yield path


def _to(log: TextIO):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        log.write(f"{category.__name__}: {message} ({filename}:{lineno})\n")

    return show
