"""The structure the code promises: one owner per option, library folders that never import the
front door, the project's own errors, one table of modes."""

import argparse
import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from cowest.cli import _handler, _parser, main
from cowest.core import EXIT_BUDGET, BadInput, BudgetExceeded
from cowest.graph import MODES, CollabContext, build_graph

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("core", "graph", "models", "nodes", "storage", "tasks", "trainer")


def _subparser(*names):
    parser = _parser()
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def _defaults(parser):
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def test_every_context_field_has_a_description_in_the_studio_schema():
    schema = build_graph().get_context_jsonschema()
    props = schema["properties"]
    assert set(props) == {f.name for f in dataclasses.fields(CollabContext)}
    assert all(p.get("description") for p in props.values()), [k for k, p in props.items() if not p.get("description")]


def test_cli_flags_take_their_defaults_and_help_from_the_fields():
    from cowest.collect import CollectOptions
    from cowest.trainer.dpo import DPOOptions
    from cowest.trainer.sft import SFTOptions

    collect = _defaults(_subparser("collect"))
    for f in dataclasses.fields(CollectOptions):
        if f.name in collect and f.default is not dataclasses.MISSING and f.name != "task":  # --task is required
            assert collect[f.name] == f.default, f.name
    dpo, rounds = _defaults(_subparser("train", "dpo")), _defaults(_subparser("rounds"))
    assert dpo["preset"] == rounds["training.preset"] == "paper"  # TRL's own fields are not mirrored as flags
    assert "learning_rate" not in dpo and rounds["training.lora.r"] == 16
    help_text = _subparser("collect").format_help()
    assert "K weak drafts per query" in help_text and "(default: 4)" in help_text
    assert {f.name for f in dataclasses.fields(SFTOptions)} - {"lora", "trl"} <= set(
        _defaults(_subparser("train", "sft"))
    )
    assert {f.name for f in dataclasses.fields(DPOOptions)} - {"lora", "trl"} <= set(dpo)


def _front_door_imports(path: Path) -> list[str]:
    front = {p.stem for p in (ROOT / "cowest").glob("*.py")} | {"commands"}
    front -= {"__init__"}
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "cowest" and (
                len(parts) == 1 and isinstance(node, ast.Import) or len(parts) > 1 and parts[1] in front
            ):
                bad.append(name)
    return bad


def test_library_folders_never_import_the_front_door():
    offenders = {
        str(p.relative_to(ROOT)): bad
        for folder in LIBRARY
        for p in (ROOT / folder).rglob("*.py")
        if (bad := _front_door_imports(p))
    }
    assert offenders == {}


def test_the_folders_import_one_way():
    """cowest -> trainer; graph -> nodes -> models, storage, tasks -> core: no folder imports one
    that imports it back, at module level or inside a function (tools/import_graph.py)."""
    import runpy

    tool = runpy.run_path(str(ROOT / "tools" / "import_graph.py"))
    assert tool["folder_cycles"]() == []
    edges = tool["folder_graph"]()[0]
    assert "graph" not in edges["nodes"]
    assert [src for src, dests in edges.items() if "cowest" in dests] == []  # the front door is imported by none
    # An import inside a function is kept only to keep `cowest --help` light or a library optional
    # (issue 30: at most 25); a command's own work is its handler module's, imported when it runs.
    inside = tool["folder_graph"]()[2]
    assert len(inside) <= 25, inside


def test_the_cli_starts_without_the_heavy_libraries():
    code = (
        "import sys, cowest.cli; cowest.cli._parser(); "
        "heavy = ('torch', 'transformers', 'trl', 'langgraph', 'langchain_core', 'sqlalchemy'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_the_projects_errors_become_one_line_exits(monkeypatch, capsys):
    from cowest.handlers import collab

    def budget(args):
        raise BudgetExceeded("spent 10 of 10 strong calls")

    monkeypatch.setattr(collab, "cmd_runs", budget)
    assert main(["runs"]) == EXIT_BUDGET
    assert capsys.readouterr().err.strip() == "cowest: error: spent 10 of 10 strong calls"

    def bug(args):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(collab, "cmd_runs", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["runs"])


def test_bad_option_values_are_bad_input():
    with pytest.raises(BadInput, match="samples"):
        CollabContext(samples=0)
    with pytest.raises(BadInput, match="unknown mode"):
        CollabContext(mode="nonsense")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_reaches_the_nodes_its_table_row_names(mode):
    """The drawn graph has every edge the routers' Literal types name; each mode's first node and
    its follow-up are among them."""
    edges = {(e.source, e.target) for e in build_graph().get_graph().edges}
    spec = MODES[mode]
    assert ("__start__", spec.starts_with) in edges
    if spec.then != "end":
        assert (spec.starts_with, spec.then) in edges or (spec.starts_with, "judge") in edges
    if spec.pairs:
        assert ("judge", "pair_collector") in edges and ("pair_collector", "__end__") in edges


def _handlers_named(parser) -> set[str]:
    """Every handler a sub-parser of `parser` names, at any depth."""
    names = {parser.get_default("func")} - {None}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= _handlers_named(sub)
    return names


def test_every_command_names_a_handler_that_exists_and_none_is_loaded_to_parse():
    names = _handlers_named(_parser())
    assert len(names) >= 17  # ask, collect, runs, eval, compare, score, report, 3 exports, plan, db, 4 train, rounds
    code = "import sys, cowest.cli; cowest.cli._parser(); print([m for m in sys.modules if 'handlers' in m])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # a command's work is imported when it runs, not to parse
    code = "import sys, cowest.cli; cowest.cli._parser(['runs']); print(sorted(m for m in sys.modules if 'ands.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['cowest.commands.collab', 'cowest.commands.flags']"  # runs' own module only
    for name in names:  # a typo in a handler's name would surface only when its command ran
        assert callable(_handler(name)), name
