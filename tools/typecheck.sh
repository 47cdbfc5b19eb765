#!/usr/bin/env bash
# mypy over the installed layout. The card's folders install as cowest.graph, cowest.nodes, ...
# through setuptools' package-dir mapping, which mypy cannot follow in an editable install: build
# the same layout from symlinks under build/typecheck and check the package there.
set -euo pipefail
cd "$(dirname "$0")/.."
MYPY="${MYPY:-.venv/bin/mypy}"
tree=build/typecheck
rm -rf "$tree" && mkdir -p "$tree/cowest"
for f in cowest/*; do ln -s "$PWD/$f" "$tree/cowest/"; done
for d in core graph models nodes storage tasks trainer; do ln -s "$PWD/$d" "$tree/cowest/$d"; done
cd "$tree" && "$OLDPWD/$MYPY" --config-file "$OLDPWD/pyproject.toml" -p cowest
