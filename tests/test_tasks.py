"""Loaders, framing and answer parsing of the three tasks."""

import json
from pathlib import Path

import pytest
from conftest import write_jsonl

from cowest.tasks import DataError, get_task
from cowest.tasks.normalize import split_output
from cowest.tasks.parsing import parse_answer, parse_score

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_samples_in_examples_load():
    """Each built-in task's sample ships with the checkout, so this never skips in a fresh clone."""
    ifqa = get_task("ifqa").load(EXAMPLES / "ifqa-sample.json", limit=3).examples
    assert ifqa[0].query.startswith("Context:\n") and "Question: If" in ifqa[0].query and ifqa[0].answers
    med = get_task("medmcqa").load(EXAMPLES / "medmcqa-sample.jsonl", limit=2).examples
    first = json.loads((EXAMPLES / "medmcqa-sample.jsonl").open().readline())
    assert med[0].answers == ("ABCD"[first["cop"] - 1],)  # cop is 1-based in the offline copy
    assert "\nA. " in med[0].query and "\nD. " in med[0].query
    pro = get_task("prosocial").load(EXAMPLES / "prosocial-sample.jsonl", limit=2).examples
    assert pro[0].id == "0" and pro[1].id == "1" and pro[0].answers[0] in get_task("prosocial").labels


def test_medmcqa_hub_layout_is_zero_based(tmp_path):
    rows = [
        {"id": str(i), "question": f"q{i}", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": i % 4}
        for i in range(4)
    ]
    examples = get_task("medmcqa").load(write_jsonl(tmp_path / "hub.jsonl", rows)).examples
    assert [e.answers[0] for e in examples] == ["A", "B", "C", "D"]


def test_prosocial_five_way_labels_fold_into_three(tmp_path):
    rows = [
        {"context": "hi", "safety_label": "__probably_needs_caution__"},
        {"context": "yo", "safety_label": "__casual__"},
        {"context": "no", "safety_label": "__needs_intervention__"},
    ]
    examples = get_task("prosocial").load(write_jsonl(tmp_path / "p.jsonl", rows)).examples
    assert [e.answers[0] for e in examples] == ["needs caution", "casual", "needs intervention"]


def test_malformed_row_names_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"question": "ok?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}, {"question": "no options"}],
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:2: .*'opa'"):
        get_task("medmcqa").load(path)
    (tmp_path / "broken.jsonl").write_text('{"context": "x", "label3": "casual"}\n{not json\n')
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        get_task("prosocial").load(tmp_path / "broken.jsonl")


def test_empty_question_is_skipped_and_counted(tmp_path):
    rows = [{"idx": 1, "question": "  ", "answers": ["x"]}, {"idx": 2, "question": "If so?", "answers": ["y"]}]
    with pytest.warns(UserWarning, match="empty question"):
        result = get_task("ifqa").load(_write_json(tmp_path, rows))
    assert [e.id for e in result.examples] == ["2"] and len(result.skipped) == 1


def _write_json(tmp_path, rows):
    path = tmp_path / "e.json"
    path.write_text(json.dumps(rows))
    return path


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Explanation: because.\nAnswer: B", "B"),
        ("Explanation: x\nAnswer:\n(c) gamma", "C"),
        ("The answer is D", "D"),
        ("Explanation: first A.\nAnswer: A\nAnswer: C", "C"),  # the last Answer: line wins
        ("Answer: beta", "B"),  # option text instead of the letter
        ("Answer: option d", "D"),
        ("Answer: none of them", None),
        ("Answer: no idea", None),  # no option text hides inside a word
        ("Answer: I would pick gamma here", "C"),
    ],
)
def test_medmcqa_answer_parsing(text, expected):
    task = get_task("medmcqa")
    (ex,) = task.load(_mcq_file()).examples
    assert parse_answer(task, text, ex) == expected


def _mcq_file(_cache={}):
    import tempfile
    from pathlib import Path

    if "p" not in _cache:
        d = Path(tempfile.mkdtemp())
        _cache["p"] = write_jsonl(
            d / "m.jsonl",
            [{"id": "1", "question": "Q?", "opa": "alpha", "opb": "beta", "opc": "gamma", "opd": "delta", "cop": 1}],
        )
    return _cache["p"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Answer: Needs Caution", "needs caution"),
        ("answer: __needs_intervention__", "needs intervention"),
        ("I think this is casual.", "casual"),
        ("Explanation: risky.\nAnswer: needs intervention, not casual", "needs intervention"),
        ("Answer: unsure", None),
    ],
)
def test_prosocial_answer_parsing(text, expected):
    assert parse_answer(get_task("prosocial"), text) == expected


def test_split_output():
    assert split_output("Explanation: a b\nAnswer: Paris") == ("a b", "Paris")
    assert split_output("**Answer:** 4 hours.") == ("", "4 hours.")
    assert split_output("no label here") == ("no label here", None)


@pytest.mark.parametrize(
    "text,score",
    [
        ("7", 7),
        (" 10\n", 10),
        ("Score: 3", 3),
        ("6/10", 6),
        ("0", None),
        ("11", None),
        ("7.5", None),
        ("I'd say 7", None),
        ("", None),
    ],
)
def test_judge_score_parsing(text, score):
    assert parse_score(text) == score


def test_ifqa_exact_match_uses_squad_normalisation(tmp_path):
    task = get_task("ifqa")
    (ex,) = task.load(_write_json(tmp_path, [{"idx": 0, "question": "If?", "answers": ["The 4 hours", "4"]}])).examples
    assert task.is_correct("4 hours.", ex) and task.is_correct(" 4 ", ex) and not task.is_correct("5 hours", ex)


def test_hub_source_offline_is_a_one_line_data_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"hf:nobody/nothing: the hub is not reachable \(HF_HUB_OFFLINE is set\)"):
        get_task("medmcqa").load("hf:nobody/nothing")


def test_prosocial_hub_rows_keep_first_turns_only(tmp_path):
    rows = [
        {"context": "first", "safety_label": "__casual__", "response_id": 0},
        {"context": "later", "safety_label": "__casual__", "response_id": 1},
    ]
    assert [
        e.query.count("first") for e in get_task("prosocial").load(write_jsonl(tmp_path / "h.jsonl", rows)).examples
    ] == [1]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Explanation: it moved.\nAnswer: Paris.", "Paris"),
        ("Explanation: no label\nParis", "Paris"),  # missing Answer: line -> the last line
        ("Answer: Rome\nAnswer: **Paris**", "Paris"),  # several Answer: lines -> the last
        ("Explanation: long prose here.\nAnswer:\n\n  4 hours  ", "4 hours"),
        ("", None),
    ],
)
def test_ifqa_answer_parsing(text, expected):
    assert parse_answer(get_task("ifqa"), text) == expected
