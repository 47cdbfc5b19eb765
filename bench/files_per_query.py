"""How many of the project's files run code for one `cowest collect` query (issue 30's figure): the
whole CLI call `collect --limit 1 --samples 2 --judge exact --max-new-tokens 8` on the bundled model,
importing the CLI and parsing included, with a profile hook on every thread (the main one, the
requests loop, the decoding thread, worker threads): files any of whose code ran (imports
included), and files a function of which was called (a class body run by an import is not one).
For each git revision given, imported as bench/alternate.py does.

    python bench/files_per_query.py 6a578c6 HEAD [--data FILE.jsonl]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alternate import import_root  # noqa: E402


def child(root: str, data: str, db: str) -> None:
    sys.path.insert(0, root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seen: set[str] = set()  # files any of whose code ran, module bodies (imports) included
    called: set[str] = set()  # files a function of which was called

    def hook(frame, event, arg):  # noqa: ANN001
        if event == "call":
            seen.add(frame.f_code.co_filename)
            # a function's code (CO_OPTIMIZED), not a module's or a class's body: importing a module
            # runs its class bodies, and whether that happens before or inside the call is not the point
            if frame.f_code.co_flags & inspect.CO_OPTIMIZED:
                called.add(frame.f_code.co_filename)

    # from the start: importing the CLI is part of the call (a revision that imports more up front
    # would otherwise look lighter)
    threading.setprofile(hook)
    sys.setprofile(hook)
    from cowest.cli import main

    argv = ["collect", "--task", "medmcqa", "--data", data, "--limit", "1", "--samples", "2", "--judge", "exact"]
    argv += ["--max-new-tokens", "8", "--db", db, "--run", "files"]
    code = main(argv)
    sys.setprofile(None)
    threading.setprofile(None)
    tree = Path(os.path.realpath(Path(root) / "cowest" / "cli.py")).parent.parent  # the revision's worktree

    def project(files: set[str]) -> list[str]:
        real = {os.path.realpath(f) for f in files}
        return sorted(str(Path(f).relative_to(tree)) for f in real if f.startswith(str(tree) + os.sep))

    ours, functions = project(seen), project(called)
    figures = {"exit": code, "files": len(ours), "files with a function called": len(functions)}
    print(json.dumps({**figures, "list": functions}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("revisions", nargs="*")
    p.add_argument("--data", default="", help="a MedMCQA-style JSONL file (default: one question written here)")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cowest-alternate"))
    p.add_argument("--child", nargs=3, metavar=("ROOT", "DATA", "DB"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    tmp = Path(tempfile.mkdtemp(prefix="cowest-files-"))
    data = args.data
    if not data:
        data = str(tmp / "q.jsonl")
        row = {"id": "q0", "question": "Which vitamin deficiency causes scurvy?", "opa": "Vitamin A",
               "opb": "Vitamin B12", "opc": "Vitamin C", "opd": "Vitamin D", "cop": 3}  # fmt: skip
        Path(data).write_text(json.dumps(row) + "\n")
    for rev in args.revisions:
        root = import_root(rev, Path(args.work))
        db = f"sqlite:///{tmp / (rev.replace('/', '_') + '.db')}"
        cmd = [sys.executable, __file__, "--child", str(root), data, db]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if done.returncode:
            sys.exit(f"{rev}: failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps({"revision": rev, **result}))


if __name__ == "__main__":
    main()
