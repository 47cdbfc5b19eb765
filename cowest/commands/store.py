"""`cowest db upgrade`: bring a store written by an older cowest up to date."""

from __future__ import annotations

from . import add_db, group, handled_by


def register(sub) -> None:
    db = group(sub, "db", "ACTION")
    up = db.add_parser(
        "upgrade", help="migrate a store written by an older cowest (schema and call keys); back it up first"
    )
    add_db(up)
    up.add_argument(
        "--openai-base-url",
        help=(
            "a 0.1 store only: the OpenAI-compatible server its openai: calls went to (0.1 did not record it), so "
            "a resumed run finds them; default: none (the OpenAI API's calls keep no endpoint)"
        ),
    )
    handled_by(up, "store:cmd_db_upgrade")
