"""Running `cowest db upgrade`: bring a store written by an older cowest up to date."""

from __future__ import annotations

from cowest.storage import default_url
from cowest.storage.database import safe_url, upgrade_database


def cmd_db_upgrade(args) -> int:
    url = args.db or default_url()
    before, after = upgrade_database(url, args.openai_base_url)
    if before == after:
        print(f"{safe_url(url)} is up to date (schema {after})")
    else:
        print(f"{safe_url(url)}: schema {before} -> {after}")
    return 0
