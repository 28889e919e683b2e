#!/usr/bin/env bash
# Installed size of triage-ml's core and [serve] installs, now and at an older commit.
#   bash benchmarks/install_size.sh [OLD_COMMIT]     (default a078189, before the extras split)
# One fresh venv per install (non-editable, from a clean copy of the sources); the figure is
# `du -s` of the venv's site-packages (pip and setuptools included, ~21 MB in every row).
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:-a078189}"
work="$(mktemp -d)"
mkdir -p "$work/old-src" "$work/new-src"
git archive "$old" | tar -x -C "$work/old-src"
git ls-files -co --exclude-standard -- pyproject.toml README.md src serve \
    | tar -cf - -T - | tar -x -C "$work/new-src"
measure() {  # name, pip target
    python3.11 -m venv "$work/venv-$1"
    "$work/venv-$1/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
    "$work/venv-$1/bin/python" -m pip install "$2" > "$work/log-$1.txt" 2>&1
    kib=$(du -s "$work/venv-$1/lib/python3.11/site-packages" | cut -f1)
    dists=$("$work/venv-$1/bin/python" -m pip list 2>/dev/null | tail -n +3 | wc -l)
    printf '%-12s %8d MiB  %4d distributions\n' "$1" $((kib / 1024)) "$dists"
}
measure old-core "$work/old-src"
measure new-core "$work/new-src"
measure new-serve "$work/new-src[serve]"
rm -rf "$work"
