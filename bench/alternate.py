"""Figures 1 and 2 of bench/throughput.py (the c16 / c1 marginal throughput, the CPU per remote
request) for several git revisions of cowest, alternated in one run, so that the machine's drift
over the run falls on every revision alike. Prints (and appends to --out) one JSON line per sample.

Each revision is checked out as a worktree under --work and imported through a folder of symlinks
in which every cowest.* package lies in that worktree (pyproject.toml's package-dir mapping, as
tools/typecheck.sh builds it). Putting a worktree itself first on PYTHONPATH is not enough: Python
finds only `cowest/` there, and `cowest.nodes`, `cowest.storage`... then come from the editable
install, that is from the working tree: the versions are mixed, and the run compares HEAD with
itself. Each sample checks where its modules came from. The measuring code (bench/throughput.py and
the tests' scripted server and tiny model) is this checkout's for every revision.

    python bench/alternate.py 443d319 HEAD [--passes 2] [--repeat 5] [--out bench/out/alternate.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pyproject.toml's package-dir; models/ is a top-level folder from issue 30 on (nodes/models before)
PACKAGES = ("core", "graph", "models", "nodes", "storage", "tasks", "trainer")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def import_root(rev: str, work: Path) -> Path:
    """A folder to put first on sys.path so that all of cowest is revision `rev`'s."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree, root = work / sha[:12], work / f"{sha[:12]}-import"
    if not tree.exists():
        git("worktree", "add", "--force", "--detach", str(tree), sha)
    if not root.exists():
        (root / "cowest").mkdir(parents=True)
        for f in (tree / "cowest").iterdir():
            (root / "cowest" / f.name).symlink_to(f)
        for d in PACKAGES:
            if (tree / d).exists():
                (root / "cowest" / d).symlink_to(tree / d)
    return root


def child(rev: str, root: str, repeat: int) -> None:
    """One sample of figures 1 and 2 with revision `rev` imported from `root`."""
    sys.path.insert(0, root)
    sys.path.insert(1, str(ROOT / "bench"))
    import importlib

    import throughput as tp

    import cowest.storage

    try:
        http = importlib.import_module("cowest.models.http")
    except ModuleNotFoundError:  # a revision from before issue 30 moved models/ out of nodes/
        http = importlib.import_module("cowest.nodes.models.http")
    for where in (tp.collect.__code__.co_filename, http.__file__, cowest.storage.__file__):
        assert str(where).startswith(root), f"{where} is not under {root}: the versions are mixed"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="cowest-alternate-"))
    model = str(tp.build_tiny_model(tmp / "tiny"))
    data = str(tp.write_jsonl(tmp / "mcq.jsonl", [tp.mcq(i, f"Question number {i}?") for i in range(48)]))
    m = tp.marginal(data, model, tmp, repeat)
    c = tp.cpu_per_request(data, model, tmp, max(1, repeat // 2))
    print(
        json.dumps(
            {
                "revision": rev,
                "16 / 1 marginal (median)": m["16 / 1 marginal throughput (median)"],
                "16 / 1 marginal (best)": m["16 / 1 marginal throughput (best)"],
                "concurrency 1 marginal s": m["concurrency 1"]["marginal s"],
                "concurrency 16 marginal s": [s["marginal s"] for s in m["concurrency 16 (each sample)"]],
                "CPU ms per remote request (median)": c[
                    "CPU ms per remote request, median (the tiny weak model included; the server runs apart)"
                ],
                "CPU ms per remote request (best)": c["CPU ms per remote request, best"],
                "reference loop s": [s["reference loop s"] for s in m["concurrency 16 (each sample)"]],
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("revisions", nargs="*", help="git revisions, measured in this order at each pass")
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5, help="c16 samples per pass (CPU samples: half as many)")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cowest-alternate"))
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "alternate.jsonl"))
    p.add_argument("--child", nargs=2, metavar=("REV", "ROOT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child, args.repeat)
    if not args.revisions:
        p.error("name at least one revision")
    roots = {rev: import_root(rev, Path(args.work)) for rev in args.revisions}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for _ in range(args.passes):
        for rev, root in roots.items():
            cmd = [sys.executable, __file__, "--repeat", str(args.repeat), "--child", rev, str(root)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{rev}: the sample failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            line = done.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
