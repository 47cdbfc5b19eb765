"""The libraries cowest drives through their APIs, checked against the ranges pyproject.toml
declares before a command spends anything. CI runs the tests at both ends of each range (.ci/run:
the pinned versions, and the oldest ones allowed), so a version outside it is untested: one line,
exit 2, rather than an error deep inside a run."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from .errors import BadInput

VERSION = "0.1.0"  # cowest's own, as pyproject.toml's [project] version; `cowest.__version__`

# The ones CI tests at both ends of their range (constraints.txt, constraints-oldest.txt).
CHECKED = ("transformers", "peft", "trl", "langgraph")


def check_versions(version_of: Callable[[str], str] = metadata.version) -> None:
    """BadInput naming the first checked library whose installed version is outside cowest's range."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        declared = metadata.requires("cowest") or []
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return
    for line in declared:
        req = Requirement(line)
        if req.marker is not None or canonicalize_name(req.name) not in CHECKED:
            continue  # an extra's, or one we call too little to check
        try:
            installed = version_of(req.name)
        except metadata.PackageNotFoundError:
            raise BadInput(f"{req.name} is not installed; cowest needs {req} (pip install '{req}')") from None
        if not req.specifier.contains(installed, prereleases=True):
            raise BadInput(
                f"{req.name} {installed} is installed, outside the range cowest is tested with "
                f"({req.name}{req.specifier}): pip install '{req}'"
            )
