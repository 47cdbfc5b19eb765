"""`cowest db upgrade`: bring a store written by an older cowest up to date."""

from __future__ import annotations

from . import add_db


def register(sub) -> None:
    db = sub.add_parser("db", help="the trace store itself").add_subparsers(metavar="ACTION")
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
    up.set_defaults(func=cmd_db_upgrade)


def cmd_db_upgrade(args) -> int:
    from cowest.storage import default_url
    from cowest.storage.database import safe_url, upgrade_database

    url = args.db or default_url()
    before, after = upgrade_database(url, args.openai_base_url)
    if before == after:
        print(f"{safe_url(url)} is up to date (schema {after})")
    else:
        print(f"{safe_url(url)}: schema {before} -> {after}")
    return 0
