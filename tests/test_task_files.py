"""Task files (tasks/template.py): a YAML file with Jinja2 templates defines a task wherever a task
name goes; a bad one is one line of bad input before anything is asked or written."""

import json

import pytest
from conftest import write_jsonl
from scripted_server import kind_of, section
from sklearn.metrics import f1_score

from cowest.cli import main
from cowest.tasks import get_task


def capitals(tmp_path, **extra) -> str:
    write_jsonl(
        tmp_path / "caps.jsonl",
        [
            {"key": "fr", "country": "France", "capital": "Paris", "aliases": ["Paris", "Paris, France"]},
            {"key": "it", "country": "Italy", "capital": "Rome", "aliases": ["Rome"]},
            {"key": "de", "country": "Germany", "capital": "Berlin", "aliases": ["Berlin"]},
        ],
    )
    lines = {
        "name": "capitals",
        "data": "caps.jsonl",
        "id": "key",
        "query": '"What is the capital of {{ country }}?"',
        "gold": "capital",
        "answers": "aliases",
        "metrics": "[exact_match, f1]",
        **extra,
    }
    path = tmp_path / "capitals.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items() if v is not None))
    return str(path)


def test_a_qa_task_file_frames_and_grades_like_a_built_in_task(tmp_path):
    task = get_task(capitals(tmp_path))
    examples = task.load(task.default_data).examples
    assert [(e.id, e.query, e.answers) for e in examples][:1] == [
        ("fr", "What is the capital of France?", ("Paris", "Paris, France"))
    ]
    assert task.name == "capitals" and task.labels is None
    assert task.is_correct(task.parse_answer("paris, france."), examples[0])


def test_choices_take_an_index_a_letter_or_the_text_and_answers_parse_like_medmcqa(tmp_path):
    rows = [
        {"q": "2+2?", "opts": ["3", "4", "5"], "g": 1},
        {"q": "Sky?", "opts": ["green", "blue", "red"], "g": "C"},
        {"q": "Sun?", "opts": ["hot", "cold", "wet"], "g": "hot"},
    ]
    write_jsonl(tmp_path / "mc.jsonl", rows)
    (tmp_path / "mc.yaml").write_text('data: mc.jsonl\nquery: "{{ q }}"\ngold: "{{ g }}"\nchoices: opts\n')
    task = get_task(str(tmp_path / "mc.yaml"))
    examples = task.load(task.default_data).examples
    assert [e.answers[0] for e in examples] == ["B", "C", "A"] and task.labels == ("A", "B", "C")
    assert examples[0].query == "2+2?\nA. 3\nB. 4\nC. 5" and examples[0].gold == "B. 4"
    assert [task.parse_answer(t, examples[0]) for t in ("The answer is B", "(c)", "4", "no idea")] == [
        "B",
        "C",
        "B",
        None,
    ]


def test_labels_classify_and_macro_f1_is_scikit_learns(tmp_path):
    from cowest.tasks.metrics import score_task

    labels = ["casual", "needs caution", "needs intervention"]
    rows = [{"text": f"u{i}", "y": labels[i % 3]} for i in range(9)]
    write_jsonl(tmp_path / "p.jsonl", rows)
    (tmp_path / "p.yaml").write_text(f'data: p.jsonl\nquery: "{{{{ text }}}}"\ngold: y\nlabels: {json.dumps(labels)}\n')
    task = get_task(str(tmp_path / "p.yaml"))
    examples = task.load(task.default_data).examples
    outputs = ["Casual.", "needs_caution", "NEEDS INTERVENTION", "needs caution", "casual", "x", "casual", "", "c"]
    predictions = [task.parse_answer(o) for o in outputs]
    assert predictions[:3] == ["casual", "needs caution", "needs intervention"]
    got = score_task(task, examples, predictions)
    gold = [e.answers[0] for e in examples]
    assert got["macro_f1"] == pytest.approx(
        f1_score(gold, [p or "none" for p in predictions], labels=labels, average="macro")
    )
    assert examples[0].query.endswith("Choose one class: casual, needs caution, needs intervention.")


BAD = {
    "missing query": ({"query": None}, "missing `query`"),
    "a field the first row lacks": ({"query": '"{{ continent }}?"'}, "`query` uses a field row 1 lacks"),
    "an unknown metric": ({"metrics": "[bleu]"}, "unknown metric(s) bleu"),
    "choices and labels": ({"choices": "opts", "labels": "[a, b]"}, "`choices` and `labels` are both set"),
    "an unknown key": ({"doc_to_text": "x"}, "unknown key(s) doc_to_text"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD)
def test_a_bad_task_file_is_one_line_of_bad_input_before_any_call(case, tmp_path, serve, capsys):
    srv = serve(lambda p: "Answer: x")
    changes, says = BAD[case]
    path = capitals(tmp_path, **changes)
    db = tmp_path / "c.db"
    assert main(["collect", "--task", path, "--strong", "openai:scripted", "--db", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0] and says in err[0], err
    assert srv.requests == [] and not db.exists()


@pytest.mark.slow
def test_a_task_file_runs_through_collect_eval_and_score(tmp_path, serve, tiny_model, capsys):
    def strong(prompt: str) -> str:
        if kind_of(prompt) == "judge":
            return "10" if "Paris" in section(prompt, "Model output:") else "1"
        return "Explanation: e.\nAnswer: Paris"

    serve(strong)
    path = capitals(tmp_path, rubric='"1 = wrong, 10 = right"')
    db = f"sqlite:///{tmp_path / 'c.db'}"
    common = ["--task", path, "--weak", f"huggingface:{tiny_model}", "--strong", "openai:scripted", "--db", db]
    assert main(["collect", *common, "--samples", "2", "--max-new-tokens", "6"]) == 0  # --data from the file
    assert main(["eval", *common, "--methods", "strong-cot", "--json", "--max-new-tokens", "6"]) == 0
    [result] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    assert result["metrics"]["exact_match"] == pytest.approx(1 / 3) and result["n"] == 3  # Paris, for France only
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"id": "fr", "answer": "Paris"}, {"id": "it", "answer": "Milan"}])
    assert (
        main(["score", "--task", path, "--data", str(tmp_path / "caps.jsonl"), "--predictions", str(preds), "--json"])
        == 0
    )
    scored = json.loads(capsys.readouterr().out)
    assert scored["exact_match"] == pytest.approx(1 / 3) and scored["missing"] == 1
    from cowest.storage import get_store

    store = get_store(db)
    judged = [c for r in store.runs() for c in store.calls_of(r.id) if c.role == "judge"]
    assert judged and all("1 = wrong, 10 = right" in c.prompt[0]["content"] for c in judged)


def test_the_built_in_tasks_are_task_files_in_the_package(tmp_path):
    from pathlib import Path

    from cowest.tasks import BUILTIN, TemplateTask

    for name in ("ifqa", "medmcqa", "prosocial"):
        task = get_task(name)
        assert isinstance(task, TemplateTask) and Path(task.path) == BUILTIN / f"{name}.yaml"
    # a copy of a built-in file, edited, is a task of one's own: here MedMCQA with its options counted from 1
    sample = Path(__file__).parents[1] / "examples" / "medmcqa-sample.jsonl"
    mine = tmp_path / "my-medmcqa.yaml"
    mine.write_text((BUILTIN / "medmcqa.yaml").read_text().replace("index_base: auto", "index_base: 1"))
    by_name, by_file = get_task("medmcqa").load(sample).examples, get_task(str(mine)).load(sample).examples
    assert by_name == by_file and len(by_name) > 1


@pytest.mark.parametrize(
    "query,message",
    [
        ("{{ country * 100000000 }}", "cannot be rendered: SecurityError"),
        ("{{ 'x' * 50000000 }}", "cannot be rendered: SecurityError"),
        ("{{ 2 ** 100000000 }}", "cannot be rendered: SecurityError"),
        ("{% for i in range(90000) %}{{ country }}{% endfor %}", "renders past 200,000 characters"),
        ("{{ country.__class__.__mro__ }}", "cannot be rendered: SecurityError"),
        ("{{ country + 1 }}", "cannot be rendered: TypeError"),
    ],
)
def test_a_hostile_template_is_one_line_of_bad_input_in_bounded_memory(query, message, tmp_path):
    """Jinja's sandbox holds, and what it refuses, or an output past the operator's limit, is a
    DataError naming the file and line, not a traceback or gigabytes of memory."""
    from cowest.tasks import get_task
    from cowest.tasks.base import DataError

    data = tmp_path / "d.jsonl"
    data.write_text('{"country": "France", "capital": "Paris"}\n')
    spec = tmp_path / "t.yaml"
    spec.write_text(f'name: hostile\nquery: "{query}"\ngold: capital\n')
    with pytest.raises(DataError, match=message) as caught:
        get_task(str(spec)).load(str(data))
    text = str(caught.value)  # the task file's template checked on the first row, or that row
    assert text.startswith((f"{spec}:", f"{data}:1:")) and "\n" not in text


def test_a_query_past_the_limit_and_a_file_that_is_not_utf8_are_one_line(tmp_path, monkeypatch):
    from cowest.tasks import get_task
    from cowest.tasks.base import DataError

    big = tmp_path / "big.jsonl"
    big.write_text(
        '{"id": "1", "question": "' + "why " * 20000 + '?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}\n'
    )
    with pytest.raises(DataError, match=r"big.jsonl:1: the query is [\d,]+ characters, over the limit of 50,000"):
        get_task("medmcqa").load(str(big))
    monkeypatch.setenv("COWEST_MAX_QUERY_CHARS", "1000000")
    assert len(get_task("medmcqa").load(str(big)).examples) == 1
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "ok"}\n{"question": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.jsonl:2: not UTF-8 text \(byte 0xe9\)"):
        get_task("medmcqa").load(str(latin))


def test_duplicate_ids_in_a_data_file_are_one_line_naming_both_lines(tmp_path):
    from cowest.tasks import get_task
    from cowest.tasks.base import DataError

    rows = [
        {"id": i, "question": f"Q{n}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1}
        for n, i in enumerate(["x", "y", "x"])
    ]
    data = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(DataError, match=r"dup.jsonl:3: id 'x' again \(first on line 1\)"):
        get_task("medmcqa").load(str(data))
